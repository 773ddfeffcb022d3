"""racer.contract: the car's contract lives here, once.

What every stage agrees on about the car, written in one place and imported everywhere else
(the simulator, the environment, reward checking, training, export, evaluation and the onboard
runtime). numpy, the standard library and :mod:`racer.errors` only, so the car can import it.

- :mod:`racer.contract.car`: the physical constants: control rate and period, steering lock,
  speed range, wheelbase and wheel geometry, car width, camera frame and lidar.
- :mod:`racer.contract.observations`: the observation table (camera, stereo, lidar, state: shape,
  dtype, DeepRacer sensors, on a real car or not), the lists derived from it and the ``state``
  features.
- :mod:`racer.contract.actions`: the action space in DeepRacer's ``model_metadata.json`` form
  (:class:`ActionSpace`), its checks, and the only forward (agent action -> steering and speed)
  and inverse (physical command -> agent action) mappings.
- :mod:`racer.contract.bundle`: what a deploy bundle's ``metadata.json`` says about the model's
  inputs, outputs and action space (both schema versions).
"""

from racer.contract.actions import DEFAULT_DISCRETE, ActionSpace
from racer.contract.bundle import SCHEMA_VERSION, bundle_action_space, metadata_action_space
from racer.contract.car import (
    CAR_WIDTH_M,
    CONTROL_HZ,
    DT_S,
    MAX_SPEED_MPS,
    MAX_STEERING_DEG,
    MIN_SPEED_MPS,
    WHEELBASE_M,
)
from racer.contract.observations import (
    CAR_OBSERVATIONS,
    IMAGE_OBSERVATIONS,
    OBSERVATION_TABLE,
    OBSERVATIONS,
    STATE_FEATURES,
    Observation,
)

__all__ = [
    "CAR_OBSERVATIONS",
    "CAR_WIDTH_M",
    "CONTROL_HZ",
    "DEFAULT_DISCRETE",
    "DT_S",
    "IMAGE_OBSERVATIONS",
    "MAX_SPEED_MPS",
    "MAX_STEERING_DEG",
    "MIN_SPEED_MPS",
    "OBSERVATIONS",
    "OBSERVATION_TABLE",
    "SCHEMA_VERSION",
    "STATE_FEATURES",
    "WHEELBASE_M",
    "ActionSpace",
    "Observation",
    "bundle_action_space",
    "metadata_action_space",
]
