"""racer.sim: the PyBullet world.

One :class:`World` per simulation, each with its own PyBullet client (DIRECT, never the global
client): the track's painted floor, the 1/18-scale car (a URDF written by :mod:`racer.sim.car`,
driven by a kinematic bicycle model), obstacle boxes and bot cars, the car's sensors (front
camera and stereo pair rendered exactly and fast from the floor texture, a lidar cast with
PyBullet rays) and two human views (chase camera, top-down map).
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
