"""Configuration of a simulated world: the car, the front camera(s), the lidar and the floor.

Every config is a frozen, picklable dataclass so that an environment can copy it into worker
processes and write it into a run folder unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from racer.contract.car import (  # the car's facts (re-exported: racer.sim's users read them here)
    CAMERA_HEIGHT_PX,
    CAMERA_WIDTH_PX,
    CAR_WIDTH_M,
    CONTROL_HZ,
    FRONT_OFFSET_M,
    LIDAR_BEAMS,
    LIDAR_FOV_DEG,
    LIDAR_MAX_RANGE_M,
    MAX_SPEED_MPS,
    MAX_STEERING_RAD,
    MIN_SPEED_MPS,
    TRACK_WIDTH_M,
    WHEEL_RADIUS_M,
    WHEELBASE_M,
)
from racer.errors import ConfigError
from racer.track.racing_line import CarLimits

__all__ = [
    "CAR_MASS_KG",
    "CAR_WIDTH_M",
    "CONTROL_HZ",
    "FRONT_OFFSET_M",
    "MAX_SPEED_MPS",
    "MAX_STEERING_RAD",
    "MIN_SPEED_MPS",
    "TRACK_WIDTH_M",
    "WHEELBASE_M",
    "WHEEL_RADIUS_M",
    "CameraConfig",
    "CarDynamicsConfig",
    "LidarConfig",
    "WorldConfig",
]

CAR_MASS_KG = 1.5  # DeepRacer with battery (the simulated body's mass)
_NO_GRIP_LIMIT_MPS2 = 1000.0  # stands in for an infinite grip limit in the speed profile


@dataclass(frozen=True)
class CameraConfig:
    """A front camera rigidly mounted on the car, looking ahead and down at the floor.

    The defaults follow the DeepRacer camera: over the front axle, 10 cm above the ground, a wide
    (120 degree) lens, 160x120 frames. With a 20 degree downward pitch the horizon lies at about
    the upper third of the frame, so the road ahead fills the lower two thirds, as in DeepRacer's
    images.
    """

    width_px: int = CAMERA_WIDTH_PX
    """Image width, pixels (DeepRacer: 160)."""
    height_px: int = CAMERA_HEIGHT_PX
    """Image height, pixels (DeepRacer: 120)."""
    forward_m: float = FRONT_OFFSET_M
    """Camera position ahead of the car centre, m."""
    height_m: float = 0.10
    """Camera height above the ground, m."""
    pitch_deg: float = 20.0
    """Downward pitch of the optical axis below horizontal, degrees."""
    hfov_deg: float = 120.0
    """Horizontal field of view of the (pinhole) camera, degrees."""
    stereo_baseline_m: float = 0.06
    """Distance between the two stereo cameras (each +/- half of it sideways), m."""
    near_m: float = 0.01
    """Near clipping distance along the optical axis, m."""
    far_m: float = 20.0
    """Far clipping distance along the optical axis: farther floor shows as background, m."""
    background_gray: int = 200
    """Gray level of everything that is not floor (above the horizon, beyond far_m), 0-255."""

    @property
    def vfov_deg(self) -> float:
        """Vertical field of view implied by hfov_deg and the aspect ratio, degrees."""
        half = math.atan(math.tan(math.radians(self.hfov_deg) / 2) * self.height_px / self.width_px)
        return math.degrees(2 * half)


@dataclass(frozen=True)
class LidarConfig:
    """A planar lidar on the car: horizontal rays that see boxes and bot cars, never the floor.

    DeepRacer's lidar (an RPLidar A1-class sensor) covers 0.15-12 m, but DeepRacer clips it to a
    short range for racing; 2 m covers everything a car at 4 m/s must react to within a second.
    """

    num_rays: int = LIDAR_BEAMS
    """Number of rays, spread evenly (end points included) over fov_deg."""
    fov_deg: float = LIDAR_FOV_DEG
    """Total angular span, degrees: +/-150 around the car's heading."""
    max_range_m: float = LIDAR_MAX_RANGE_M
    """Readings are clipped to this range; no hit reads exactly max_range_m, m."""
    height_m: float = 0.06
    """Height of the rays above the ground (mid-height of a car or box), m."""
    forward_m: float = 0.0
    """Sensor position ahead of the car centre, m."""


@dataclass(frozen=True)
class CarDynamicsConfig:
    """Limits of the kinematic car model (a bicycle model with actuator limits)."""

    max_accel_mps2: float = 6.0
    """Largest speed increase per second (motor limit): 0 to 4 m/s in 0.67 s, m/s^2."""
    max_brake_mps2: float = 8.0
    """Largest speed decrease per second, m/s^2."""
    steering_rate_radps: float = math.radians(600.0)
    """Steering servo slew rate (about 0.1 s for 60 degrees, a hobby servo), rad/s."""
    max_lateral_accel_mps2: float = 9.0
    """Tyre grip limit: the path curvature is capped so that v^2 * curvature stays below this
    (the car understeers instead of turning at full lock at high speed); inf disables, m/s^2."""


@dataclass(frozen=True)
class WorldConfig:
    """Everything that shapes a :class:`racer.sim.World` besides the track."""

    physics_hz: int = 120
    """Integration rate of the car model, Hz; a multiple of CONTROL_HZ (8 substeps per step)."""
    camera: CameraConfig = field(default_factory=CameraConfig)
    """Front camera (and stereo pair) intrinsics and pose."""
    lidar: LidarConfig = field(default_factory=LidarConfig)
    """Lidar geometry."""
    dynamics: CarDynamicsConfig = field(default_factory=CarDynamicsConfig)
    """Car model limits."""
    texture_m_per_px: float = 0.005
    """Floor texture resolution, m per pixel (5 mm: about one texel per camera pixel nearby)."""
    texture_margin_m: float = 1.0
    """Painted floor around the track's bounding box, m."""
    box_size_m: tuple[float, float, float] = (0.3, 0.3, 0.3)
    """Default obstacle box size (length, width, height), m."""

    def car_limits(self) -> CarLimits:
        """The car's limits as the racing line's speed profile uses them."""
        d = self.dynamics
        return CarLimits(
            top_speed_mps=MAX_SPEED_MPS,
            lateral_accel_mps2=min(d.max_lateral_accel_mps2, _NO_GRIP_LIMIT_MPS2),
            accel_mps2=d.max_accel_mps2,
            brake_mps2=d.max_brake_mps2,
            max_curvature_per_m=math.tan(MAX_STEERING_RAD) / WHEELBASE_M,
            car_width_m=CAR_WIDTH_M,
        )

    def __post_init__(self) -> None:
        if self.physics_hz <= 0 or self.physics_hz % CONTROL_HZ:
            raise ConfigError(
                f"physics_hz={self.physics_hz} must be a positive multiple of {CONTROL_HZ}"
            )
        if not self.texture_m_per_px > 0:
            raise ConfigError(f"texture_m_per_px={self.texture_m_per_px} must be > 0")

    @property
    def substeps(self) -> int:
        """Physics substeps per control step."""
        return self.physics_hz // CONTROL_HZ
