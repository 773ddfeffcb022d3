"""racer: a local reinforcement-learning racing simulator and trainer in the spirit of AWS DeepRacer.

Sub-packages, one per stage, imports pointing one way (docs/architecture.md has the table of what
each may import)::

    contract, util                the car's contract (constants, observations, action space,
                                  bundle I/O) and small shared helpers: numpy only, at the bottom
    track -> sim -> rewards -> env -> train -> export, evaluate -> cli
    car                           the onboard runtime: contract and util only

``import racer`` registers the Gymnasium id ``racer/Race-v0`` without importing Gymnasium
(racer._registration), so ``gymnasium.make("racer/Race-v0")`` works after ``import racer``.
"""

from racer._registration import ENV_ID, install

__version__ = "0.1.0"

install()

__all__ = ["ENV_ID", "__version__"]
