"""The physical car: its control rate, limits and geometry, one constant each.

racer's car is a 1/18-scale AWS DeepRacer (DESIGN.md, "The car and the world"). The simulator
builds and moves its car from these numbers, the environment and the bundle check actions against
them, and the car runtime refuses bundles that exceed them. Angles the user sees (action spaces)
are in degrees, as DeepRacer has them.
"""

from __future__ import annotations

import math

# --- control -----------------------------------------------------------------------------------
CONTROL_HZ = 15  # DeepRacer camera rate: one control step (agent decision) per camera frame
DT_S = 1.0 / CONTROL_HZ  # one control period, s

# --- action limits (DeepRacer's action-space bounds) --------------------------------------------
MAX_STEERING_DEG = 30.0  # steering lock, +/- degrees: DeepRacer's action-space limit
MAX_STEERING_RAD = math.radians(MAX_STEERING_DEG)  # the same lock in radians, for the physics
MIN_SPEED_MPS = 0.1  # DeepRacer's lowest action-space speed, m/s
MAX_SPEED_MPS = 4.0  # DeepRacer's highest action-space speed, m/s

# --- geometry ----------------------------------------------------------------------------------
WHEELBASE_M = 0.164  # front axle to rear axle, m: the 1/18-scale DeepRacer chassis
TRACK_WIDTH_M = 0.162  # left wheel centre to right wheel centre (axle track), m: DeepRacer
WHEEL_RADIUS_M = 0.03  # tyre radius, m: DeepRacer's wheels
CAR_WIDTH_M = 0.19  # outer tyre to outer tyre, m: what must stay on the road
FRONT_OFFSET_M = 0.09  # DeepRacer's reported (x, y): a point about over the front axle, m ahead

# --- sensors (the frames and ranges a bundle's model reads) ------------------------------------
CAMERA_HEIGHT_PX = 120  # DeepRacer's camera frame height, pixels (160x120 frames)
CAMERA_WIDTH_PX = 160  # DeepRacer's camera frame width, pixels
LIDAR_BEAMS = 64  # lidar readings per scan, spread evenly over LIDAR_FOV_DEG (racer's choice)
LIDAR_FOV_DEG = 300.0  # lidar angular span, degrees: +/-150 around the heading (the rear is body)
LIDAR_MAX_RANGE_M = 2.0  # lidar readings clipped here, m: DeepRacer clips its lidar short too
