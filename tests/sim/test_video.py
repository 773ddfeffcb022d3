"""Videos of a lap (racer.sim.video): frame count and size, the GIF fallback, the replay's pose,
and where they are written: ``racer evaluate --out``, ``racer report`` and TensorBoard."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from testlib.cli import run_cli

from racer.sim import video
from racer.sim.video import (
    FULL_LAYOUT,
    SMALL_LAYOUT,
    LapReplay,
    encode_gif,
    encoder_problem,
    write_lap_video,
)

STEPS = 24  # frames of the synthetic replays: one per control step


def mp4_frames(path: Path) -> tuple[int, tuple[int, int], str]:
    """(frames, (width, height), pixel format) of an MP4, decoded by imageio-ffmpeg."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    return frames, tuple(meta["size"]), str(meta.get("pix_fmt", ""))  # type: ignore[return-value]


def gif_frames(path: Path) -> tuple[int, tuple[int, int]]:
    with Image.open(path) as im:
        return int(getattr(im, "n_frames", 1)), im.size


def centre_line_replay(track: Any, steps: int = STEPS, speed_mps: float = 2.0) -> LapReplay:
    """A replay driving along the centre line from the start, one control step per row."""
    s = np.arange(1, steps + 1) * speed_mps / 15.0
    xy = np.asarray(track.point_at(s), dtype=np.float64).reshape(-1, 2)
    return LapReplay.from_front_points(xy, np.full(steps, speed_mps), track=track, title="test")


@pytest.fixture
def no_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """imageio-ffmpeg not importable."""
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)


# ---------------------------------------------------------------------------- the module


def test_layout_sizes_are_even() -> None:
    for layout in (FULL_LAYOUT, SMALL_LAYOUT):
        w, h = layout.size
        assert w % 2 == 0 and h % 2 == 0
        assert w == layout.chase_width + layout.chase_height and h > layout.chase_height


def test_mp4_has_one_frame_per_step_at_the_layouts_size(track: Any, tmp_path: Path) -> None:
    assert encoder_problem() is None  # imageio-ffmpeg is a dependency and ships its binary
    clip = write_lap_video(tmp_path / "lap.mp4", track, centre_line_replay(track), progress=False)
    assert clip.kind == "mp4" and clip.path == tmp_path / "lap.mp4" and not clip.note
    frames, size, pix_fmt = mp4_frames(clip.path)
    assert frames == STEPS == clip.frames
    assert size == FULL_LAYOUT.size == (clip.width, clip.height)
    assert pix_fmt.startswith("yuv420p")
    assert "MP4 (H.264)" in clip.describe()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lap.mp4"]  # no temporary left


def test_gif_when_imageio_ffmpeg_is_missing(track: Any, tmp_path: Path, no_encoder: None) -> None:
    assert "pip install imageio-ffmpeg" in (encoder_problem() or "")
    clip = write_lap_video(tmp_path / "lap.mp4", track, centre_line_replay(track), progress=False)
    assert clip.kind == "gif" and clip.path == tmp_path / "lap.gif"
    assert gif_frames(clip.path) == (STEPS, FULL_LAYOUT.size)
    assert "animated GIF" in clip.describe() and "imageio-ffmpeg" in clip.describe()
    assert not (tmp_path / "lap.mp4").exists()


def test_gif_when_the_ffmpeg_binary_does_not_run(
    track: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imageio_ffmpeg

    def broken() -> str:
        raise RuntimeError("No ffmpeg exe could be found")

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_version", broken)
    assert "does not run here" in (encoder_problem() or "")
    clip = write_lap_video(tmp_path / "lap.mp4", track, centre_line_replay(track), progress=False)
    assert clip.kind == "gif" and gif_frames(clip.path) == (STEPS, FULL_LAYOUT.size)


def test_gif_when_the_mp4_encoding_fails(
    track: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(path: Path, frames: Any, size: Any, fps: float) -> None:
        path.write_bytes(b"half")
        raise OSError("Unknown encoder 'libx264'")

    monkeypatch.setattr(video, "_write_mp4", failing)
    clip = write_lap_video(tmp_path / "lap.mp4", track, centre_line_replay(track), progress=False)
    assert clip.kind == "gif" and "MP4 encoding failed" in clip.note
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lap.gif"]  # the half MP4 removed


def test_an_earlier_video_survives_a_failed_render(
    track: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "lap.mp4"
    target.write_bytes(b"earlier video")

    def crash(self: Any, readings: Any, title: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(video.LapRenderer, "compose", crash)
    with pytest.raises(KeyboardInterrupt):
        write_lap_video(target, track, centre_line_replay(track), progress=False)
    assert target.read_bytes() == b"earlier video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lap.mp4"]


def test_an_empty_lap_is_refused_in_one_line(track: Any, tmp_path: Path) -> None:
    from racer.errors import RacerError

    empty = LapReplay.from_front_points(np.empty((0, 2)), np.empty(0), track=track)
    with pytest.raises(RacerError, match="no recorded step"):
        write_lap_video(tmp_path / "lap.mp4", track, empty, progress=False)


def test_gif_bytes_round_trip() -> None:
    rng = np.random.default_rng(0)
    base = np.zeros((20, 30, 3), dtype=np.uint8)
    base[:, :10] = (200, 30, 30)
    base[:, 10:20] = (30, 200, 30)
    base[:, 20:] = (30, 30, 200)
    frames = [np.roll(base, k, axis=1) for k in range(5)]
    frames.append(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    data = encode_gif(frames, 15)
    from io import BytesIO

    with Image.open(BytesIO(data)) as im:
        assert im.n_frames == 6 and im.size == (30, 20)
        im.seek(2)
        got = np.asarray(im.convert("RGB"), dtype=np.int32)
    assert np.abs(got - frames[2]).max() <= 12  # a palette of the clip's own colours


def test_derived_pose_on_a_circle() -> None:
    """Heading along the circle and the bicycle model's steering for its radius."""
    r = 3.0
    n = 90
    a = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    xy = np.stack([r * np.cos(a), r * np.sin(a)], axis=1)
    xy = np.insert(xy, 40, np.nan, axis=0)  # a put-back row is dropped
    rep = LapReplay.from_front_points(xy, np.full(n + 1, 1.0))
    assert len(rep) == n
    err = np.angle(np.exp(1j * (rep.yaw_rad - (a + math.pi / 2))))
    assert np.abs(err[1:-1]).max() < 1e-9 and np.abs(err).max() < 0.05  # one-sided at the ends
    from racer.contract.car import FRONT_OFFSET_M, WHEELBASE_M

    assert np.median(rep.steering_rad) == pytest.approx(math.atan(WHEELBASE_M / r), rel=0.02)
    centre_r = np.hypot(rep.x_m, rep.y_m)  # the centre sits behind the front point
    assert centre_r[1:-1] == pytest.approx(math.hypot(r, FRONT_OFFSET_M), abs=1e-6)
    assert np.isnan(rep.progress_pct).all()  # no track: no progress
    assert video.readings_text(rep, 0)[2] == "progress -"


def test_derived_progress_along_the_track(track: Any) -> None:
    n = 60
    rep = centre_line_replay(track, steps=n, speed_mps=track.length / (n / 15.0))  # one lap
    assert rep.progress_pct[0] == 0.0 and np.all(np.diff(rep.progress_pct) >= 0)
    assert rep.progress_pct[-1] == pytest.approx(100.0 * (n - 1) / n, abs=1.0)
    heading = np.asarray(
        [float(track.heading_at(s)) for s in np.arange(1, n + 1) * track.length / n]
    )
    assert np.abs(np.angle(np.exp(1j * (rep.yaw_rad - heading)))).max() < 0.15


def test_recorded_pose_wins_over_derivation() -> None:
    xy = np.array([[3.0, 0.0], [3.0, 0.1], [2.99, 0.2]])
    rep = LapReplay.from_front_points(
        xy,
        np.array([1.0, 1.5, 2.0]),
        yaw_rad=np.array([0.5, 0.6, 0.7]),
        steering_rad=np.array([0.1, 0.0, -0.1]),
        progress_pct=np.array([1.0, 2.0, 3.0]),
    )
    assert rep.yaw_rad.tolist() == [0.5, 0.6, 0.7] and rep.steering_rad.tolist() == [0.1, 0, -0.1]
    assert rep.progress_pct.tolist() == [1.0, 2.0, 3.0]
    assert video.readings_text(rep, 2) == [
        "speed 2.00 m/s",
        "steering  -5.7°",
        "progress   3.0%",
        "time  0.20 s",
    ]
    assert video.title_text(LapReplay.from_front_points(xy, np.ones(3), title="me")) == (
        "me - lap not completed"
    )


# ------------------------------------------------------------------- racer evaluate --out


def test_evaluate_out_writes_the_best_laps_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    out = tmp_path / "eval"
    args = ["evaluate", "expert:racing-line", "--track", "oval", "--trials", "1", "--out", str(out)]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    assert f"video: {out / 'best_lap.mp4'}" in stdout
    steps = json.loads((out / "results.json").read_text())["trials"][0]["steps"]
    frames, size, _ = mp4_frames(out / "best_lap.mp4")
    assert frames == steps  # one frame per control step of the lap
    assert size == FULL_LAYOUT.size


def test_evaluate_out_writes_a_gif_without_the_encoder(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    no_encoder: None,
) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "expert:centerline", "-t", "oval", "--trials", "1", "--time-limit", "1"]
    code, stdout, err = run_cli([*args, "--out", str(out)], capsys)
    assert code == 0, err
    assert f"video: {out / 'best_lap.gif'}" in stdout
    # one warning says why (on the terminal: Python's last-resort handler, one stderr line)
    [why] = [r.getMessage() for r in caplog.records if "GIF" in r.getMessage()]
    assert "an animated GIF instead of an MP4" in why and "imageio-ffmpeg" in why
    frames, size = gif_frames(out / "best_lap.gif")
    assert frames == 15 and size == FULL_LAYOUT.size  # 1 s at 15 Hz, no lap completed


def test_evaluate_no_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "expert:centerline", "-t", "oval", "--trials", "1", "--time-limit", "1"]
    code, stdout, err = run_cli([*args, "--out", str(out), "--no-video"], capsys)
    assert code == 0, err
    assert "video:" not in stdout and not list(out.glob("best_lap.*"))


# ---------------------------------------------------------- racer report and TensorBoard


class FollowerModel:
    """An SB3 model's face for the evaluation callback: the centre-line follower drives."""

    def __init__(self, env: Any, logger: Any = None) -> None:
        from racer.env.follower import CenterlineFollower

        self.follower = CenterlineFollower(env)
        self._logger = logger
        self.logger = logger

    def predict(self, obs: Any, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return np.asarray([self.follower.act()]), None

    def save(self, path: Any) -> None:
        Path(path).write_bytes(b"model")


EVAL_STEPS = 40  # the evaluation episode's step limit: a short clip


def evaluated_run(folder: Path, logger: Any = None, video_on: bool = False) -> Any:
    """A run folder whose best_trajectories.npz the evaluation callback itself wrote."""
    from racer.env import RaceEnv
    from racer.train.callbacks import EvalCallback

    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(
        '[agent]\nname = "tiny"\n\n[env]\ntracks = ["oval"]\nobservation = "state"\n'
    )
    env = RaceEnv("oval", observation="state", max_steps=EVAL_STEPS)
    cb = EvalCallback(env, folder, every_steps=1, episodes=2, video=video_on)
    cb.model = FollowerModel(env, logger)
    try:
        cb.run_eval()
    finally:
        cb._on_training_end()
        env.close()
    return cb


def test_report_writes_the_best_laps_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    evaluated_run(run)
    with np.load(run / "best_trajectories.npz") as data:
        assert data["pose_0"].shape == (EVAL_STEPS, 3) == data["arr_0"].shape
    code, stdout, err = run_cli(["report", str(run)], capsys)
    assert code == 0, err
    path = run / "report" / "best_lap.mp4"
    assert f"wrote {path}" in stdout
    assert mp4_frames(path)[:2] == (EVAL_STEPS, FULL_LAYOUT.size)


def test_report_of_a_run_without_poses_derives_them(tmp_path: Path, no_encoder: None) -> None:
    """A run written before poses were saved: x, y, speed only."""
    from racer.train.report import write_video

    run = tmp_path / "run"
    evaluated_run(run)
    npz = run / "best_trajectories.npz"
    with np.load(npz) as data:
        old = {k: data[k] for k in data.files if not k.startswith("pose_")}
    np.savez_compressed(npz, **old)
    clip = write_video(run, tmp_path / "r" / "best_lap.mp4", progress=False)
    assert clip.kind == "gif" and clip.path == tmp_path / "r" / "best_lap.gif"
    assert gif_frames(clip.path) == (EVAL_STEPS, FULL_LAYOUT.size)


def test_tensorboard_gets_a_clip_when_enabled(tmp_path: Path) -> None:
    from stable_baselines3.common.logger import configure
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from racer.train.callbacks import VIDEO_MAX_FRAMES

    tb = tmp_path / "tb"
    cb = evaluated_run(tmp_path / "run", configure(str(tb), ["tensorboard"]), video_on=True)
    assert cb.video_s > 0.0
    acc = EventAccumulator(str(tb), size_guidance={"images": 0})
    acc.Reload()
    [event] = acc.Images("eval/best_lap")
    assert (event.width, event.height) == SMALL_LAYOUT.size
    from io import BytesIO

    with Image.open(BytesIO(event.encoded_image_string)) as im:
        assert im.format == "GIF" and im.size == SMALL_LAYOUT.size
        assert im.n_frames == min(EVAL_STEPS, VIDEO_MAX_FRAMES)


def test_a_failing_clip_never_ends_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from stable_baselines3.common.logger import configure

    def broken(self: Any, readings: Any, title: Any) -> Any:
        raise RuntimeError("no renderer")

    monkeypatch.setattr(video.LapRenderer, "compose", broken)
    cb = evaluated_run(tmp_path / "run", configure(str(tmp_path / "tb"), ["tensorboard"]), True)
    assert cb.video is False and "no more TensorBoard clips" in caplog.text
    assert (tmp_path / "run" / "best_trajectories.npz").exists()  # the evaluation was saved


def test_tensorboard_clip_is_off_by_default(tmp_path: Path) -> None:
    from stable_baselines3.common.logger import configure

    from racer.train.config import EvaluationSection

    assert EvaluationSection().video is False
    tb = tmp_path / "tb"
    cb = evaluated_run(tmp_path / "run", configure(str(tb), ["tensorboard"]))
    assert cb.video_s == 0.0 and cb._renderer is None


def test_a_long_episode_is_sampled_for_tensorboard() -> None:
    assert video.clip_stride(90, 90) == 1
    assert video.clip_stride(91, 90) == 2
    assert video.clip_stride(2700, 90) == 30
