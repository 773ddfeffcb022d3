"""racer.car."""
