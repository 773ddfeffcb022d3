"""head-to-bot reward: pass the bot cars on the free side, go fast, finish the lap.

A DeepRacer reward function (it reads only DeepRacer's params): it runs unchanged on AWS
DeepRacer's head-to-bot races and in racer.
"""

import math

LOOK_M = 1.5  # start moving over to the free side this far behind a bot, m
CLOSE_M = 0.5  # nearer than this on the bot's side is nearly a crash, m


def reward_function(params):
    if params["is_offtrack"] or params["is_crashed"]:
        return 1e-3
    half_width = 0.5 * params["track_width"]
    lateral = params["distance_from_center"]
    if not params["is_left_of_center"]:
        lateral = -lateral
    target = 0.0  # no bot close ahead: the centre line
    locations = params["objects_location"]
    if locations:
        ahead = params["closest_objects"][1]
        ox, oy = locations[ahead]
        distance = math.hypot(ox - params["x"], oy - params["y"])
        bot_left = params["objects_left_of_center"][ahead]
        if distance < LOOK_M:
            target = -0.5 * half_width if bot_left else 0.5 * half_width
            if distance < CLOSE_M and (lateral > 0.0) == bot_left:
                return 1e-2
    lane = max(0.0, 1.0 - abs(lateral - target) / half_width)
    speed = params["speed"] / 3.5  # the recipe's top speed is 3.5 m/s
    reward = lane + speed
    if params["progress"] >= 100.0:
        reward += 50.0  # a complete lap, every bot passed
    return float(reward)
