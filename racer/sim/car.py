"""The car: its URDF (written here, not shipped) and its kinematic model.

Decision (measured, see ``benchmarks/render_speed.py`` and the numbers below): the car is a
kinematic bicycle model with actuator limits, integrated at ``WorldConfig.physics_hz``, whose
pose is written into a PyBullet body (``resetBasePositionAndOrientation``) for the lidar,
contacts and rendering. A full wheel model (this URDF's four wheels on velocity motors, the
front two on Ackermann steering joints, friction 1.0, on a plane) was measured with
60/120/240 Hz substeps and 4 or 10 solver iterations:

=======  =====  ========  =====================  ==================================
rate Hz  iters  step ms   straight 4 m/s, 5 s    full lock 1 m/s, 5 s
=======  =====  ========  =====================  ==================================
60       4      0.25      yaw drifts -75 deg     stable, tilt 1.7 deg
60       10     0.25      drifts +5 deg          stable, tilt 1.8 deg
120      4      0.42      drifts -26 deg         stable, tilt 0.6 deg
120      10     0.44      drifts 0.3 deg         stable, tilt 0.5 deg
240      4      0.77      drifts -2 deg          stable, tilt 0.1 deg
240      10     0.81      drifts -2 deg          stable, tilt 0.2 deg
=======  =====  ========  =====================  ==================================

(full lock at 4 m/s slid in every case; 1.5 kg car, 3 cm wheels). Wheel physics that drives
straight costs 0.44-0.8 ms per 15 Hz step, more than the whole budget of an environment step
(<0.67 ms for 1,500 steps/s), and still wanders. The kinematic model costs about 0.01 ms a step,
is exactly repeatable, drives straight, never flips, and keeps what matters for DeepRacer
(Ackermann geometry, the speed and steering the policy commands, finite acceleration and servo
rate, and an understeer limit at high speed).
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from typing import Any

from racer.contract.car import (
    CAR_WIDTH_M,
    MAX_STEERING_RAD,
    TRACK_WIDTH_M,
    WHEEL_RADIUS_M,
    WHEELBASE_M,
)
from racer.sim.config import CAR_MASS_KG, CarDynamicsConfig
from racer.util.files import atomic_write_text

BODY_LENGTH_M = 0.26  # chassis box length (bumper to bumper), m
BODY_WIDTH_M = CAR_WIDTH_M  # chassis box width (outer tyre to outer tyre), m
BODY_BOTTOM_M = 0.015  # ground clearance, m
BODY_TOP_M = 0.085  # top of the body, just below the camera (0.10 m), m
WHEEL_WIDTH_M = 0.025  # tyre width, m
STEER_JOINTS = ("fl_steer", "fr_steer")  # URDF joint names of the front steering hubs

# Wheel contact points in the car frame (x forward, y left): FL, FR, RL, RR.
WHEEL_OFFSETS_M = (
    (WHEELBASE_M / 2, TRACK_WIDTH_M / 2),
    (WHEELBASE_M / 2, -TRACK_WIDTH_M / 2),
    (-WHEELBASE_M / 2, TRACK_WIDTH_M / 2),
    (-WHEELBASE_M / 2, -TRACK_WIDTH_M / 2),
)


def car_urdf() -> str:
    """The URDF text of the 1/18-scale car.

    One chassis link carries the collision box (the whole car, wheels included, so contacts
    with boxes and other cars are judged on the car's footprint); the front wheels hang on
    revolute steering hubs (+/-30 degrees) and all wheels on continuous axles, so the same model
    shows its steering in the human views.
    """
    body_h = BODY_TOP_M - BODY_BOTTOM_M
    body_z = (BODY_TOP_M + BODY_BOTTOM_M) / 2
    wheel_mass = 0.05  # kg each
    chassis_mass = CAR_MASS_KG - 4 * wheel_mass

    def inertial(m: float, ix: float, iy: float, iz: float) -> str:
        return (
            f'<inertial><mass value="{m:.4f}"/><inertia ixx="{ix:.3g}" iyy="{iy:.3g}" '
            f'izz="{iz:.3g}" ixy="0" ixz="0" iyz="0"/></inertial>'
        )

    box = f'<box size="{BODY_LENGTH_M} {BODY_WIDTH_M - 2 * WHEEL_WIDTH_M - 0.01} {body_h * 0.6}"/>'
    parts = [
        '<?xml version="1.0"?>',
        '<robot name="racer_car">',
        '<material name="body"><color rgba="0.1 0.3 0.8 1"/></material>',
        '<material name="tyre"><color rgba="0.08 0.08 0.08 1"/></material>',
        '<link name="chassis">',
        f'<visual><origin xyz="0 0 {body_z + body_h * 0.2:.4f}"/><geometry>{box}</geometry>'
        '<material name="body"/></visual>',
        f'<collision><origin xyz="0 0 {body_z:.4f}"/><geometry><box size="{BODY_LENGTH_M} '
        f'{BODY_WIDTH_M} {body_h:.4f}"/></geometry></collision>',
        inertial(chassis_mass, 0.002, 0.008, 0.009),
        "</link>",
    ]
    tyre = (
        f'<visual><origin rpy="1.5708 0 0"/><geometry><cylinder radius="{WHEEL_RADIUS_M}" '
        f'length="{WHEEL_WIDTH_M}"/></geometry><material name="tyre"/></visual>'
    )
    lim = MAX_STEERING_RAD
    for name, (x, y) in zip(("fl", "fr", "rl", "rr"), WHEEL_OFFSETS_M, strict=True):
        parent = "chassis"
        origin = f"{x} {y} {WHEEL_RADIUS_M}"
        if name in ("fl", "fr"):
            parts.append(f'<link name="{name}_hub">{inertial(0.01, 1e-5, 1e-5, 1e-5)}</link>')
            parts.append(
                f'<joint name="{name}_steer" type="revolute"><parent link="chassis"/>'
                f'<child link="{name}_hub"/><origin xyz="{origin}"/><axis xyz="0 0 1"/>'
                f'<limit lower="{-lim:.4f}" upper="{lim:.4f}" effort="5" velocity="10"/></joint>'
            )
            parent, origin = f"{name}_hub", "0 0 0"
        parts.append(
            f'<link name="{name}">{tyre}{inertial(wheel_mass, 1.2e-5, 2.3e-5, 1.2e-5)}</link>'
        )
        parts.append(
            f'<joint name="{name}_spin" type="continuous"><parent link="{parent}"/>'
            f'<child link="{name}"/><origin xyz="{origin}"/><axis xyz="0 1 0"/></joint>'
        )
    parts.append("</robot>")
    return "\n".join(parts)


_urdf_lock = threading.Lock()
_urdf_path: str | None = None


def car_urdf_path() -> str:
    """Writes the car URDF once per process into the temp folder and returns its path."""
    global _urdf_path
    with _urdf_lock:
        if _urdf_path is None or not os.path.exists(_urdf_path):
            text = car_urdf()
            folder = os.path.join(tempfile.gettempdir(), f"racer-urdf-{os.getuid()}")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"car-{abs(hash(text)) % 10**12}.urdf")
            atomic_write_text(path, text, fsync=False)  # a cache, rebuilt when missing
            _urdf_path = path
        return _urdf_path


def ackermann_angles(steering_rad: float) -> tuple[float, float]:
    """Left and right front-wheel angles for a bicycle-model steering angle.

    Args:
        steering_rad: Steering of the virtual centre wheel, rad (+ = left).

    Returns:
        (left, right) wheel angles, rad.
    """
    t = math.tan(steering_rad)
    if abs(t) < 1e-9:
        return 0.0, 0.0
    r = WHEELBASE_M / t  # signed turn radius of the rear-axle centre, m
    return math.atan(WHEELBASE_M / (r - TRACK_WIDTH_M / 2)), math.atan(
        WHEELBASE_M / (r + TRACK_WIDTH_M / 2)
    )


class BicycleModel:
    """Kinematic bicycle model of the car, referenced to the car centre (mid-wheelbase).

    The rear axle rolls without slip along the car's heading; the yaw rate is
    ``v * tan(steering) / wheelbase``, with the path curvature capped by the grip limit. Speed and
    steering follow their commands at the motor's and servo's finite rates.

    Args:
        dyn: Actuator and grip limits.
    """

    def __init__(self, dyn: CarDynamicsConfig) -> None:
        self.dyn = dyn
        self.x_m = 0.0
        self.y_m = 0.0
        self.yaw_rad = 0.0
        self.speed_mps = 0.0
        self.steering_rad = 0.0

    def reset(self, x_m: float, y_m: float, yaw_rad: float) -> None:
        """Places the car at rest with straight wheels."""
        self.x_m, self.y_m, self.yaw_rad = float(x_m), float(y_m), float(yaw_rad)
        self.speed_mps = 0.0
        self.steering_rad = 0.0

    def advance(self, steering_cmd_rad: float, speed_cmd_mps: float, dt_s: float, n: int) -> None:
        """Integrates n substeps of dt_s under constant commands."""
        d = self.dyn
        half = WHEELBASE_M / 2
        x, y, yaw = self.x_m, self.y_m, self.yaw_rad
        v, delta = self.speed_mps, self.steering_rad
        dsteer = d.steering_rate_radps * dt_s
        dv_up = d.max_accel_mps2 * dt_s
        dv_down = d.max_brake_mps2 * dt_s
        alat = d.max_lateral_accel_mps2
        # Rear-axle centre.
        rx = x - half * math.cos(yaw)
        ry = y - half * math.sin(yaw)
        for _ in range(n):
            e = steering_cmd_rad - delta
            delta += dsteer if e > dsteer else (-dsteer if e < -dsteer else e)
            e = speed_cmd_mps - v
            v += dv_up if e > dv_up else (-dv_down if e < -dv_down else e)
            kappa = math.tan(delta) / WHEELBASE_M
            if v * v * abs(kappa) > alat:
                kappa = math.copysign(alat / (v * v), kappa)
            dyaw = v * kappa * dt_s
            mid = yaw + 0.5 * dyaw
            if abs(dyaw) > 1e-9:  # exact arc: chord length 2 R sin(dyaw / 2)
                chord = v * dt_s * math.sin(0.5 * dyaw) / (0.5 * dyaw)
            else:
                chord = v * dt_s
            rx += chord * math.cos(mid)
            ry += chord * math.sin(mid)
            yaw += dyaw
        yaw = math.atan2(math.sin(yaw), math.cos(yaw))
        self.x_m = rx + half * math.cos(yaw)
        self.y_m = ry + half * math.sin(yaw)
        self.yaw_rad = yaw
        self.speed_mps = v
        self.steering_rad = delta


class BicycleBatch:
    """:class:`BicycleModel` for many cars at once: the same integration, elementwise in numpy.

    Every attribute is an array over the cars. A car that is not stepped keeps its state
    (``advance`` takes the indices to step).

    Args:
        dyn: Actuator and grip limits (shared by the cars).
        n: Number of cars.
    """

    def __init__(self, dyn: CarDynamicsConfig, n: int) -> None:
        import numpy as np

        self.dyn = dyn
        self.x_m = np.zeros(n)
        self.y_m = np.zeros(n)
        self.yaw_rad = np.zeros(n)
        self.speed_mps = np.zeros(n)
        self.steering_rad = np.zeros(n)

    def reset(self, idx: Any, x_m: Any, y_m: Any, yaw_rad: Any) -> None:
        """Places cars ``idx`` at rest with straight wheels."""
        self.x_m[idx] = x_m
        self.y_m[idx] = y_m
        self.yaw_rad[idx] = yaw_rad
        self.speed_mps[idx] = 0.0
        self.steering_rad[idx] = 0.0

    def advance(
        self, idx: Any, steering_cmd_rad: Any, speed_cmd_mps: Any, dt_s: float, n: int
    ) -> None:
        """Integrates n substeps of dt_s for cars ``idx`` under constant commands (arrays over idx)."""
        import numpy as np

        d = self.dyn
        half = WHEELBASE_M / 2
        x, y, yaw = self.x_m[idx], self.y_m[idx], self.yaw_rad[idx]
        v, delta = self.speed_mps[idx], self.steering_rad[idx]
        dsteer = d.steering_rate_radps * dt_s
        dv_up = d.max_accel_mps2 * dt_s
        dv_down = d.max_brake_mps2 * dt_s
        alat = d.max_lateral_accel_mps2
        steer_cmd = np.asarray(steering_cmd_rad, dtype=np.float64)
        speed_cmd = np.asarray(speed_cmd_mps, dtype=np.float64)
        rx = x - half * np.cos(yaw)
        ry = y - half * np.sin(yaw)
        # Steering and speed first, substep by substep (BicycleModel's rate limits: the same
        # comparisons and sums), both in one (2, cars) array.
        k = len(delta)
        state = np.stack((delta, v))
        cmd = np.stack((steer_cmd, speed_cmd))
        up = np.array([[dsteer], [dv_up]])
        down = np.array([[dsteer], [dv_down]])
        seq = np.empty((n, 2, k))
        for j in range(n):
            e = cmd - state
            state = np.where(e > up, state + up, np.where(e < -down, state - down, state + e))
            seq[j] = state
        deltas, vs = seq[:, 0, :].T, seq[:, 1, :].T  # (cars, substeps)
        # Then the pose over all the substeps at once; running sums (np.cumsum adds in order)
        # give the loop's sums exactly.
        kappa = np.tan(deltas) / WHEELBASE_M
        v2 = vs * vs
        over = v2 * np.abs(kappa) > alat
        if over.any():
            kappa = np.where(over, np.copysign(alat / np.where(over, v2, 1.0), kappa), kappa)
        dyaw = vs * kappa * dt_s
        yaws = np.cumsum(np.concatenate((yaw[:, None], dyaw), axis=1), axis=1)
        mid = yaws[:, :-1] + 0.5 * dyaw
        arc = np.abs(dyaw) > 1e-9
        half_dyaw = np.where(arc, 0.5 * dyaw, 1.0)
        chord = vs * dt_s
        chord = np.where(arc, chord * np.sin(half_dyaw) / half_dyaw, chord)
        rx = np.cumsum(np.concatenate((rx[:, None], chord * np.cos(mid)), axis=1), axis=1)[:, -1]
        ry = np.cumsum(np.concatenate((ry[:, None], chord * np.sin(mid)), axis=1), axis=1)[:, -1]
        yaw = yaws[:, -1]
        delta, v = deltas[:, -1], vs[:, -1]
        yaw = np.arctan2(np.sin(yaw), np.cos(yaw))
        self.x_m[idx] = rx + half * np.cos(yaw)
        self.y_m[idx] = ry + half * np.sin(yaw)
        self.yaw_rad[idx] = yaw
        self.speed_mps[idx] = v
        self.steering_rad[idx] = delta
