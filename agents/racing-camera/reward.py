"""racing-camera reward (the racing recipe's): the racing line at its profile speed, and progress per step.

A DeepRacer-style reward function that also reads racer's racing-line extras
(``racing_line_distance``, ``racing_line_speed``, ``measured_speed``; see the params table in
docs/architecture.md). On AWS DeepRacer, paste the line from ``racer tracks line TRACK --csv``
and compute the same two quantities from it.
"""


def reward_function(params):
    if params["is_offtrack"] or not params["all_wheels_on_track"]:
        return 1e-3
    half_width = 0.5 * params["track_width"]
    # 1 on the racing line, 0 half a track width away from it.
    on_line = max(0.0, 1.0 - params["racing_line_distance"] / half_width)
    # 1 at the line's profile speed (the car's limits), less when slower or faster.
    target = max(params["racing_line_speed"], 0.1)
    pace = max(0.0, 1.0 - abs(params["measured_speed"] - target) / target)
    # Progress per step: grows with the lap's pace, the quantity DeepRacer's races rank.
    steps = max(params["steps"], 1)
    rate = params["progress"] / steps  # percent of the lap per step
    reward = on_line * (0.5 + pace) + 2.0 * rate
    if params["progress"] >= 100.0:
        reward += 10.0
    return float(reward)
