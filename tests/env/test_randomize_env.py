"""RaceEnv and RaceVectorEnv with randomize=: the plain world unchanged when off, seeded worlds
when on, and `racer drive --source sim:` perturbed by the same code path."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from racer.env import RaceEnv, RaceVectorEnv
from racer.env.follower import CenterlineFollower
from racer.env.sim_source import SimSource
from racer.env.spaces import resolve_action_space
from racer.sim.randomize import Perturbation, RandomizeConfig

#: sha256 of the plain camera frame at the oval's start line (reset with start_s=0): today's
#: renderer, pinned so that the plain world stays bit-identical.
PLAIN_START_FRAME_SHA256 = "b11efb6d5397662df9b9abac7af8d779256aca37cdeae2658f621acd18baf9b0"


def _drive(env: RaceEnv, seed: int, steps: int = 40) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    driver = CenterlineFollower(env)
    frames = [obs]
    for _ in range(steps):
        obs, _, term, trunc, _ = env.step(driver.act())
        frames.append(obs)
        if term or trunc:
            obs, _ = env.reset()
            frames.append(obs)
    return frames


def test_the_plain_frame_is_pinned() -> None:
    env = RaceEnv("oval", observation="camera", start="fixed")
    obs, _ = env.reset(seed=0)
    assert hashlib.sha256(obs.tobytes()).hexdigest() == PLAIN_START_FRAME_SHA256
    env.close()


@pytest.mark.parametrize("off", [None, RandomizeConfig(enabled=False), Perturbation()])
def test_randomisation_off_leaves_the_plain_world(off: object) -> None:
    """Off (None, enabled = false, no levels): the same frames and the same random starts."""
    plain = RaceEnv("oval", observation="camera", start="random", direction="both")
    other = RaceEnv("oval", observation="camera", start="random", direction="both", randomize=off)  # type: ignore[arg-type]
    for a, b in zip(_drive(plain, 3), _drive(other, 3), strict=True):
        np.testing.assert_array_equal(a, b)
    plain.close()
    other.close()


def test_randomised_episodes_are_seeded_and_differ_from_the_plain_world() -> None:
    cfg = RandomizeConfig(enabled=True)
    a = RaceEnv("oval", observation="camera", randomize=cfg)
    b = RaceEnv("oval", observation="camera", randomize=cfg)
    plain = RaceEnv("oval", observation="camera")
    fa, fb, fp = _drive(a, 7, 20), _drive(b, 7, 20), _drive(plain, 7, 20)
    for x, y in zip(fa, fb, strict=True):
        np.testing.assert_array_equal(x, y)
    assert np.mean(fa[0] != fp[0]) > 0.2
    fc = _drive(a, 8, 0)
    assert not np.array_equal(fc[0], fa[0])  # another seed, another world
    for env in (a, b, plain):
        env.close()


def test_latency_holds_the_car_for_its_steps() -> None:
    """Two steps of latency: the car stands still for two steps, then drives the commands."""
    late = RaceEnv("oval", observation="state", randomize=Perturbation.parse("latency_steps=2"))
    plain = RaceEnv("oval", observation="state")
    speeds: dict[str, list[float]] = {"late": [], "plain": []}
    for name, env in (("late", late), ("plain", plain)):
        env.reset(seed=0, options={"start_s": 0.0})
        for _ in range(4):
            _, _, _, _, info = env.step(env.action_spec.to_action(0.0, 1.0))
            speeds[name].append(info["speed_mps"])
    assert speeds["late"][:2] == [0.0, 0.0] and speeds["plain"][0] > 0.0
    assert speeds["late"][2] == pytest.approx(speeds["plain"][0])


def test_vector_env_draws_each_cars_world_from_its_generator() -> None:
    cfg = RandomizeConfig(enabled=True, geometries=2, variants=2)
    venv = RaceVectorEnv(4, "oval", observation="camera", randomize=cfg)
    obs, _ = venv.reset(seed=5)
    env = RaceEnv("oval", observation="camera", randomize=cfg)
    for i in range(4):
        o, _ = env.reset(seed=5 + i)
        np.testing.assert_array_equal(obs[i], o)
    assert not np.array_equal(obs[0], obs[1])
    env.close()


def test_sim_source_is_perturbed_by_the_envs_code_path() -> None:
    """`racer drive --source sim:` (SimSource) and an env with the same perturbation see the same
    frames step for step, and they differ from the plain world's."""
    spec = resolve_action_space("discrete")
    levels = Perturbation.parse("brightness=-40,noise=6,fov=110,latency_steps=1")
    src = SimSource("oval", "camera", spec, episodes=1, max_steps=30, perturb=levels)
    env = RaceEnv("oval", observation="camera", action_space=spec, start="fixed", randomize=levels)
    plain = SimSource("oval", "camera", spec, episodes=1, max_steps=30)
    obs, _ = env.reset(seed=0, options={"start_s": 0.0, "reverse": False})
    differ = 0
    for _ in range(8):
        frame = src.read()
        assert frame is not None
        np.testing.assert_array_equal(frame, obs)
        p = plain.read()
        assert p is not None
        differ += int(not np.array_equal(frame, p))
        steer, speed = spec.actions[2]
        src.apply(0.0, 0.0, steer, speed)
        plain.apply(0.0, 0.0, steer, speed)
        obs, *_ = env.step(2)
    assert differ == 8
    for s in (src, plain):
        s.close()
    env.close()


def test_the_recipe_section_reaches_training_and_round_trips() -> None:
    """`[randomize]` in agent.toml: the camera recipe has it on, a typo is refused with a
    suggestion, and the run folder's config.toml reads back the same section."""
    import tomllib
    from pathlib import Path

    from racer.errors import ConfigError
    from racer.train.config import config_from_dict, load_agent
    from racer.train.pipeline import config_to_toml, randomize_of

    cfg = load_agent(Path(__file__).resolve().parents[2] / "agents" / "camera")
    assert cfg.randomize.enabled and randomize_of(cfg) is cfg.randomize
    assert randomize_of(config_from_dict({})) is None  # other recipes: the plain world
    with pytest.raises(ConfigError, match="did you mean 'randomize.noise'"):
        config_from_dict({"randomize": {"nois": 3.0}})
    with pytest.raises(ConfigError, match="randomize.noise"):
        config_from_dict({"randomize": {"noise": "loud"}})
    again = config_from_dict(tomllib.loads(config_to_toml(cfg)))
    assert again.randomize == cfg.randomize
