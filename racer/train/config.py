"""Agent recipes: ``agent.toml`` read with ``tomllib``, validated, unknown keys rejected.

A recipe is a folder holding ``agent.toml`` and its ``reward.py`` (or a lone ``.toml`` file).
Every section is a dataclass whose fields each carry a one-line docstring; the resolved config
(recipe + command-line overrides) is written into every run folder as ``config.toml``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racer.env.spaces import ActionSpec
from racer.errors import ConfigError


@dataclass
class EnvSection:
    """Where and how the car drives."""

    tracks: list[str] = field(default_factory=lambda: ["oval"])
    """Tracks to train on: built-in names, files, or ``random`` for generated tracks."""
    observation: str = "state"
    """``camera`` | ``stereo`` | ``lidar`` | ``state``."""
    reward: str = "progress"
    """Reward plugin: built-in name, ``file.py[:function]`` (relative to the recipe), or plugin name."""
    start: str = "random"
    """Start positions: ``round_robin`` | ``random`` | ``fixed``."""
    direction: str = "forward"
    """Driving direction: ``forward`` | ``reverse`` | ``both``."""
    max_steps: int = 0
    """Step limit per episode; 0 = the lap length at 0.4 m/s."""


@dataclass
class AlgorithmSection:
    """The learner and its network."""

    name: str = "ppo"
    """``ppo`` (discrete or continuous actions) or ``sac`` (continuous only)."""
    network: str = "auto"
    """``auto`` (MLP for state/lidar, DeepRacer's shallow CNN for cameras), ``mlp``, ``shallow_cnn``,
    ``nature_cnn``."""
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layer sizes of the policy and value heads."""


@dataclass
class HyperSection:
    """Learner settings under their usual stable-baselines3 names (DeepRacer-like defaults)."""

    learning_rate: float = 3e-4
    """Adam step size (DeepRacer: 3e-4)."""
    batch_size: int = 64
    """Minibatch size of each gradient step (DeepRacer: 64)."""
    n_epochs: int = 10
    """Passes over each rollout (DeepRacer: 10)."""
    n_steps: int = 512
    """Steps per environment per rollout (PPO)."""
    ent_coef: float = 0.01
    """Entropy bonus (DeepRacer: 0.01)."""
    gamma: float = 0.999
    """Discount factor (DeepRacer: 0.999)."""
    gae_lambda: float = 0.95
    """GAE lambda (DeepRacer: 0.95)."""
    clip_range: float = 0.2
    """PPO clipping (DeepRacer: 0.2)."""
    max_grad_norm: float = 0.5
    """Gradient clipping."""
    normalize_observations: bool = False
    """Keep running mean/std of observations (state/lidar); exported into the ONNX graph."""
    buffer_size: int = 100_000
    """Replay buffer size (SAC)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of a continuous policy's actions (normalised units; -1.5
    keeps exploration around an imitation warm start narrow)."""


@dataclass
class BudgetSection:
    """How long, how wide, how seeded."""

    steps: int = 100_000
    """Environment steps in total (all environments together)."""
    envs: int = 0
    """Parallel environments in subprocesses; 0 = one per core."""
    seed: int = 0
    """Seed of every source of randomness."""
    device: str = "auto"
    """torch device: ``auto``, ``cpu``, ``cuda``."""


@dataclass
class EvaluationSection:
    """Periodic deterministic evaluation that picks the best model."""

    every_steps: int = 10_000
    """Evaluate (and checkpoint) every this many steps; 0 = never."""
    episodes: int = 3
    """Evaluation laps each time, from evenly spaced start points."""
    patience: int = 0
    """Stop training once this many evaluations in a row bring no better result (a plateau of
    the laps' average, once every lap completes); 0 = run the whole budget."""


@dataclass
class CheckpointSection:
    """Checkpoints for resume."""

    every_steps: int = 10_000
    """Write a checkpoint every this many steps."""
    keep: int = 3
    """Checkpoints kept on disk (the newest)."""


@dataclass
class PretrainSection:
    """Warm start by imitating a built-in privileged driver (DAgger); see racer.train.pretrain."""

    teacher: str = "centerline"
    """``centerline`` (the centre-line follower: a first lap) or ``racing-line`` (the racing
    expert: the optimal line at the car's limits)."""
    frames: int = 0
    """Teacher-labelled frames to collect in total; 0 = no warm start."""
    rounds: int = 3
    """DAgger rounds: the teacher drives the first, the student the later ones."""
    epochs: int = 4
    """Passes over the labelled frames after each round."""


@dataclass
class AgentConfig:
    """A whole recipe."""

    name: str = "agent"
    """Agent name (run folder prefix)."""
    description: str = ""
    """What the recipe is for."""
    env: EnvSection = field(default_factory=EnvSection)
    """The environment."""
    action_space: dict[str, Any] = field(default_factory=dict)
    """DeepRacer ``model_metadata.json`` style: ``action_space_type`` and ``action_space``."""
    algorithm: AlgorithmSection = field(default_factory=AlgorithmSection)
    """Learner and network."""
    hyperparameters: HyperSection = field(default_factory=HyperSection)
    """Learner settings."""
    budget: BudgetSection = field(default_factory=BudgetSection)
    """Steps, environments, seed, device."""
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    """Best-model evaluation."""
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    """Checkpointing."""
    pretrain: PretrainSection = field(default_factory=PretrainSection)
    """Imitation warm start."""
    base_dir: str = ""
    """Folder the recipe came from (relative reward paths resolve against it); set by the loader."""

    def action_spec(self) -> ActionSpec:
        """The validated action space."""
        if not self.action_space:
            return ActionSpec()
        return ActionSpec.from_model_metadata(self.action_space)

    def resolved_envs(self) -> int:
        """Number of parallel environments to run."""
        return self.budget.envs or max(1, os.cpu_count() or 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for TOML/JSON), without the loader's bookkeeping."""
        data = dataclasses.asdict(self)
        data.pop("base_dir")
        return data


_SECTIONS = {
    "env": EnvSection,
    "algorithm": AlgorithmSection,
    "hyperparameters": HyperSection,
    "budget": BudgetSection,
    "evaluation": EvaluationSection,
    "checkpoint": CheckpointSection,
    "pretrain": PretrainSection,
}
_TOP = {"agent", "action_space", *_SECTIONS}


def _unknown(where: str, key: str, valid: list[str], source: str) -> ConfigError:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5) or [
        v for v in valid if key.startswith(v) or v.startswith(key)
    ]
    if near:
        hint = f"; did you mean {where + near[0]!r}?"
    else:
        hint = f"; valid keys: {', '.join(sorted(valid))}"
    return ConfigError(f"{source}: unknown key {where + key!r}{hint}")


def _coerce(cls: type, data: dict[str, Any], where: str, source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise _unknown(where, key, list(fields), source)
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for key, value in data.items():
        default = getattr(defaults, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        elif isinstance(default, list):
            if isinstance(value, str):  # a single track given as a string
                value = [value]
            ok = isinstance(value, list)
        else:
            ok = True
        if not ok:
            raise ConfigError(
                f"{source}: {where}{key} = {value!r} has the wrong type "
                f"(expected {type(default).__name__})"
            )
        kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(
    data: dict[str, Any], source: str = "agent config", base_dir: str = ""
) -> AgentConfig:
    """Validate a parsed recipe; unknown keys and wrong types raise :class:`ConfigError`."""
    for key in data:
        if key not in _TOP:
            raise _unknown("", key, sorted(_TOP), source)
    agent = data.get("agent", {})
    for key in agent:
        if key not in ("name", "description"):
            raise _unknown("agent.", key, ["name", "description"], source)
    cfg = AgentConfig(
        name=str(agent.get("name", Path(base_dir).name or "agent")),
        description=str(agent.get("description", "")),
        base_dir=base_dir,
    )
    for section, cls in _SECTIONS.items():
        if section in data:
            if not isinstance(data[section], dict):
                raise ConfigError(f"{source}: [{section}] must be a table")
            setattr(cfg, section, _coerce(cls, data[section], f"{section}.", source))
    if "action_space" in data:
        cfg.action_space = dict(data["action_space"])
        try:
            cfg.action_spec()
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    _check_values(cfg, source)
    return cfg


def _check_values(cfg: AgentConfig, source: str) -> None:
    from racer.env.race_env import DIRECTIONS, OBSERVATIONS, START_MODES

    checks = [
        ("env.observation", cfg.env.observation, OBSERVATIONS),
        ("env.start", cfg.env.start, START_MODES),
        ("env.direction", cfg.env.direction, DIRECTIONS),
        ("algorithm.name", cfg.algorithm.name, ("ppo", "sac")),
        ("pretrain.teacher", cfg.pretrain.teacher, ("centerline", "racing-line")),
        ("algorithm.network", cfg.algorithm.network, ("auto", "mlp", "shallow_cnn", "nature_cnn")),
    ]
    for what, choice, choices in checks:
        value = choice
        if value not in choices:
            near = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"{source}: {what} = {value!r} is not valid{hint}: use one of {', '.join(choices)}"
            )
    if not cfg.env.tracks:
        raise ConfigError(f"{source}: env.tracks is empty: name at least one track")
    if cfg.algorithm.name == "sac" and cfg.action_spec().kind != "continuous":
        raise ConfigError(
            f"{source}: SAC needs a continuous action space (action_space_type = 'continuous')"
        )
    positive: dict[str, int] = {
        "budget.steps": cfg.budget.steps,
        "hyperparameters.batch_size": cfg.hyperparameters.batch_size,
        "hyperparameters.n_epochs": cfg.hyperparameters.n_epochs,
        "hyperparameters.n_steps": cfg.hyperparameters.n_steps,
        "checkpoint.every_steps": cfg.checkpoint.every_steps,
        "checkpoint.keep": cfg.checkpoint.keep,
        "evaluation.episodes": cfg.evaluation.episodes,
        "pretrain.rounds": cfg.pretrain.rounds,
        "pretrain.epochs": cfg.pretrain.epochs,
    }
    for what, number in positive.items():
        if number <= 0:
            raise ConfigError(f"{source}: {what} must be > 0, got {number}")
    if not 0 < cfg.hyperparameters.gamma <= 1:
        raise ConfigError(f"{source}: hyperparameters.gamma must be in (0, 1]")
    if cfg.evaluation.patience < 0:
        raise ConfigError(f"{source}: evaluation.patience must be >= 0 (0 = never stop early)")
    if cfg.budget.envs < 0:
        raise ConfigError(f"{source}: budget.envs must be >= 0 (0 = one per core)")


def load_agent(path: str | Path) -> AgentConfig:
    """Load a recipe: a folder with ``agent.toml`` (a name in ``agents/`` also works) or a ``.toml``."""
    p = Path(path)
    if not p.exists() and not p.suffix:
        # a bare name, or agents/<name> run from elsewhere: look in ./agents, then in the
        # agents/ folder of the checkout racer is installed from (editable installs)
        for base in (Path("agents"), Path(__file__).resolve().parents[2] / "agents"):
            candidate = base / p.name
            if (candidate / "agent.toml").exists():
                p = candidate
                break
    if p.is_dir():
        p = p / "agent.toml"
    if not p.exists():
        raise ConfigError(
            f"{path}: agent recipe not found (a folder with agent.toml, or a .toml file)"
        )
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror})") from None
    return config_from_dict(data, source=str(p), base_dir=str(p.parent.resolve()))


def dump_toml(data: dict[str, Any]) -> str:
    """Write a config dict as TOML (the subset this config uses: tables, scalars, lists)."""
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for k, v in scalars.items():
        lines.append(f"{k} = {_toml_value(v)}")
    for name, table in tables.items():
        lines.append("")
        lines.append(f"[{name}]")
        for k, v in table.items():
            lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
