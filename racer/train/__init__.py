"""racer.train."""
