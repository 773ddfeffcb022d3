"""racer's built-in reward functions, registered in the ``racer.rewards`` entry-point group.

Each is a plain DeepRacer-style ``reward_function(params) -> float``; the first line of its
docstring is what ``racer rewards list`` shows. All but ``racing_line`` read only DeepRacer's keys,
so they could be pasted into the DeepRacer console unchanged; ``racing_line`` reads racer's
``racing_line_*`` extras (on DeepRacer, paste the line from ``racer tracks line T --csv``).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["BUILTINS", "centerline", "progress", "racing_line", "waypoint_heading"]

#: Names of the built-ins, as registered in pyproject.toml's ``racer.rewards`` entry points.
BUILTINS: tuple[str, ...] = ("centerline", "progress", "racing_line", "waypoint_heading")

MIN_REWARD = 1e-3  # DeepRacer's customary "almost nothing" (0 can stall PPO's advantage)


def centerline(params: dict[str, Any]) -> float:
    """Follow the centre line: 1.0 / 0.5 / 0.1 within 10 / 25 / 50 % of the track width.

    DeepRacer's first sample reward. Beyond half the track width, or with a wheel off the
    road, the reward is 1e-3.

    Args:
        params: DeepRacer reward params.

    Returns:
        The reward.
    """
    if not params["all_wheels_on_track"]:
        return MIN_REWARD
    width = params["track_width"]
    distance = params["distance_from_center"]
    if distance <= 0.1 * width:
        return 1.0
    if distance <= 0.25 * width:
        return 0.5
    if distance <= 0.5 * width:
        return 0.1
    return MIN_REWARD


def progress(params: dict[str, Any]) -> float:
    """Go fast: lap progress per step (x10) plus speed/4, while all wheels are on the road.

    ``progress / steps`` is the average percent of the lap per step, which grows with lap
    speed; the speed term gives a signal from the first step. Off the road: 1e-3.

    Args:
        params: DeepRacer reward params.

    Returns:
        The reward.
    """
    if not params["all_wheels_on_track"] or params["is_offtrack"]:
        return MIN_REWARD
    steps = max(int(params["steps"]), 1)
    rate_pct = max(float(params["progress"]), 0.0) / steps
    return max(10.0 * rate_pct + 0.25 * float(params["speed"]), MIN_REWARD)


def racing_line(params: dict[str, Any]) -> float:
    """Race: stay on the optimal racing line at its profile speed, the faster the better.

    ``on_line`` is 1 on the racing line and falls to 0 at half the track width from it;
    ``pace`` is 1 at the line's profile speed (measured speed, so braking late costs) and falls
    with the relative gap either way; a bonus of speed/4 pays going fast at all. The reward is
    ``on_line * (pace + 0.5 * speed / 4)``; off the road it is 1e-3.

    Args:
        params: DeepRacer reward params with racer's ``racing_line_*`` and ``measured_speed``.

    Returns:
        The reward.
    """
    if not params["all_wheels_on_track"] or params["is_offtrack"]:
        return MIN_REWARD
    half_width = 0.5 * float(params["track_width"])
    on_line = max(0.0, 1.0 - float(params["racing_line_distance"]) / max(half_width, 1e-6))
    target = max(float(params["racing_line_speed"]), 0.1)
    speed = float(params["measured_speed"])
    pace = max(0.0, 1.0 - abs(speed - target) / target)
    return max(on_line * (pace + 0.125 * speed), MIN_REWARD)


def waypoint_heading(params: dict[str, Any]) -> float:
    """Point at the next waypoint: 1.0 when aligned, falling linearly to 1e-3 at 90 degrees off.

    The track direction is the line from the waypoint just behind the car to the one just
    ahead (``closest_waypoints``); off the road the reward is 1e-3.

    Args:
        params: DeepRacer reward params.

    Returns:
        The reward.
    """
    if not params["all_wheels_on_track"]:
        return MIN_REWARD
    waypoints = params["waypoints"]
    prev_i, next_i = params["closest_waypoints"]
    prev_pt = waypoints[prev_i]
    next_pt = waypoints[next_i]
    direction = math.degrees(math.atan2(next_pt[1] - prev_pt[1], next_pt[0] - prev_pt[0]))
    diff = abs(direction - params["heading"]) % 360.0
    if diff > 180.0:
        diff = 360.0 - diff
    return max(1.0 - diff / 90.0, MIN_REWARD)


# ---------------------------------------------------------------------------------------------
# Batched forms: the same rewards over a whole batch of cars at once (racer.env.RaceVectorEnv
# calls these instead of the per-car function; tests/rewards hold each equal to its scalar form).


def _off(batch: Any) -> Any:
    import numpy as np

    return ~np.asarray(batch["all_wheels_on_track"])


def centerline_many(batch: Any) -> Any:
    """:func:`centerline` of every car of a :class:`racer.rewards.ParamsBatch` (an array)."""
    import numpy as np

    width = batch["track_width"]
    distance = batch["distance_from_center"]
    out = np.select(
        [distance <= 0.1 * width, distance <= 0.25 * width, distance <= 0.5 * width],
        [1.0, 0.5, 0.1],
        MIN_REWARD,
    )
    return np.where(_off(batch), MIN_REWARD, out)


def progress_many(batch: Any) -> Any:
    """:func:`progress` of every car of a :class:`racer.rewards.ParamsBatch` (an array)."""
    import numpy as np

    steps = np.maximum(batch["steps"], 1)
    rate_pct = np.maximum(batch["progress"], 0.0) / steps
    out = np.maximum(10.0 * rate_pct + 0.25 * batch["speed"], MIN_REWARD)
    return np.where(_off(batch) | batch["is_offtrack"], MIN_REWARD, out)


def racing_line_many(batch: Any) -> Any:
    """:func:`racing_line` of every car of a :class:`racer.rewards.ParamsBatch` (an array)."""
    import numpy as np

    half_width = 0.5 * batch["track_width"]
    on_line = np.maximum(0.0, 1.0 - batch["racing_line_distance"] / np.maximum(half_width, 1e-6))
    target = np.maximum(batch["racing_line_speed"], 0.1)
    speed = batch["measured_speed"]
    pace = np.maximum(0.0, 1.0 - np.abs(speed - target) / target)
    out = np.maximum(on_line * (pace + 0.125 * speed), MIN_REWARD)
    return np.where(_off(batch) | batch["is_offtrack"], MIN_REWARD, out)


def waypoint_heading_many(batch: Any) -> Any:
    """:func:`waypoint_heading` of every car of a :class:`racer.rewards.ParamsBatch` (an array)."""
    import numpy as np

    wps = np.asarray(batch.shared["waypoints"], dtype=np.float64)
    idx = batch["closest_waypoints"]
    prev_pt, next_pt = wps[idx[:, 0]], wps[idx[:, 1]]
    direction = np.degrees(np.arctan2(next_pt[:, 1] - prev_pt[:, 1], next_pt[:, 0] - prev_pt[:, 0]))
    diff = np.abs(direction - batch["heading"]) % 360.0
    diff = np.where(diff > 180.0, 360.0 - diff, diff)
    out = np.maximum(1.0 - diff / 90.0, MIN_REWARD)
    return np.where(_off(batch), MIN_REWARD, out)


#: scalar built-in -> its batched form
BATCHED: dict[Any, Any] = {
    centerline: centerline_many,
    progress: progress_many,
    racing_line: racing_line_many,
    waypoint_heading: waypoint_heading_many,
}
