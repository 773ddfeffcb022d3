"""racer.rewards."""
