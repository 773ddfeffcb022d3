"""agent.toml's [race]: parsing, the training and evaluation envs, and the race recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from racer.env.race_setup import RaceFormat, RaceSetup
from racer.errors import ConfigError
from racer.train.config import load_agent
from racer.train.pipeline import build_vec_env, config_to_toml, make_env, train
from racer.train.run_folder import RunFolder

AGENTS = Path(__file__).resolve().parents[2] / "agents"


@pytest.mark.parametrize(
    ("recipe", "race"),
    [("object-avoidance", RaceFormat.OBJECT_AVOIDANCE), ("head-to-bot", RaceFormat.HEAD_TO_HEAD)],
)
def test_race_recipes_load(recipe: str, race: RaceFormat) -> None:
    cfg = load_agent(str(AGENTS / recipe))
    setup = cfg.race.setup()
    assert isinstance(setup, RaceSetup) and setup.race == race
    assert setup.n_boxes + setup.n_bots > 0
    assert cfg.env.observation == "state_lidar"
    assert (AGENTS / recipe / "README.md").is_file()


def test_race_section_defaults_and_errors(tiny) -> None:
    assert tiny().race.setup() is None  # a time trial: no objects
    cfg = tiny(race={"format": "head-to-head", "bots": 2, "bot_lane_change_s": 4.0})
    assert cfg.race.setup() == RaceSetup(race="head-to-head", bots=2, bot_lane_change_s=4.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"race.bots must be in \[0, 20\]"):
        tiny(race={"bots": 50})
    with pytest.raises(ConfigError, match=r"race.format 'drag' is not valid"):
        tiny(race={"format": "drag"})
    with pytest.raises(ConfigError, match=r"race.box_placement 'scatter'"):
        tiny(race={"format": "object-avoidance", "box_placement": "scatter"})
    with pytest.raises(ConfigError, match="did you mean 'race.boxes'"):
        tiny(race={"boxs": 2})


def test_race_reaches_the_training_cars_and_the_run_folder(tiny, tmp_path: Path) -> None:
    cfg = tiny(
        env={"observation": "state_lidar"},
        race={"format": "object-avoidance", "boxes": 2},
        budget={"envs": 2, "steps": 256},
    )
    venv = build_vec_env(cfg, 2)
    inner = venv.venv.groups[0][0]
    assert inner.race_setup.n_boxes == 2
    obs = venv.reset()
    assert obs.shape == (2, 23 + 64)
    objs = inner.objects_of(0)
    assert objs is not None and objs.count == 2
    venv.close()
    env = make_env(cfg, "oval", 0)()
    assert len(env.unwrapped.world.objects()) == 2
    env.close()
    # the run folder's config.toml keeps [race]
    text = config_to_toml(cfg)
    assert "[race]" in text and 'format = "object-avoidance"' in text
    result = train(cfg, tmp_path / "run", progress_bar=False)
    again = RunFolder.open(result.run_dir).config()
    assert again.race == cfg.race
    assert result.steps >= 256
    rows = (result.run_dir / "eval.csv").read_text().splitlines()
    assert len(rows) >= 2  # the periodic evaluation ran (on laps with the race's boxes)


@pytest.mark.parametrize("recipe", ["object-avoidance", "head-to-bot"])
def test_race_rewards_pay_for_the_free_lane(recipe: str) -> None:
    """With an object 1 m ahead in the left lane, driving the right lane pays more; a crash or a
    car about to hit it pays almost nothing; with the road clear, the centre pays most."""
    import math

    from racer.rewards import ObjectInfo, ParamsBuilder, StepInputs, load_reward
    from racer.track import load_track

    track = load_track("oval")
    reward = load_reward(str(AGENTS / recipe / "reward.py"))
    builder = ParamsBuilder(track)

    def at(s: float, lateral: float) -> tuple[float, float, float]:
        xy = np.asarray(track.point_at(s)).reshape(-1)
        yaw = float(track.heading_at(s))
        return xy[0] - lateral * math.sin(yaw), xy[1] + lateral * math.cos(yaw), yaw

    def value(lateral: float, objects: list[ObjectInfo], crashed: bool = False) -> float:
        x, y, yaw = at(5.0, lateral)
        inputs = StepInputs(
            front_xy=(x, y),
            heading_rad=yaw,
            wheels_xy=np.array([[x, y]] * 4),
            speed_cmd_mps=2.0,
            steering_cmd_deg=0.0,
            measured_speed_mps=2.0,
            steps=10,
            start_s=0.0,
            prev_progress=0.0,
            sim_time_s=1.0,
            is_crashed=crashed,
            objects=objects,
            progress=20.0,
        )
        return float(reward(builder.build(inputs)))

    ox, oy, oyaw = at(6.0, 0.25)
    box = [ObjectInfo(ox, oy, oyaw, 0.0, recipe == "head-to-bot")]
    assert value(-0.25, box) > value(0.0, box) > value(0.2, box)
    assert value(-0.25, box, crashed=True) < 0.01
    near = [ObjectInfo(*at(5.3, 0.25), 0.0, False)]
    assert value(0.25, near) < 0.05
    assert value(0.0, []) > value(0.25, [])
