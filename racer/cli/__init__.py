"""racer.cli."""
