"""DeepRacer style: a bonus every 10 steps when progress is ahead of a lap-time schedule."""

TOTAL_NUM_STEPS = 300  # steps in which we would like a whole lap


def reward_function(params):
    steps = params["steps"]
    progress = params["progress"]
    reward = 1.0
    if steps % 10 == 0 and progress > steps / TOTAL_NUM_STEPS * 100:
        reward += 10.0
    return reward
