"""A video of a lap, for people: the chase view and the top-down map side by side.

A lap is replayed, not re-driven: the car is placed at each recorded pose in a :class:`World` of
its own (``reset_car``, the steering written into the model so the front wheels turn; no physics)
and both human views (:mod:`racer.sim.views`) are rendered, one frame per control step
(:data:`racer.contract.car.CONTROL_HZ` = 15 frames a second, so the video runs in real time).
A strip under the views gives the speed, the steering, the lap's progress and the lap clock; a
title line names the driver and the lap time.

Encoding: MP4 (H.264, yuv420p, even sides) through the ``imageio-ffmpeg`` package, which ships
its own ffmpeg binary; where that package is missing or its binary does not run, an animated GIF
(Pillow) instead. :func:`encode_gif` gives the same GIF bytes for TensorBoard's image summaries.

Who uses it: ``racer report`` (:mod:`racer.train.report`: the best training evaluation's lap),
``racer evaluate --out`` (:mod:`racer.evaluate.report`: the best trial's fastest lap) and the
training evaluation callback (:mod:`racer.train.callbacks`: a small clip to TensorBoard).

Third-party imports (Pillow, imageio-ffmpeg, tqdm) are made inside the functions that need them:
importing :mod:`racer.sim` loads none of them.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from racer.contract.car import CONTROL_HZ, FRONT_OFFSET_M, MAX_STEERING_RAD, WHEELBASE_M
from racer.errors import RacerError
from racer.sim.views import CAR_RGB
from racer.util.files import writing

VIDEO_FPS = CONTROL_HZ  # one frame per control step: the video plays in real time
MP4_SUFFIX = ".mp4"
GIF_SUFFIX = ".gif"
STRIP_BG = (24, 24, 28)  # the text strip's background
TEXT_RGB = (240, 240, 240)  # values
LABEL_RGB = (150, 160, 175)  # the title line
RING_RGB = (255, 200, 0)  # the ring around the car on the map
PROGRESS_BAR_FRAMES = 150  # show a progress bar (on a terminal) for renders longer than this
MIN_STEP_M = 1e-4  # a move shorter than this gives no heading (the car at rest), m


@dataclass(frozen=True)
class VideoLayout:
    """Sizes of a video frame: the chase view on the left, the square map on the right, text below.

    Attributes:
        chase_width: the chase view's width, px.
        chase_height: the chase view's (and the map's) height, px.
        font_px: the text's size, px.
        title: whether a title line (driver, lap time) is drawn above the readings.
        compact: readings without their names (``2.31 m/s  +12.5°  45.2%  3.27 s``), for
            small frames.
    """

    chase_width: int = 320
    chase_height: int = 240
    font_px: int = 15
    title: bool = True
    compact: bool = False

    @property
    def line_px(self) -> int:
        """Height of one text line, px."""
        return self.font_px + max(4, self.font_px // 3)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of a frame, px: both even (H.264 with yuv420p needs even sides)."""
        w = self.chase_width + self.chase_height
        h = self.chase_height + self.line_px * (2 if self.title else 1) + 4
        return w + w % 2, h + h % 2


#: ``racer report`` and ``racer evaluate --out``: 560 x 284.
FULL_LAYOUT = VideoLayout()
#: TensorBoard's clip during training: 280 x 140, one line of readings without names.
SMALL_LAYOUT = VideoLayout(chase_width=160, chase_height=120, font_px=11, title=False, compact=True)


@dataclass
class LapReplay:
    """A lap to show: the car's pose and readings after each control step.

    Attributes:
        x_m: ``(T,)`` the car's centre, m.
        y_m: ``(T,)``.
        yaw_rad: ``(T,)`` heading, rad.
        steering_rad: ``(T,)`` steering, rad (+ = left).
        speed_mps: ``(T,)`` speed, m/s.
        progress_pct: ``(T,)`` progress of the lap, percent (NaN where unknown).
        lap_time_s: the lap's time when it was completed, s.
        title: what the title line says first (driver and track).
        boxes: static obstacle boxes to place, ``(x_m, y_m, yaw_rad)`` each.
    """

    x_m: np.ndarray
    y_m: np.ndarray
    yaw_rad: np.ndarray
    steering_rad: np.ndarray
    speed_mps: np.ndarray
    progress_pct: np.ndarray
    lap_time_s: float | None = None
    title: str = ""
    boxes: list[tuple[float, float, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x_m)

    @classmethod
    def from_front_points(
        cls,
        xy: np.ndarray,
        speed_mps: np.ndarray,
        *,
        yaw_rad: np.ndarray | None = None,
        steering_rad: np.ndarray | None = None,
        progress_pct: np.ndarray | None = None,
        track: Any = None,
        lap_time_s: float | None = None,
        title: str = "",
        boxes: Sequence[tuple[float, float, float]] = (),
    ) -> LapReplay:
        """A replay from what the evaluators record: DeepRacer's (x, y), the point at the front.

        Rows with a NaN position (a put-back in the evaluator's line) are dropped. What was not
        recorded is derived: the heading from consecutive positions, the steering from the
        heading's change per metre (the bicycle model: ``atan(wheelbase * curvature)``), the
        progress from the distance driven along ``track``.

        Args:
            xy: ``(T, 2)`` front-point positions, m, one row per control step.
            speed_mps: ``(T,)`` speeds, m/s.
            yaw_rad: ``(T,)`` headings, rad; None to derive them.
            steering_rad: ``(T,)`` steering, rad; None to derive it.
            progress_pct: ``(T,)`` the lap's progress, percent; None to derive it from ``track``
                (NaN without a track).
            track: the driven track (:class:`racer.track.Track`), for the derived progress and
                the heading of a car that never moved.
            lap_time_s: the lap time, s, when the lap was completed.
            title: the driver and the track, for the title line.
            boxes: static boxes ``(x_m, y_m, yaw_rad)``.

        Returns:
            The replay (possibly empty).
        """
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        keep = np.isfinite(pts).all(axis=1)
        pts = pts[keep]

        def column(values: np.ndarray | None) -> np.ndarray | None:
            if values is None:
                return None
            return np.asarray(values, dtype=np.float64).reshape(-1)[keep]

        speed = column(speed_mps)
        assert speed is not None
        yaw = column(yaw_rad)
        if yaw is None:
            yaw = headings_from_points(pts, track)
        steer = column(steering_rad)
        if steer is None:
            steer = steering_from_headings(pts, yaw)
        progress = column(progress_pct)
        if progress is None:
            progress = progress_from_points(pts, track)
        centre_x = pts[:, 0] - FRONT_OFFSET_M * np.cos(yaw)
        centre_y = pts[:, 1] - FRONT_OFFSET_M * np.sin(yaw)
        return cls(
            x_m=centre_x,
            y_m=centre_y,
            yaw_rad=yaw,
            steering_rad=steer,
            speed_mps=np.nan_to_num(speed, nan=0.0),
            progress_pct=progress,
            lap_time_s=lap_time_s,
            title=title,
            boxes=[(float(b[0]), float(b[1]), float(b[2])) for b in boxes],
        )


def headings_from_points(pts: np.ndarray, track: Any = None) -> np.ndarray:
    """The direction of travel at each point (central differences), rad.

    Points where the car did not move take the nearest moving point's heading; a car that never
    moved faces along ``track`` (0 without a track).

    Args:
        pts: ``(T, 2)`` positions, m.
        track: the driven track, or None.

    Returns:
        ``(T,)`` headings, rad.
    """
    n = len(pts)
    if n == 0:
        return np.zeros(0)
    d = np.zeros((1, 2)) if n == 1 else np.gradient(pts, axis=0)
    moving = np.hypot(d[:, 0], d[:, 1]) > MIN_STEP_M / 2
    if not moving.any():
        if track is None:
            return np.zeros(n)
        s = np.asarray(track.project(pts[:1]).s, dtype=np.float64).reshape(-1)[0]
        return np.full(n, float(track.heading_at(s)))
    yaw = np.arctan2(d[:, 1], d[:, 0])
    idx = np.flatnonzero(moving)
    # each still point takes the heading of the nearest moving one
    nearest = idx[np.clip(np.searchsorted(idx, np.arange(n)), 0, len(idx) - 1)]
    return np.where(moving, yaw, yaw[nearest])


def steering_from_headings(pts: np.ndarray, yaw_rad: np.ndarray) -> np.ndarray:
    """Steering that turns a bicycle model by the heading change per metre driven, rad.

    Args:
        pts: ``(T, 2)`` positions, m.
        yaw_rad: ``(T,)`` headings, rad.

    Returns:
        ``(T,)`` steering, rad, within the steering lock.
    """
    n = len(pts)
    if n < 2:
        return np.zeros(n)
    dyaw = np.gradient(np.unwrap(yaw_rad))
    ds = np.hypot(*np.gradient(pts, axis=0).T)
    with np.errstate(invalid="ignore", divide="ignore"):
        curvature = np.where(ds > MIN_STEP_M, dyaw / np.maximum(ds, MIN_STEP_M), 0.0)
    return np.clip(np.arctan(WHEELBASE_M * curvature), -MAX_STEERING_RAD, MAX_STEERING_RAD)


def progress_from_points(pts: np.ndarray, track: Any = None) -> np.ndarray:
    """The lap's progress at each point from the distance driven along ``track``, percent.

    Args:
        pts: ``(T, 2)`` positions, m, the first one where the lap starts.
        track: the driven track; None gives NaN.

    Returns:
        ``(T,)`` progress, 0-100 (NaN without a track).
    """
    n = len(pts)
    if track is None or n == 0:
        return np.full(n, np.nan)
    length = float(track.length)
    s = np.asarray(track.project(pts).s, dtype=np.float64).reshape(-1)
    ds = np.diff(s)
    if track.closed:
        ds = (ds + 0.5 * length) % length - 0.5 * length
    covered = np.concatenate(([0.0], np.cumsum(ds)))
    need = length if track.closed else max(length - float(s[0]), 1e-6)
    return np.clip(100.0 * covered / need, 0.0, 100.0)


# ---------------------------------------------------------------------------------- frames


def _font(size_px: int) -> Any:
    """Pillow's own font at ``size_px`` (FreeType), else its small bitmap font."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size_px)
    except (TypeError, ValueError, OSError, ImportError):  # an old Pillow or no FreeType
        return ImageFont.load_default()


def readings_text(replay: LapReplay, i: int, compact: bool = False) -> list[str]:
    """The readings at frame ``i``: speed, steering, progress, lap clock (``compact``: no names)."""
    progress = float(replay.progress_pct[i])
    values = [
        f"{float(replay.speed_mps[i]):4.2f} m/s",
        f"{math.degrees(float(replay.steering_rad[i])):+5.1f}°",
        "-" if not math.isfinite(progress) else f"{progress:5.1f}%",
        f"{(i + 1) / CONTROL_HZ:5.2f} s",
    ]
    if compact:
        return values
    return [
        f"{name} {v}"
        for name, v in zip(("speed", "steering", "progress", "time"), values, strict=True)
    ]


def title_text(replay: LapReplay) -> str:
    """The title line: driver and track, and the lap time (or that the lap was not completed)."""
    lap = (
        f"lap {replay.lap_time_s:.3f} s"
        if replay.lap_time_s is not None and math.isfinite(replay.lap_time_s)
        else "lap not completed"
    )
    return f"{replay.title} - {lap}" if replay.title else lap


class LapRenderer:
    """Renders a replay's frames in a world of its own (closed by :meth:`close` or ``with``).

    Args:
        track: the track the lap was driven on (as driven).
        layout: frame sizes.
        world_config: simulator settings (:class:`racer.sim.WorldConfig`); None for the default.
    """

    def __init__(
        self, track: Any, layout: VideoLayout = FULL_LAYOUT, world_config: Any = None
    ) -> None:
        from racer.sim.world import World

        self.track = track
        self.layout = layout
        self.world = World(track, world_config)
        self._font = _font(layout.font_px)
        self._boxes: list[tuple[float, float, float]] = []

    def frames(self, replay: LapReplay, stride: int = 1) -> Iterator[np.ndarray]:
        """Every ``stride``-th frame of the replay: ``(H, W, 3)`` uint8 RGB of :attr:`layout`'s size.

        Args:
            replay: the lap.
            stride: frame step (1: every control step).

        Yields:
            The frames.
        """
        self._place_boxes(replay.boxes)
        title = title_text(replay)
        model = self.world._model  # same package: the steering drawn on the front wheels
        for i in range(0, len(replay), max(1, stride)):
            self.world.reset_car(
                float(replay.x_m[i]), float(replay.y_m[i]), float(replay.yaw_rad[i])
            )
            model.steering_rad = float(replay.steering_rad[i])
            model.speed_mps = float(replay.speed_mps[i])
            yield self.compose(readings_text(replay, i, self.layout.compact), title)

    def compose(self, readings: list[str], title: str) -> np.ndarray:
        """One frame of the car where it stands now, with ``readings`` and ``title`` drawn on."""
        from PIL import Image, ImageDraw

        lay = self.layout
        width, height = lay.size
        chase = self.world.render_chase(lay.chase_width, lay.chase_height)
        top = self.world.render_topdown(lay.chase_height, lay.chase_height)
        canvas = np.empty((height, width, 3), dtype=np.uint8)
        canvas[...] = STRIP_BG
        canvas[: lay.chase_height, : lay.chase_width] = chase
        canvas[: lay.chase_height, lay.chase_width : lay.chase_width + lay.chase_height] = top
        img = Image.fromarray(canvas)
        draw = ImageDraw.Draw(img)
        # The car is a few pixels on the map: ring it (found by its colour, so the map's own
        # scale stays racer.sim.views' business).
        ys, xs = np.nonzero(np.all(top == CAR_RGB, axis=-1))
        if len(xs):
            cx, cy = lay.chase_width + float(xs.mean()), float(ys.mean())
            r = max(6.0, lay.chase_height / 24)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=RING_RGB, width=2)
        y = lay.chase_height + 2
        if lay.title:
            draw.text((6, y), title, fill=LABEL_RGB, font=self._font)
            y += lay.line_px
        column = (width - 6) / len(readings)
        for k, text in enumerate(readings):
            draw.text((6 + k * column, y), text, fill=TEXT_RGB, font=self._font)
        return np.asarray(img)

    def _place_boxes(self, boxes: list[tuple[float, float, float]]) -> None:
        if boxes == self._boxes:
            return
        self.world.clear_objects()
        for x, y, yaw in boxes:
            self.world.add_box(x, y, yaw)
        self._boxes = list(boxes)

    def close(self) -> None:
        """Release the world."""
        self.world.close()

    def __enter__(self) -> LapRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------- encoding


@dataclass
class VideoFile:
    """A video written by :func:`write_lap_video`.

    Attributes:
        path: the file.
        kind: ``"mp4"`` or ``"gif"``.
        frames: frames written.
        width: px.
        height: px.
        fps: frames a second.
        wall_s: seconds spent rendering and encoding.
        note: why a GIF was written instead of an MP4 ("" for an MP4).
    """

    path: Path
    kind: str
    frames: int
    width: int
    height: int
    fps: float
    wall_s: float
    note: str = ""

    def describe(self) -> str:
        """One line: which kind of file was written, and why a GIF."""
        what = "MP4 (H.264)" if self.kind == "mp4" else "animated GIF"
        line = (
            f"{self.path} ({what}, {self.width}x{self.height}, {self.frames} frames "
            f"at {self.fps:g} fps)"
        )
        return line + (f"; {self.note}" if self.note else "")


def encoder_problem() -> str | None:
    """Why no MP4 can be written here (None when ``imageio-ffmpeg`` and its binary work).

    Returns:
        None, or one phrase: the package missing, or its ffmpeg binary failing to run.
    """
    try:
        import imageio_ffmpeg
    except ImportError:
        return "no MP4 encoder (pip install imageio-ffmpeg)"
    try:
        imageio_ffmpeg.get_ffmpeg_version()
    except Exception as exc:  # no binary for this platform, or it does not run
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        return f"imageio-ffmpeg's ffmpeg does not run here ({detail})"
    return None


def write_lap_video(
    path: str | Path,
    track: Any,
    replay: LapReplay,
    *,
    layout: VideoLayout = FULL_LAYOUT,
    world_config: Any = None,
    progress: bool | None = None,
) -> VideoFile:
    """Render ``replay`` and write it as an MP4, or as a GIF where no MP4 encoder works.

    The file is written beside its final name and renamed over it at the end: an interrupted
    render leaves any earlier video as it was.

    Args:
        path: the MP4's path; a GIF replaces its suffix with ``.gif``.
        track: the track the lap was driven on.
        replay: the lap (at least one frame).
        layout: frame sizes.
        world_config: simulator settings, or None.
        progress: show a progress bar (tqdm); None = on a terminal, for long laps.

    Returns:
        What was written.

    Raises:
        RacerError: the replay has no frame.
    """
    if len(replay) == 0:
        raise RacerError(f"{path}: the lap has no recorded step to show")
    target = Path(path)
    problem = encoder_problem()
    kind = "mp4" if problem is None else "gif"
    target = target.with_suffix(MP4_SUFFIX if kind == "mp4" else GIF_SUFFIX)
    target.parent.mkdir(parents=True, exist_ok=True)
    if progress is None:
        progress = sys.stdout.isatty() and len(replay) > PROGRESS_BAR_FRAMES
    t0 = time.perf_counter()
    width, height = layout.size
    with LapRenderer(track, layout, world_config) as renderer:
        if kind == "mp4":
            try:
                _write_file(target, renderer, replay, "mp4", progress)
            except (RacerError, KeyboardInterrupt):
                raise
            except Exception as exc:  # the binary runs but cannot encode: a GIF after all
                detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
                problem = f"MP4 encoding failed ({detail})"
                kind = "gif"
                target = target.with_suffix(GIF_SUFFIX)
        if kind == "gif":
            _write_file(target, renderer, replay, "gif", progress)
    return VideoFile(
        path=target,
        kind=kind,
        frames=len(replay),
        width=width,
        height=height,
        fps=VIDEO_FPS,
        wall_s=time.perf_counter() - t0,
        note="" if problem is None else problem,
    )


def _write_file(
    target: Path, renderer: LapRenderer, replay: LapReplay, kind: str, progress: bool
) -> None:
    """Render and encode into a temporary beside ``target``, then rename it over ``target``."""
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    try:
        with _bar(len(replay), progress) as bar, writing(target):
            frames = _counted(renderer.frames(replay), bar)
            if kind == "mp4":
                _write_mp4(tmp, frames, renderer.layout.size, VIDEO_FPS)
            else:
                tmp.write_bytes(encode_gif(frames, VIDEO_FPS))
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _write_mp4(path: Path, frames: Iterable[np.ndarray], size: tuple[int, int], fps: float) -> None:
    """H.264 in yuv420p through imageio-ffmpeg (its own ffmpeg binary)."""
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(
        str(path),
        size,
        fps=fps,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        macro_block_size=2,  # the sides are even already: no rescaling
        quality=7,
        output_params=["-movflags", "+faststart"],
    )
    writer.send(None)  # start ffmpeg
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()


def encode_gif(frames: Iterable[np.ndarray], fps: float) -> bytes:
    """An animated GIF of ``frames`` (looping), as bytes.

    One 256-colour palette for the whole clip (median cut over a few frames), each pixel mapped
    to its nearest palette colour through a 32 x 32 x 32 table: about 1 ms a frame, where
    Pillow's own per-frame quantisation takes 5-20 ms. GIF delays are hundredths of a second:
    15 fps plays at 1/0.07 s, about 14.3 fps.

    Args:
        frames: ``(H, W, 3)`` uint8 RGB, all of one size.
        fps: frames a second.

    Returns:
        The GIF file's bytes.
    """
    from PIL import Image

    rgb = [np.ascontiguousarray(f, dtype=np.uint8) for f in frames]
    if not rgb:
        raise ValueError("no frame to encode")
    palette = _gif_palette(rgb)
    lut = _nearest_table(palette)
    images = []
    for f in rgb:
        cell = (f[..., 0] >> 3).astype(np.intp) << 10
        cell |= (f[..., 1] >> 3).astype(np.intp) << 5
        cell |= f[..., 2] >> 3
        im = Image.fromarray(lut[cell], mode="P")
        im.putpalette(palette.reshape(-1).tolist())
        images.append(im)
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=int(round(1000.0 / fps)),
        loop=0,
        optimize=False,
    )
    return buf.getvalue()


def _gif_palette(frames: Sequence[np.ndarray]) -> np.ndarray:
    """``(256, 3)`` uint8: a median-cut palette of the first, middle and last frames."""
    from PIL import Image

    picks = sorted({0, len(frames) // 2, len(frames) - 1})
    sample = Image.fromarray(np.concatenate([frames[k] for k in picks], axis=0))
    quant = sample.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pal = np.zeros((256, 3), dtype=np.uint8)
    used = np.asarray(quant.getpalette() or [], dtype=np.uint8).reshape(-1, 3)[:256]
    pal[: len(used)] = used
    if len(used) < 256:
        pal[len(used) :] = used[-1] if len(used) else 0
    return pal


def _nearest_table(palette: np.ndarray) -> np.ndarray:
    """``(32768,)`` uint8: the nearest palette entry of each 5-bit-per-channel colour cell."""
    levels = np.arange(32, dtype=np.int32) * 8 + 4  # each cell's centre
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    cells = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    pal = palette.astype(np.int32)
    best = np.zeros(len(cells), dtype=np.uint8)
    best_d = np.full(len(cells), np.iinfo(np.int32).max, dtype=np.int64)
    for k in range(len(pal)):  # 256 passes over 32768 cells: ~30 ms, memory stays small
        d = ((cells - pal[k]) ** 2).sum(axis=1)
        closer = d < best_d
        best[closer] = k
        best_d[closer] = d[closer]
    return best


def _counted(frames: Iterator[np.ndarray], bar: Any) -> Iterator[np.ndarray]:
    for frame in frames:
        yield frame
        if bar is not None:
            bar.update(1)


@contextlib.contextmanager
def _bar(total: int, show: bool) -> Iterator[Any]:
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="frame", desc="video", leave=False, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def clip_stride(frames: int, max_frames: int) -> int:
    """The frame step that keeps a clip of ``frames`` within ``max_frames``."""
    return max(1, math.ceil(frames / max(1, max_frames)))


def render_clip(
    renderer: LapRenderer, replay: LapReplay, max_frames: int
) -> tuple[list[np.ndarray], float]:
    """A short clip for TensorBoard: at most ``max_frames`` frames, played in real time.

    Args:
        renderer: the renderer (its layout sets the size).
        replay: the lap.
        max_frames: the most frames kept (every k-th step of a longer lap).

    Returns:
        The frames and their frame rate.
    """
    stride = clip_stride(len(replay), max_frames)
    return list(renderer.frames(replay, stride)), VIDEO_FPS / stride


__all__ = [
    "FULL_LAYOUT",
    "SMALL_LAYOUT",
    "VIDEO_FPS",
    "LapRenderer",
    "LapReplay",
    "VideoFile",
    "VideoLayout",
    "encode_gif",
    "encoder_problem",
    "render_clip",
    "write_lap_video",
]
