"""racer: a local reinforcement-learning racing simulator and trainer in the spirit of AWS DeepRacer.

Sub-packages, one per stage, imports pointing one way (see docs/architecture.md):
track -> sim -> rewards -> env -> train -> export -> evaluate / car -> cli.
"""

__version__ = "0.1.0"
