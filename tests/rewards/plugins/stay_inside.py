"""DeepRacer style: any place between the borders is fine; leaving them is not."""


def reward_function(params):
    margin = 0.5 * params["track_width"] - params["distance_from_center"]
    if params["all_wheels_on_track"] and margin >= 0.05:
        return 1.0
    return 1e-3
