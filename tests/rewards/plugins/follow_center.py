"""DeepRacer style: reward staying close to the centre line, in bands of the track width."""


def reward_function(params):
    half = 0.5 * params["track_width"]
    d = params["distance_from_center"]
    if d <= 0.2 * half:
        return 1.0
    elif d <= 0.5 * half:
        return 0.5
    elif d <= half:
        return 0.1
    return 1e-3
