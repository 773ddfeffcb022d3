"""The Create form -> an agent recipe, checked by racer's own rules, with the CLI's messages.

The form sends the recipe in its own layout (``env``, ``action_space``, ``algorithm``,
``hyperparameters``, ``budget``, ``evaluation``, ``checkpoint``) plus the model's name and the
reward (a built-in name, or the code typed in the editor). :func:`build_recipe` checks it the
way ``racer train`` would (the options' rules, the recipe's rules, every track loaded, the
reward loaded) and raises :class:`FieldError`: the CLI's one-line message and the form field it
belongs to (and the reward's failing line). :func:`write_recipe` writes the folder ``racer
train`` then reads: ``agent.toml`` and ``reward.py``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racer.errors import ConfigError, RacerError
from racer.train.config import RECIPE_SECTIONS
from racer.ui.workspace import Workspace, check_name
from racer.util.files import atomic_write_text

REWARD_FILE = "reward.py"
RECIPE_FILE = "agent.toml"
MAX_REWARD_CHARS = 200_000  # a reward file this long is a mistake (DeepRacer's editor: 10 kB)
#: form field of each recipe key the messages name (``budget.steps`` -> the field ``budget.steps``)
SECTIONS = RECIPE_SECTIONS
#: The options ``racer train`` takes: checked with the CLI's own rule, so the message is the
#: CLI's (``--steps must be > 0 (budget.steps), got 0``).
CLI_OPTIONS = (
    ("--observation", "env.observation"),
    ("--steps", "budget.steps"),
    ("--envs", "budget.envs"),
    ("--seed", "budget.seed"),
    ("--device", "budget.device"),
)
_LINE_RE = re.compile(r"\.py:(\d+)")


@dataclass
class FieldError(Exception):
    """A form value racer refuses.

    Attributes:
        field: the form field (``name``, ``reward``, ``env.tracks``, ``budget.steps``, ...).
        message: racer's one-line message, as the CLI prints it after ``racer: error:``.
        line: the reward's failing line (1-based), when the message names one.
    """

    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The error for the JSON API."""
        return {"field": self.field, "message": self.message, "line": self.line}


def reward_line(message: str) -> int | None:
    """The line number a reward message names (``reward.py:7``), or None."""
    found = _LINE_RE.search(message)
    return int(found.group(1)) if found else None


def field_of(message: str) -> str:
    """The form field a recipe message is about (the first ``section.key`` it names)."""
    for section in SECTIONS:
        found = re.search(rf"\b{section}\.([a-z_]+)", message)
        if found:
            return f"{section}.{found.group(1)}"
    if "action_space" in message or "steering_angle" in message or "speed" in message:
        return "action_space"
    if "SAC" in message or "PPO" in message:
        return "algorithm.name"
    return "form"


def write_reward_draft(ws: Workspace, code: str) -> Path:
    """The editor's code in a file of its own (``.racer-ui/drafts/``), to load and check."""
    if not isinstance(code, str) or not code.strip():
        raise FieldError("reward", "the reward function is empty: write reward_function(params)")
    if len(code) > MAX_REWARD_CHARS:
        raise FieldError(
            "reward", f"the reward is {len(code):,} characters long: at most {MAX_REWARD_CHARS:,}"
        )
    drafts = ws.ui_dir / "drafts"
    drafts.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="reward-", dir=drafts))
    path = folder / REWARD_FILE
    atomic_write_text(path, code)
    return path


def _shown(message: str, draft: Path | None) -> str:
    """A message about the editor's draft names it ``reward.py``, as the run folder will."""
    if draft is None:
        return message
    return message.replace(str(draft), REWARD_FILE).replace(str(draft.parent) + "/", "")


def load_reward_field(spec: str, draft: Path | None = None) -> Any:
    """``racer.rewards.load_reward(spec)`` with its message as a form error of ``reward``."""
    from racer.rewards import load_reward

    try:
        return load_reward(spec)
    except RacerError as exc:
        message = _shown(str(exc), draft)
        raise FieldError("reward", message, reward_line(message)) from None


def drop_draft(draft: Path) -> None:
    """Remove a draft written by :func:`write_reward_draft`."""
    shutil.rmtree(draft.parent, ignore_errors=True)


def build_recipe(ws: Workspace, form: dict[str, Any]) -> tuple[Any, str | None]:
    """Check the form as ``racer train`` would; the config and the reward code.

    Args:
        ws: the workspace (name clashes, the reward draft).
        form: ``name``, ``reward`` (``{"code": ...}`` or ``{"name": ...}``) and the recipe's
            sections.

    Returns:
        ``(AgentConfig, reward code or None)``.

    Raises:
        FieldError: the first value racer refuses, with the CLI's message.
    """
    from racer.track import load_track
    from racer.train.config import check_option, config_from_dict

    if not isinstance(form, dict):
        raise FieldError("form", "the form must be a JSON object")
    name = form.get("name")
    try:
        check_name(name if isinstance(name, str) else "", "model name")
        run = ws.run_dir(name)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise FieldError("name", str(exc)) from None
    if run.exists() or ws.recipe_dir(name).exists():  # type: ignore[arg-type]
        raise FieldError("name", f"a model called {name!r} exists already: choose another name")
    data: dict[str, Any] = {"agent": {"name": name, "description": form.get("description", "")}}
    for section in (*SECTIONS, "action_space"):
        value = form.get(section)
        if value is not None:
            if not isinstance(value, dict):
                raise FieldError(section, f"{section} must be a table of values")
            data[section] = dict(value)
    for flag, key in CLI_OPTIONS:
        section, field = key.split(".")
        value = data.get(section, {}).get(field)
        if value is not None:
            try:
                check_option(flag, key, value)
            except ConfigError as exc:
                raise FieldError(key, str(exc)) from None
    env = data.setdefault("env", {})
    tracks = env.get("tracks") or []
    if isinstance(tracks, str):
        tracks = env["tracks"] = [tracks]
    for track in tracks if isinstance(tracks, list) else []:
        if isinstance(track, str) and track != "random":
            try:
                load_track(track)
            except RacerError as exc:
                raise FieldError("env.tracks", str(exc)) from None
    reward = form.get("reward") or {}
    code: str | None = None
    if isinstance(reward, dict) and reward.get("code") is not None:
        code = str(reward["code"])
        draft = write_reward_draft(ws, code)
        try:
            load_reward_field(str(draft), draft)
        finally:
            drop_draft(draft)
        env["reward"] = REWARD_FILE
    elif isinstance(reward, dict) and isinstance(reward.get("name"), str):
        load_reward_field(reward["name"])
        env["reward"] = reward["name"]
    try:
        cfg = config_from_dict(data, source=name, base_dir=str(ws.recipe_dir(name)))  # type: ignore[arg-type]
        from racer.train.config import check_batch

        check_batch(cfg, cfg.resolved_envs(), name)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise FieldError(field_of(str(exc)), str(exc)) from None
    return cfg, code


def write_recipe(ws: Workspace, cfg: Any, code: str | None) -> Path:
    """Write the recipe folder (``agent.toml`` + ``reward.py``) that ``racer train`` reads."""
    from racer.train.pipeline import config_to_toml

    folder = ws.recipe_dir(cfg.name)
    folder.mkdir(parents=True, exist_ok=False)
    if code is not None:
        atomic_write_text(folder / REWARD_FILE, code)
    atomic_write_text(folder / RECIPE_FILE, config_to_toml(cfg))
    return folder


def check_reward_code(ws: Workspace, code: str, track: str | None) -> dict[str, Any]:
    """``racer rewards check`` on the editor's code: the report as JSON.

    The same check as the CLI (:func:`racer.rewards.check.check_reward_isolated`, in a forked
    child); a reward that cannot load, or a call that runs past its time limit, is a
    :class:`FieldError` of ``reward`` with its line.
    """
    from racer.rewards.check import check_reward_isolated
    from racer.track import DEFAULT_TRACK, load_track

    try:
        the_track = load_track(track or DEFAULT_TRACK)
    except RacerError as exc:
        raise FieldError("env.tracks", str(exc)) from None
    draft = write_reward_draft(ws, code)
    try:
        plugin = load_reward_field(str(draft), draft)
        report = check_reward_isolated(plugin, the_track)
    except RacerError as exc:
        message = _shown(str(exc), draft)
        raise FieldError("reward", message, reward_line(message)) from None
    finally:
        drop_draft(draft)
    failures = []
    for result in report.situations:
        for text in result.messages[:1]:
            message = _shown(text, draft)
            failures.append(
                {"situation": result.name, "message": message, "line": reward_line(message)}
            )

    def num(x: float) -> float | None:
        return None if x != x else round(x, 4)  # NaN -> null

    return {
        "ok": report.ok,
        "track": report.track_name,
        "failures": report.failures,
        "situations": [
            {
                "name": r.name,
                "description": r.description,
                "calls": r.calls,
                "failed": r.failures,
                "min": num(r.min),
                "mean": num(r.mean),
                "max": num(r.max),
            }
            for r in report.situations
        ],
        "keys_read": report.keys_read,
        "notes": [_shown(n, draft) for n in report.notes],
        "first_failures": failures,
        "line": failures[0]["line"] if failures else None,
    }
