"""quickstart reward: stay near the centre line, go fast, finish the lap.

A DeepRacer reward function: it runs unchanged on AWS DeepRacer and in racer.
"""


def reward_function(params):
    if params["is_offtrack"] or not params["all_wheels_on_track"]:
        return 1e-3
    half_width = 0.5 * params["track_width"]
    offset = min(1.0, params["distance_from_center"] / half_width)
    centre = 1.0 - offset**2  # 1 on the line, 0 at the border
    speed = params["speed"] / 2.0  # the recipe's top speed is 2 m/s
    reward = 0.5 * centre + speed
    if params["progress"] >= 100.0:
        reward += 50.0  # a complete lap is what we want most
    return float(reward)
