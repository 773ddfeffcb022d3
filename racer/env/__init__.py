"""racer.env."""
