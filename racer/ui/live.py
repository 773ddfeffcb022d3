"""The live view: an evaluation car driven by a run's newest saved model, as chase-camera JPEGs.

The trainer is not touched: the console's server loads the run's model the way every reader
does (:meth:`racer.train.RunFolder.load_policy`: ``best_model.zip``, else ``final_model.zip``),
reloads it at the start of each episode when training saved a newer one, and drives it
deterministically in its own :class:`racer.env.RaceEnv` (``render_mode="rgb_array"``) on the
run's evaluation track. Each frame is the env's chase view with the step's figures drawn on,
encoded as JPEG (Pillow); :func:`mjpeg` wraps them as a ``multipart/x-mixed-replace`` stream,
which an ``<img>`` shows as video. Each frame is computed in the thread pool, never on the
event loop.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import RacerError
from racer.train.run_folder import RunFolder

FPS = 10.0  # frames per second sent (the simulation runs at 15 Hz; a preview needs less)
JPEG_QUALITY = 80
MAX_STREAM_S = 1800.0  # a stream ends after this long (the page offers to restart it)
MAX_STREAMS = 2  # live views at once (each costs a simulator and a policy)
BOUNDARY = "racerframe"
_streams = threading.BoundedSemaphore(MAX_STREAMS)


class LiveDriver:
    """An evaluation car of one run, frame by frame.

    Args:
        run_dir: the run folder.
        seed: seed of the first episode's start (each episode adds one).
    """

    def __init__(self, run_dir: Path, seed: int = 0) -> None:
        from racer.env import RaceEnv
        from racer.train.pipeline import eval_track

        self.run = RunFolder.open(run_dir)
        self.cfg = self.run.config()
        self.track = eval_track(self.cfg)
        self.env = RaceEnv(
            track=self.track,
            observation=self.cfg.env.observation,
            action_space=self.cfg.action_space or None,
            reward="progress",  # the user's reward is not needed to drive; it never runs here
            max_steps=self.cfg.env.max_steps or None,
            render_mode="rgb_array",
        )
        self.seed = seed
        self.policy: Any = None
        self.model_stamp: tuple[str, float] | None = None
        self.obs: Any = None
        self.info: dict[str, Any] = {}
        self.steps = 0
        self.episode = 0
        self.last_status = ""

    def close(self) -> None:
        """Release the simulator."""
        self.env.close()

    def _model_file(self) -> Path | None:
        for path in (self.run.best_model_path, self.run.final_model_path):
            if path.is_file():
                return path
        return None

    def _maybe_reload(self) -> None:
        path = self._model_file()
        if path is None:
            return
        stamp = (path.name, path.stat().st_mtime)
        if stamp == self.model_stamp:
            return
        try:
            self.policy = self.run.load_policy(threads=1, config=self.cfg)
        except RacerError:
            return  # a model being replaced: the next episode tries again
        self.model_stamp = stamp

    def _reset(self) -> None:
        self._maybe_reload()
        self.obs, self.info = self.env.reset(seed=self.seed + self.episode)
        self.steps = 0

    def frame(self) -> np.ndarray:
        """Drive one step (or wait for a first model) and return the annotated chase view."""
        if self.obs is None:
            self._reset()
        if self.policy is None:
            self._maybe_reload()
            image = self.env.render()
            return _annotate(image, ["waiting for the run's first saved model..."])
        action = self.policy.act(np.asarray(self.obs))
        self.obs, _, terminated, truncated, self.info = self.env.step(action)
        self.steps += 1
        image = self.env.render()
        status = str(self.info.get("episode_status", ""))
        lines = [
            f"{self.run.name}  model: {self.model_stamp[0] if self.model_stamp else '-'}",
            f"episode {self.episode + 1}  step {self.steps}  progress "
            f"{float(self.info.get('progress', 0.0)):.1f}%  {status}",
        ]
        if terminated or truncated:
            self.last_status = status
            self.episode += 1
            self.obs = None
        return _annotate(image, lines)

    def jpeg(self) -> bytes:
        """One frame as JPEG bytes."""
        return encode_jpeg(self.frame())


def _annotate(image: np.ndarray | None, lines: list[str]) -> np.ndarray:
    from PIL import Image, ImageDraw

    if image is None:
        image = np.zeros((240, 320, 3), dtype=np.uint8)
    picture = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(picture)
    height = 12 * len(lines) + 6
    draw.rectangle((0, 0, picture.width, height), fill=(0, 0, 0))
    for i, line in enumerate(lines):
        draw.text((4, 3 + 12 * i), line, fill=(255, 255, 255))
    return np.asarray(picture)


def encode_jpeg(image: np.ndarray) -> bytes:
    """An RGB uint8 image as JPEG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def part(data: bytes) -> bytes:
    """One JPEG as a part of the ``multipart/x-mixed-replace`` stream."""
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data + b"\r\n"


def mjpeg(
    run_dir: Path,
    gone: Callable[[], Awaitable[bool]],
    fps: float = FPS,
    max_s: float = MAX_STREAM_S,
) -> AsyncIterator[bytes]:
    """The live view of a run as an MJPEG stream (``multipart/x-mixed-replace`` parts).

    Takes one of the :data:`MAX_STREAMS` slots now (so that a refusal is an answer of its own,
    before the stream starts); the stream frees it when it ends: after ``max_s``, or at the
    first frame after ``gone()`` (the request's ``is_disconnected``) says the client left.

    Raises:
        RacerError: too many live views at once.
    """
    if not _streams.acquire(blocking=False):
        raise RacerError(f"{MAX_STREAMS} live views are open already: close one first")
    return _frames(run_dir, gone, fps, max_s)


async def _frames(
    run_dir: Path, gone: Callable[[], Awaitable[bool]], fps: float, max_s: float
) -> AsyncIterator[bytes]:
    """Each frame is computed in the thread pool; the event loop only waits."""
    from starlette.concurrency import run_in_threadpool

    driver: LiveDriver | None = None
    try:
        driver = await run_in_threadpool(LiveDriver, run_dir)
        t_end = time.monotonic() + max_s
        period = 1.0 / fps
        while time.monotonic() < t_end and not await gone():
            t0 = time.monotonic()
            data = await run_in_threadpool(driver.jpeg)
            yield part(data)
            wait = period - (time.monotonic() - t0)
            if driver.policy is None:
                wait = max(wait, 1.0)
            if wait > 0:
                await asyncio.sleep(wait)
    finally:
        if driver is not None:
            driver.close()
        _streams.release()
