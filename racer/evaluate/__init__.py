"""racer.evaluate."""
