"""What a policy can observe: one row per observation, and the ``state`` features.

:data:`OBSERVATION_TABLE` is the single list of observations. The simulator's environment offers
all of them (``RaceEnv(observation=...)``); a real car has the sensors of the rows with
``on_car``, so only those can be trained for export (:data:`CAR_OBSERVATIONS`). ``deepracer``
names the sensors DeepRacer's ``model_metadata.json`` lists for it (``"sensor"``).

The ``state`` observation is privileged (the simulator's true pose and the track ahead):
:data:`STATE_FEATURES` lists its values in order, each ``(name, meaning, unit)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from racer.contract.car import (
    CAMERA_HEIGHT_PX,
    CAMERA_WIDTH_PX,
    LIDAR_BEAMS,
    LIDAR_MAX_RANGE_M,
)

LOOKAHEAD_M = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # centre-line points the `state` observation aims at
CURVATURE_AHEAD_M = (0.0, 1.0, 2.0, 3.0)  # curvature samples in the `state` observation
LINE_SPEED_AHEAD_M = (0.0, 1.0, 2.0)  # racing-line speed samples in `state` (0.0 first: at the car)
LINE_AIM_AHEAD_M = (0.5, 1.0, 2.0)  # racing-line points the `state` observation aims at

#: The ``state`` observation's values in order: ``(name, meaning, unit)``.
STATE_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("speed", "measured speed / 4", "m/s / 4"),
    ("steering", "actual steering / 30 deg", "1"),
    ("sin_heading_error", "sin(car yaw - track heading)", "1"),
    ("cos_heading_error", "cos(car yaw - track heading)", "1"),
    ("lateral", "signed offset from centre / half width (+ = left)", "1"),
    ("half_width", "half the road width", "m"),
    *(
        (f"aim_{d:g}m", f"bearing of the centre line {d:g} m ahead, car frame / pi", "1")
        for d in LOOKAHEAD_M
    ),
    *(
        (f"curvature_{d:g}m", f"centre-line curvature {d:g} m ahead x 0.5", "1/m x 0.5")
        for d in CURVATURE_AHEAD_M
    ),
    ("line_offset", "signed offset from the racing line / half width (+ = left of it)", "1"),
    *(
        (f"line_speed_{d:g}m", f"racing-line profile speed {d:g} m ahead / 4", "m/s / 4")
        for d in LINE_SPEED_AHEAD_M
    ),
    *(
        (f"line_aim_{d:g}m", f"bearing of the racing line {d:g} m ahead, car frame / pi", "1")
        for d in LINE_AIM_AHEAD_M
    ),
)
STATE_LIMIT = 5.0  # every `state` value is clipped to +-this


@dataclass(frozen=True)
class Observation:
    """One observation a policy can read.

    Attributes:
        name: the name ``RaceEnv(observation=...)``, agent configs and bundles use.
        shape: the array shape the environment returns (default sensor settings).
        dtype: the numpy dtype name.
        low: the smallest value.
        high: the largest value.
        deepracer: the sensors DeepRacer's ``model_metadata.json`` lists for it.
        on_car: whether a real car has it (only those can be exported to a bundle).
        image: whether it is camera frames (a CNN policy reads it).
        what: one line for humans.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    low: float
    high: float
    deepracer: tuple[str, ...]
    on_car: bool
    image: bool
    what: str


#: Every observation, in the order the user-facing lists show them.
OBSERVATION_TABLE: tuple[Observation, ...] = (
    Observation(
        "camera",
        (1, CAMERA_HEIGHT_PX, CAMERA_WIDTH_PX),
        "uint8",
        0,
        255,
        ("FRONT_FACING_CAMERA",),
        on_car=True,
        image=True,
        what="front camera, grayscale",
    ),
    Observation(
        "stereo",
        (2, CAMERA_HEIGHT_PX, CAMERA_WIDTH_PX),
        "uint8",
        0,
        255,
        ("STEREO_CAMERAS",),
        on_car=True,
        image=True,
        what="left and right front cameras, grayscale",
    ),
    Observation(
        "lidar",
        (LIDAR_BEAMS,),
        "float32",
        0.0,
        LIDAR_MAX_RANGE_M,
        ("FRONT_FACING_CAMERA", "LIDAR"),
        on_car=True,
        image=False,
        what="ranges in metres over +-150 deg",
    ),
    Observation(
        "state",
        (len(STATE_FEATURES),),
        "float32",
        -STATE_LIMIT,
        STATE_LIMIT,
        ("STATE",),
        on_car=False,
        image=False,
        what="privileged features (STATE_FEATURES); not available on a real car",
    ),
    Observation(
        "state_lidar",
        (len(STATE_FEATURES) + LIDAR_BEAMS,),
        "float32",
        -STATE_LIMIT,
        STATE_LIMIT,
        ("STATE", "LIDAR"),
        on_car=False,
        image=False,
        what="the state features, then the lidar ranges in metres: races with objects, fast",
    ),
)
OBSERVATION_BY_NAME: dict[str, Observation] = {o.name: o for o in OBSERVATION_TABLE}

OBSERVATIONS: tuple[str, ...] = tuple(o.name for o in OBSERVATION_TABLE)  # every observation
CAR_OBSERVATIONS: tuple[str, ...] = tuple(o.name for o in OBSERVATION_TABLE if o.on_car)
IMAGE_OBSERVATIONS: tuple[str, ...] = tuple(o.name for o in OBSERVATION_TABLE if o.image)
#: DeepRacer's ``"sensor"`` list of ``model_metadata.json`` for each observation.
DEEPRACER_SENSORS: dict[str, list[str]] = {o.name: list(o.deepracer) for o in OBSERVATION_TABLE}
