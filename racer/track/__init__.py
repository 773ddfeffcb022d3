"""racer.track."""
