"""Agent recipes: ``agent.toml`` read with ``tomllib``, validated, unknown keys rejected.

A recipe is a folder holding ``agent.toml`` and its ``reward.py`` (or a lone ``.toml`` file).
Every section is a dataclass whose fields each carry a one-line docstring; the resolved config
(recipe + command-line overrides) is written into every run folder as ``config.toml``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racer.env.spaces import ActionSpec
from racer.errors import ConfigError
from racer.sim.randomize import RandomizeConfig as RandomizeSection  # [randomize]: sim-to-real


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
    reward_timeout_s: float = 5.0
    """Time limit of one reward call, seconds: a slower call stops the run (a step takes ~1 ms)."""


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
    """Training cars, stepped together in numpy in the training process; 0 = 16."""
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
    video: bool = False
    """After each evaluation, a short small clip of its best episode to TensorBoard
    (``eval/best_lap``); off by default: it adds seconds to every evaluation."""


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
    teacher_speed_scale: float = 1.0
    """The racing expert drives its profile speed times this (1.0: the car's limits)."""
    critic_warmup_steps: int = 0
    """After the warm start, train only the value function for this many steps (the policy
    frozen) so that PPO's first updates follow real advantages; 0 = none."""
    teacher_margin_m: float = 0.0
    """The racing expert drives a line kept this far from the borders (beyond half the car's
    width); 0 = the env's racing line (0.05 m). A wider margin leaves a camera student room for
    its errors."""


@dataclass
class RaceSection:
    """Objects on the track (racer.env.race_setup): training and its evaluations meet them."""

    format: str = "time-trial"
    """``time-trial`` (alone), ``object-avoidance`` (boxes) or ``head-to-head`` (bot cars)."""
    boxes: int = 3
    """Object avoidance: number of boxes."""
    box_placement: str = "random"
    """``random`` (every episode), ``fixed`` (one draw from seed) or ``alternating`` (DeepRacer's
    evenly spaced boxes in alternating lanes)."""
    bots: int = 1
    """Head-to-head: number of bot cars."""
    bot_speed_mps: float = 0.8
    """Head-to-head: bot car speed, m/s."""
    bot_lane_change_s: float = 0.0
    """Head-to-head: seconds between a bot's lane changes (0: bots keep to their line)."""
    bot_line: str = "center"
    """Head-to-head: the line bots drive, ``center`` or ``racing``."""
    seed: int = 0
    """The draw of the ``fixed`` box placement."""

    def setup(self) -> Any:
        """The :class:`racer.env.race_setup.RaceSetup`, or None for a time trial."""
        if self.format == "time-trial":
            return None
        from racer.env.race_setup import resolve_race

        return resolve_race(
            {
                "race": self.format,
                "boxes": self.boxes,
                "box_placement": self.box_placement,
                "bots": self.bots,
                "bot_speed_mps": self.bot_speed_mps,
                "bot_lane_change_s": self.bot_lane_change_s,
                "bot_line": self.bot_line,
                "seed": self.seed,
            }
        )


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
    randomize: RandomizeSection = field(default_factory=RandomizeSection)
    """Sim-to-real randomisation of the camera world (racer.sim.randomize)."""
    race: RaceSection = field(default_factory=RaceSection)
    """Boxes or bot cars on the track (object avoidance, head-to-head)."""
    base_dir: str = ""
    """Folder the recipe came from (relative reward paths resolve against it); set by the loader."""

    def action_spec(self) -> ActionSpec:
        """The validated action space."""
        if not self.action_space:
            return ActionSpec()
        return ActionSpec.from_model_metadata(self.action_space)

    def resolved_envs(self) -> int:
        """Number of training cars (environments) to run."""
        return self.budget.envs or DEFAULT_CARS

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
    "randomize": RandomizeSection,
    "race": RaceSection,
}
_TOP = {"agent", "action_space", *_SECTIONS}
#: The recipe's sections of single values, in agent.toml's order (``agent`` and ``action_space``
#: are not): what a dotted key such as ``budget.steps`` may start with.
RECIPE_SECTIONS: tuple[str, ...] = tuple(_SECTIONS)


def _unknown(where: str, key: str, valid: list[str], source: str) -> ConfigError:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5) or [
        v for v in valid if key.startswith(v) or v.startswith(key)
    ]
    if near:
        hint = f"; did you mean {where + near[0]!r}?"
    else:
        hint = f"; valid keys: {', '.join(sorted(valid))}"
    return ConfigError(f"{source}: unknown key {where + key!r}{hint}")


# Bounds far beyond any useful value: they stop a typo or a hostile recipe from exhausting memory
# or processes before training starts (each is checked with its key named in the message).
MAX_SEED = 2**32  # numpy's and stable-baselines3's seeds are 32-bit unsigned
MAX_STEPS = 10**12  # environment steps; ~30 years at 1,000 steps/s
MAX_ENVS = 1024  # training cars (racer.train.vec steps them together)
DEFAULT_CARS = 16  # budget.envs = 0: cars stepped together (benchmarks/env_speed.py: ~N=16-64)
MAX_LAYERS = 64  # hidden layers of net_arch
MAX_LAYER_UNITS = 65_536  # units per hidden layer (one 65k x 65k layer is already 16 GiB)
MAX_ROLLOUT_STEPS = 1_000_000  # n_steps and batch_size
MAX_EPOCHS = 10_000  # n_epochs and pretrain.epochs
MAX_BUFFER = 10_000_000  # SAC replay buffer entries
MAX_EPISODES = 1_000  # evaluation laps per evaluation
MAX_KEEP = 10_000  # checkpoints kept
MAX_PRETRAIN_FRAMES = 200_000  # labelled frames held in memory (camera: 19 KB each, 3.8 GB)
MAX_PRETRAIN_ROUNDS = 1_000  # DAgger rounds
MAX_TRACKS = 1_000  # entries of env.tracks
MAX_TEXT = 4_096  # characters of any string value
MAX_REWARD_TIMEOUT_S = 3_600.0  # env.reward_timeout_s: racer.rewards.plugin.MAX_TIMEOUT_S
LOG_STD_RANGE = (
    -5.0,
    2.0,
)  # log std of a continuous policy: e^-5 = 0.007 .. e^2 = 7.4 (normalised)
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class _Range:
    """A numeric range: ``low`` / ``high`` inclusive unless marked open; None = unbounded.

    A message names the violated side (``> 0``), or the whole interval when ``interval`` is set
    (``in (0, 1]``); ``hint`` says what a special value means.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    interval: bool = False
    hint: str = ""

    def problem(self, x: float) -> str | None:
        """The rule ``x`` breaks ("> 0", "in (0, 1]"), or None."""
        too_low = self.low is not None and (x <= self.low if self.low_open else x < self.low)
        too_high = self.high is not None and (x >= self.high if self.high_open else x > self.high)
        if not (too_low or too_high):
            return None
        if self.interval and self.low is not None and self.high is not None:
            if self.high_open and not self.low_open:
                text = f">= {_num(self.low)} and < {_num(self.high)}"
            else:
                left = "(" if self.low_open else "["
                right = ")" if self.high_open else "]"
                text = f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        elif too_low:
            text = f"{'>' if self.low_open else '>='} {_num(self.low)}"  # type: ignore[arg-type]
        else:
            text = f"{'<' if self.high_open else '<='} {_num(self.high)}"  # type: ignore[arg-type]
        return f"{text} ({self.hint})" if self.hint else text


def _num(x: float) -> str:
    if x == MAX_SEED:
        return "2**32"
    return (
        f"{int(x):,}".replace(",", "_") if float(x).is_integer() and abs(x) >= 10_000 else f"{x:g}"
    )


_POSITIVE = _Range(0, None, low_open=True)
_RANGES: dict[str, _Range] = {
    "env.max_steps": _Range(0, MAX_STEPS, hint="0 = the lap length at 0.4 m/s"),
    "env.reward_timeout_s": _Range(0, MAX_REWARD_TIMEOUT_S, low_open=True, interval=True),
    "hyperparameters.learning_rate": _Range(0, 1, low_open=True, interval=True),
    "hyperparameters.batch_size": _Range(0, MAX_ROLLOUT_STEPS, low_open=True),
    "hyperparameters.n_epochs": _Range(0, MAX_EPOCHS, low_open=True),
    "hyperparameters.n_steps": _Range(0, MAX_ROLLOUT_STEPS, low_open=True),
    "hyperparameters.ent_coef": _Range(0, None),
    "hyperparameters.gamma": _Range(0, 1, low_open=True, interval=True),
    "hyperparameters.gae_lambda": _Range(0, 1, low_open=True, interval=True),
    "hyperparameters.clip_range": _POSITIVE,
    "hyperparameters.max_grad_norm": _POSITIVE,
    "hyperparameters.buffer_size": _Range(0, MAX_BUFFER, low_open=True),
    "hyperparameters.log_std_init": _Range(*LOG_STD_RANGE, interval=True),
    "budget.steps": _Range(0, MAX_STEPS, low_open=True),
    "budget.envs": _Range(0, MAX_ENVS, hint="0 = 16 cars"),
    "budget.seed": _Range(0, MAX_SEED, high_open=True, interval=True),
    "evaluation.every_steps": _Range(0, MAX_STEPS, hint="0 = never"),
    "evaluation.episodes": _Range(0, MAX_EPISODES, low_open=True),
    "evaluation.patience": _Range(0, MAX_STEPS, hint="0 = never stop early"),
    "checkpoint.every_steps": _Range(0, MAX_STEPS, low_open=True),
    "checkpoint.keep": _Range(0, MAX_KEEP, low_open=True),
    "pretrain.frames": _Range(0, MAX_PRETRAIN_FRAMES, hint="0 = no warm start"),
    "pretrain.rounds": _Range(0, MAX_PRETRAIN_ROUNDS, low_open=True),
    "pretrain.epochs": _Range(0, MAX_EPOCHS, low_open=True),
    "pretrain.teacher_speed_scale": _Range(0, 1.5, low_open=True, interval=True),
    "pretrain.critic_warmup_steps": _Range(0, MAX_STEPS, hint="0 = none"),
    "pretrain.teacher_margin_m": _Range(0, 1, interval=True, hint="0 = the env's line"),
    "race.boxes": _Range(0, 100, interval=True),
    "race.bots": _Range(0, 20, interval=True),
    "race.bot_speed_mps": _Range(0, 4, interval=True),
    "race.bot_lane_change_s": _Range(0, 3600, interval=True, hint="0 = no lane changes"),
    "race.seed": _Range(0, MAX_SEED, high_open=True, interval=True),
}
#: Element type, item range and length bound of the list fields.
_LISTS: dict[str, tuple[type, _Range | None, int]] = {
    "env.tracks": (str, None, MAX_TRACKS),
    "algorithm.net_arch": (int, _Range(0, MAX_LAYER_UNITS, low_open=True), MAX_LAYERS),
}
_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _show(value: Any) -> str:
    """A value as a message shows it: repr, shortened (a hostile value may be huge)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_text(value: str) -> str | None:
    """Why a string value cannot be used, or None."""
    if len(value) > MAX_TEXT:
        return f"at most {MAX_TEXT} characters long"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "free of control characters"
    return None


def field_problem(key: str, value: Any, expected: type) -> tuple[str, str] | None:
    """Why ``value`` cannot be the recipe's ``key`` (a dotted name like ``budget.seed``).

    Args:
        key: ``section.field``.
        value: the value as parsed from TOML (or given on the command line).
        expected: the field's type (the dataclass default's type).

    Returns:
        None when the value is valid, else ``(kind, rule)``: kind ``"type"`` or ``"value"``, rule
        the phrase after "must be" (``"a number"``, ``"in (0, 1]"``, ...).
    """
    if expected is list:
        item_type, item_range, max_len = _LISTS.get(key, (str, None, MAX_TRACKS))
        kind = "a list of integers" if item_type is int else "a list of strings"
        if not isinstance(value, list):
            return "type", kind
        if not value:
            return "value", f"a non-empty list ({kind[2:]})"
        if len(value) > max_len:
            return "value", f"a list of at most {max_len} entries"
        for item in value:
            if item_type is int and (not isinstance(item, int) or isinstance(item, bool)):
                return "type", kind
            if item_type is str and not isinstance(item, str):
                return "type", kind
            why = item_range.problem(item) if item_range is not None else None
            if why:
                return "value", f"a list of integers {why}"
            if isinstance(item, str):
                if not item.strip():
                    return "value", "a list of non-empty strings"
                why = _check_text(item)
                if why:
                    return "value", f"a list of strings {why}"
        return None
    if expected is bool:
        return None if isinstance(value, bool) else ("type", _KINDS[bool])
    if expected is int and (not isinstance(value, int) or isinstance(value, bool)):
        return "type", _KINDS[int]
    if expected is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return "type", _KINDS[float]
        if not math.isfinite(value):
            return "value", "a finite number"
    if expected is str:
        if not isinstance(value, str):
            return "type", _KINDS[str]
        why = _check_text(value)
        return ("value", why) if why else None
    rule = _RANGES.get(key)
    why = rule.problem(value) if rule is not None else None
    return ("value", why) if why else None


def _field_error(source: str, key: str, value: Any, problem: tuple[str, str]) -> ConfigError:
    kind, rule = problem
    if kind == "type":
        return ConfigError(f"{source}: {key} = {_show(value)} has the wrong type: must be {rule}")
    return ConfigError(f"{source}: {key} must be {rule}, got {_show(value)}")


def check_option(flag: str, key: str, value: Any) -> None:
    """Check a command-line override with the recipe's rule for ``key``; one-line ConfigError.

    Args:
        flag: the option as typed, e.g. ``--seed``.
        key: the recipe key it overrides, e.g. ``budget.seed``.
        value: the option's value.
    """
    section, name = key.split(".", 1)
    expected = type(getattr(_SECTIONS[section](), name))
    problem = field_problem(key, value, expected)
    if problem is not None:
        kind, rule = problem
        raise ConfigError(f"{flag} must be {rule} ({key}), got {_show(value)}")
    if key == "budget.device":
        _check_device(value, flag)
    if key == "env.observation":
        from racer.env.race_env import OBSERVATIONS

        if value not in OBSERVATIONS:
            near = difflib.get_close_matches(value, OBSERVATIONS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"{flag} {_show(value)} is not valid{hint}: use one of {', '.join(OBSERVATIONS)}"
            )


def _check_device(device: str, where: str) -> None:
    base, _, index = device.partition(":")
    if base in DEVICES and (not index or (base == "cuda" and index.isdigit())):
        return
    near = difflib.get_close_matches(device, DEVICES, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise ConfigError(
        f"{where} = {_show(device)} is not a torch device{hint}: use one of "
        f"{', '.join(DEVICES)} (or cuda:N)"
    )


def device_problem(device: str) -> str | None:
    """Why ``device`` cannot run here (no GPU for ``cuda``, no Metal for ``mps``), or None."""
    base = device.partition(":")[0]
    if base not in ("cuda", "mps"):
        return None
    import torch

    if base == "cuda":
        if not torch.cuda.is_available():
            return "no CUDA GPU is available here; use device = 'auto' or 'cpu'"
        index = device.partition(":")[2]
        if index and int(index) >= torch.cuda.device_count():
            return f"this machine has {torch.cuda.device_count()} CUDA device(s); use 'cuda:0'"
        return None
    if not torch.backends.mps.is_available():
        return "Apple's MPS backend is not available here; use device = 'auto' or 'cpu'"
    return None


def _coerce(cls: type, data: dict[str, Any], where: str, source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise _unknown(where, key, list(fields), source)
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for key, value in data.items():
        default = getattr(defaults, key)
        if isinstance(default, list) and isinstance(value, str):
            value = [value]  # a single track given as a string
        problem = field_problem(where + key, value, type(default))
        if problem is not None:
            raise _field_error(source, where + key, value, problem)
        if isinstance(default, float):
            value = float(value)
        elif isinstance(default, list):
            value = list(value)
        kwargs[key] = value
    return cls(**kwargs)


def _agent_name(value: Any, source: str) -> str:
    if not isinstance(value, str):
        raise _field_error(source, "agent.name", value, ("type", "a string"))
    bad = (
        not value.strip()
        or value in (".", "..")
        or any(c in value for c in "/\\")
        or len(value) > 200
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    )
    if bad:
        raise ConfigError(
            f"{source}: agent.name must be a plain folder name (no '/', '\\', control characters; "
            f"at most 200 characters), got {_show(value)}"
        )
    return value


def config_from_dict(
    data: dict[str, Any], source: str = "agent config", base_dir: str = ""
) -> AgentConfig:
    """Validate a parsed recipe; unknown keys, wrong types and bad values raise :class:`ConfigError`.

    Every field is checked for its type (a bool is not an integer, NaN and infinities are not
    numbers) and range; the message names the key, the value and what it must be.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a recipe must be a TOML table")
    for key in data:
        if key not in _TOP:
            raise _unknown("", key, sorted(_TOP), source)
    agent = data.get("agent", {})
    if not isinstance(agent, dict):
        raise ConfigError(f"{source}: [agent] must be a table")
    for key in agent:
        if key not in ("name", "description"):
            raise _unknown("agent.", key, ["name", "description"], source)
    description = agent.get("description", "")
    if not isinstance(description, str):
        raise _field_error(source, "agent.description", description, ("type", "a string"))
    if len(description) > MAX_TEXT:
        raise ConfigError(f"{source}: agent.description must be at most {MAX_TEXT} characters")
    cfg = AgentConfig(
        name=_agent_name(agent.get("name", Path(base_dir).name or "agent"), source),
        description=description,
        base_dir=base_dir,
    )
    for section, cls in _SECTIONS.items():
        if section in data:
            if not isinstance(data[section], dict):
                raise ConfigError(f"{source}: [{section}] must be a table")
            setattr(cfg, section, _coerce(cls, data[section], f"{section}.", source))
    if "action_space" in data:
        if not isinstance(data["action_space"], dict):
            raise ConfigError(
                f"{source}: [action_space] must be a table (action_space_type and action_space)"
            )
        cfg.action_space = dict(data["action_space"])
        try:
            cfg.action_spec()
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ConfigError(f"{source}: [action_space] is not valid ({exc})") from None
    _check_values(cfg, source)
    try:  # [race]: the format's and the placements' names, one rule (RaceSetup's)
        cfg.race.setup()
    except ConfigError as exc:  # named as agent.toml names it: race.KEY (the console's field)
        text = str(exc)
        key = text.split(" ", 1)[0]
        if key == "race":
            text = "race.format" + text[len(key) :]
        elif key in {f.name for f in dataclasses.fields(RaceSection)}:
            text = f"race.{text}"
        else:
            text = f"[race] {text}"
        raise ConfigError(f"{source}: {text}") from None
    return cfg


def check_batch(cfg: AgentConfig, n_envs: int, source: str) -> None:
    """The minibatch against the rollout: stable-baselines3 would assert or truncate silently.

    Args:
        cfg: the recipe.
        n_envs: the number of environments the run uses (``budget.envs`` resolved).
        source: where the recipe came from (for the message).
    """
    if cfg.algorithm.name != "ppo":
        return
    h = cfg.hyperparameters
    rollout = h.n_steps * n_envs
    if h.batch_size < 2:
        raise ConfigError(
            f"{source}: hyperparameters.batch_size must be >= 2 for PPO (advantages are "
            f"normalised over each minibatch), got {h.batch_size}"
        )
    if h.batch_size > rollout:
        raise ConfigError(
            f"{source}: hyperparameters.batch_size = {h.batch_size} is larger than a rollout "
            f"(n_steps x envs = {h.n_steps} x {n_envs} = {rollout}): lower batch_size or raise "
            "n_steps"
        )


def _check_values(cfg: AgentConfig, source: str) -> None:
    from racer.env.race_env import DIRECTIONS, OBSERVATIONS, START_MODES

    if isinstance(cfg.env.tracks, list) and not cfg.env.tracks:
        raise ConfigError(f"{source}: env.tracks is empty: name at least one track")
    # every field, whatever set it (a recipe, a CLI override, code): type and range
    for section, cls in _SECTIONS.items():
        values = getattr(cfg, section)
        for f in dataclasses.fields(cls):
            key = f"{section}.{f.name}"
            value = getattr(values, f.name)
            problem = field_problem(key, value, type(getattr(cls(), f.name)))
            if problem is not None:
                raise _field_error(source, key, value, problem)
    checks = [
        ("env.observation", cfg.env.observation, OBSERVATIONS),
        ("env.start", cfg.env.start, START_MODES),
        ("env.direction", cfg.env.direction, DIRECTIONS),
        ("algorithm.name", cfg.algorithm.name, ("ppo", "sac")),
        ("pretrain.teacher", cfg.pretrain.teacher, ("centerline", "racing-line")),
        ("algorithm.network", cfg.algorithm.network, ("auto", "mlp", "shallow_cnn", "nature_cnn")),
    ]
    for what, value, choices in checks:
        if value not in choices:
            near = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"{source}: {what} = {_show(value)} is not valid{hint}: use one of "
                f"{', '.join(choices)}"
            )
    _check_device(cfg.budget.device, f"{source}: budget.device")
    if not cfg.env.reward.strip():
        raise ConfigError(f"{source}: env.reward is empty: name a reward (e.g. 'progress')")
    if cfg.algorithm.name == "sac" and cfg.action_spec().kind != "continuous":
        raise ConfigError(
            f"{source}: SAC needs a continuous action space (action_space_type = 'continuous')"
        )
    if cfg.budget.envs > 0:
        check_batch(cfg, cfg.budget.envs, source)
    elif cfg.hyperparameters.batch_size < 2:
        check_batch(cfg, 1, source)


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
    data = read_toml(p)
    return config_from_dict(data, source=str(p), base_dir=str(p.parent.resolve()))


MAX_TOML_BYTES = 1_000_000  # a recipe is a few KB; a bigger file is a mistake (or hostile)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a recipe or a run's ``config.toml``; any problem is a one-line :class:`ConfigError`."""
    try:
        size = path.stat().st_size
        if size > MAX_TOML_BYTES:
            raise ConfigError(
                f"{path}: {size:,} bytes is too large for a recipe (at most {MAX_TOML_BYTES:,})"
            )
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text)") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML (nested too deeply)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None


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
