"""The control loop: frame -> preprocess -> infer -> map -> actuate, at the policy's rate.

:class:`Driver` verifies the bundle (when given a path), runs the golden self-test on the chosen
engine, then loops. In ``realtime`` mode each step starts on the control period's tick (a step
that overruns starts the next one at once and is counted); ``realtime=False`` runs as fast as
possible (tests, simulation). The loop ends when the source runs out, after ``max_steps``, or on
Ctrl-C; in every case a stop command is sent, the source and actuator are closed and a
:class:`DriveReport` is returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from racer.car.actions import Calibration
from racer.car.actuators import Actuator, Command
from racer.car.backends import DEFAULT_THREADS, Backend
from racer.car.bundle import Bundle, SelfTestReport, run_model
from racer.car.deepracer import load_model
from racer.car.sources import FrameSource
from racer.errors import ConfigError


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class DriveReport:
    """What a drive did and how fast.

    Attributes:
        steps: commands sent (not counting the final stop).
        duration_s: wall time of the loop, seconds.
        loop_hz: achieved rate, steps per second.
        control_hz: target rate, Hz.
        realtime: whether the loop was paced.
        backend: the inference engine.
        inference_ms_p50: median inference latency, ms.
        inference_ms_p99: 99th-percentile inference latency, ms.
        e2e_ms_p50: median frame-read-to-command-sent latency, ms.
        e2e_ms_p99: 99th-percentile end-to-end latency, ms.
        overruns: steps whose end-to-end time exceeded the control period.
        stopped_by: ``"source_end"``, ``"max_steps"`` or ``"interrupted"``.
        self_test: the golden self-test's report.
    """

    steps: int
    duration_s: float
    loop_hz: float
    control_hz: float
    realtime: bool
    backend: str
    inference_ms_p50: float
    inference_ms_p99: float
    e2e_ms_p50: float
    e2e_ms_p99: float
    overruns: int
    stopped_by: str
    self_test: SelfTestReport | None = None

    def summary(self) -> str:
        """A few lines for humans."""
        pace = f"target {self.control_hz:g} Hz" if self.realtime else "unpaced"
        lines = [
            f"drive: {self.steps} steps in {self.duration_s:.2f} s, {self.loop_hz:.1f} Hz "
            f"({pace}), stopped by {self.stopped_by.replace('_', ' ')}",
            f"  inference ({self.backend}): p50 {self.inference_ms_p50:.2f} ms, "
            f"p99 {self.inference_ms_p99:.2f} ms",
            f"  end to end: p50 {self.e2e_ms_p50:.2f} ms, p99 {self.e2e_ms_p99:.2f} ms, "
            f"{self.overruns} over the {1e3 / self.control_hz:.1f} ms period",
        ]
        if self.self_test is not None:
            lines.insert(0, self.self_test.summary())
        return "\n".join(lines)


class Driver:
    """Drives a car (or a simulator) with a bundle's policy.

    Args:
        bundle: a loaded :class:`Bundle` (or :class:`~racer.car.deepracer.DeepRacerModel`), or
            the path of a bundle or DeepRacer model folder / ``.tar.gz``
            (:func:`racer.car.deepracer.load_model`).
        backend: an engine name (``"onnxruntime"``, ``"openvino"``, ``"openvino_int8"``) or an
            engine opened with :meth:`Bundle.backend`.
        source: where frames come from.
        actuator: where commands go.
        calibration: steering/throttle scaling; defaults to :class:`Calibration` ().
        max_steps: stop after this many commands (None: until the source ends or Ctrl-C).
        control_hz: loop rate; defaults to the bundle's ``control_hz``.
        realtime: pace the loop to the control period (False: as fast as possible).
        threads: inference threads when ``backend`` is a name.
        clock: monotonic clock, seconds (tests).
        sleep: sleep function, seconds (tests).
    """

    def __init__(
        self,
        bundle: Bundle | str | Path,
        backend: Backend | str,
        source: FrameSource,
        actuator: Actuator,
        calibration: Calibration | None = None,
        max_steps: int | None = None,
        control_hz: float | None = None,
        realtime: bool = True,
        threads: int = DEFAULT_THREADS,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_model(bundle)
        self.backend: Backend = (
            self.bundle.backend(backend, threads=threads) if isinstance(backend, str) else backend
        )
        self.source = source
        self.actuator = actuator
        self.calibration = calibration or Calibration()
        if max_steps is not None and max_steps < 0:
            raise ConfigError("max_steps must be >= 0")
        self.max_steps = max_steps
        self.control_hz = float(control_hz) if control_hz else self.bundle.control_hz
        if not self.control_hz > 0:
            raise ConfigError("control_hz must be positive")
        self.realtime = realtime
        self._clock: Callable[[], float] = clock or time.perf_counter
        self._sleep: Callable[[float], None] = sleep or time.sleep
        self.preprocessor = self.bundle.preprocessor()
        self.decoder = self.bundle.decoder()

    def step(self, frame: np.ndarray, t: float) -> tuple[Command, float]:
        """One control step on one frame, without pacing.

        Args:
            frame: the raw frame.
            t: the command's timestamp, seconds since the drive started.

        Returns:
            ``(command, inference_s)``.
        """
        obs = self.preprocessor(frame)
        x = obs.astype(np.float32, copy=False).reshape(self.bundle.input_shape)
        t0 = self._clock()
        y = run_model(self.backend, x, f"the model failed on a frame at t={t:.2f} s")
        infer_s = self._clock() - t0
        action = self.decoder.decode(y)
        steering, throttle = self.calibration.commands(action.steering_deg, action.speed_mps)
        return Command(t, steering, throttle, action.steering_deg, action.speed_mps), infer_s

    def run(self) -> DriveReport:
        """Self-test, then drive until the source ends, ``max_steps``, or Ctrl-C.

        Returns:
            The report (also after Ctrl-C).

        Raises:
            BundleError: when the self-test fails (nothing is sent to the actuator then).
        """
        try:
            self_test = self.bundle.self_test(self.backend)
        except BaseException:
            # nothing was driven: release the camera / socket / PWM board before reporting
            self.source.close()
            self.actuator.close()
            raise
        self.preprocessor.reset()
        period = 1.0 / self.control_hz
        infer_ms: list[float] = []
        e2e_ms: list[float] = []
        overruns = 0
        steps = 0
        stopped_by = "max_steps"
        start = self._clock()
        next_tick = start
        apply = getattr(self.source, "apply", None)
        try:
            while self.max_steps is None or steps < self.max_steps:
                if self.realtime:
                    delay = next_tick - self._clock()
                    if delay > 0:
                        self._sleep(delay)
                t_frame = self._clock()
                frame = self.source.read()
                if frame is None:
                    stopped_by = "source_end"
                    break
                command, infer_s = self.step(frame, t_frame - start)
                self.actuator.send(command)
                done = self._clock()
                if callable(apply):
                    apply(
                        command.steering, command.throttle, command.steering_deg, command.speed_mps
                    )
                steps += 1
                infer_ms.append(infer_s * 1e3)
                e2e_ms.append((done - t_frame) * 1e3)
                if done - t_frame > period:
                    overruns += 1
                next_tick = max(next_tick + period, done) if self.realtime else done
        except KeyboardInterrupt:
            stopped_by = "interrupted"
        finally:
            duration = self._clock() - start
            try:
                self.actuator.send(Command.stop(duration))
            finally:
                self.actuator.close()
                self.source.close()
        return DriveReport(
            steps=steps,
            duration_s=duration,
            loop_hz=steps / duration if duration > 0 else 0.0,
            control_hz=self.control_hz,
            realtime=self.realtime,
            backend=self.backend.name,
            inference_ms_p50=_pct(infer_ms, 50),
            inference_ms_p99=_pct(infer_ms, 99),
            e2e_ms_p50=_pct(e2e_ms, 50),
            e2e_ms_p99=_pct(e2e_ms, 99),
            overruns=overruns,
            stopped_by=stopped_by,
            self_test=self_test,
        )
