"""racer.sim."""
