"""The run folder: one place that knows its layout, reads it and loads its trained policy.

``racer train`` writes a run folder (``runs/<agent>-<time>`` by default)::

    config.toml            the resolved recipe (CLI overrides applied); resume reads it
    reward.py              a copy of the reward file (when the reward is a file)
    model_metadata.json    DeepRacer's format: action space, sensor, network, algorithm
    checkpoints/           atomic checkpoints (see racer.train.checkpoint)
    best_model.zip         best deterministic evaluation so far
    best_trajectories.npz  the best evaluation's laps (x, y, speed; lap_time_s)
    final_model.zip        the model at the end of the budget (or at Ctrl-C)
    vecnormalize.pkl       VecNormalize's statistics (when observations are normalised)
    metrics.csv            one row per iteration: return, progress, completion, steps/s
    eval.csv               one row per evaluation
    simtrace/              DeepRacer simtrace CSV per worker (worker-<i>.csv)
    tensorboard/           TensorBoard event files
    report/                ``racer report``'s PNGs

and, beside them, DeepRacer-for-Cloud's layout, so that the community's log-analysis notebooks
(deepracer-utils' ``DeepRacerLog(model_folder=RUN)``) open a run folder as it is::

    training-simtrace/<k>-iteration.csv   one file per training iteration k (one environment)
    <w>/training-simtrace/<k>-iteration.csv   the same per worker w (several environments)
    evaluation-<YYYYMMDDhhmmss>/evaluation-simtrace/0-iteration.csv   ``racer evaluate RUN``
    model/model_metadata.json             the action space, sensor and network (a copy)
    ip/hyperparameters.json               the learner's settings under DeepRacer's names
    metrics/TrainingMetrics.json          one entry per training and evaluation episode
                                          (``TrainingMetrics_<w>.json`` for worker w > 0)
    metrics/EvaluationMetrics-<YYYYMMDDhhmmss>.json   one entry per trial of ``racer evaluate``

A DRfC iteration file holds :data:`DRFC_EPISODES_PER_ITERATION` (20) whole episodes of its
worker (the last file fewer): DeepRacer's iterations, which deepracer-utils numbers episodes by,
not PPO's (a fixed number of steps). Each episode starts with a ``prepare`` row (the car at
rest where the episode starts, no action, the row deepracer-utils resets its time and distance
sums at). deepracer-utils reads at most 10
workers (a one-digit folder): environment i of a run with more writes to worker ``i % 10``.

:class:`RunFolder` names these paths, refuses a folder without ``config.toml`` (one line),
parses the config (:func:`racer.train.config.config_from_dict`) and loads the trained policy:
the stable-baselines3 model and VecNormalize's observation statistics, read once
(:meth:`RunFolder.load_policy`, the one loader export and evaluation share). Run folders are the
user's own files (trusted): their models and ``vecnormalize.pkl`` are unpickled.

Importing this module is light (numpy only): torch and stable-baselines3 are imported by
:meth:`RunFolder.load_policy`, the config parser by :meth:`RunFolder.config`.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from racer.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:
    from racer.env.spaces import ActionSpec
    from racer.train.config import AgentConfig

RUN_CONFIG = "config.toml"
REWARD = "reward.py"
MODEL_METADATA = "model_metadata.json"
BEST_MODEL = "best_model.zip"
FINAL_MODEL = "final_model.zip"
#: ``which`` -> model file; the order is the fallback order (best, else final).
MODEL_FILES = {"best": BEST_MODEL, "final": FINAL_MODEL}
BEST_TRAJECTORIES = "best_trajectories.npz"
VECNORMALIZE = "vecnormalize.pkl"
METRICS_CSV = "metrics.csv"
EVAL_CSV = "eval.csv"
SIMTRACE = "simtrace"
SIMTRACE_FILE = "worker-{i}.csv"  # one file per training worker i, in simtrace/
SIMTRACE_GLOB = f"{SIMTRACE}/worker-*.csv"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
REPORT = "report"

# DeepRacer-for-Cloud's layout (read by deepracer-utils' DeepRacerLog), beside racer's own files.
TRAINING_SIMTRACE = "training-simtrace"
ITERATION_FILE = "{k}-iteration.csv"  # iteration k, from 0
#: Episodes of one worker in one ``training-simtrace/<k>-iteration.csv``: DeepRacer's default
#: ``num_episodes_between_training``. deepracer-utils numbers a worker's episodes by the count in
#: its iteration 0 (``unique_episode = episode % n + ... + iteration * n``), so every file but the
#: last must hold exactly this many. racer's PPO iterations are a fixed number of steps, not
#: episodes; they are in ``metrics.csv``.
DRFC_EPISODES_PER_ITERATION = 20
DRFC_MAX_WORKERS = 10  # deepracer-utils takes a worker folder's name as one digit
DEEPRACER_MODEL_DIR = "model"  # holds model_metadata.json again, where DRfC keeps it
IP_DIR = "ip"
HYPERPARAMETERS = "hyperparameters.json"
METRICS_DIR = "metrics"
TRAINING_METRICS = "TrainingMetrics{suffix}.json"  # suffix "" for worker 0, "_<w>" after
EVALUATION_DIR = "evaluation-{stamp}"  # stamp: YYYYMMDDhhmmss
EVALUATION_SIMTRACE = "evaluation-simtrace"
EVALUATION_METRICS = "EvaluationMetrics-{stamp}.json"
STAMP_FORMAT = "%Y%m%d%H%M%S"

#: DeepRacer's simtrace header, in DeepRacer's column order.
SIMTRACE_HEADER = [
    "episode",
    "steps",
    "X",
    "Y",
    "yaw",
    "steer",
    "throttle",
    "action",
    "reward",
    "done",
    "all_wheels_on_track",
    "progress",
    "closest_waypoint",
    "track_len",
    "tstamp",
    "episode_status",
    "pause_duration",
]
SIMTRACE_HEADER_LINE = ",".join(SIMTRACE_HEADER) + "\n"

#: The fields of one simtrace row that the env knows, in order (``info["trace"]`` in training).
TRACE_FIELDS = (
    "x",
    "y",
    "yaw_deg",
    "steer_deg",
    "throttle_mps",
    "all_wheels_on_track",
    "progress",
    "closest_waypoint",
    "track_len",
    "tstamp",
    "episode_status",
)

#: DeepRacer's labels of episode statuses in its metrics files.
STATUS_LABELS = {
    "lap_complete": "Lap complete",
    "crashed": "Crashed",
    "off_track": "Off track",
    "immobilized": "Immobilized",
    "in_progress": "In progress",
    "reversed": "Reversed",
    "time_up": "Time up",
    "prepare": "Prepare",
    "pause": "Pause",
}
METRICS_VERSION = "2"  # DeepRacer's metrics file version with best_model_metric
#: A metrics file is ``METRICS_HEAD``, entries separated by ``",\n"``, then ``METRICS_TAIL``:
#: new entries are written over the tail, so the bytes before it never change and a resume can
#: cut the file back to a checkpoint's size (less the tail) and put the tail back.
METRICS_HEAD = '{"version": "2", "best_model_metric": "progress", "metrics": [\n'
METRICS_TAIL = "\n]}\n"


def simtrace_line(trace: tuple[Any, ...], steps: int, action: str, reward: str, done: bool,
                  pause_s: float = 0.0) -> str:  # fmt: skip
    """One simtrace row, without its episode column (``"steps,X,...,pause_duration\n"``).

    Args:
        trace: the :data:`TRACE_FIELDS` of the row.
        steps: actions applied in the episode so far (0 for a ``prepare`` row).
        action: the action column: the action's index (discrete), the normalised outputs
            separated by spaces (continuous), ``-1`` for none.
        reward: the reward column, already formatted ("" when none was computed).
        done: whether the episode ended at this row.
        pause_s: the pause_duration column, s.
    """
    x, y, yaw, steer, throttle, on_track, progress, closest, track_len, tstamp, status = trace
    return (
        f"{steps},{x:.4f},{y:.4f},{yaw:.4f},{steer:.2f},{throttle:.2f},{action},{reward},"
        f"{done},{on_track},{progress:.4f},{closest},{track_len:.4f},{tstamp:.3f},{status},"
        f"{pause_s:g}\n"
    )


def action_text(action: Any) -> str:
    """The simtrace's action column of an env action (index, or normalised outputs)."""
    a = np.asarray(action).reshape(-1)
    if a.size == 1 and np.issubdtype(a.dtype, np.integer):
        return str(int(a[0]))
    if a.size == 1:
        return str(int(a[0])) if float(a[0]).is_integer() else f"{float(a[0]):.3f}"
    return " ".join(f"{float(v):.3f}" for v in a)


def append_metrics(path: Path, entries: list[dict[str, Any]]) -> None:
    """Append entries to a DeepRacer metrics JSON file (created when missing); stays valid JSON.

    The new entries are written over the file's tail (:data:`METRICS_TAIL`), so every byte before
    it stays as it was (what :func:`cut_metrics` relies on).
    """
    if not entries:
        return
    body = ",\n".join(json.dumps(e, separators=(", ", ": ")) for e in entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    tail = METRICS_TAIL.encode()
    try:
        fh = open(path, "r+b")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        with open(path, "wb") as new:
            new.write((METRICS_HEAD + body + METRICS_TAIL).encode())
        return
    with fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - len(tail)))
        end = fh.read()
        first = size <= len(METRICS_HEAD) + len(tail)
        if end == tail:
            fh.seek(size - len(tail))
        else:  # a file cut short by a kill: write on after whatever is there
            fh.seek(size)
        fh.write(((body if first else ",\n" + body) + METRICS_TAIL).encode())
        fh.truncate()


def cut_metrics(path: Path, size: int) -> int:
    """Cut a metrics JSON file back to its ``size`` at a checkpoint; the entries removed."""
    try:
        current = path.stat().st_size
    except OSError:
        return 0
    if current <= size:
        return 0
    keep = max(size - len(METRICS_TAIL), 0)
    with open(path, "r+b") as fh:
        fh.seek(keep)
        removed = fh.read().count(b"\n{")
        fh.seek(keep)
        fh.write(METRICS_TAIL.encode() if keep >= len(METRICS_HEAD) else b"")
        fh.truncate()
    if keep < len(METRICS_HEAD):
        path.unlink()
    return removed


def drfc_worker(env_index: int, n_envs: int) -> int | None:
    """The DRfC worker folder of training environment ``env_index`` (None: one environment)."""
    return None if n_envs <= 1 else env_index % DRFC_MAX_WORKERS


def _iteration_of(path: Path) -> int:
    head = path.name.split("-", 1)[0]
    return int(head) if head.isdigit() else -1


@dataclass(frozen=True)
class ObsNorm:
    """VecNormalize's observation statistics.

    Attributes:
        mean: running mean, observation-shaped, float64.
        var: running variance, observation-shaped, float64.
        clip: normalised values are clipped to ``[-clip, clip]``.
        epsilon: added to the variance before the square root.
    """

    mean: np.ndarray
    var: np.ndarray
    clip: float
    epsilon: float

    def apply(self, obs: np.ndarray) -> np.ndarray:
        """Normalise observations exactly as ``VecNormalize.normalize_obs`` does."""
        return np.clip((obs - self.mean) / np.sqrt(self.var + self.epsilon), -self.clip, self.clip)


@dataclass
class TrainedPolicy:
    """A run's trained model with what export and evaluation need to know about it.

    Attributes:
        run_dir: the run folder.
        which: ``"best"`` or ``"final"``: the model loaded.
        model_path: the ``.zip`` loaded.
        config: the run's resolved recipe.
        model: the stable-baselines3 model (PPO or SAC), on the CPU.
        algorithm: ``"ppo"`` or ``"sac"``.
        action_spec: the action space in DeepRacer's terms.
        observation: the :class:`racer.env.RaceEnv` observation it reads.
        obs_norm: the observation normalisation, or None.
    """

    run_dir: Path
    which: str
    model_path: Path
    config: AgentConfig
    model: Any
    algorithm: str
    action_spec: ActionSpec
    observation: str
    obs_norm: ObsNorm | None

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """The observation shape without the batch axis."""
        return tuple(int(d) for d in self.model.observation_space.shape)

    @property
    def discrete(self) -> bool:
        """Whether the actions are a discrete list."""
        return self.action_spec.kind == "discrete"

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """The observation as the policy sees it (VecNormalize applied when the run used it)."""
        return self.obs_norm.apply(obs) if self.obs_norm is not None else obs

    def act(self, obs: np.ndarray) -> Any:
        """The deterministic action of one raw observation (the training evaluation's call)."""
        action, _ = self.model.predict(self.normalize(obs[None]), deterministic=True)
        return action[0]


class RunFolder:
    """A run folder's layout, config and trained policy.

    ``RunFolder(path)`` only names the paths (the writer, :mod:`racer.train.pipeline`, uses it
    before ``config.toml`` exists); readers use :meth:`open`, which refuses anything that is not
    a run folder.

    Args:
        path: the run folder.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        """An existing run folder, to read.

        Raises:
            ConfigError: one line: no such folder, or a folder without ``config.toml``.
        """
        run = cls(path)
        if not run.path.is_dir():
            raise ConfigError(f"{run.path}: no such run folder")
        if not run.config_path.is_file():
            raise ConfigError(f"{run.path}: not a run folder (no {RUN_CONFIG})")
        return run

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The folder's name (the run's label in tables)."""
        return self.path.resolve().name

    @property
    def config_path(self) -> Path:
        """``config.toml``: the resolved recipe."""
        return self.path / RUN_CONFIG

    @property
    def reward_path(self) -> Path:
        """``reward.py``: the copy of the reward file (when the reward is a file)."""
        return self.path / REWARD

    @property
    def model_metadata_path(self) -> Path:
        """``model_metadata.json``: DeepRacer's description of the model."""
        return self.path / MODEL_METADATA

    @property
    def best_model_path(self) -> Path:
        """``best_model.zip``: the best deterministic evaluation so far."""
        return self.path / BEST_MODEL

    @property
    def final_model_path(self) -> Path:
        """``final_model.zip``: the model at the end of the budget (or at Ctrl-C)."""
        return self.path / FINAL_MODEL

    @property
    def best_trajectories_path(self) -> Path:
        """``best_trajectories.npz``: the best evaluation's laps."""
        return self.path / BEST_TRAJECTORIES

    @property
    def vecnormalize_path(self) -> Path:
        """``vecnormalize.pkl``: VecNormalize's statistics (when observations are normalised)."""
        return self.path / VECNORMALIZE

    @property
    def metrics_csv_path(self) -> Path:
        """``metrics.csv``: one row per training iteration."""
        return self.path / METRICS_CSV

    @property
    def eval_csv_path(self) -> Path:
        """``eval.csv``: one row per deterministic evaluation."""
        return self.path / EVAL_CSV

    @property
    def simtrace_dir(self) -> Path:
        """``simtrace/``: DeepRacer's simtrace CSV, one file per worker."""
        return self.path / SIMTRACE

    @property
    def checkpoints_dir(self) -> Path:
        """``checkpoints/``: see :mod:`racer.train.checkpoint`."""
        return self.path / CHECKPOINTS

    @property
    def tensorboard_dir(self) -> Path:
        """``tensorboard/``: TensorBoard event files."""
        return self.path / TENSORBOARD

    @property
    def report_dir(self) -> Path:
        """``report/``: the default folder of ``racer report``'s PNGs."""
        return self.path / REPORT

    def simtrace_files(self) -> list[Path]:
        """The simtrace CSVs there are, sorted by name."""
        return sorted(self.path.glob(SIMTRACE_GLOB))

    # -- DeepRacer-for-Cloud's layout -------------------------------------------------------

    def training_simtrace_dir(self, worker: int | None) -> Path:
        """``training-simtrace/`` (one environment, ``worker`` None) or ``<w>/training-simtrace/``."""
        base = self.path if worker is None else self.path / str(worker)
        return base / TRAINING_SIMTRACE

    def training_simtrace_path(self, worker: int | None, iteration: int) -> Path:
        """DRfC's trace of training iteration ``iteration`` (from 0) of ``worker``."""
        return self.training_simtrace_dir(worker) / ITERATION_FILE.format(k=iteration)

    def training_simtrace_files(self) -> list[Path]:
        """DRfC's training traces there are, by worker, then iteration."""
        found = list(self.training_simtrace_dir(None).glob("*-iteration.csv"))
        found += self.path.glob(f"[0-9]/{TRAINING_SIMTRACE}/*-iteration.csv")
        return sorted(found, key=lambda p: (p.parent.parent.name, _iteration_of(p), p.name))

    @property
    def deepracer_model_metadata_path(self) -> Path:
        """``model/model_metadata.json``: where DRfC keeps the model's description."""
        return self.path / DEEPRACER_MODEL_DIR / MODEL_METADATA

    @property
    def hyperparameters_path(self) -> Path:
        """``ip/hyperparameters.json``: the learner's settings under DeepRacer's names."""
        return self.path / IP_DIR / HYPERPARAMETERS

    @property
    def metrics_dir(self) -> Path:
        """``metrics/``: DeepRacer's metrics JSON files."""
        return self.path / METRICS_DIR

    def training_metrics_path(self, worker: int | None) -> Path:
        """``metrics/TrainingMetrics.json`` (worker 0 or one environment), else ``..._<w>.json``."""
        suffix = f"_{worker}" if worker else ""
        return self.metrics_dir / TRAINING_METRICS.format(suffix=suffix)

    def training_metrics_files(self) -> list[Path]:
        """DeepRacer's training metrics files there are, sorted by name."""
        return sorted(self.metrics_dir.glob(TRAINING_METRICS.format(suffix="*")))

    def evaluation_simtrace_path(self, stamp: str) -> Path:
        """``evaluation-<stamp>/evaluation-simtrace/0-iteration.csv`` (stamp: YYYYMMDDhhmmss)."""
        folder = self.path / EVALUATION_DIR.format(stamp=stamp) / EVALUATION_SIMTRACE
        return folder / ITERATION_FILE.format(k=0)

    def evaluation_metrics_path(self, stamp: str) -> Path:
        """``metrics/EvaluationMetrics-<stamp>.json``."""
        return self.metrics_dir / EVALUATION_METRICS.format(stamp=stamp)

    def log_files(self) -> list[Path]:
        """The run's training logs, existing or not: ``metrics.csv``, ``eval.csv``, the simtrace
        CSVs, DRfC's training traces and training metrics.

        What a checkpoint records the size of, and what a resume cuts back to it.
        """
        return [
            self.metrics_csv_path,
            self.eval_csv_path,
            *self.simtrace_files(),
            *self.training_simtrace_files(),
            *self.training_metrics_files(),
        ]

    def config(self) -> AgentConfig:
        """The run's resolved recipe, parsed and validated (a fresh object on every call).

        Raises:
            ConfigError: one line: the folder is not a run folder, or ``config.toml`` is not a
                valid recipe.
        """
        from racer.train.config import config_from_dict, read_toml

        run = RunFolder.open(self.path)
        data = read_toml(run.config_path)
        return config_from_dict(data, source=str(run.config_path), base_dir=str(run.path.resolve()))

    def model_metadata(self) -> dict[str, Any] | None:
        """``model_metadata.json``, parsed; None when it is missing or not a JSON object."""
        try:
            data = json.loads(self.model_metadata_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def model_path(self, which: str | None = None) -> Path:
        """The model file to load.

        Args:
            which: ``"best"`` or ``"final"`` for exactly that file; None for ``best_model.zip``,
                else ``final_model.zip``.

        Raises:
            ConfigError: ``which`` is not valid, or no such model file (the message says what
                to do instead).
        """
        if which is None:
            for name in MODEL_FILES.values():
                if (self.path / name).is_file():
                    return self.path / name
            raise ConfigError(
                f"{self.path}: no {' or '.join(MODEL_FILES.values())}; train it first (racer train)"
            )
        if which not in MODEL_FILES:
            raise ConfigError(f"which = {which!r} is not valid: use 'best' or 'final'")
        path = self.path / MODEL_FILES[which]
        if path.is_file():
            return path
        other = next(
            (k for k, name in MODEL_FILES.items() if k != which and (self.path / name).is_file()),
            None,
        )
        hint = f"use --model {other}" if other else "train it first (racer train)"
        raise ConfigError(f"{self.path}: no {MODEL_FILES[which]} in the run folder; {hint}")

    def obs_norm(self) -> ObsNorm | None:
        """VecNormalize's observation statistics from ``vecnormalize.pkl``, if the run has them.

        The one reader of ``vecnormalize.pkl`` (the run's own file, trusted: unpickled).

        Raises:
            ConfigError: the file cannot be read.
        """
        path = self.vecnormalize_path
        if not path.is_file():
            return None
        try:
            with path.open("rb") as f:
                vn = pickle.load(f)  # noqa: S301 - the user's own run folder, written by racer train
        except Exception as exc:
            raise ConfigError(f"{path}: cannot read the normalisation statistics ({exc})") from None
        if not getattr(vn, "norm_obs", False):
            return None
        rms = vn.obs_rms
        return ObsNorm(
            mean=np.asarray(rms.mean, dtype=np.float64),
            var=np.asarray(rms.var, dtype=np.float64),
            clip=float(vn.clip_obs),
            epsilon=float(vn.epsilon),
        )

    def load_policy(
        self,
        which: str | None = None,
        threads: int | None = None,
        config: AgentConfig | None = None,
    ) -> TrainedPolicy:
        """Load the trained model and its observation statistics, on the CPU.

        Args:
            which: ``"best"``, ``"final"``, or None for best, else final (:meth:`model_path`).
            threads: torch CPU threads to set, or None to leave torch's setting alone.
            config: the run's config when the caller has already parsed it.

        Returns:
            The policy, in evaluation mode.

        Raises:
            ConfigError: not a run folder, a bad config, no model file, a model or statistics
                file that cannot be loaded.
            MissingDependencyError: stable-baselines3 is not installed.
        """
        cfg = config if config is not None else self.config()
        path = self.model_path(which)
        try:
            import torch
            from stable_baselines3 import PPO, SAC
        except ImportError:  # pragma: no cover - dependencies of racer
            raise MissingDependencyError(
                "loading a trained run needs stable-baselines3: pip install stable-baselines3"
            ) from None
        if threads is not None:
            torch.set_num_threads(max(1, threads))
        algo_cls = SAC if cfg.algorithm.name == "sac" else PPO
        try:
            model = algo_cls.load(str(path), device="cpu")
        except Exception as exc:  # sb3 raises many types for a damaged zip
            raise ConfigError(
                f"{path}: cannot load the model ({type(exc).__name__}: {exc})"
            ) from None
        model.policy.set_training_mode(False)
        return TrainedPolicy(
            run_dir=self.path,
            which=next(k for k, name in MODEL_FILES.items() if name == path.name),
            model_path=path,
            config=cfg,
            model=model,
            algorithm=cfg.algorithm.name,
            action_spec=cfg.action_spec(),
            observation=cfg.env.observation,
            obs_norm=self.obs_norm(),
        )
