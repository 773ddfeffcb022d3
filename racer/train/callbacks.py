"""Training callbacks in stable-baselines3's shape: ``on_step()`` bookkeeping, ``_on_step() -> bool``.

- :class:`EpisodeStatsCallback`: episode outcomes (progress, laps, status), per-iteration metrics
  CSV, the live progress bar, and stopping on a reward plugin failure.
- :class:`SimtraceCallback`: DeepRacer's per-step simtrace CSV, one file per worker, and DRfC's
  per-iteration traces and ``TrainingMetrics.json`` (the log-analysis notebooks' layout).
- :class:`CheckpointCallback`: atomic checkpoints every K steps, keeping the newest few.
- :class:`EvalCallback`: periodic deterministic laps; the best model by laps, then the ranking
  rule (:func:`evaluation_key`, :mod:`racer.env.ranking`).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from racer.env.ranking import RaceScore, ranking_key
from racer.errors import RacerError, RewardError
from racer.train.checkpoint import save_checkpoint
from racer.train.io import atomic_write, writing
from racer.train.run_folder import (
    BEST_MODEL,
    BEST_TRAJECTORIES,
    DRFC_EPISODES_PER_ITERATION,
    EVAL_CSV,
    SIMTRACE_FILE,
    SIMTRACE_HEADER,
    SIMTRACE_HEADER_LINE,
    STATUS_LABELS,
    TRACE_FIELDS,
    RunFolder,
    action_text,
    append_metrics,
    drfc_worker,
    simtrace_line,
)

__all__ = [
    "SIMTRACE_HEADER",
    "CheckpointCallback",
    "CriticWarmupCallback",
    "EpisodeStatsCallback",
    "EvalCallback",
    "EvalResult",
    "SimtraceCallback",
    "evaluate_policy_laps",
    "evaluation_key",
]

_T = {name: i for i, name in enumerate(TRACE_FIELDS)}

METRICS_HEADER = [
    "iteration",
    "steps",
    "wall_s",
    "episodes",
    "mean_return",
    "mean_progress",
    "completion_rate",
    "steps_per_s",
    "collect_s",
    "learn_s",
]


class EpisodeStatsCallback(BaseCallback):
    """Episode outcomes, per-iteration metrics (``metrics.csv``), progress bar, fatal errors.

    Args:
        metrics_path: CSV file appended once per rollout (PPO iteration).
        total_steps: the run's step budget (for the progress bar).
        progress_bar: show a live bar (tqdm) with steps/s, mean progress and laps.
    """

    def __init__(self, metrics_path: Path, total_steps: int, progress_bar: bool = True) -> None:
        super().__init__()
        self.metrics_path = metrics_path
        self.total_steps = total_steps
        self.show_bar = progress_bar
        self.recent: deque[float] = deque(maxlen=50)
        self.laps = 0
        self.episodes = 0
        self._iter_progress: list[float] = []
        self._iter_returns: list[float] = []
        self._iter_laps = 0
        self._returns: np.ndarray | None = None
        self._bar: Any = None
        self._t0 = time.perf_counter()
        self._steps0 = 0
        self.iteration = 0
        self._rollout_t0 = 0.0
        self._rollout_t1: float | None = None
        self.collect_s = 0.0  # wall time spent collecting rollouts (environments + policy forward)
        self.learn_s = 0.0  # wall time spent in the learner's updates between rollouts
        self.wall0_s = 0.0  # wall time of the run before this session (a resumed run's)

    def state(self) -> dict[str, Any]:
        """The counters a checkpoint stores, so a resumed run continues them."""
        return {
            "iteration": self.iteration,
            "wall_s": round(self.wall0_s + time.perf_counter() - self._t0, 3),
            "collect_s": round(self.collect_s, 3),
            "learn_s": round(self.learn_s, 3),
            "episodes": self.episodes,
            "laps": self.laps,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue the counters of a checkpoint (or, for an older one, of the last metrics row).

        Args:
            state: the checkpoint's stored counters (:meth:`state`); empty for a checkpoint
                written before they were stored.
        """
        if not state:  # an older checkpoint: the last metrics row has the cumulative counters
            row = _last_metrics_row(self.metrics_path)
            state = {k: row[k] for k in ("iteration", "wall_s", "collect_s", "learn_s") if k in row}
        with contextlib.suppress(TypeError, ValueError):
            self.iteration = int(state.get("iteration", 0))
            self.wall0_s = float(state.get("wall_s", 0.0))
            self.collect_s = float(state.get("collect_s", 0.0))
            self.learn_s = float(state.get("learn_s", 0.0))
            self.episodes = int(state.get("episodes", 0))
            self.laps = int(state.get("laps", 0))

    def _on_rollout_start(self) -> None:
        now = time.perf_counter()
        if self._rollout_t1 is not None:
            self.learn_s += now - self._rollout_t1
        self._rollout_t0 = now

    def _on_training_start(self) -> None:
        self._returns = np.zeros(self.training_env.num_envs)
        self._t0 = time.perf_counter()
        self._steps0 = self.num_timesteps
        if self.show_bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.total_steps, initial=self.num_timesteps, unit="step", dynamic_ncols=True
            )
        if not self.metrics_path.exists() or self.metrics_path.stat().st_size == 0:
            with writing(self.metrics_path), open(self.metrics_path, "w", newline="") as fh:
                csv.writer(fh).writerow(METRICS_HEADER)

    def _on_step(self) -> bool:
        infos = self.locals["infos"]
        dones = self.locals["dones"]
        rewards = self.locals["rewards"]
        assert self._returns is not None
        self._returns += rewards
        for i, info in enumerate(infos):
            if "fatal_error" in info:
                raise RewardError(info["fatal_error"])
            if dones[i]:
                self.episodes += 1
                progress = float(info.get("progress", 0.0))
                self.recent.append(progress)
                self._iter_progress.append(progress)
                self._iter_returns.append(float(self._returns[i]))
                self._returns[i] = 0.0
                if info.get("episode_status") == "lap_complete":
                    self.laps += 1
                    self._iter_laps += 1
        if self._bar is not None:
            self._bar.n = self.num_timesteps
            mean = float(np.mean(self.recent)) if self.recent else 0.0
            self._bar.set_postfix_str(f"progress {mean:5.1f}%  laps {self.laps}", refresh=False)
            self._bar.update(0)
        return True

    def _on_rollout_end(self) -> None:
        self.iteration += 1
        now = time.perf_counter()
        self.collect_s += now - self._rollout_t0
        self._rollout_t1 = now
        wall = now - self._t0  # this session's
        n = len(self._iter_progress)
        row = [
            self.iteration,
            self.num_timesteps,
            round(self.wall0_s + wall, 2),
            n,
            round(float(np.mean(self._iter_returns)), 4) if n else "",
            round(float(np.mean(self._iter_progress)), 2) if n else "",
            round(self._iter_laps / n, 4) if n else "",
            round((self.num_timesteps - self._steps0) / max(wall, 1e-9), 1),
            round(self.collect_s, 2),
            round(self.learn_s, 2),
        ]
        with writing(self.metrics_path), open(self.metrics_path, "a", newline="") as fh:
            csv.writer(fh).writerow(row)
        if n:
            self.logger.record("racer/mean_progress", float(np.mean(self._iter_progress)))
            self.logger.record("racer/completion_rate", self._iter_laps / n)
        self._iter_progress, self._iter_returns, self._iter_laps = [], [], 0

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.n = self.num_timesteps
            self._bar.close()
            self._bar = None


@dataclass
class _DrfcWorker:
    """The counters of one DRfC worker's trace and metrics file."""

    episode: int = 0  # next episode number of its trace (from 0; the metrics count from 1)
    trial: int = 0  # the last episode's place in its trace file, from 1 (DeepRacer's "trial")
    clock_ms: int = 0  # simulated time of its episodes so far (the metrics' clock), ms
    file: TextIO | None = None  # the open trace file
    file_k: int = -1  # the DRfC iteration of the open trace file
    pending: list[dict[str, Any]] = field(default_factory=list)  # metrics entries to append


class SimtraceCallback(BaseCallback):
    """DeepRacer's simtrace and training metrics, in racer's and DRfC's layouts.

    - ``simtrace/worker-<i>.csv``: every step of environment i as it comes;
    - DRfC's ``training-simtrace/<k>-iteration.csv`` (``<w>/training-simtrace/...`` with several
      environments): whole episodes, :data:`DRFC_EPISODES_PER_ITERATION` of a worker per file
      (DeepRacer's iterations, which deepracer-utils' episode numbering relies on; not PPO's),
      each opened by its ``prepare`` row (the car at rest at its start, no action), episodes
      numbered per worker;
    - ``metrics/TrainingMetrics.json`` (``TrainingMetrics_<w>.json``): DeepRacer's entry per
      training episode and, through :meth:`record_evaluation`, per evaluation episode.

    Rows are buffered (an episode's DRfC rows until it ends; files with 64 KiB buffers; metrics
    entries until the iteration ends or a checkpoint is written): a few microseconds per step.

    Args:
        folder: ``simtrace/`` of the run folder (the run folder is its parent).
        iteration: the PPO iteration in progress at the start (a resumed run's), from 0.
    """

    def __init__(self, folder: Path, iteration: int = 0) -> None:
        super().__init__()
        self.folder = folder
        self.run = RunFolder(folder.parent)
        self.iteration = iteration
        self._files: list[TextIO] = []
        self._episode: list[int] = []
        self._step: list[int] = []
        self._paths: list[Path] = []
        self._rows: list[list[str]] = []  # per env: the DRfC rows of its episode in progress
        self._returns: list[float] = []
        self._worker_of: list[int | None] = []
        self._workers: dict[int | None, _DrfcWorker] = {}
        self._restored: dict[str, Any] = {}
        self._early: list[dict[str, Any]] = []  # evaluation entries before training started

    def state(self) -> dict[str, Any]:
        """The DRfC counters a checkpoint stores, so a resumed run continues them."""
        return {
            "iteration": self.iteration,
            "workers": {
                str(w): {"episode": st.episode, "trial": st.trial, "clock_ms": st.clock_ms}
                for w, st in self._workers.items()
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue the counters of a checkpoint (:meth:`state`); call before training starts."""
        self._restored = dict(state.get("workers") or {}) if isinstance(state, dict) else {}

    def _on_training_start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        n = self.training_env.num_envs
        for i in range(n):
            path = self.folder / SIMTRACE_FILE.format(i=i)
            new = not path.exists() or path.stat().st_size == 0
            with writing(path):
                fh = open(path, "a", newline="", buffering=1 << 16)  # noqa: SIM115 - kept open
                if new:
                    fh.write(SIMTRACE_HEADER_LINE)
            self._files.append(fh)
            self._paths.append(path)
            self._episode.append(self._last_episode(path))
            self._step.append(0)
            self._rows.append([])
            self._returns.append(0.0)
            self._worker_of.append(drfc_worker(i, n))
        for w in dict.fromkeys(self._worker_of):
            saved = self._restored.get(str(w)) or {}
            st = _DrfcWorker()
            with contextlib.suppress(TypeError, ValueError):
                st.episode = int(saved.get("episode", 0))
                st.trial = int(saved.get("trial", 0))
                st.clock_ms = int(saved.get("clock_ms", 0))
            self._workers[w] = st
        self._workers[self._worker_of[0]].pending.extend(self._early)
        self._early = []

    @staticmethod
    def _last_episode(path: Path) -> int:
        """Next episode number in a file being appended to (on resume)."""
        try:
            with open(path, "rb") as fh:
                fh.seek(0, 2)
                size = fh.tell()
                fh.seek(max(0, size - 4096))
                tail = fh.read().decode(errors="replace").strip().splitlines()
            last = tail[-1].split(",")[0] if tail else "episode"
            return int(last) + 1 if last.isdigit() else 0
        except OSError:
            return 0

    def _on_step(self) -> bool:
        self._write_rows()
        return True

    def _write_rows(self) -> None:
        infos = self.locals["infos"]
        dones = self.locals["dones"]
        rewards = self.locals["rewards"]
        actions = self.locals["actions"]
        for i, info in enumerate(infos):
            trace = info.get("trace")
            if trace is None:
                continue
            self._step[i] += 1
            reward = float(rewards[i])
            done = bool(dones[i])
            line = simtrace_line(
                trace, self._step[i], action_text(actions[i]), f"{reward:.4f}", done
            )
            with writing(self._paths[i]):
                self._files[i].write(f"{self._episode[i]},{line}")
            rows = self._rows[i]
            prepare = info.get("trace_prepare")
            if prepare is not None and self._step[i] == 1:
                rows.append(simtrace_line(prepare, 0, "-1", "0.0000", False))
            rows.append(line)
            self._returns[i] += reward
            if done:
                self._end_episode(i, trace)
                self._episode[i] += 1
                self._step[i] = 0

    def _end_episode(self, i: int, trace: tuple[Any, ...]) -> None:
        """Write env ``i``'s finished episode to its DRfC worker's trace; queue its metrics."""
        w = self._worker_of[i]
        st = self._workers[w]
        episode = st.episode
        st.episode += 1
        k, place = divmod(episode, DRFC_EPISODES_PER_ITERATION)
        st.trial = place + 1
        if st.file is not None and st.file_k != k:
            self._close_file(st)
        path = self.run.training_simtrace_path(w, k)
        with writing(path):
            if st.file is None:
                st.file_k = k
                path.parent.mkdir(parents=True, exist_ok=True)
                new = not path.exists() or path.stat().st_size == 0
                st.file = open(path, "a", newline="", buffering=1 << 16)  # noqa: SIM115
                if new:
                    st.file.write(SIMTRACE_HEADER_LINE)
            st.file.write("".join(f"{episode},{row}" for row in self._rows[i]))
        elapsed_ms = int(round(float(trace[_T["tstamp"]]) * 1000.0))
        status = str(trace[_T["episode_status"]])
        st.pending.append(
            {
                "reward_score": int(round(self._returns[i])),
                "metric_time": st.clock_ms + elapsed_ms,
                "start_time": st.clock_ms,
                "elapsed_time_in_milliseconds": elapsed_ms,
                "episode": episode + 1,
                "trial": st.trial,
                "phase": "training",
                "completion_percentage": int(float(trace[_T["progress"]])),
                "episode_status": STATUS_LABELS.get(status, status),
            }
        )
        st.clock_ms += elapsed_ms
        self._rows[i] = []
        self._returns[i] = 0.0

    def record_evaluation(self, result: EvalResult) -> None:
        """Queue DeepRacer's ``phase: evaluation`` metrics entries of a training evaluation.

        As DeepRacer does, they carry the episode and trial numbers of the last training
        episode, in the first worker's metrics file.
        """
        st = self._workers.get(self._worker_of[0]) if self._worker_of else None
        clock = st.clock_ms if st is not None else 0
        entries = []
        per_episode = zip(
            result.episode_times_s,
            result.episode_status,
            result.episode_returns,
            result.episode_progress,
            strict=False,  # a result without per-episode figures records nothing
        )
        for time_s, status, reward, progress in per_episode:
            elapsed_ms = int(round(time_s * 1000.0))
            entries.append(
                {
                    "reward_score": int(round(reward)),
                    "metric_time": clock + elapsed_ms,
                    "start_time": clock,
                    "elapsed_time_in_milliseconds": elapsed_ms,
                    "episode": st.episode if st is not None else 0,
                    "trial": st.trial if st is not None else 0,
                    "phase": "evaluation",
                    "completion_percentage": int(progress),
                    "episode_status": STATUS_LABELS.get(status, status),
                }
            )
            clock += elapsed_ms
        if st is None:
            self._early.extend(entries)
        else:
            st.clock_ms = clock
            st.pending.extend(entries)

    def flush(self) -> None:
        """Push buffered rows and metrics entries to disk."""
        for fh, path in zip(self._files, self._paths, strict=True):
            with writing(path):
                fh.flush()
        for w, st in self._workers.items():
            if st.file is not None:
                with writing(self.run.training_simtrace_path(w, st.file_k)):
                    st.file.flush()
            if st.pending:
                path = self.run.training_metrics_path(w)
                with writing(path):
                    append_metrics(path, st.pending)
                st.pending = []

    @staticmethod
    def _close_file(st: _DrfcWorker) -> None:
        if st.file is not None:
            with contextlib.suppress(OSError):  # a full disk: the resume cuts it back anyway
                st.file.close()
            st.file = None

    def _close_iteration(self) -> None:
        for st in self._workers.values():
            self._close_file(st)

    def _on_rollout_end(self) -> None:
        self.flush()
        self._close_iteration()
        self.iteration += 1

    def _on_training_end(self) -> None:
        with contextlib.suppress(OSError):  # a full disk: the resume cuts the files back anyway
            self.flush()
        self._close_iteration()
        for fh in self._files:
            with contextlib.suppress(OSError):
                fh.close()
        self._files, self._paths = [], []


class CheckpointCallback(BaseCallback):
    """Atomic checkpoints every ``every_steps``, keeping the newest ``keep``."""

    def __init__(self, folder: Path, every_steps: int, keep: int, seed: int) -> None:
        super().__init__()
        self.folder = folder
        self.every_steps = every_steps
        self.keep = keep
        self.seed = seed
        self._next = 0
        self.before_save: list[Callable[[], None]] = []
        self.state: Callable[[], dict[str, Any]] | None = None  # counters stored with each save

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every_steps + 1) * self.every_steps

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.save()
            self._next = (self.num_timesteps // self.every_steps + 1) * self.every_steps
        return True

    def save(self) -> Path:
        """Write a checkpoint now."""
        for hook in self.before_save:
            hook()
        state = self.state() if self.state is not None else None
        return save_checkpoint(self.model, self.folder, keep=self.keep, seed=self.seed, state=state)


@dataclass
class EvalResult:
    """One deterministic evaluation."""

    steps: int
    episodes: int
    laps: int
    mean_progress: float
    lap_times_s: list[float] = field(default_factory=list)
    trajectories: list[np.ndarray] = field(default_factory=list)  # (T, 3): x, y, speed
    # (T, 3) beside each trajectory: heading, steering command (rad), progress %; for the video
    poses: list[np.ndarray] = field(default_factory=list)
    episode_lap_times_s: list[float] = field(default_factory=list)  # per episode, NaN: no lap
    episode_returns: list[float] = field(default_factory=list)  # per episode: the reward's sum
    episode_progress: list[float] = field(default_factory=list)  # per episode, percent
    episode_status: list[str] = field(default_factory=list)  # per episode: how it ended
    episode_times_s: list[float] = field(default_factory=list)  # per episode: simulated time

    @property
    def mean_lap_time_s(self) -> float:
        return float(np.mean(self.lap_times_s)) if self.lap_times_s else float("nan")

    def key(self) -> tuple[float, ...]:
        """Ranking, lower is better (:func:`evaluation_key`)."""
        return evaluation_key(self.laps, self.episodes, self.mean_progress, self.mean_lap_time_s)


def evaluation_key(
    laps: int, episodes: int, mean_progress: float, mean_lap_time_s: float
) -> tuple[float, ...]:
    """The ranking of training evaluations (the best model), lower is better.

    Laps completed first (more is better), then the ranking rule of every result
    (:func:`racer.env.ranking.ranking_key`: all laps complete by the mean lap time, otherwise by
    the mean progress), then the mean time of the laps driven (faster is better).

    Why laps come first here and not in the evaluator or on the leaderboard: a training
    evaluation is ``episodes`` separate one-lap drives from spread start points, and its mean
    progress is not a completion of consecutive laps; one more lap completed from one more start
    point counts for more than a further reach on average (``[100, 100, 0, 0]`` beats
    ``[100, 90, 90, 90]``). A leaderboard trial is one drive of consecutive laps, whose completion
    already orders it by laps driven.

    Args:
        laps: episodes that completed their lap.
        episodes: episodes driven.
        mean_progress: mean progress over the episodes, percent (rounded to 3 decimals here).
        mean_lap_time_s: mean time of the completed laps, s; NaN without one.

    Returns:
        The sort key.
    """
    lap_s = float(mean_lap_time_s) if np.isfinite(mean_lap_time_s) else math.inf
    complete = laps >= episodes
    score = RaceScore(
        complete=complete,
        average_lap_s=lap_s if complete and math.isfinite(lap_s) else None,
        completion_percentage=round(mean_progress, 3),
    )
    return (-laps, *ranking_key(score), lap_s)


def evaluate_policy_laps(
    model: Any,
    env: Any,
    episodes: int,
    normalize: Callable[[np.ndarray], np.ndarray] | None = None,
    steps: int = 0,
) -> EvalResult:
    """Drive ``episodes`` deterministic laps from evenly spaced start points of ``env``'s track."""
    length = env.unwrapped.track.length
    progress, lap_times, trajs, per_episode, poses = [], [], [], [], []
    returns, statuses, times = [], [], []  # per episode, for DeepRacer's metrics file
    for k in range(episodes):
        obs, _ = env.reset(seed=k, options={"start_s": k * length / episodes, "reverse": False})
        rows: list[tuple[float, float, float]] = []
        pose: list[tuple[float, float, float]] = []
        info: dict[str, Any] = {}
        ret = 0.0
        while True:
            x = normalize(obs[None]) if normalize else obs[None]
            action, _ = model.predict(x, deterministic=True)
            obs, reward, term, trunc, info = env.step(action[0])
            ret += float(reward)
            p = info["params"]
            rows.append((p["x"], p["y"], info["speed_mps"]))
            pose.append(
                (math.radians(p["heading"]), math.radians(info["steering_deg"]), info["progress"])
            )
            if term or trunc:
                break
        progress.append(float(info["progress"]))
        returns.append(ret)
        statuses.append(str(info["episode_status"]))
        times.append(float(info["sim_time_s"]))
        if info["episode_status"] == "lap_complete":
            lap_times.append(float(info["lap_time_s"]))
        per_episode.append(lap_times[-1] if info["episode_status"] == "lap_complete" else np.nan)
        trajs.append(np.asarray(rows, dtype=np.float32))
        poses.append(np.asarray(pose, dtype=np.float32))
    return EvalResult(
        steps=steps,
        episodes=episodes,
        laps=len(lap_times),
        mean_progress=float(np.mean(progress)),
        lap_times_s=lap_times,
        trajectories=trajs,
        poses=poses,
        episode_lap_times_s=per_episode,
        episode_returns=returns,
        episode_progress=progress,
        episode_status=statuses,
        episode_times_s=times,
    )


class EvalCallback(BaseCallback):
    """Deterministic evaluation every ``every_steps``; saves ``best_model.zip`` and ``eval.csv``.

    Args:
        env: a single (unvectorised) RaceEnv for evaluation.
        run_dir: the run folder.
        every_steps: evaluation period in environment steps.
        episodes: laps per evaluation (from evenly spaced start points).
        normalize: observation normaliser of the training env (VecNormalize), if any.
        stop_after_laps: stop training once an evaluation completes this many laps (benchmarks).
        on_result: called with every :class:`EvalResult`.
        patience: once a best evaluation has every lap complete, stop training after this many
            evaluations in a row bring no new best (a plateau of the lap-time average); 0 = never.
        video: after each evaluation, a small clip of its best episode to TensorBoard
            (:meth:`log_video`).
        record: also called with every :class:`EvalResult` (DeepRacer's metrics file).
    """

    def __init__(
        self,
        env: Any,
        run_dir: Path,
        every_steps: int,
        episodes: int,
        normalize: Callable[[np.ndarray], np.ndarray] | None = None,
        stop_after_laps: int | None = None,
        on_result: Callable[[EvalResult], None] | None = None,
        patience: int = 0,
        video: bool = False,
        record: Callable[[EvalResult], None] | None = None,
    ) -> None:
        super().__init__()
        self.patience = patience
        self.record = record
        self.video = video
        self.video_s = 0.0  # wall seconds the last clip took (render + encode + write)
        self._renderer: Any = None  # racer.sim.video.LapRenderer, made on the first clip
        self.stale = 0  # evaluations in a row without a new best, since a complete best
        self.env = env
        self.run_dir = run_dir
        self.every_steps = every_steps
        self.episodes = episodes
        self.normalize = normalize
        self.stop_after_laps = stop_after_laps
        self.on_result = on_result
        self.best: tuple[float, ...] | None = None  # evaluation_key() of the best so far
        self._next = 0
        self.csv_path = run_dir / EVAL_CSV

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every_steps + 1) * self.every_steps
        if not self.csv_path.exists() or self.csv_path.stat().st_size == 0:
            with writing(self.csv_path), open(self.csv_path, "w", newline="") as fh:
                csv.writer(fh).writerow(
                    ["steps", "episodes", "laps", "mean_progress", "mean_lap_time_s", "best"]
                )
        else:
            self.best = _best_from_csv(self.csv_path)

    def _on_step(self) -> bool:
        if self.num_timesteps < self._next:
            return True
        self._next = (self.num_timesteps // self.every_steps + 1) * self.every_steps
        result = self.run_eval()
        if self.patience and self.stale >= self.patience:
            return False
        return self.stop_after_laps is None or result.laps < self.stop_after_laps

    def evaluate_before_training(self, model: Any) -> EvalResult:
        """Evaluate ``model`` before ``learn()`` (after a warm start): its result competes for
        ``best_model.zip`` like any other, so training can never end worse than the warm start."""
        self.init_callback(model)
        self._on_training_start()
        return self.run_eval()

    def run_eval(self) -> EvalResult:
        """Evaluate now, update the best model, append to eval.csv."""
        result = evaluate_policy_laps(
            self.model, self.env, self.episodes, self.normalize, steps=self.num_timesteps
        )
        is_best = self.best is None or result.key() < self.best
        if is_best:
            self.stale = 0
        elif self.best is not None and -self.best[0] >= result.episodes:  # key[0]: -laps
            self.stale += 1  # a best with every lap complete exists and this one did not beat it
        if is_best:
            self.best = result.key()
            atomic_write(self.run_dir / BEST_MODEL, lambda tmp: self.model.save(tmp))

            def write_trajectories(tmp: Path) -> None:
                # pose_<k>: episode k's heading, steering and progress (the video's replay)
                poses: dict[str, Any] = {f"pose_{k}": p for k, p in enumerate(result.poses)}
                with open(tmp, "wb") as fh:
                    np.savez_compressed(
                        fh,
                        *result.trajectories,
                        **poses,
                        lap_time_s=np.asarray(result.episode_lap_times_s, dtype=np.float64),
                    )

            atomic_write(self.run_dir / BEST_TRAJECTORIES, write_trajectories)
        with writing(self.csv_path), open(self.csv_path, "a", newline="") as fh:
            csv.writer(fh).writerow(
                [
                    result.steps,
                    result.episodes,
                    result.laps,
                    round(result.mean_progress, 2),
                    round(result.mean_lap_time_s, 3) if result.lap_times_s else "",
                    int(is_best),
                ]
            )
        if getattr(self.model, "_logger", None) is not None:  # none before learn() starts
            self.logger.record("eval/laps", result.laps)
            self.logger.record("eval/mean_progress", result.mean_progress)
            if self.video:
                try:
                    self.log_video(result)
                except RacerError:
                    raise
                except Exception as exc:  # the clip is an extra: it never ends a training run
                    self.video = False
                    logging.getLogger(__name__).warning(
                        "no more TensorBoard clips this run: %s: %s", type(exc).__name__, exc
                    )
        if self.record is not None:
            self.record(result)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def log_video(self, result: EvalResult) -> bool:
        """A small clip of the evaluation's best episode to TensorBoard (``eval/best_lap``).

        TensorBoard shows a video as an image summary holding an animated GIF (what
        ``SummaryWriter.add_video`` writes, without its moviepy dependency): at most
        :data:`VIDEO_MAX_FRAMES` frames of 280 x 140 px (:data:`racer.sim.video.SMALL_LAYOUT`),
        every k-th step of a longer episode, played in real time. Nothing is written without a
        TensorBoard output or without a recorded episode.

        Args:
            result: the evaluation.

        Returns:
            Whether a clip was written.
        """
        writer = _tensorboard_writer(self.logger)
        k = best_episode(result)
        if writer is None or k is None:
            return False
        t0 = time.perf_counter()
        from torch.utils.tensorboard.summary import Summary

        from racer.sim.video import SMALL_LAYOUT, LapRenderer, LapReplay, encode_gif, render_clip

        env = self.env.unwrapped
        track = getattr(env, "driven_track", env.track)  # evaluations drive forward
        if self._renderer is None:
            self._renderer = LapRenderer(track, SMALL_LAYOUT)
        traj, pose = result.trajectories[k], result.poses[k]
        replay = LapReplay.from_front_points(
            traj[:, :2],
            traj[:, 2],
            yaw_rad=pose[:, 0],
            steering_rad=pose[:, 1],
            progress_pct=pose[:, 2],
            track=track,
            lap_time_s=(
                result.episode_lap_times_s[k] if k < len(result.episode_lap_times_s) else None
            ),
        )
        frames, fps = render_clip(self._renderer, replay, VIDEO_MAX_FRAMES)
        width, height = SMALL_LAYOUT.size
        image = Summary.Image(
            height=height, width=width, colorspace=3, encoded_image_string=encode_gif(frames, fps)
        )
        summary = Summary(value=[Summary.Value(tag="eval/best_lap", image=image)])
        writer._get_file_writer().add_summary(summary, self.num_timesteps)
        writer.flush()
        self.video_s = time.perf_counter() - t0
        return True

    def _on_training_end(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


#: The most frames of a TensorBoard clip (6 s at the control rate; longer episodes are sampled).
VIDEO_MAX_FRAMES = 90


def best_episode(result: EvalResult) -> int | None:
    """The index of an evaluation's fastest completed lap, else of its farthest episode.

    Args:
        result: the evaluation (its ``poses`` recorded).

    Returns:
        The episode's index, or None when no episode has a recorded step.
    """
    usable = [
        k
        for k, (traj, pose) in enumerate(zip(result.trajectories, result.poses, strict=False))
        if len(traj) and len(pose) == len(traj)
    ]
    if not usable:
        return None
    times = result.episode_lap_times_s
    done = [k for k in usable if k < len(times) and math.isfinite(times[k])]
    if done:
        return min(done, key=lambda k: times[k])
    return max(usable, key=lambda k: float(result.poses[k][-1, 2]))


def _tensorboard_writer(logger: Any) -> Any:
    """The SummaryWriter of SB3's TensorBoard output, or None without one."""
    from stable_baselines3.common.logger import TensorBoardOutputFormat

    for fmt in getattr(logger, "output_formats", ()):
        if isinstance(fmt, TensorBoardOutputFormat):
            return fmt.writer
    return None


def _best_from_csv(path: Path) -> tuple[float, ...] | None:
    best = None
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                t = float(row["mean_lap_time_s"]) if row["mean_lap_time_s"] else float("nan")
                key = evaluation_key(
                    int(row["laps"]), int(row["episodes"]), float(row["mean_progress"]), t
                )
            except (KeyError, TypeError, ValueError):
                continue  # a hand-edited or half-written row
            if best is None or key < best:
                best = key
    return best


def _last_metrics_row(path: Path) -> dict[str, Any]:
    """The last complete row of ``metrics.csv`` (empty when there is none)."""
    last: dict[str, Any] = {}
    try:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("iteration", "").isdigit():
                    last = dict(row)
    except OSError:
        return {}
    return last


class CriticWarmupCallback(BaseCallback):
    """Trains only the value function for the first ``steps`` after an imitation warm start.

    After behaviour cloning the policy is good and the value function is random: PPO's first
    updates would follow advantages that are mostly noise and can undo the warm start (measured:
    a camera student lapping at 1.13x the bound lost every lap within 10k steps). Freezing the
    policy's parameters (the shared feature extractor, the policy network and its action head,
    the log std) lets the critic learn the student's returns first; then everything trains.

    Args:
        steps: environment steps of critic-only training (0: none).
    """

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self._frozen: list[Any] = []

    def _policy_params(self) -> list[Any]:
        policy: Any = self.model.policy
        params = list(policy.action_net.parameters())
        params += list(policy.mlp_extractor.policy_net.parameters())
        if getattr(policy, "share_features_extractor", True):
            params += list(policy.features_extractor.parameters())
        else:
            params += list(policy.pi_features_extractor.parameters())
        log_std = getattr(policy, "log_std", None)
        if log_std is not None:
            params.append(log_std)
        return params

    def _on_training_start(self) -> None:
        if self.steps > 0 and self.num_timesteps < self.steps:
            self._frozen = [p for p in self._policy_params() if p.requires_grad]
            for p in self._frozen:
                p.requires_grad_(False)

    def _on_rollout_start(self) -> None:
        if self._frozen and self.num_timesteps >= self.steps:
            self._thaw()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self._thaw()

    def _thaw(self) -> None:
        for p in self._frozen:
            p.requires_grad_(True)
        self._frozen = []
