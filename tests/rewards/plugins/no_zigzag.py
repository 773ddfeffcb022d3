"""DeepRacer style: centre-line bands, then a penalty for steering hard (zig-zag)."""

STEERING_LIMIT = 15.0


def reward_function(params):
    width = params["track_width"]
    d = params["distance_from_center"]
    reward = 1e-3
    for fraction, value in ((0.1, 1.0), (0.25, 0.5), (0.5, 0.1)):
        if d <= fraction * width:
            reward = value
            break
    if abs(params["steering_angle"]) > STEERING_LIMIT:
        reward *= 0.8
    return float(reward)
