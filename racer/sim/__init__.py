"""racer.sim: the PyBullet world.

One :class:`World` per simulation, each with its own PyBullet client (DIRECT, never the global
client): the track's painted floor, the 1/18-scale car (a URDF written by :mod:`racer.sim.car`,
driven by a kinematic bicycle model), obstacle boxes and bot cars, and the car's sensors (front
camera and stereo pair rendered exactly and fast from the floor texture, a lidar; the objects
in contacts, lidar and camera come from the numpy object model of :mod:`racer.sim.objects`).

- :mod:`racer.sim.world`: :class:`World`, :class:`CarState`, :class:`ObjectState`.
- :mod:`racer.sim.config`: :class:`WorldConfig` and its parts (camera, lidar, car dynamics).
- :mod:`racer.sim.car`: the car's URDF and its bicycle model.
- :mod:`racer.sim.texture`, :mod:`racer.sim.camera`: the painted floor and the fast camera.
- :mod:`racer.sim.objects`: boxes and bot cars as oriented boxes (contacts, lidar, their pixels,
  bots' driving), for one car (``World``) or many (``racer.env.RaceVectorEnv``).
- :mod:`racer.sim.views`: what people see (chase camera, top-down map) and PyBullet's reference
  render of the front camera; never part of the agent's observation.
"""

from racer.sim.config import (
    CONTROL_HZ,
    MAX_SPEED_MPS,
    MAX_STEERING_RAD,
    MIN_SPEED_MPS,
    CameraConfig,
    CarDynamicsConfig,
    LidarConfig,
    WorldConfig,
)
from racer.sim.texture import FloorTexture, floor_texture
from racer.sim.world import CarState, ObjectState, World

__all__ = [
    "CONTROL_HZ",
    "MAX_SPEED_MPS",
    "MAX_STEERING_RAD",
    "MIN_SPEED_MPS",
    "CameraConfig",
    "CarDynamicsConfig",
    "CarState",
    "FloorTexture",
    "LidarConfig",
    "ObjectState",
    "World",
    "WorldConfig",
    "floor_texture",
]
