"""The simulator and the car share one preprocessing path.

``RaceEnv``'s image observations are the car's :class:`Preprocessor` applied to the world's raw
frame, with the steps a camera bundle carries (what the exporter writes into ``metadata.json``),
and they are bit-identical to the world's frame itself (the steps are the identity on it).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from racer.car.preprocess import Preprocessor, camera_steps
from racer.env import RaceEnv
from racer.sim.texture import BORDER_RGB, CENTER_RGB, FLOOR_RGB, ROAD_RGB, rgb_to_gray

STEPS = 12


def _raw(env: RaceEnv) -> np.ndarray:
    """The world's frame as the sensor delivers it, before any preprocessing."""
    return env.world.camera() if env.observation_name == "camera" else env.world.stereo()


@pytest.mark.parametrize("observation", ["camera", "stereo"])
def test_observation_is_the_car_preprocessor_of_the_raw_frame(observation: str) -> None:
    env = RaceEnv(track="oval", observation=observation)
    try:
        assert env.preprocessor is not None
        shape = env.observation_space.shape
        assert shape is not None
        # The steps round-trip through JSON, as in a bundle's metadata.json.
        steps = json.loads(json.dumps(camera_steps(width=shape[-1], height=shape[-2])))
        assert env.preprocessor.steps == steps
        car = Preprocessor(steps, expected_shape=shape)
        obs, _ = env.reset(seed=3)
        env.action_space.seed(3)
        for i in range(STEPS + 1):
            raw = _raw(env)
            legacy = raw[None] if raw.ndim == 2 else raw  # the env's observation before routing
            expected = car(raw)
            assert obs.dtype == expected.dtype == np.uint8 and obs.shape == shape
            assert np.array_equal(obs, expected), f"step {i}"
            assert np.array_equal(obs, legacy), f"step {i}"
            assert obs.tobytes() == expected.tobytes() == legacy.tobytes()
            if i < STEPS:
                obs, _, term, trunc, _ = env.step(env.action_space.sample())
                if term or trunc:
                    obs, _ = env.reset()
    finally:
        env.close()


@pytest.mark.parametrize("observation", ["camera", "stereo"])
def test_env_steps_are_the_exporters_bundle_steps(observation: str) -> None:
    pytest.importorskip("torch")
    from racer.export.exporter import preprocessing_steps

    env = RaceEnv(track="oval", observation=observation)
    try:
        assert env.preprocessor is not None

        class Trained:  # the two fields preprocessing_steps reads
            obs_shape = env.observation_space.shape

        Trained.observation = observation  # type: ignore[attr-defined]
        exported: Any = preprocessing_steps(Trained())  # type: ignore[arg-type]
        assert env.preprocessor.steps == json.loads(json.dumps(exported))
    finally:
        env.close()


def test_car_gray_of_an_rgb_frame_is_the_simulators_paint() -> None:
    """A real camera's RGB frame becomes the gray levels the simulator paints its floor with."""
    rng = np.random.default_rng(0)
    colours = np.array([FLOOR_RGB, ROAD_RGB, BORDER_RGB, CENTER_RGB], dtype=np.uint8)
    rgb = colours[rng.integers(0, len(colours), size=(120, 160))]
    rgb[:8] = rng.integers(0, 256, size=(8, 160, 3), dtype=np.uint8)  # and arbitrary colours
    car = Preprocessor(camera_steps(width=160, height=120), expected_shape=(1, 120, 160))
    assert np.array_equal(car(rgb), rgb_to_gray(rgb)[None])
