"""Preprocessing and action mapping, on hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from racer.car.actions import ActionDecoder, Calibration, throttle_curve
from racer.car.preprocess import Preprocessor, crop, resize, to_gray
from racer.errors import BundleError, ConfigError


def test_gray_hand_computed() -> None:
    frame = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]], np.uint8)
    # 0.299*255=76.245 -> 76; 0.587*255=149.685 -> 150; 0.114*255=29.07 -> 29;
    # 2.99 + 11.74 + 3.42 = 18.15 -> 18
    assert to_gray(frame).tolist() == [[76, 150], [29, 18]]
    assert to_gray(np.full((2, 2), 7, np.uint8)).tolist() == [[7, 7], [7, 7]]


def test_resize_area_and_bilinear() -> None:
    img = np.array([[0, 100, 200, 255], [0, 100, 200, 255]], np.uint8)
    assert resize(img, 2, 1, "area").tolist() == [[50, 228]]  # 227.5 rounds half to even
    assert resize(img, 2, 2, "nearest").tolist() == [[100, 255], [100, 255]]
    checker = np.kron([[0, 255], [255, 0]], np.ones((3, 3))).astype(np.uint8)
    assert resize(checker, 2, 2, "area").tolist() == [[0, 255], [255, 0]]
    # 6 -> 4 is not a whole factor: output pixel 1 covers [1.5, 3): 1/3 of 0 and 2/3... of rows
    odd = resize(checker, 4, 4, "area")
    assert odd[0, 0] == 0 and odd[0, 3] == 255 and odd[0, 1] == 0 and odd[0, 2] == 255
    ramp = np.tile(np.arange(0, 200, 50, dtype=np.uint8), (1, 1))  # [0, 50, 100, 150]
    up = resize(ramp, 8, 1, "bilinear")
    assert up.tolist() == [[0, 12, 38, 62, 88, 112, 138, 150]]
    flat = np.full((240, 320), 77, np.uint8)
    for kind in ("area", "bilinear", "nearest"):
        assert (resize(flat, 160, 120, kind) == 77).all()


def test_crop_fractions() -> None:
    img = np.arange(100).reshape(10, 10)
    assert crop(img, top=0.5).shape == (5, 10)
    assert crop(img, left=0.2, right=0.8)[0].tolist() == [2, 3, 4, 5, 6, 7]


def test_preprocessor_camera_and_stack() -> None:
    steps = [
        {"op": "color", "to": "gray"},
        {"op": "resize", "width": 4, "height": 2},
        {"op": "stack", "frames": 2},
    ]
    pre = Preprocessor(steps, (2, 2, 4))
    a = pre(np.full((4, 8, 3), 100, np.uint8))
    assert a.dtype == np.uint8 and a[0].max() == 0 and (a[1] == 100).all()  # zeros, newest last
    b = pre(np.full((4, 8, 3), 200, np.uint8))
    assert (b[0] == 100).all() and (b[1] == 200).all()
    with pytest.raises(BundleError, match="expects"):
        Preprocessor(steps, (1, 2, 4))(np.zeros((4, 8, 3), np.uint8))
    with pytest.raises(BundleError, match="stack must be the last"):
        Preprocessor([{"op": "stack", "frames": 2}, {"op": "color", "to": "gray"}])


def test_sim_frame_passes_unchanged() -> None:
    steps = [{"op": "color", "to": "gray"}, {"op": "resize", "width": 160, "height": 120}]
    frame = np.random.default_rng(0).integers(0, 256, (120, 160), dtype=np.uint8)
    assert np.array_equal(Preprocessor(steps, (1, 120, 160))(frame)[0], frame)


def test_discrete_and_continuous_decoding() -> None:
    d = ActionDecoder(
        {
            "type": "discrete",
            "actions": [{"steering_angle": -30, "speed": 1}, {"steering_angle": 10, "speed": 2}],
        },
        "probabilities",
    )
    act = d.decode(np.array([[0.2, 0.8]]))
    assert (act.steering_deg, act.speed_mps, act.index) == (10.0, 2.0, 1)
    c = ActionDecoder(
        {
            "type": "continuous",
            "steering_angle": {"low": -30, "high": 30},
            "speed": {"low": 0.5, "high": 2.5},
        },
        "normalized",
    )
    act = c.decode(np.array([[0.5, -1.0]]))
    assert act.steering_deg == pytest.approx(15.0) and act.speed_mps == pytest.approx(0.5)
    assert c.decode(np.array([[9.0, 9.0]])).speed_mps == pytest.approx(2.5)  # clipped
    with pytest.raises(BundleError):
        ActionDecoder({"type": "continuous"}, "probabilities")


def test_decoder_reads_deepracer_form_like_schema_1() -> None:
    actions = [{"steering_angle": -30, "speed": 1}, {"steering_angle": 10, "speed": 2}]
    old = ActionDecoder({"type": "discrete", "actions": actions}, "probabilities")
    new = ActionDecoder({"action_space_type": "discrete", "action_space": actions}, "logits")
    assert old.space == new.space and new.actions == ((-30.0, 1.0), (10.0, 2.0))
    space = {"steering_angle": {"low": -20, "high": 20}, "speed": {"low": 1, "high": 3}}
    c = ActionDecoder({"action_space": space}, "normalized")  # type inferred, as DeepRacer does
    assert c.kind == "continuous" and c.decode(np.array([0.0, np.nan])).speed_mps == 2.0
    with pytest.raises(BundleError, match=r"^metadata.json: .*outside the car's limits"):
        ActionDecoder(
            {"action_space_type": "discrete", "action_space": [{"steering_angle": 45, "speed": 1}]},
            "probabilities",
        )
    with pytest.raises(BundleError, match=r"need action_output 'normalized'"):
        ActionDecoder({"action_space_type": "continuous", "action_space": space}, "logits")


def test_calibration_commands_and_pwm() -> None:
    cal = Calibration.from_dict(
        {
            "steering": {"min": 1100, "mid": 1450, "max": 1900, "polarity": -1},
            "throttle": {"min": 1000, "mid": 1500, "max": 2000},
            "max_speed_mps": 4.0,
        }
    )
    steering, throttle = cal.commands(15.0, 2.0)
    assert (steering, throttle) == (pytest.approx(0.5), pytest.approx(0.5))
    st_us, th_us = cal.pwm(steering, throttle)
    assert st_us == pytest.approx(1450 - 0.5 * 350)  # polarity -1: left goes toward min
    assert th_us == pytest.approx(1750)
    assert cal.pwm(-1.0, 0.0) == (pytest.approx(1900), pytest.approx(1500))
    assert cal.commands(90.0, 99.0) == (1.0, 1.0)
    with pytest.raises(ConfigError, match="unknown key"):
        Calibration.from_dict({"steer": {}})
    with pytest.raises(ConfigError, match="min < mid < max"):
        Calibration.from_dict({"throttle": {"min": 1600}})


def test_deepracer_throttle_curve_monotone() -> None:
    xs = np.linspace(0, 1, 101)
    ys = [throttle_curve(x, "deepracer") for x in xs]
    assert ys[0] == 0 and ys[-1] == 1.0 and throttle_curve(0.5, "deepracer") == pytest.approx(0.8)
    assert throttle_curve(0.8, "deepracer") == pytest.approx(0.992)
    assert all(b >= a for a, b in zip(ys, ys[1:], strict=False))
    assert throttle_curve(-0.5, "deepracer") == pytest.approx(-0.8)
