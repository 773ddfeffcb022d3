"""Reward plugins: loading (name, ``file.py[:fn]``, callable), validation, pickling.

Every reward is a :class:`RewardPlugin`: a callable that runs the user's
``reward_function(params)``, checks its value (a finite int/float/numpy number within
±:data:`MAX_ABS_REWARD`) and turns any failure into a :class:`racer.errors.RewardError` that
names the plugin file and line, the step, the cause and the (abbreviated) ``params``.

A reward is untrusted code that runs every step, so each call is fenced:

* it gets its own copy of ``params`` (the dict and the per-step lists in it; the per-track
  ``waypoints`` list is shared and read-only, :class:`racer.rewards.params.ReadOnlyList`):
  whatever it pops, clears, appends or reassigns never reaches racer's own copy, which the env
  reads for termination, ``info`` and the simtrace. Cost: about a microsecond per call;
* a call has a time limit (:data:`DEFAULT_TIMEOUT_S`, ``timeout_s``), enforced with
  ``signal.setitimer(ITIMER_REAL)`` and a ``SIGALRM`` handler: two system calls per call, about
  a microsecond. Signals reach only the main thread, so a reward called from another thread (or
  where ``SIGALRM`` is missing, as on Windows, or where another SIGALRM user's alarm is due
  before the limit) runs without a limit; racer's training workers and ``racer rewards check`` call rewards in the
  main thread of their process, and watch those processes from outside as well. Code that
  never returns to the interpreter (one huge C-level computation) cannot be interrupted from
  inside; the outside watchers stop it;
* ``sys.exit()``, ``raise KeyboardInterrupt`` and any other exception, ``BaseException`` ones
  included, become a :class:`~racer.errors.RewardError` (a real Ctrl-C is left alone: a
  KeyboardInterrupt that the reward's own ``raise`` statement did not raise passes through).
  During a call ``os._exit`` raises instead of ending the process, so that a plain
  ``os._exit(3)`` is reported with its file and line too; a process killed another way (a
  signal, ``posix._exit``, the out-of-memory killer) is reported by the process that watches
  it (the training learner, ``racer rewards check``).

Names come from one registry: the entry-point group ``racer.rewards``, where racer registers its
own built-ins too. Two installed plugins claiming one name is an error, never a silent overwrite.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import dis
import importlib
import importlib.metadata
import importlib.util
import inspect
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from racer.errors import RewardError

__all__ = [
    "DEFAULT_FUNCTION",
    "DEFAULT_TIMEOUT_S",
    "ENTRY_POINT_GROUP",
    "IMPORT_TIMEOUT_S",
    "MAX_ABS_REWARD",
    "MAX_TIMEOUT_S",
    "REWARD_STUCK_EXIT_STATUS",
    "RewardInfo",
    "RewardPlugin",
    "abbreviate_params",
    "available_rewards",
    "describe_rewards",
    "load_reward",
    "set_hard_stop",
]

ENTRY_POINT_GROUP = "racer.rewards"
DEFAULT_FUNCTION = "reward_function"  # DeepRacer's name for the reward entry point
MAX_ABS_REWARD = 1e5  # |reward| above this is a bug (DESIGN.md, "Errors and data")
DEFAULT_TIMEOUT_S = 5.0  # per call; a step's whole budget is ~1 ms, so 5 s is a hang, not slowness
MAX_TIMEOUT_S = 3600.0  # a longer "limit" is no limit: refuse it as a configuration mistake
IMPORT_TIMEOUT_S = 120.0  # importing the file (it may import torch or scipy from a cold disk)
MAX_FILE_BYTES = 10_000_000  # a reward file is source code; DeepRacer's own limit is far lower
_TIMER_REFIRE_S = 0.25  # after the first alarm, again this often (a reward that swallows one)
HARD_STOP_GRACE_S = 2.0  # a call still running this long after its first alarm caught it
REWARD_STUCK_EXIT_STATUS = 86  # a worker's exit status for "its reward ignored the time limit"
_MESSAGE_CHARS = 300  # a reward's own exception text is cut to this in the one-line error
_RAISE_OPCODE = dis.opmap["RAISE_VARARGS"]
#: Mutable lists that params holds per step (racer.rewards.params): copied for each call, so that
#: a reward's ``append`` cannot reach the env's ``info["params"]`` or the simtrace. ``waypoints``
#: is shared by every step and read-only instead (racer.rewards.params.ReadOnlyList).
_PER_STEP_LISTS = (
    "closest_waypoints",
    "racing_line_point",
    "closest_objects",
    "objects_location",
    "objects_left_of_center",
    "objects_speed",
    "objects_heading",
    "objects_distance",
    "objects_distance_from_center",
)

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
    ±:data:`MAX_ABS_REWARD` raises :class:`~racer.errors.RewardError`, and so does a call
    that runs longer than ``timeout_s`` (see the module docstring for how each call is fenced).

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
        timeout_s: Time limit of one call, seconds; None: no limit.
    """

    __slots__ = ("_kind", "_spec", "file", "func", "line", "name", "source", "timeout_s")

    def __init__(
        self,
        func: Callable[[dict[str, Any]], Any],
        *,
        name: str,
        source: str,
        kind: str = _KIND_CALLABLE,
        spec: Any = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Wrap ``func``; use :func:`load_reward` rather than this constructor.

        Args:
            func: The reward function, ``func(params) -> number``.
            name: Short name for messages and listings.
            source: Where it comes from (see the class attributes).
            kind: ``"file"``, ``"entry point"`` or ``"callable"``: how it pickles.
            spec: What pickling stores: ``(path, function)`` for a file, the name for an entry
                point, the callable itself otherwise.
            timeout_s: Time limit of one call, seconds (None: no limit).
        """
        self.timeout_s = _valid_timeout(timeout_s)
        self.func = func
        self.name = name
        self.source = source
        self._kind = kind
        self._spec = spec if spec is not None else func
        self.file, self.line = _definition_site(func)

    def with_timeout(self, timeout_s: float | None) -> RewardPlugin:
        """The same reward with another per-call time limit.

        Args:
            timeout_s: Seconds, in (0, :data:`MAX_TIMEOUT_S`]; None: no limit.

        Returns:
            A new plugin (this one is unchanged).

        Raises:
            RewardError: ``timeout_s`` is not a finite number in range.
        """
        other = RewardPlugin.__new__(RewardPlugin)
        for name in RewardPlugin.__slots__:
            setattr(other, name, getattr(self, name))
        other.timeout_s = _valid_timeout(timeout_s)
        return other

    def __call__(self, params: dict[str, Any], *, step: int | None = None) -> float:
        """Run the reward function on ``params`` and validate its value.

        The function gets its own shallow copy of ``params``: what it changes in it stays there.

        Args:
            params: The reward params for this step (not modified).
            step: Step number for error messages; defaults to ``params["steps"]``.

        Returns:
            The reward, a finite float within ±:data:`MAX_ABS_REWARD`.

        Raises:
            RewardError: The function raised (``SystemExit`` and other ``BaseException`` s
                included), ran past ``timeout_s``, or returned a value that is not a finite
                number within bounds.
            KeyboardInterrupt: A real Ctrl-C arrived during the call.
        """
        view = _own_params(params)
        limit = self.timeout_s
        outer = not _timer_armed  # a reward calling a reward: the outer call owns the timer
        real_exit = os._exit
        start_s = time.perf_counter()
        try:
            try:
                os._exit = _refuse_exit  # type: ignore[assignment]
                if outer and limit is not None:
                    _arm_timer(limit)
                value = self.func(view)
                reward = self._checked(value, params, step)
            finally:
                if outer and _timer_armed:
                    _disarm_timer()
                os._exit = real_exit
        except RewardError:
            raise
        except _RewardTimeout as exc:
            elapsed_s = time.perf_counter() - start_s
            raise self._timeout_error(exc, params, step, elapsed_s) from None
        except KeyboardInterrupt as exc:
            if not _raised_by_code(exc):
                raise  # a real Ctrl-C: the caller stops (and saves) as it does for any Ctrl-C
            raise self._raised_error(exc, params, step) from exc
        except BaseException as exc:  # SystemExit, GeneratorExit, MemoryError...: reward bugs
            raise self._raised_error(exc, params, step) from exc
        return reward

    def _checked(self, value: Any, params: Mapping[str, Any], step: int | None) -> float:
        """``value`` as a float, or the RewardError that says why it is not a valid reward."""
        kind = type(value)
        if kind is float:
            reward = value
        elif kind is int or _is_number(value):
            try:
                reward = float(value)
            except (OverflowError, TypeError, ValueError):  # 10**400, odd int subclasses
                reward = math.inf
        else:
            raise self._value_error(
                f"returned {_short_repr(value)} of type {kind.__name__[:40]}, "
                "not a number (return an int or float)",
                params,
                step,
            )
        if not -MAX_ABS_REWARD <= reward <= MAX_ABS_REWARD:  # also catches NaN
            what = "NaN" if math.isnan(reward) else _short_repr(value)
            raise self._value_error(
                f"returned {what}; a reward must be a finite number within ±{MAX_ABS_REWARD:g}",
                params,
                step,
            )
        return reward

    # -- pickling -------------------------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_plugin, (self._kind, self._spec, self.timeout_s))

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
        if isinstance(exc, (SystemExit, _ExitCalled)):  # an exit is no way out of a reward
            verb = "sys.exit()" if isinstance(exc, SystemExit) else "os._exit()"
            status = exc.code if isinstance(exc, SystemExit) else exc.status
            cause = (
                f"called {verb} (status {_short_repr(status, 40)}); a reward must return a number"
            )
        else:
            cause = f"raised {_describe_exception(exc)}"
        return _reward_error(self, where, line, cause, params, step)

    def _timeout_error(
        self,
        exc: BaseException,
        params: Mapping[str, Any],
        step: int | None,
        elapsed_s: float,
    ) -> RewardError:
        file, line = self.file, self.line
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if not _same_file(f.filename, __file__)
        ]
        mine = [f for f in frames if file is not None and _same_file(f.filename, file)]
        at = f", busy at line {mine[-1].lineno}" if mine else ""
        cause = (
            f"ran longer than its time limit of {self.timeout_s:g} s "
            f"(stopped after {elapsed_s:.2f} s{at}); make it faster or raise the limit "
            "([env] reward_timeout_s in agent.toml, --timeout for `racer rewards check`)"
        )
        err = _reward_error(self, self._where(), line, cause, params, step)
        err.timed_out = True
        return err

    def _value_error(self, cause: str, params: Mapping[str, Any], step: int | None) -> RewardError:
        return _reward_error(self, self._where(), self.line, cause, params, step)


def _is_number(value: Any) -> bool:
    """int/float/numpy number or 0-d numeric array; ``bool`` is not a number here."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, int, np.floating, np.integer)):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def _own_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The reward's own copy of ``params``: the dict and its per-step lists (module docstring)."""
    if type(params) is dict:
        view = params.copy()
        for key in _PER_STEP_LISTS:
            value = view.get(key)
            if type(value) is list:
                view[key] = value.copy()
        return view
    # a dict subclass (racer rewards check's RecordingParams) copies itself, records nothing here
    view = params.copy() if isinstance(params, dict) else dict(params)
    for key in _PER_STEP_LISTS:
        value = dict.get(view, key)
        if type(value) is list:
            dict.__setitem__(view, key, value.copy())
    return view


def _valid_timeout(timeout_s: float | None) -> float | None:
    """``timeout_s`` checked: None, or a finite number of seconds in (0, MAX_TIMEOUT_S]."""
    if timeout_s is None:
        return None
    ok = isinstance(timeout_s, (int, float)) and not isinstance(timeout_s, bool)
    if not ok or not 0.0 < float(timeout_s) <= MAX_TIMEOUT_S:
        raise RewardError(
            f"reward time limit {timeout_s!r} is not valid: give seconds in (0, {MAX_TIMEOUT_S:g}]"
        )
    return float(timeout_s)


class _ExitCalled(BaseException):
    """Raised instead of ending the process when a reward calls ``os._exit()``."""

    def __init__(self, status: Any) -> None:
        super().__init__(status)
        self.status = status


def _refuse_exit(status: int) -> None:
    raise _ExitCalled(status)


class _RewardTimeout(BaseException):
    """Raised by the SIGALRM handler inside a reward call that ran past its limit.

    A BaseException, so that a reward's own ``except Exception:`` does not swallow it.
    """


_timer_armed = False  # one timer per process: a reward calling another reward does not re-arm
_foreign_timer: tuple[Any, float, float, float] | None = None  # put aside for one call

try:  # signal.getsignal wraps the answer in an enum: ~5 us, more than the reward call itself
    from _signal import getsignal as _raw_getsignal
except ImportError:  # pragma: no cover - every CPython has it; other Pythons: the public one
    _raw_getsignal = signal.getsignal


_REAL_EXIT = os._exit
_alarm_at: float | None = None  # when the current call's first alarm fired
_hard_stop: tuple[int, bool] | None = None  # (exit status, print the line), see set_hard_stop


def set_hard_stop(exit_status: int | None, *, announce: bool = True) -> None:
    """End the process when a reward ignores its time limit (for racer's own processes).

    A reward that catches everything in a loop (``while True: try: ... except: pass``) swallows
    every timeout exception; nothing inside the process can make it return. With a hard stop
    set, an alarm that finds the call still running :data:`HARD_STOP_GRACE_S` after the first
    one ends the process with ``exit_status`` (after one ``racer: error:`` line on stderr when
    ``announce``). Training (its workers and a single-process run) and ``racer rewards check``
    (its child) set it; a library user's process is left alone unless it asks.

    Args:
        exit_status: The process's exit status; None turns the hard stop off.
        announce: Print the one-line reason first (False where a watcher reports it).
    """
    global _hard_stop
    _hard_stop = None if exit_status is None else (int(exit_status), bool(announce))


def _on_alarm(signum: int, frame: Any) -> None:
    global _alarm_at
    now = time.monotonic()
    if _alarm_at is None:
        _alarm_at = now
    elif _hard_stop is not None and now - _alarm_at > HARD_STOP_GRACE_S:
        status, announce = _hard_stop
        if announce:
            with contextlib.suppress(Exception):
                os.write(2, (f"racer: error: {_stuck_call(frame)}\n").encode())
        _REAL_EXIT(status)
    raise _RewardTimeout


def _stuck_call(frame: Any) -> str:
    """The one line for a reward that ignores its time limit, found from the alarm's frame."""
    call = RewardPlugin.__call__.__code__
    while frame is not None and frame.f_code is not call:
        frame = frame.f_back
    if frame is None:
        return "a reward ran past its time limit and caught every stop; ended the process"
    plugin, step = frame.f_locals.get("self"), frame.f_locals.get("step")
    at_step = f" at step {step}" if isinstance(step, int) else ""
    return (
        f"reward '{plugin.name}' ({plugin._where()}) ran past its time limit of "
        f"{plugin.timeout_s:g} s{at_step} and caught every stop (a bare except or "
        "`except BaseException` in a loop?); ended the process"
    )


def _arm_timer(limit_s: float) -> bool:
    """Start the per-call timer; False where it cannot run here (see the module docstring).

    When another SIGALRM user is installed (a test runner's per-test timeout, say), its handler
    and the time left on its timer are put aside for the call and given back by
    :func:`_disarm_timer`; when its alarm is due before ours, the call runs without a limit of
    its own rather than delay that alarm.
    """
    global _timer_armed, _foreign_timer, _alarm_at
    if _timer_armed or not hasattr(signal, "setitimer"):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False  # signals reach only the main thread
    handler = _raw_getsignal(signal.SIGALRM)
    if handler is not _on_alarm:
        if handler is None:
            return False  # installed outside Python: nothing to give back
        if handler != signal.SIG_DFL and handler != signal.SIG_IGN:  # ints from _signal
            left_s, interval_s = signal.getitimer(signal.ITIMER_REAL)
            if 0.0 < left_s <= limit_s:
                return False
            _foreign_timer = (handler, left_s, interval_s, time.monotonic())
        signal.signal(signal.SIGALRM, _on_alarm)
    _alarm_at = None
    _timer_armed = True  # before the timer runs: an early alarm still finds it to disarm
    signal.setitimer(signal.ITIMER_REAL, limit_s, _TIMER_REFIRE_S)
    return True


def _disarm_timer() -> None:
    global _timer_armed, _foreign_timer
    signal.setitimer(signal.ITIMER_REAL, 0.0)
    _timer_armed = False
    if _foreign_timer is not None:
        handler, left_s, interval_s, since = _foreign_timer
        _foreign_timer = None
        signal.signal(signal.SIGALRM, handler)
        if left_s > 0.0:
            left_s = max(left_s - (time.monotonic() - since), 1e-6)
            signal.setitimer(signal.ITIMER_REAL, left_s, interval_s)


def _raised_by_code(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt came from a ``raise`` statement, not from Ctrl-C.

    Where Ctrl-C is ignored (racer's subprocess workers) every KeyboardInterrupt is code's.
    Otherwise the innermost frame tells: Python delivers a signal between bytecodes at a jump,
    a call or a function entry, never at the ``RAISE_VARARGS`` instruction of a ``raise``.
    """
    with contextlib.suppress(ValueError, TypeError):
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            return True
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code.co_code
    return 0 <= tb.tb_lasti < len(code) and code[tb.tb_lasti] == _RAISE_OPCODE


def _describe_exception(exc: BaseException) -> str:
    """``Type: message`` on one line, cut to a readable length (the message is the reward's)."""
    name = type(exc).__name__
    if isinstance(exc, SystemExit):
        return f"SystemExit({_short_repr(exc.code, 40)}) (sys.exit() or exit())"
    if isinstance(exc, _ExitCalled):
        return f"os._exit({_short_repr(exc.status, 40)})"
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a broken __str__ is the reward's bug too
        text = ""
    text = " ".join(text.split())
    if len(text) > _MESSAGE_CHARS:
        text = text[: _MESSAGE_CHARS - 3] + "..."
    return f"{name}: {text}" if text else name


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
    return RewardError(
        f"reward '{plugin.name}' ({where}) {cause}{at_step}; params: {short}",
        plugin=plugin.name,
        file=plugin.file,
        line=line,
        step=step,
        cause=cause,
        params=short,
    )


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
    kind = type(value)
    if kind in (str, bytes) and len(value) > 4 * limit:  # a huge string: no full repr
        value = value[: 4 * limit]
    elif kind in (list, tuple, dict, set, frozenset) and len(value) > 100:
        return f"<{kind.__name__} of {len(value)} items>"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
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
    _check_signature(func, str(path), function)
    return RewardPlugin(
        func,
        name=f"{path.name}:{function}" if function != DEFAULT_FUNCTION else path.name,
        source=str(path),
        kind=_KIND_FILE,
        spec=(str(path), function),
    )


def _check_signature(func: Callable[..., Any], where: str, label: str) -> None:
    """Refuse a function that cannot take DeepRacer's one argument, ``params``, at load time."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # builtins and C callables: the first call will tell
        return
    try:
        sig.bind({})
    except TypeError:
        _, line = _definition_site(func)
        at = f":{line}" if line is not None and where.endswith(".py") else ""
        text = _short_repr(str(sig), 80).strip("'")
        raise RewardError(
            f"{where}{at}: {label}{text} cannot be called with one argument; a reward is "
            f"def {label}(params)"
        ) from None


def _exec_file(path: Path) -> ModuleType:
    """Import ``path`` as a fresh module; failures become one-line RewardErrors with file:line.

    The import runs under :data:`IMPORT_TIMEOUT_S` (as a call runs under its limit), and
    ``sys.exit()`` or any other exception at the file's top level is a RewardError too.
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RewardError(
                f"reward file {path} is {size / 1e6:.1f} MB; a reward file is source code, "
                f"at most {MAX_FILE_BYTES / 1e6:g} MB: keep data in a file it reads"
            )
        source = path.read_text(encoding="utf-8-sig")  # a leading byte-order mark is fine
    except (OSError, UnicodeDecodeError) as exc:
        raise RewardError(f"cannot read reward file {path}: {_describe_exception(exc)}") from exc
    try:
        tree = ast.parse(source, str(path))
        code = compile(tree, str(path), "exec")
    except SyntaxError as exc:
        pasted = _pasted_character(source, exc)
        if pasted is not None:
            raise RewardError(f"{path}:{pasted}") from None
        line = exc.lineno if exc.lineno is not None else "?"
        raise RewardError(
            f"{path}:{line}: syntax error in reward file: {exc.msg}; fix the file and retry"
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise RewardError(
            f"{path}: cannot compile the reward file ({_describe_exception(exc)})"
        ) from None
    _warn_foreign_imports(path, tree)
    name = _module_name_for(path)
    module = ModuleType(name)
    module.__file__ = str(path)
    directory = str(path.parent)
    added = directory not in sys.path
    if added:  # let the plugin import helper modules beside it
        sys.path.insert(0, directory)
    sys.modules[name] = module
    outer = not _timer_armed
    try:
        try:
            if outer:
                _arm_timer(IMPORT_TIMEOUT_S)
            exec(code, module.__dict__)
        finally:
            if outer and _timer_armed:
                _disarm_timer()
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt) and not _raised_by_code(exc):
            raise
        frames = [
            f for f in traceback.extract_tb(exc.__traceback__) if _same_file(f.filename, str(path))
        ]
        where = f"{path}:{frames[-1].lineno}" if frames and frames[-1].lineno else f"{path}:?"
        if isinstance(exc, _RewardTimeout):
            raise RewardError(
                f"{where}: importing the reward file took longer than {IMPORT_TIMEOUT_S:g} s; "
                "do slow set-up work once, lazily, or not at all"
            ) from None
        raise RewardError(
            f"{where}: importing the reward file raised {_describe_exception(exc)}"
        ) from None
    finally:
        if added:
            with contextlib.suppress(ValueError):  # the plugin may have removed it itself
                sys.path.remove(directory)
    return module


# -- what DeepRacer would say about the file ---------------------------------------------------

#: Modules a DeepRacer reward function may import (the console refuses the rest).
DEEPRACER_IMPORTS = frozenset({"math", "random", "numpy", "scipy", "shapely"})
_COMPILER_ONLY_IMPORTS = frozenset({"__future__"})  # changes how the file compiles, imports nothing
#: Characters that a copy from a web page or a word processor leaves in code, by kind: what it
#: is called in the message and what to do about it.
_PASTED_KINDS = {
    "invisible character": ("delete it", "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"),
    "non-breaking space": ("replace it with a plain space", "\u00a0\u202f\u2007\u2009\u200a"),
    "typographic quote": (
        "replace it with a plain ' or \"",
        "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2032\u2033",
    ),
    "typographic dash": ("replace it with a plain -", "\u2010\u2011\u2012\u2013\u2014\u2212"),
}
_warned_imports: set[tuple[str, tuple[str, ...]]] = set()


def _pasted_character(source: str, exc: SyntaxError) -> str | None:
    """``"line:col: <what> U+XXXX (NAME); <fix> (often pasted from a web page)"`` for a syntax
    error caused by a character pasted from a web page, else None.

    The character is looked for on the error's line (the one at the error's column first).
    """
    if exc.lineno is None:
        return None
    lines = source.splitlines()
    if not 1 <= exc.lineno <= len(lines):
        return None
    text = lines[exc.lineno - 1]
    order = list(range(len(text)))
    if exc.offset:
        at = min(max(exc.offset - 1, 0), max(len(text) - 1, 0))
        order.sort(key=lambda i: abs(i - at))
    for i in order:
        for what, (fix, chars) in _PASTED_KINDS.items():
            if text[i] in chars:
                name = unicodedata.name(text[i], "unnamed")
                return (
                    f"{exc.lineno}:{i + 1}: {what} U+{ord(text[i]):04X} ({name}); {fix} "
                    "(often pasted from a web page)"
                )
    return None


def _imported_modules(tree: ast.AST) -> dict[str, int]:
    """Top-level module name -> first line importing it, for every import statement in ``tree``
    (inside functions too; relative imports are the file's own helpers)."""
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in found or node.lineno < found[top]:
                found[top] = node.lineno
    return found


def _warn_foreign_imports(path: Path, tree: ast.AST) -> None:
    """Say once, in one line, which of the file's imports DeepRacer would refuse.

    A warning, not a refusal: racer runs the file as it is. Only ``import`` statements are seen
    (``__import__("os")`` and ``importlib`` are not). Processes started by
    :mod:`multiprocessing` (training workers) stay quiet: the process the user ran loaded the
    file first and said it.
    """
    found = _imported_modules(tree)
    foreign = sorted(
        (line, name)
        for name, line in found.items()
        if name not in DEEPRACER_IMPORTS and name not in _COMPILER_ONLY_IMPORTS
    )
    if not foreign:
        return
    key = (str(path), tuple(name for _, name in foreign))
    if key in _warned_imports or multiprocessing.parent_process() is not None:
        return
    _warned_imports.add(key)
    first_line = foreign[0][0]
    listed = ", ".join(f"{name} (line {line})" for line, name in foreign)
    allowed = ", ".join(sorted(DEEPRACER_IMPORTS))
    print(
        f"racer: warning: {path}:{first_line}: imports {listed}, which DeepRacer's reward "
        f"functions cannot import (only {allowed}); it runs here, not in the DeepRacer console",
        file=sys.stderr,
        flush=True,
    )


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
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and not _raised_by_code(exc):
            raise
        raise RewardError(
            f"reward '{name}' ({ep.value}, from {_dist_name(ep)}) failed to import: "
            f"{_describe_exception(exc)}"
        ) from exc
    if not callable(func):
        raise RewardError(f"reward '{name}' ({ep.value}) is not callable; fix the plugin")
    _check_signature(func, f"reward '{name}' ({ep.value})", name)
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


def _restore_plugin(
    kind: str, spec: Any, timeout_s: float | None = DEFAULT_TIMEOUT_S
) -> RewardPlugin:
    """Rebuild a pickled :class:`RewardPlugin` (a file is read again, a name looked up again)."""
    if kind == _KIND_FILE:
        path, function = spec
        plugin = _load_file(path, function)
    elif kind == _KIND_ENTRY_POINT:
        plugin = _load_entry_point(spec)
    else:
        plugin = _wrap_callable(spec)
    return plugin if plugin.timeout_s == timeout_s else plugin.with_timeout(timeout_s)
