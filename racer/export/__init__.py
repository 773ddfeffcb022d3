"""racer.export."""
