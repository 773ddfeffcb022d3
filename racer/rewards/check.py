"""Checking a reward function before training: drive synthetic car poses through it.

No physics: :func:`generate_runs` places the car on the track from its geometry alone, in a few
*situations* (on the centre line, near the border, off the track, driving backwards, zig-zag
steering, objects ahead), each as short runs of consecutive steps so that ``steps``,
``progress`` and ``sim_time`` evolve as in an episode. :func:`check_reward` feeds them to a
:class:`~racer.rewards.plugin.RewardPlugin` through :class:`~racer.rewards.params.ParamsBuilder`
and reports the value range per situation, the ``params`` keys the function reads, what it
changes in its ``params`` and prints, and every failure, each with the one-line message training
would stop with. A call past the time limit stops the check. :func:`check_reward_isolated` (what
``racer rewards check`` runs) does it all in a forked child, so that a reward that ends or
wedges its process is reported in one line instead of taking the command down with it.
"""

from __future__ import annotations

import contextlib
import io
import math
import multiprocessing as mp
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from racer.contract.car import DT_S, FRONT_OFFSET_M, TRACK_WIDTH_M, WHEELBASE_M
from racer.errors import RewardError
from racer.rewards.params import DEEPRACER_KEYS, EXTRA_KEYS, ObjectInfo, ParamsBuilder, StepInputs
from racer.rewards.plugin import REWARD_STUCK_EXIT_STATUS, RewardPlugin, set_hard_stop

if TYPE_CHECKING:
    from racer.track import Track

__all__ = [
    "SITUATIONS",
    "CheckReport",
    "RecordingParams",
    "SituationResult",
    "car_wheels",
    "check_reward",
    "check_reward_isolated",
    "generate_runs",
]

SPEEDS_MPS = (0.5, 1.0, 2.0, 3.0, 4.0)  # DeepRacer's usual action-space speeds
STEERING_DEG = (-30.0, -15.0, -5.0, 0.0, 5.0, 15.0, 30.0)
NEAR_BORDER_MARGIN_M = 0.05  # keeps the outer wheels inside the border line on curves
OFF_TRACK_BEYOND_M = 0.5  # farthest off-track pose past the border: every wheel off the road
MAX_FAILURES_KEPT = 3  # distinct failure messages kept per situation
MAX_KEYS_SHOWN = 10  # unknown keys / changes listed in a note; the rest are counted
STALL_MARGIN_S = 30.0  # a call silent this long past its time limit is stuck in C code: kill it
_WATCH_POLL_S = 0.05  # how often the watcher looks at the checking process

#: Situation name -> what it places the car in.
SITUATIONS: dict[str, str] = {
    "on_line": "on the centre line, heading along the track",
    "near_border": "front at 0.45 x width from the centre (less where a wheel would cross)",
    "off_track": "front 0.6 x width to 0.5 m beyond the border: some or all wheels off",
    "reversed": "heading flipped, driving backwards (progress falls)",
    "zigzag": "on the line, steering alternating +-25 deg",
    "objects": "on the line with two boxes ahead and a bot behind",
}


class RecordingParams(dict):  # type: ignore[type-arg]
    """A ``params`` dict that remembers which keys the reward function read and what it changed.

    :meth:`copy` (which :class:`~racer.rewards.plugin.RewardPlugin` calls to give each call its
    own params) returns a RecordingParams that records into the same sets.

    Attributes:
        accessed: Keys read through ``params[key]``, ``params.get(key)`` or ``key in params``
            (all keys when it iterates over items or values).
        changes: How the function changed the dict, e.g. ``"params.pop('is_offtrack')"``.
    """

    __slots__ = ("accessed", "changes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accessed: set[str] = set()
        self.changes: set[str] = set()

    def copy(self) -> RecordingParams:
        """A shallow copy that records into the same ``accessed`` and ``changes`` sets."""
        other = RecordingParams(self)
        other.accessed = self.accessed
        other.changes = self.changes
        return other

    def __setitem__(self, key: Any, value: Any) -> None:
        self.changes.add(f"params[{_key(key)}] = ...")
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self.changes.add(f"del params[{_key(key)}]")
        super().__delitem__(key)

    def pop(self, key: Any, *default: Any) -> Any:
        self.changes.add(f"params.pop({_key(key)})")
        self.accessed.add(key)
        return super().pop(key, *default)

    def popitem(self) -> Any:
        self.changes.add("params.popitem()")
        return super().popitem()

    def clear(self) -> None:
        self.changes.add("params.clear()")
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.changes.add("params.update(...)")
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.accessed.add(key)
        if not super().__contains__(key):
            self.changes.add(f"params.setdefault({_key(key)}, ...)")
        return super().setdefault(key, default)

    def __ior__(self, other: Any) -> RecordingParams:  # type: ignore[misc]
        self.changes.add("params |= ...")
        super().update(other)
        return self

    def __getitem__(self, key: Any) -> Any:
        self.accessed.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.accessed.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed.add(key)  # type: ignore[arg-type]
        return super().__contains__(key)

    def items(self) -> Any:
        self.accessed.update(self.keys())
        return super().items()

    def values(self) -> Any:
        self.accessed.update(self.keys())
        return super().values()


def _key(key: Any) -> str:
    text = repr(key) if isinstance(key, (str, int)) else f"<{type(key).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(slots=True)
class SituationResult:
    """Rewards one situation produced.

    Attributes:
        name: Situation name (a key of :data:`SITUATIONS`).
        description: What the situation places the car in.
        values: Every valid reward returned.
        calls: How many times the function ran.
        failures: How many calls failed.
        messages: Up to :data:`MAX_FAILURES_KEPT` distinct failure messages.
    """

    name: str
    description: str
    values: list[float] = field(default_factory=list)
    calls: int = 0
    failures: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def min(self) -> float:
        """Smallest reward (NaN when none)."""
        return min(self.values) if self.values else math.nan

    @property
    def max(self) -> float:
        """Largest reward (NaN when none)."""
        return max(self.values) if self.values else math.nan

    @property
    def mean(self) -> float:
        """Mean reward (NaN when none)."""
        return sum(self.values) / len(self.values) if self.values else math.nan


@dataclass(slots=True)
class CheckReport:
    """What :func:`check_reward` found.

    Attributes:
        plugin: The checked reward.
        track_name: The track the poses were drawn on.
        situations: One result per situation, in :data:`SITUATIONS` order.
        keys_read: ``params`` keys the function read, sorted.
        unknown_keys: Keys it asked for that ``params`` does not have (typos?), sorted.
        notes: Warnings about the reward's shape (e.g. off-track pays as much as on-line).
        changes: How the function changed its ``params`` dict, sorted (harmless: each call
            gets its own copy; see :mod:`racer.rewards.plugin`).
        printed_bytes: What the function wrote to stdout in all calls together, characters.
        printed_first: The first line it printed (cut), "" when it printed nothing.
    """

    plugin: RewardPlugin
    track_name: str
    situations: list[SituationResult]
    keys_read: list[str]
    unknown_keys: list[str]
    notes: list[str]
    changes: list[str] = field(default_factory=list)
    printed_bytes: int = 0
    printed_first: str = ""

    @property
    def failures(self) -> int:
        """Total failed calls."""
        return sum(r.failures for r in self.situations)

    @property
    def ok(self) -> bool:
        """True when no call failed."""
        return self.failures == 0


def car_wheels(front_xy: np.ndarray, yaw_rad: float) -> np.ndarray:
    """Wheel contact points of the 1/18 car whose front point is ``front_xy``.

    Args:
        front_xy: (2,) DeepRacer's x, y (about over the front axle), metres.
        yaw_rad: Car heading, radians.

    Returns:
        (4, 2) front-left, front-right, rear-left, rear-right wheel points, metres.
    """
    fwd = np.array((math.cos(yaw_rad), math.sin(yaw_rad)))
    left = np.array((-fwd[1], fwd[0]))
    centre = np.asarray(front_xy, dtype=np.float64) - FRONT_OFFSET_M * fwd
    half_base = 0.5 * WHEELBASE_M * fwd
    half_track = 0.5 * TRACK_WIDTH_M * left
    return np.stack(
        (
            centre + half_base + half_track,
            centre + half_base - half_track,
            centre - half_base + half_track,
            centre - half_base - half_track,
        )
    )


def _place(track: Track, s: float, lateral_frac: float) -> tuple[np.ndarray, float, float]:
    """Point at arc length ``s`` and ``lateral_frac`` x width to the left; its track heading."""
    width = float(track.width_at(s))
    heading = float(track.heading_at(s))
    centre = np.asarray(track.point_at(s), dtype=np.float64).reshape(2)
    left = np.array((-math.sin(heading), math.cos(heading)))
    return centre + lateral_frac * width * left, heading, width


def generate_runs(
    track: Track,
    situation: str,
    *,
    runs: int = 8,
    steps: int = 12,
    seed: int = 0,
) -> Iterator[list[StepInputs]]:
    """Synthetic episodes for one situation, without the physics simulator.

    Each run starts at a different place along the track and lasts ``steps`` consecutive steps;
    the car moves along the centre line at its commanded speed for one control period per step.
    ``prev_progress`` is left at 0: :func:`check_reward` threads it from the built params.

    Args:
        track: The track.
        situation: A key of :data:`SITUATIONS`.
        runs: Runs (start points), spread evenly over the lap.
        steps: Steps per run.
        seed: Seed for the perturbations.

    Yields:
        One list of :class:`~racer.rewards.params.StepInputs` per run.

    Raises:
        ValueError: Unknown situation.
    """
    if situation not in SITUATIONS:
        raise ValueError(f"unknown situation {situation!r}; one of {', '.join(SITUATIONS)}")
    rng = np.random.default_rng([seed, list(SITUATIONS).index(situation)])
    length = float(track.length)
    closed = bool(track.closed)
    backwards = situation == "reversed"
    span = 0.7 * length if not closed else length
    for run in range(runs):
        speed = SPEEDS_MPS[run % len(SPEEDS_MPS)]
        start_s = (run + 0.5) / runs * span
        if not closed and backwards:
            start_s = length - start_s
        side = 1.0 if run % 2 == 0 else -1.0
        objects: tuple[ObjectInfo, ...] = ()
        if situation == "objects":
            objects = _objects_near(track, start_s, length, closed)
        inputs: list[StepInputs] = []
        for k in range(steps):
            travelled = speed * DT_S * k
            s = start_s - travelled if backwards else start_s + travelled
            s = s % length if closed else min(max(s, 0.0), length - 1e-6)
            if situation in ("on_line", "objects", "zigzag"):
                lateral = float(rng.normal(0.0, 0.02))
            elif situation == "near_border":
                lateral = side * _near_border_frac(float(track.width_at(s)))
            elif situation == "off_track":
                width = float(track.width_at(s))
                hi = max(0.6 * width, 0.5 * width + OFF_TRACK_BEYOND_M) / width
                lateral = side * float(rng.uniform(0.6, hi))
            else:  # reversed: anywhere on the road
                lateral = float(rng.uniform(-0.2, 0.2))
            front, track_heading, _ = _place(track, s, lateral)
            yaw = track_heading + math.radians(float(rng.normal(0.0, 5.0)))
            if backwards:
                yaw += math.pi
            if situation == "zigzag":
                steering = 25.0 if k % 2 == 0 else -25.0
            elif situation in ("on_line", "objects"):
                curvature = float(track.curvature_at(s))
                steering = math.degrees(math.atan(WHEELBASE_M * curvature))
                steering = float(np.clip(steering + rng.normal(0.0, 3.0), -30.0, 30.0))
            else:
                steering = float(STEERING_DEG[int(rng.integers(len(STEERING_DEG)))])
            inputs.append(
                StepInputs(
                    front_xy=(float(front[0]), float(front[1])),
                    heading_rad=yaw,
                    wheels_xy=car_wheels(front, yaw),
                    speed_cmd_mps=speed,
                    steering_cmd_deg=steering,
                    measured_speed_mps=speed * float(rng.uniform(0.85, 1.0)),
                    steps=k + 1,
                    start_s=start_s,
                    prev_progress=0.0,
                    sim_time_s=(k + 1) * DT_S,
                    is_reversed=backwards,
                    objects=objects,
                )
            )
        yield inputs


def _near_border_frac(width_m: float) -> float:
    """Lateral offset (fraction of the width) near the border with every wheel still inside."""
    inside_m = 0.5 * width_m - 0.5 * TRACK_WIDTH_M - NEAR_BORDER_MARGIN_M
    return max(min(0.45, inside_m / width_m), 0.0)


def _objects_near(
    track: Track, start_s: float, length: float, closed: bool
) -> tuple[ObjectInfo, ...]:
    """Two static boxes ahead of ``start_s`` (either side of the line) and a bot car behind."""
    placed = []
    for offset_m, lateral, speed in ((1.0, 0.25, 0.0), (3.0, -0.25, 0.0), (-1.5, 0.0, 1.0)):
        s = start_s + offset_m
        s = s % length if closed else min(max(s, 0.0), length - 1e-6)
        xy, heading, _ = _place(track, s, lateral)
        placed.append(
            ObjectInfo(
                x_m=float(xy[0]),
                y_m=float(xy[1]),
                heading_rad=heading,
                speed_mps=speed,
                is_bot=speed > 0.0,
            )
        )
    return tuple(placed)


def check_reward(
    plugin: RewardPlugin,
    track: Track,
    *,
    runs: int = 8,
    steps: int = 12,
    seed: int = 0,
    timeout_s: float | None = None,
    on_call: Callable[[int], None] | None = None,
) -> CheckReport:
    """Drive every situation's synthetic runs through ``plugin`` and summarise.

    A failing call is counted and the check goes on; a call that runs past the time limit
    stops the check (every later call would hang as well). What the function prints (stdout
    and stderr) is counted, not shown.

    Args:
        plugin: The reward to check.
        track: The track to draw poses on.
        runs: Runs per situation.
        steps: Consecutive steps per run.
        seed: Seed for the perturbations.
        timeout_s: Time limit of one call, seconds; None keeps the plugin's own
            (:data:`racer.rewards.plugin.DEFAULT_TIMEOUT_S` unless set).
        on_call: Called with the number of calls made so far before each call (progress for a
            watcher in another process, see :func:`check_reward_isolated`).

    Returns:
        The report: value range per situation, keys read, failures, notes.

    Raises:
        RewardError: A call ran past the time limit (``exc.timed_out`` is True); or
            ``timeout_s`` is not a valid limit.
    """
    fenced = plugin if timeout_s is None else plugin.with_timeout(timeout_s)
    builder = ParamsBuilder(track)
    results: list[SituationResult] = []
    accessed: set[str] = set()
    changes: set[str] = set()
    printed = _PrintSink()
    calls = 0
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        for name, description in SITUATIONS.items():
            result = SituationResult(name=name, description=description)
            for run in generate_runs(track, name, runs=runs, steps=steps, seed=seed):
                prev_progress = 0.0
                for inp in run:
                    inp.prev_progress = prev_progress
                    params = RecordingParams(builder.build(inp))
                    prev_progress = params["progress"]
                    params.accessed.clear()
                    if on_call is not None:
                        on_call(calls)
                    calls += 1
                    result.calls += 1
                    try:
                        value = fenced(params, step=inp.steps)
                    except RewardError as exc:
                        if exc.timed_out:
                            raise
                        result.failures += 1
                        message = str(exc)
                        if (
                            message not in result.messages
                            and len(result.messages) < MAX_FAILURES_KEPT
                        ):
                            result.messages.append(message)
                    else:
                        result.values.append(value)
                    accessed |= params.accessed
                    changes |= params.changes
            results.append(result)
    known = set(DEEPRACER_KEYS) | set(EXTRA_KEYS)
    keys_read = sorted(k for k in accessed if isinstance(k, str) and k in known)
    unknown = sorted(str(k) for k in accessed if not (isinstance(k, str) and k in known))
    report = CheckReport(
        plugin=plugin,
        track_name=str(getattr(track, "name", "?")),
        situations=results,
        keys_read=keys_read,
        unknown_keys=unknown,
        notes=[],
        changes=sorted(changes),
        printed_bytes=printed.chars,
        printed_first=printed.first_line,
    )
    report.notes = _notes(results, unknown, report)
    return report


def check_reward_isolated(
    plugin: RewardPlugin,
    track: Track,
    *,
    runs: int = 8,
    steps: int = 12,
    seed: int = 0,
    timeout_s: float | None = None,
) -> CheckReport:
    """:func:`check_reward` in a forked child process, so that no reward can take the caller down.

    A reward that calls ``os._exit()``, is killed (out of memory), or hangs inside C code where
    the time limit cannot reach it ends the child, not the caller: the watcher reports which
    call it was. Where ``fork`` is not available (Windows, macOS' default) the check runs in
    this process (and ``os._exit()`` in a reward ends it).

    Args:
        plugin: The reward to check.
        track: The track to draw poses on.
        runs: Runs per situation.
        steps: Consecutive steps per run.
        seed: Seed for the perturbations.
        timeout_s: Time limit of one call (None: the plugin's own).

    Returns:
        The report, as :func:`check_reward` returns it.

    Raises:
        RewardError: A call ran past the time limit, or the reward ended or stalled the child
            process; the message names the reward, the situation, the run and the step.
    """
    kwargs: dict[str, Any] = dict(runs=runs, steps=steps, seed=seed, timeout_s=timeout_s)
    if sys.platform != "linux" or "fork" not in mp.get_all_start_methods():
        return check_reward(plugin, track, **kwargs)
    limit = plugin.timeout_s if timeout_s is None else plugin.with_timeout(timeout_s).timeout_s
    ctx = mp.get_context("fork")
    counter = ctx.RawValue("q", 0)
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_check_child, args=(sender, counter, plugin, track, kwargs), daemon=True
    )
    child.start()
    sender.close()
    seen, seen_at = -1, time.monotonic()
    stall_s = (limit if limit is not None else 0.0) + STALL_MARGIN_S
    try:
        while True:
            if receiver.poll(_WATCH_POLL_S):
                try:
                    kind, payload = receiver.recv()
                except (EOFError, OSError):
                    break  # the child ended without a word
                if kind == "error":
                    raise RewardError(payload)
                payload.plugin = plugin  # sent without it: unpickling re-imports the file
                return payload  # type: ignore[no-any-return]
            if not child.is_alive() and not receiver.poll(0):
                break
            calls = int(counter.value)
            now = time.monotonic()
            if calls != seen:
                seen, seen_at = calls, now
            elif now - seen_at > stall_s:
                child.kill()
                raise RewardError(
                    f"reward '{plugin.name}' ({_where(plugin)}) did not return for "
                    f"{now - seen_at:.0f} s {_call_position(calls, runs, steps)}, past its time "
                    f"limit of {limit} s (stuck in C code, or it catches the timer's exception); "
                    "stopped it"
                )
    finally:
        if child.is_alive():
            child.kill()
        child.join(5.0)
        receiver.close()
    code = child.exitcode
    position = _call_position(int(counter.value), runs, steps)
    if code == REWARD_STUCK_EXIT_STATUS:
        raise RewardError(
            f"reward '{plugin.name}' ({_where(plugin)}) ran past its time limit of {limit} s "
            f"{position} and caught every stop (a bare except or `except BaseException` in a "
            "loop?); stopped it"
        )
    how = (
        f"was killed by signal {_signal_name(-code)}"
        if code is not None and code < 0
        else f"ended the process with exit status {code}"
    )
    raise RewardError(
        f"reward '{plugin.name}' ({_where(plugin)}) {how} "
        f"{_call_position(int(counter.value), runs, steps)} (os._exit()? out of memory?); "
        "a reward must return a number"
    )


def _check_child(
    sender: Any, counter: Any, plugin: RewardPlugin, track: Track, kwargs: Any
) -> None:
    """The forked checking process: run the check, send the report (or the one-line error)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the watcher's to handle
    set_hard_stop(REWARD_STUCK_EXIT_STATUS, announce=False)  # a reward that ignores its limit

    def on_call(calls: int) -> None:
        counter.value = calls

    try:
        report = check_reward(plugin, track, on_call=on_call, **kwargs)
        report.plugin = None  # type: ignore[assignment]
        sender.send(("report", report))
    except RewardError as exc:
        sender.send(("error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - whatever it was, the watcher says it in one line
        text = " ".join(str(exc).split())[:200]
        sender.send(
            ("error", f"checking reward '{plugin.name}' failed: {type(exc).__name__}: {text}")
        )
    finally:
        sender.close()


def _where(plugin: RewardPlugin) -> str:
    if plugin.file is None:
        return plugin.source
    return f"{plugin.file}:{plugin.line}" if plugin.line is not None else plugin.file


def _call_position(calls: int, runs: int, steps: int) -> str:
    """Where call number ``calls`` (0-based) falls: situation, run and step."""
    per_situation = runs * steps
    names = list(SITUATIONS)
    index = min(calls // per_situation, len(names) - 1) if per_situation else 0
    within = calls - index * per_situation
    return f"in situation '{names[index]}', run {within // steps + 1}, step {within % steps + 1}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class _PrintSink(io.TextIOBase):
    """Stands in for stdout/stderr during a check: counts characters, keeps the first line."""

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0
        self.first_line = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        n = len(text)
        if not self.first_line and text.strip():
            line = text.strip().splitlines()[0]
            self.first_line = line if len(line) <= 80 else line[:77] + "..."
        self.chars += n
        return n


def _notes(
    results: list[SituationResult], unknown: list[str], report: CheckReport | None = None
) -> list[str]:
    """Plain-language warnings about the reward's shape and habits."""
    by_name = {r.name: r for r in results}
    notes = []
    values = [v for r in results for v in r.values]
    if values and max(values) == min(values):
        notes.append(f"the reward is constant ({values[0]:g}): it gives the agent nothing to learn")
    on_line = by_name["on_line"].mean
    for other, what in (
        ("off_track", "off-track poses pay"),
        ("reversed", "driving backwards pays"),
    ):
        mean = by_name[other].mean
        varied = len(values) > 1 and max(values) != min(values)
        if varied and not (math.isnan(on_line) or math.isnan(mean)) and mean >= on_line:
            notes.append(f"{what} as much as on-line driving (mean {mean:.3g} vs {on_line:.3g})")
    if unknown:
        shown = ", ".join(_cut(k, 40) for k in unknown[:MAX_KEYS_SHOWN])
        more = f" and {len(unknown) - MAX_KEYS_SHOWN} more" if len(unknown) > MAX_KEYS_SHOWN else ""
        notes.append(f"the function asks for keys that params does not have: {shown}{more} (typo?)")
    if report is not None and report.changes:
        shown = ", ".join(report.changes[:MAX_KEYS_SHOWN])
        notes.append(
            f"the function changes its params ({shown}): harmless here, each call gets its own "
            "copy, but nothing it writes reaches the next step or the simulator"
        )
    if report is not None and report.printed_bytes:
        calls = sum(r.calls for r in results)
        notes.append(
            f"the function printed {report.printed_bytes:,} characters in {calls} calls "
            f"(first: {report.printed_first!r}); during training that goes to the terminal "
            "every step and slows it down"
        )
    return notes


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
