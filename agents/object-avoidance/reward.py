"""object-avoidance reward: keep to the free lane past the next box, go fast, finish the lap.

A DeepRacer reward function (it reads only DeepRacer's params): it runs unchanged on AWS
DeepRacer's object-avoidance races and in racer.
"""

import math

LOOK_M = 2.5  # start moving over to the free lane this far before a box, m
CLOSE_M = 0.6  # nearer than this in the box's lane is nearly a crash, m


def reward_function(params):
    if params["is_offtrack"] or params["is_crashed"]:
        return 1e-3
    half_width = 0.5 * params["track_width"]
    lateral = params["distance_from_center"]
    if not params["is_left_of_center"]:
        lateral = -lateral
    target = 0.0  # no box close ahead: the centre line
    same_lane = False
    locations = params["objects_location"]
    if locations:
        ahead = params["closest_objects"][1]
        ox, oy = locations[ahead]
        distance = math.hypot(ox - params["x"], oy - params["y"])
        box_left = params["objects_left_of_center"][ahead]
        if distance < LOOK_M:
            target = -0.5 * half_width if box_left else 0.5 * half_width
            same_lane = (lateral > 0.0) == box_left
        if same_lane and distance < CLOSE_M:
            return 1e-2
    lane = max(0.0, 1.0 - abs(lateral - target) / half_width)
    speed = params["speed"] / 3.5  # the recipe's top speed is 3.5 m/s
    reward = lane + speed
    if params["progress"] >= 100.0:
        reward += 50.0  # a complete lap is what we want most
    return float(reward)
