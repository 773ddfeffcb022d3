"""Reward plugins: loading (name, ``file.py[:fn]``, callable), validation, pickling.

Every reward is a :class:`RewardPlugin`: a callable that runs the user's
``reward_function(params)``, checks its value (a finite int/float/numpy number within
±:data:`MAX_ABS_REWARD`) and turns any failure into a :class:`racer.errors.RewardError` that
names the plugin file and line, the step, the cause and the (abbreviated) ``params``.

Names come from one registry: the entry-point group ``racer.rewards``, where racer registers its
own built-ins too. Two installed plugins claiming one name is an error, never a silent overwrite.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import math
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from racer.errors import RewardError

__all__ = [
    "DEFAULT_FUNCTION",
    "ENTRY_POINT_GROUP",
    "MAX_ABS_REWARD",
    "RewardInfo",
    "RewardPlugin",
    "abbreviate_params",
    "available_rewards",
    "describe_rewards",
    "load_reward",
]

ENTRY_POINT_GROUP = "racer.rewards"
DEFAULT_FUNCTION = "reward_function"  # DeepRacer's name for the reward entry point
MAX_ABS_REWARD = 1e5  # |reward| above this is a bug (DESIGN.md, "Errors and data")

_KIND_FILE = "file"
_KIND_ENTRY_POINT = "entry point"
_KIND_CALLABLE = "callable"


@dataclass(frozen=True, slots=True)
class RewardInfo:
    """One installed reward, as ``racer rewards list`` shows it.

    Attributes:
        name: The name that ``reward=`` accepts.
        source: Where it comes from: ``"<distribution> (<module>:<attr>)"``.
        doc: The first line of its docstring ("" when it has none).
    """

    name: str
    source: str
    doc: str


class RewardPlugin:
    """A validated, picklable reward function.

    Calling it runs the wrapped ``reward_function(params)`` and returns its value as a float;
    an exception, a non-number (``None``, ``str``, ``bool``...), NaN/inf or a value beyond
    ±:data:`MAX_ABS_REWARD` raises :class:`~racer.errors.RewardError`.

    Pickling stores how to load the function again, not the function: a file plugin its absolute
    path and function name (the file is read again on unpickle), an installed plugin its
    entry-point name, a plain callable itself (by reference, so it must be importable or the
    pickler must handle it, as cloudpickle does).

    Attributes:
        name: Short name: the entry-point name, ``file.py:fn``, or the callable's qualname.
        source: ``"/abs/path/file.py"``, ``"entry point <name>"`` or
            ``"callable <module>.<qualname>"``.
        line: Line of the function's ``def`` in its file, when known.
        file: The file the function is defined in, when known (for error messages).
        func: The wrapped function.
    """

    __slots__ = ("_kind", "_spec", "file", "func", "line", "name", "source")

    def __init__(
        self,
        func: Callable[[dict[str, Any]], Any],
        *,
        name: str,
        source: str,
        kind: str = _KIND_CALLABLE,
        spec: Any = None,
    ) -> None:
        """Wrap ``func``; use :func:`load_reward` rather than this constructor.

        Args:
            func: The reward function, ``func(params) -> number``.
            name: Short name for messages and listings.
            source: Where it comes from (see the class attributes).
            kind: ``"file"``, ``"entry point"`` or ``"callable"``: how it pickles.
            spec: What pickling stores: ``(path, function)`` for a file, the name for an entry
                point, the callable itself otherwise.
        """
        self.func = func
        self.name = name
        self.source = source
        self._kind = kind
        self._spec = spec if spec is not None else func
        self.file, self.line = _definition_site(func)

    def __call__(self, params: dict[str, Any], *, step: int | None = None) -> float:
        """Run the reward function on ``params`` and validate its value.

        Args:
            params: The reward params for this step.
            step: Step number for error messages; defaults to ``params["steps"]``.

        Returns:
            The reward, a finite float within ±:data:`MAX_ABS_REWARD`.

        Raises:
            RewardError: The function raised, or returned a value that is not a finite number
                within bounds.
        """
        try:
            value = self.func(params)
        except Exception as exc:
            raise self._raised_error(exc, params, step) from exc
        kind = type(value)
        if kind is float or kind is int or _is_number(value):
            reward = float(value)
        else:
            raise self._value_error(
                f"returned {_short_repr(value)} of type {kind.__name__}, not a number "
                "(return an int or float)",
                params,
                step,
            )
        if not -MAX_ABS_REWARD <= reward <= MAX_ABS_REWARD:  # also catches NaN
            what = "NaN" if math.isnan(reward) else repr(reward)
            raise self._value_error(
                f"returned {what}; a reward must be a finite number within ±{MAX_ABS_REWARD:g}",
                params,
                step,
            )
        return reward

    # -- pickling -------------------------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_plugin, (self._kind, self._spec))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RewardPlugin):
            return NotImplemented
        return self._kind == other._kind and self._spec == other._spec

    def __hash__(self) -> int:
        return hash((self._kind, self.name, self.source))

    def __repr__(self) -> str:
        return f"RewardPlugin(name={self.name!r}, source={self.source!r})"

    # -- error messages -------------------------------------------------------------------------

    def _where(self) -> str:
        if self.file is None:
            return self.source
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def _raised_error(
        self, exc: BaseException, params: Mapping[str, Any], step: int | None
    ) -> RewardError:
        file, line = self.file, self.line
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if not _same_file(f.filename, __file__)
        ]
        mine = [f for f in frames if file is not None and _same_file(f.filename, file)]
        if mine:
            line = mine[-1].lineno
        elif frames:  # not in the plugin file: point at the innermost frame
            file, line = frames[-1].filename, frames[-1].lineno
        where = f"{file}:{line}" if file is not None else self.source
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return _reward_error(self, where, line, f"raised {cause}", params, step)

    def _value_error(self, cause: str, params: Mapping[str, Any], step: int | None) -> RewardError:
        return _reward_error(self, self._where(), self.line, cause, params, step)


def _is_number(value: Any) -> bool:
    """int/float/numpy number or 0-d numeric array; ``bool`` is not a number here."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, int, np.floating, np.integer)):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def _reward_error(
    plugin: RewardPlugin,
    where: str,
    line: int | None,
    cause: str,
    params: Mapping[str, Any],
    step: int | None,
) -> RewardError:
    """One-line RewardError with the details also attached as attributes."""
    if step is None and isinstance(params, dict):
        steps: Any = dict.get(params, "steps")  # dict.get: not recorded as a read by `check`
        step = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
    at_step = f" at step {step}" if step is not None else ""
    short = abbreviate_params(params)
    err = RewardError(f"reward '{plugin.name}' ({where}) {cause}{at_step}; params: {short}")
    err.plugin = plugin.name  # type: ignore[attr-defined]
    err.file = plugin.file  # type: ignore[attr-defined]
    err.line = line  # type: ignore[attr-defined]
    err.step = step  # type: ignore[attr-defined]
    err.cause = cause  # type: ignore[attr-defined]
    err.params = short  # type: ignore[attr-defined]
    return err


def abbreviate_params(params: Mapping[str, Any], digits: int = 3) -> str:
    """Short one-line rendering of ``params`` for error messages.

    ``waypoints`` becomes ``<N waypoints>``, floats are rounded to ``digits`` decimals and long
    lists are cut.

    Args:
        params: The reward params (any mapping).
        digits: Decimals kept on floats.

    Returns:
        ``{key: value, ...}`` on one line.
    """
    try:
        items = list(dict.items(params)) if isinstance(params, dict) else list(params.items())
    except Exception:  # pragma: no cover - a mapping that cannot even be listed
        return _short_repr(params)
    parts = []
    for key, value in items:
        if key == "waypoints" and isinstance(value, (list, tuple)):
            text = f"<{len(value)} waypoints>"
        else:
            text = _abbrev_value(value, digits)
        parts.append(f"{key!r}: {text}")
    return "{" + ", ".join(parts) + "}"


def _abbrev_value(value: Any, digits: int, depth: int = 0) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (float, np.floating)):
        return repr(round(float(value), digits))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (list, tuple)) and depth < 2:
        inner = [_abbrev_value(v, digits, depth + 1) for v in value[:6]]
        if len(value) > 6:
            inner.append(f"... {len(value)} items")
        if isinstance(value, tuple):
            return "(" + ", ".join(inner) + ("," if len(value) == 1 else "") + ")"
        return "[" + ", ".join(inner) + "]"
    return _short_repr(value)


def _short_repr(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # pragma: no cover - a broken __repr__
        text = f"<{type(value).__name__}>"
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _same_file(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):  # pragma: no cover
        return False


def _definition_site(func: Callable[..., Any]) -> tuple[str | None, int | None]:
    """File and ``def`` line of ``func`` (unwrapping decorators), when Python knows them."""
    target: Any = func
    try:
        target = inspect.unwrap(func)
    except ValueError:  # pragma: no cover - a cycle of __wrapped__
        target = func
    code = getattr(target, "__code__", None)
    if code is None:
        code = getattr(getattr(type(target), "__call__", None), "__code__", None)  # noqa: B004
    if code is None:
        return None, None
    return code.co_filename, code.co_firstlineno


# -- loading ------------------------------------------------------------------------------------


def load_reward(
    spec: str | os.PathLike[str] | Callable[[dict[str, Any]], Any] | RewardPlugin,
) -> RewardPlugin:
    """Turn what the user gave as ``reward=`` into a :class:`RewardPlugin`.

    Args:
        spec: One of

            * a :class:`RewardPlugin` (returned as is);
            * a Python callable ``f(params) -> number``;
            * a path ``file.py`` or ``file.py:function`` (default function
              ``reward_function``), relative to the current directory or absolute;
            * a name registered in the entry-point group ``racer.rewards`` (racer's built-ins
              such as ``centerline`` and installed plugins).

    Returns:
        The validated, picklable plugin.

    Raises:
        RewardError: Unknown name (with "did you mean"), two plugins claiming the name, missing
            file, syntax error or import failure in the file (with file:line), missing function.
    """
    if isinstance(spec, RewardPlugin):
        return spec
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if isinstance(spec, str):
        text = spec.strip()
        if not text:
            raise RewardError(
                "empty reward; give a built-in name, a file.py[:function] path or a callable "
                f"(available: {', '.join(sorted(_entry_point_table()))})"
            )
        path, function = _split_file_spec(text)
        if path is not None:
            return _load_file(path, function or DEFAULT_FUNCTION)
        return _load_entry_point(text)
    if callable(spec):
        return _wrap_callable(spec)
    raise RewardError(
        f"reward must be a name, a file.py[:function] path or a callable, not {type(spec).__name__}"
    )


def _split_file_spec(text: str) -> tuple[str | None, str | None]:
    """``("file.py", "fn")`` for a file spec, ``(None, None)`` for a name."""
    head, sep, tail = text.rpartition(":")
    if sep and head.endswith(".py") and tail.isidentifier():
        return head, tail
    if sep and head.endswith(".py") and not tail:
        return head, None
    if text.endswith(".py") or "/" in text or os.sep in text or Path(text).is_file():
        return text, None
    return None, None


def _wrap_callable(func: Callable[[dict[str, Any]], Any]) -> RewardPlugin:
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return RewardPlugin(
        func,
        name=qualname,
        source=f"callable {module}.{qualname}",
        kind=_KIND_CALLABLE,
        spec=func,
    )


def _module_name_for(path: Path) -> str:
    digest = abs(hash(str(path))) % (1 << 40)
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"racer_reward_plugin_{stem}_{digest:x}"


def _load_file(path_text: str, function: str) -> RewardPlugin:
    path = Path(path_text).expanduser()
    try:
        path = path.resolve()
    except OSError:  # pragma: no cover - odd file systems
        path = path.absolute()
    if not path.is_file():
        raise RewardError(
            f"reward file not found: {path}; check the path (a reward is a .py file defining "
            f"{DEFAULT_FUNCTION}(params), a built-in name, or file.py:function)"
        )
    module = _exec_file(path)
    func = getattr(module, function, None)
    if func is None or not callable(func):
        defined = sorted(
            name
            for name, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__
        )
        hint = f" (functions defined: {', '.join(defined)})" if defined else ""
        what = "no function" if func is None else "a non-callable"
        raise RewardError(
            f"{path}: {what} '{function}'{hint}; define def {function}(params) or name the "
            f"function as {path.name}:<function>"
        )
    return RewardPlugin(
        func,
        name=f"{path.name}:{function}" if function != DEFAULT_FUNCTION else path.name,
        source=str(path),
        kind=_KIND_FILE,
        spec=(str(path), function),
    )


def _exec_file(path: Path) -> ModuleType:
    """Import ``path`` as a fresh module; failures become one-line RewardErrors with file:line."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RewardError(f"cannot read reward file {path}: {exc}") from exc
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        line = exc.lineno if exc.lineno is not None else "?"
        raise RewardError(
            f"{path}:{line}: syntax error in reward file: {exc.msg}; fix the file and retry"
        ) from exc
    name = _module_name_for(path)
    module = ModuleType(name)
    module.__file__ = str(path)
    directory = str(path.parent)
    added = directory not in sys.path
    if added:  # let the plugin import helper modules beside it
        sys.path.insert(0, directory)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        sys.modules.pop(name, None)
        frames = [
            f for f in traceback.extract_tb(exc.__traceback__) if _same_file(f.filename, str(path))
        ]
        where = f"{path}:{frames[-1].lineno}" if frames and frames[-1].lineno else f"{path}:?"
        raise RewardError(
            f"{where}: importing the reward file raised {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if added:
            with contextlib.suppress(ValueError):  # the plugin may have removed it itself
                sys.path.remove(directory)
    return module


# -- the entry-point registry -------------------------------------------------------------------

_BUILTIN_MODULE = "racer.rewards.builtin"


def _entry_point_table() -> dict[str, list[importlib.metadata.EntryPoint]]:
    """Name -> distinct entry points in the ``racer.rewards`` group (duplicates kept apart)."""
    table: dict[str, list[importlib.metadata.EntryPoint]] = {}
    seen: set[tuple[str, str]] = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = (ep.name, ep.value)
        if key in seen:  # the same distribution found twice on sys.path: not a conflict
            continue
        seen.add(key)
        table.setdefault(ep.name, []).append(ep)
    if not any(ep.value.startswith(_BUILTIN_MODULE) for eps in table.values() for ep in eps):
        # racer itself is not installed (a bare source checkout): register its built-ins the
        # way its pyproject.toml does, so the one registry still holds them.
        from racer.rewards import builtin

        for name in builtin.BUILTINS:
            table.setdefault(name, []).append(
                importlib.metadata.EntryPoint(
                    name=name, value=f"{_BUILTIN_MODULE}:{name}", group=ENTRY_POINT_GROUP
                )
            )
    return table


def _dist_name(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) or "?"


def _single(name: str, eps: list[importlib.metadata.EntryPoint]) -> importlib.metadata.EntryPoint:
    if len(eps) > 1:
        claims = " and ".join(f"{_dist_name(ep)} ({ep.value})" for ep in eps)
        raise RewardError(
            f"reward name '{name}' is claimed by {len(eps)} installed plugins: {claims}; "
            "uninstall one of them or load the function by file path"
        )
    return eps[0]


def _unknown_name(name: str, known: list[str]) -> RewardError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return RewardError(
        f"unknown reward '{name}'; {hint}available: {', '.join(sorted(known))} "
        "(or give a path: file.py or file.py:function)"
    )


def _load_entry_point(name: str) -> RewardPlugin:
    table = _entry_point_table()
    if name not in table:
        raise _unknown_name(name, list(table))
    ep = _single(name, table[name])
    try:
        func = ep.load()
    except Exception as exc:
        raise RewardError(
            f"reward '{name}' ({ep.value}, from {_dist_name(ep)}) failed to import: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not callable(func):
        raise RewardError(f"reward '{name}' ({ep.value}) is not callable; fix the plugin")
    return RewardPlugin(
        func, name=name, source=f"entry point {name}", kind=_KIND_ENTRY_POINT, spec=name
    )


def describe_rewards() -> list[RewardInfo]:
    """Every reward installed in the ``racer.rewards`` entry-point group, sorted by name.

    Returns:
        One :class:`RewardInfo` per name.

    Raises:
        RewardError: Two plugins claim one name, or a plugin fails to import.
    """
    infos = []
    for name, eps in sorted(_entry_point_table().items()):
        ep = _single(name, eps)
        plugin = _load_entry_point(name)
        doc = inspect.getdoc(plugin.func) or ""
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        infos.append(RewardInfo(name=name, source=f"{_dist_name(ep)} ({ep.value})", doc=first))
    return infos


def available_rewards() -> dict[str, str]:
    """Names that ``reward=`` accepts without a path, with the first line of their docstring.

    Returns:
        ``{name: one-line doc}``, sorted by name.

    Raises:
        RewardError: Two plugins claim one name, or a plugin fails to import.
    """
    return {info.name: info.doc for info in describe_rewards()}


# -- unpickling ---------------------------------------------------------------------------------


def _restore_plugin(kind: str, spec: Any) -> RewardPlugin:
    """Rebuild a pickled :class:`RewardPlugin` (a file is read again, a name looked up again)."""
    if kind == _KIND_FILE:
        path, function = spec
        return _load_file(path, function)
    if kind == _KIND_ENTRY_POINT:
        return _load_entry_point(spec)
    return _wrap_callable(spec)
