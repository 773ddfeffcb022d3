"""DeepRacer style: point the car along the line from the previous to the next waypoint."""

import math

DIRECTION_THRESHOLD = 10.0


def reward_function(params):
    waypoints = params["waypoints"]
    behind, ahead = params["closest_waypoints"]
    prev_point = waypoints[behind]
    next_point = waypoints[ahead]
    track_direction = math.degrees(
        math.atan2(next_point[1] - prev_point[1], next_point[0] - prev_point[0])
    )
    direction_diff = abs(track_direction - params["heading"])
    if direction_diff > 180:
        direction_diff = 360 - direction_diff
    reward = 1.0
    if direction_diff > DIRECTION_THRESHOLD:
        reward *= 0.5
    return reward


def strict(params):
    """A second function in the same file, loaded as point_ahead.py:strict."""
    return 2.0 * reward_function(params)
