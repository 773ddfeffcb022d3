"""racer.sim.randomize: seeded episode worlds, the plain world unchanged, frames and commands."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from racer.errors import ConfigError
from racer.sim.camera import FloorCamera
from racer.sim.config import CameraConfig
from racer.sim.randomize import (
    DEEPRACER_CAMERA,
    PERTURBATIONS,
    EpisodeParams,
    Perturbation,
    RandomizeConfig,
    Randomizer,
    episode_rays,
    jpeg_roundtrip,
)
from racer.sim.texture import floor_texture
from racer.track import load_track

N = 6


@pytest.fixture(scope="module")
def oval() -> tuple[object, object, np.ndarray, np.ndarray, np.ndarray]:
    track = load_track("oval")
    tex = floor_texture(track)
    s = np.linspace(0.0, track.length, N, endpoint=False)
    xy = np.asarray(track.point_at(s), dtype=np.float64).reshape(-1, 2)
    yaw = np.asarray(track.heading_at(s), dtype=np.float64).reshape(-1)
    return track, tex, xy[:, 0].copy(), xy[:, 1].copy(), yaw


def _randomizer(source: object, tex: object, laterals: tuple[float, ...] = (0.0,)) -> Randomizer:
    return Randomizer(source, CameraConfig(), tex, N, laterals)  # type: ignore[arg-type]


def _frames(r: Randomizer, oval: tuple, seeds: list[int], step: int = 3) -> np.ndarray:
    _, _, x, y, yaw = oval
    r.reset_cars(np.arange(N), [np.random.default_rng(s) for s in seeds])
    return r.render(np.arange(N), x, y, yaw, np.full(N, 2.0), np.full(N, step))


@pytest.mark.parametrize("laterals", [(0.0,), (0.03, -0.03)])
def test_plain_levels_render_the_plain_camera_bit_for_bit(oval: tuple, laterals: tuple) -> None:
    """An empty perturbation and a disabled config go through the whole randomised path (floor
    table, backdrop, light table, noise, JPEG) and give FloorCamera's frames exactly."""
    _, tex, x, y, yaw = oval
    cams = [FloorCamera(CameraConfig(), tex, lat) for lat in laterals]
    plain = np.stack([c.render_many(x, y, yaw) for c in cams], axis=1)
    for source in (Perturbation(), RandomizeConfig(enabled=False)):
        frames = _frames(_randomizer(source, tex, laterals), oval, list(range(N)))
        np.testing.assert_array_equal(frames, plain)


def test_disabled_config_draws_nothing_from_the_env_generator(oval: tuple) -> None:
    rng = np.random.default_rng(4)
    RandomizeConfig(enabled=False).sample(rng, CameraConfig())
    Perturbation.parse("noise=5").sample(rng, CameraConfig())
    assert rng.integers(1000) == np.random.default_rng(4).integers(1000)
    on = np.random.default_rng(4)
    RandomizeConfig(enabled=True).sample(on, CameraConfig())  # one integer
    ref = np.random.default_rng(4)
    ref.integers(2**31)
    assert on.integers(1000) == ref.integers(1000)


def test_episodes_are_seeded_reproducible_and_vary(oval: tuple) -> None:
    _, tex, *_ = oval
    cfg = RandomizeConfig(enabled=True, jpeg=0.5)
    a = _frames(_randomizer(cfg, tex), oval, [1, 2, 3, 4, 5, 6])
    b = _frames(_randomizer(cfg, tex), oval, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(a, b)
    c = _frames(_randomizer(cfg, tex), oval, [7, 8, 9, 10, 11, 12])
    assert not np.array_equal(a, c)
    plain = _frames(_randomizer(Perturbation(), tex), oval, list(range(N)))
    differ = [float(np.mean(a[i] != plain[i])) for i in range(N)]
    assert min(differ) > 0.2, differ  # every car's world is visibly another one
    p1 = cfg.sample(np.random.default_rng(1), CameraConfig())
    assert p1 == cfg.sample(np.random.default_rng(1), CameraConfig())
    assert p1 != cfg.sample(np.random.default_rng(2), CameraConfig())


def test_a_car_renders_the_same_alone_and_in_any_batch(oval: tuple) -> None:
    _, tex, x, y, yaw = oval
    r = _randomizer(
        RandomizeConfig(enabled=True, jpeg=0.5, geometries=2, geometry_steps=1), tex, (0.03, -0.03)
    )
    for i in range(N):  # cars at different step counts: other geometries of the bank
        r.commands(np.arange(i + 1), np.zeros(i + 1), np.zeros(i + 1))
    r.reset_cars(np.arange(N), [np.random.default_rng(10 + i) for i in range(N)])
    assert len({p.pitch_deg for p in r.params}) == 2  # two geometries, rendered in two groups
    speed, steps = np.linspace(0.0, 4.0, N), np.arange(N) * 5
    batch = r.render(np.arange(N), x, y, yaw, speed, steps)
    order = np.array([4, 1, 5])
    some = r.render(order, x[order], y[order], yaw[order], speed[order], steps[order])
    np.testing.assert_array_equal(some, batch[order])
    for i in range(N):
        one = r.render(
            [i], x[i : i + 1], y[i : i + 1], yaw[i : i + 1], speed[i : i + 1], [steps[i]]
        )
        np.testing.assert_array_equal(one[0], batch[i])


@pytest.mark.parametrize(
    ("levels", "changed"),
    [
        ("brightness=40", 0.8),
        ("contrast=0.5", 0.8),
        ("gamma=2", 0.8),
        ("exposure=1", 0.5),
        ("noise=8", 0.5),
        ("jpeg=10", 0.2),
        ("blur=1", 0.03),
        ("fov=100", 0.04),
        ("pitch_deg=4", 0.04),
        ("roll_deg=4", 0.04),
        ("distortion=0.6", 0.04),
        ("backdrop_m=1.5", 0.1),
        ("floor_noise=0.3", 0.2),
        ("shadows=8,gradient=0.5", 0.2),
    ],
)
def test_each_perturbation_changes_the_frames(oval: tuple, levels: str, changed: float) -> None:
    _, tex, *_ = oval
    plain = _frames(_randomizer(Perturbation(), tex), oval, list(range(N)))
    frames = _frames(_randomizer(Perturbation.parse(levels), tex), oval, list(range(N)))
    share = float(np.mean(frames != plain))
    assert share > changed, (levels, share)


def test_noise_has_the_asked_standard_deviation(oval: tuple) -> None:
    _, tex, *_ = oval
    plain = _frames(_randomizer(Perturbation.parse("brightness=0"), tex), oval, list(range(N)))
    noisy = _frames(_randomizer(Perturbation.parse("noise=10"), tex), oval, list(range(N)))
    d = noisy.astype(float) - plain
    mid = (plain > 40) & (plain < 215)  # away from clipping
    assert 8.5 < d[mid].std() < 11.5
    assert abs(d[mid].mean()) < 0.5


def test_commands_latency_offset_and_gains() -> None:
    tex = floor_texture(load_track("oval"))
    r = Randomizer(
        Perturbation.parse("latency_steps=2,steering_offset_deg=3,steering_gain=0.5,speed_gain=2"),
        CameraConfig(),
        tex,
        2,
        frames=False,
    )
    r.reset_cars([0, 1], [np.random.default_rng(0), np.random.default_rng(1)])
    applied = []
    for t in range(5):
        s, v = r.commands([0, 1], np.array([10.0 * (t + 1), -4.0]), np.array([1.0 + t, 1.0]))
        applied.append((s.tolist(), v.tolist()))
    # two steps late: the first two apply "stand still" (0 deg, 0 m/s), with the offset
    assert applied[0] == ([3.0, 3.0], [0.0, 0.0]) and applied[1] == ([3.0, 3.0], [0.0, 0.0])
    assert applied[2] == ([10.0 * 0.5 + 3.0, -4.0 * 0.5 + 3.0], [2.0, 2.0])
    assert applied[4] == ([30.0 * 0.5 + 3.0, 1.0], [6.0, 2.0])
    r.put_back([0])  # a put-back car drops its pending commands
    s, v = r.commands([0, 1], np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert v.tolist() == [0.0, 2.0]
    plain = Randomizer(Perturbation(), CameraConfig(), tex, 1, frames=False)
    s, v = plain.commands([0], np.array([7.0]), np.array([1.5]))
    assert (s.tolist(), v.tolist()) == ([7.0], [1.5])


def test_perturbation_parsing_and_bad_levels() -> None:
    p = Perturbation.parse(" noise=8, brightness=-30 ,latency_steps=1")
    assert dict(p.values) == {"noise": 8.0, "brightness": -30.0, "latency_steps": 1.0}
    assert str(p) == "brightness=-30,latency_steps=1,noise=8"
    params = p.sample(np.random.default_rng(0), CameraConfig())
    assert (
        params.noise == 8.0 and params.latency_steps == 1 and isinstance(params.latency_steps, int)
    )
    with pytest.raises(ConfigError, match="did you mean 'noise'"):
        Perturbation.parse("nois=3")
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        Perturbation.parse("noise")
    with pytest.raises(ConfigError, match="must be a number"):
        Perturbation.parse("noise=lots")
    with pytest.raises(ConfigError, match="out of range"):
        Perturbation.parse("contrast=0")
    with pytest.raises(ConfigError, match="whole number"):
        Perturbation.parse("latency_steps=1.5")
    for name, (target, what, levels) in PERTURBATIONS.items():
        assert what and levels
        assert target in {f.name for f in dataclasses.fields(EpisodeParams)} | {
            "floor_noise",
            "line_wear",
            "gradient",
            "shadows",
        }
        for level in levels:
            Perturbation.of({name: level})  # every sweep level is valid


def test_config_rejects_bad_ranges() -> None:
    with pytest.raises(ConfigError, match="randomize.noise"):
        RandomizeConfig(noise=-1.0)
    with pytest.raises(ConfigError, match="randomize.contrast"):
        RandomizeConfig(contrast=1.0)
    with pytest.raises(ConfigError, match="backdrop"):
        RandomizeConfig(backdrop_near_m=5.0, backdrop_far_m=2.0)
    with pytest.raises(ConfigError, match="jpeg"):
        RandomizeConfig(jpeg=2.0)


def test_lens_keeps_the_field_of_view_and_bends_lines() -> None:
    cfg = CameraConfig()
    plain, _ = episode_rays(cfg, EpisodeParams())
    bent, _ = episode_rays(cfg, EpisodeParams(distortion=0.5))
    h, w = cfg.height_px, cfg.width_px

    def az(rays: np.ndarray, r: int, c: int) -> float:
        v = rays.reshape(h, w, 3)[r, c]
        return math.degrees(math.atan2(v[1], v[0]))

    mid = h // 2
    # the image's width still spans the field of view; the centre is magnified (barrel)
    assert az(bent, mid, 0) == pytest.approx(az(plain, mid, 0), abs=0.2)
    assert abs(az(bent, mid, w // 2 + 20)) < abs(az(plain, mid, w // 2 + 20))


def test_jpeg_roundtrip_loses_more_at_lower_quality() -> None:
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(128, 40, (120, 160)), 0, 255).astype(np.uint8)
    errs = [np.abs(jpeg_roundtrip(img, q).astype(int) - img).mean() for q in (95, 50, 10)]
    assert errs[0] < errs[1] < errs[2]
    assert jpeg_roundtrip(img, 50).dtype == np.uint8


def test_the_deepracer_camera_model_cites_its_sources() -> None:
    cam = CameraConfig()
    assert DEEPRACER_CAMERA["width_px"][0] == cam.width_px == 160
    assert DEEPRACER_CAMERA["height_px"][0] == cam.height_px == 120
    assert DEEPRACER_CAMERA["hfov_deg"][0] == cam.hfov_deg == 120.0
    assert DEEPRACER_CAMERA["fps"][0] == 15
    assert all(len(source) > 20 for _, source in DEEPRACER_CAMERA.values())
