"""Reward ``params`` assembly: the DeepRacer dictionary, built cheaply once per step.

:class:`ParamsBuilder` holds every per-track constant (the waypoints list, the track length, the
width profile) and turns the env's per-step :class:`StepInputs` into the ``params`` dict that a
DeepRacer reward function reads. See DESIGN.md ("Reward parameters") for the keys.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from racer.errors import RacerError
from racer.track.racing_line import CarLimits, RacingLine, centerline_line, racing_line

if TYPE_CHECKING:
    from racer.track import Projection, Track

__all__ = [
    "BEHIND_START_JUMP_PCT",
    "DEEPRACER_KEYS",
    "DEFAULT_CAMERA_HFOV_RAD",
    "EXTRA_KEYS",
    "OBJECT_IN_CAMERA_RANGE_M",
    "ObjectColumns",
    "ObjectInfo",
    "ParamsBatch",
    "ParamsBuilder",
    "ReadOnlyList",
    "StepInputs",
    "heading_deg",
    "heading_deg_many",
]

BEHIND_START_JUMP_PCT = 50.0  # a rise above this in one step is a wrap backwards past the start
DEFAULT_CAMERA_HFOV_RAD = math.radians(120.0)  # DeepRacer's wide-angle lens; env passes its own
OBJECT_IN_CAMERA_RANGE_M = 3.0  # how far ahead an object counts as "in camera" (DeepRacer-like)

#: The keys DeepRacer's reward ``params`` holds; every one is always present.
DEEPRACER_KEYS: tuple[str, ...] = (
    "all_wheels_on_track",
    "x",
    "y",
    "heading",
    "distance_from_center",
    "is_left_of_center",
    "progress",
    "steps",
    "speed",
    "steering_angle",
    "track_width",
    "track_length",
    "waypoints",
    "closest_waypoints",
    "is_offtrack",
    "is_crashed",
    "is_reversed",
    "projection_distance",
    "closest_objects",
    "objects_location",
    "objects_left_of_center",
    "objects_speed",
    "objects_heading",
    "objects_distance",
    "objects_distance_from_center",
    "object_in_camera",
    "sim_time",
)

#: racer's extra keys (DeepRacer has none of these).
EXTRA_KEYS: tuple[str, ...] = (
    "measured_speed",  # m/s, the car's measured speed (DeepRacer's `speed` is the command)
    "lateral_offset",  # m, signed distance from the centre line, + = left of centre
    "track_heading",  # degrees in (-180, 180], centre-line direction at the car's projection
    "heading_error",  # degrees in (-180, 180], heading - track_heading
    "racing_line_point",  # [x, y] m, the racing line's point at the car's position on the track
    "racing_line_distance",  # m, from the car (x, y) to racing_line_point
    "racing_line_offset",  # m, signed: + = the car is left of the racing line
    "racing_line_speed",  # m/s, the line's profile speed there (the car's limits)
    "racing_line_heading",  # degrees in (-180, 180], the line's direction there
    "racing_line_lap_time",  # s, the bound: the lap time of the racing line at the car's limits
)


_READ_ONLY_HINT = (
    "params['waypoints'] is shared by every step and is read-only; "
    "work on a copy: waypoints = list(params['waypoints'])"
)


class ReadOnlyList(list):  # type: ignore[type-arg]
    """A list that refuses to change: the shared ``params["waypoints"]``.

    It is a real ``list`` (``isinstance``, indexing, ``len``, iteration, slicing, ``+``,
    ``.copy()``, ``.index()``, ``numpy.asarray`` all work at list speed: the C methods are
    inherited), but ``append``, ``pop``, ``reverse``, ``sort``, item assignment and the other
    in-place changes raise ``TypeError`` with a hint to copy it first. A reward that goes out of
    its way (``list.pop(params["waypoints"])``) still changes it; racer itself never reads it
    back (it keeps its own arrays), so that only breaks the reward's own later calls.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(_READ_ONLY_HINT)

    append = extend = insert = pop = remove = reverse = sort = clear = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:  # pickle/copy without list's append protocol
        return (ReadOnlyList, (list(self),))


class ObjectColumns(NamedTuple):
    """Many cars' objects for :meth:`ParamsBuilder.build_many`: arrays shaped (cars, objects).

    Attributes:
        x: Position x, metres.
        y: Position y, metres.
        yaw: Heading, radians, counter-clockwise from +x.
        speed: Speed, m/s (0 for a static box).
    """

    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    speed: np.ndarray


class ObjectInfo(NamedTuple):
    """An object or bot car on the track, as the env knows it at one step.

    Attributes:
        x_m: Position x, metres.
        y_m: Position y, metres.
        heading_rad: Yaw, radians, counter-clockwise from +x.
        speed_mps: Speed, m/s (0 for a static box).
        is_bot: True for a bot car, False for a static obstacle.
    """

    x_m: float
    y_m: float
    heading_rad: float = 0.0
    speed_mps: float = 0.0
    is_bot: bool = False


@dataclass(slots=True)
class StepInputs:
    """Everything the env knows at one step that the reward ``params`` need.

    Attributes:
        front_xy: DeepRacer's ``x``, ``y``: a point near the front of the car, metres.
        heading_rad: Car yaw, radians, counter-clockwise from +x.
        wheels_xy: (4, 2) wheel contact points, metres.
        speed_cmd_mps: Commanded speed (DeepRacer's ``speed``), m/s.
        steering_cmd_deg: Commanded steering, degrees, positive = left.
        measured_speed_mps: Measured speed of the car, m/s.
        steps: Step count in this episode; the first step is 1.
        start_s: Arc length where this episode started (the progress reference), metres.
        prev_progress: Progress at the previous step (0 on the first step), percent.
        sim_time_s: Simulated seconds since the episode started.
        is_crashed: The car hit an object or another car.
        is_reversed: The episode runs the track in the reversed direction.
        objects: Objects and bot cars on the track.
        camera_hfov_rad: Horizontal field of view of the front camera, for ``object_in_camera``;
            None uses :data:`DEFAULT_CAMERA_HFOV_RAD`.
        progress: Progress the env tracks itself (e.g. from unwrapped distance travelled),
            percent; when given, ``params["progress"]`` is this value as is, and ``start_s`` /
            ``prev_progress`` are not used. None: computed from geometry (class docstring of
            :class:`ParamsBuilder`).
        projection: ``track.project(front_xy)`` for this step when the env already has it
            (saves the builder a second projection); None: the builder projects.
    """

    front_xy: tuple[float, float]
    heading_rad: float
    wheels_xy: np.ndarray
    speed_cmd_mps: float
    steering_cmd_deg: float
    measured_speed_mps: float
    steps: int
    start_s: float
    prev_progress: float
    sim_time_s: float
    is_crashed: bool = False
    is_reversed: bool = False
    objects: Sequence[ObjectInfo] = field(default_factory=tuple)
    camera_hfov_rad: float | None = None
    progress: float | None = None
    projection: Projection | None = None


def heading_deg(angle_rad: float) -> float:
    """Convert an angle in radians to degrees in (-180, 180], DeepRacer's ``heading`` range.

    Args:
        angle_rad: Any angle, radians.

    Returns:
        The same direction in degrees, in (-180, 180].
    """
    deg = math.degrees(angle_rad) % 360.0
    return deg - 360.0 if deg > 180.0 else deg


def heading_deg_many(angle_rad: np.ndarray) -> np.ndarray:
    """:func:`heading_deg` of many angles (the same arithmetic, elementwise)."""
    deg = np.degrees(np.asarray(angle_rad, dtype=np.float64)) % 360.0
    return np.where(deg > 180.0, deg - 360.0, deg)


class ParamsBatch:
    """The reward ``params`` of many cars at one step, held as columns (one array per key).

    Built in bulk by :meth:`ParamsBuilder.build_many`: a batched reward (racer's built-ins) reads
    the columns (``batch["progress"]`` is an array over the cars) and never builds a dict; a
    user's reward gets car ``i``'s dict from :meth:`row`, made on demand and equal to what
    :meth:`ParamsBuilder.build` gives for that car. Indexing (``batch[i]``) and iteration give
    the rows, so the batch stands where a list of params dicts would.

    Attributes:
        columns: key -> array over the cars: every per-car key of :meth:`ParamsBuilder.build`
            (``closest_waypoints`` and ``racing_line_point`` as (n, 2)).
    """

    __slots__ = ("_lists", "_shared", "columns", "n")

    def __init__(self, columns: dict[str, np.ndarray], shared: dict[str, Any], n: int) -> None:
        self.columns = columns
        self._shared = shared
        self._lists: dict[str, list[Any]] | None = None
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: Any) -> Any:
        """``batch["key"]``: the column over the cars (a shared value: itself); ``batch[i]``: a row."""
        if isinstance(key, str):
            col = self.columns.get(key)
            return col if col is not None else self._shared[key]
        return self.row(key)

    @property
    def shared(self) -> dict[str, Any]:
        """The values every car shares (track length, waypoints, the bound)."""
        return self._shared

    def __iter__(self) -> Any:
        return (self.row(i) for i in range(self.n))

    def row(self, i: int) -> dict[str, Any]:
        """Car ``i``'s params dict: every key of :meth:`ParamsBuilder.build`, its types too."""
        lists = self._lists
        if lists is None:  # the columns as Python values, once per step for all the rows
            lists = self._lists = {k: v.tolist() for k, v in self.columns.items()}
        params: dict[str, Any] = {k: col[i] for k, col in lists.items()}
        params.update(self._shared)
        params["closest_waypoints"] = list(params["closest_waypoints"])
        params["racing_line_point"] = list(params["racing_line_point"])
        if "closest_objects" in lists:  # the cars have objects: their lists, DeepRacer's types
            params["objects_location"] = [tuple(p) for p in params["objects_location"]]
        else:
            params["closest_objects"] = [0, 0]
            for key in _EMPTY_OBJECT_LISTS:
                params[key] = []
        return params


def _pairs(a: np.ndarray, b: np.ndarray, dtype: Any) -> np.ndarray:
    out = np.empty((len(a), 2), dtype=dtype)
    out[:, 0] = a
    out[:, 1] = b
    return out


_EMPTY_OBJECT_LISTS = (
    "objects_location",
    "objects_left_of_center",
    "objects_speed",
    "objects_heading",
    "objects_distance",
    "objects_distance_from_center",
)


class ParamsBuilder:
    """Builds DeepRacer reward ``params`` for one track (and one driving direction).

    The per-track constants (waypoints list, length, width profile) are computed once here and
    shared by every ``params`` dict; ``params["waypoints"]`` is a :class:`ReadOnlyList`, so a
    reward that tries to change it gets a ``TypeError`` instead of corrupting the next steps
    (DeepRacer shares the list too, without protection). The env builds one builder per driving direction (``track`` and
    ``track.reversed()``).

    Progress: ``progress`` is the percentage of the lap driven from ``start_s`` in the driving
    direction, ``(s - start_s) mod length / length * 100`` on a closed track (clipped to 0-100
    on an open one, as :meth:`Track.s_to_progress`). Behind the start the raw value wraps to
    ~99.9 % (right after the start the front point can sit slightly behind ``start_s``, and a
    car driving backwards from the start goes there too). No car covers half a lap in one step,
    so a raw value more than :data:`BEHIND_START_JUMP_PCT` above ``prev_progress`` means "behind
    the start" and progress is reported as 0.0 (this includes the simple rule "raw > 99 while
    prev_progress < 50"). A fall (prev 99.9 -> raw 0.1) is left alone: lap completion is the
    env's business.

    Racing line: the ``racing_line_*`` keys describe the optimal line
    (:func:`racer.track.racing_line`, for this track and ``limits``) at the car's position along
    the track: the line's point at the front point's centre-line arc length, which is the line's
    nearest point to within millimetres (the line runs nearly parallel to the centre line). The
    line is computed on the first :meth:`build` (cached per track in the process).

    Args:
        track: The track, in the driving direction of the episodes this builder serves.
        limits: The car's limits for the racing line's speed profile (default: racer's car).
    """

    __slots__ = (
        "_clearance",
        "_closed",
        "_length",
        "_limits",
        "_line",
        "_line_table",
        "_n",
        "_np",
        "_s_list",
        "_seg_len",
        "_track",
        "_waypoints",
        "_widths_list",
    )

    def __init__(self, track: Track, limits: CarLimits | None = None) -> None:
        self._track = track
        self._limits = limits
        self._line: RacingLine | None = None
        self._line_table: _LineByCenter | None = None
        self._waypoints: list[tuple[float, float]] = ReadOnlyList(track.waypoints_list())
        self._length = float(track.length)
        self._closed = bool(track.closed)
        s = np.asarray(track.s, dtype=np.float64)
        widths = np.asarray(track.widths, dtype=np.float64)
        self._n = int(s.shape[0])
        self._s_list: list[float] = s.tolist()
        self._widths_list: list[float] = widths.tolist()
        ends = np.append(s[1:], self._length) if self._closed else s[1:]
        self._seg_len: list[float] = (ends - s[: len(ends)]).tolist()
        self._clearance: list[float] = _segment_clearance(track).tolist()
        self._np: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def track(self) -> Track:
        """The track this builder serves."""
        return self._track

    @property
    def racing_line(self) -> RacingLine:
        """The optimal racing line of this track for the builder's car limits (computed once).

        A road too narrow for the car plus the line's margin has no racing line: the centre line
        (with its speed profile) stands in, with a warning, so the env still runs there.
        """
        if self._line is None:
            try:
                self._line = racing_line(self._track, self._limits)
            except RacerError as exc:
                warnings.warn(
                    f"no racing line for track {self._track.name!r} ({exc}); "
                    "the racing_line_* params follow the centre line",
                    stacklevel=2,
                )
                self._line = centerline_line(self._track, self._limits)
        return self._line

    def line_at(self, s: float) -> tuple[float, float, float, float, float]:
        """The racing line at centre-line arc length ``s``.

        Returns:
            (x_m, y_m, lateral_m, speed_mps, heading_rad) of the line's point there; lateral is the
            line's signed offset from the centre line (+ = left).
        """
        return self._line_by_center().at(s)

    def line_at_many(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The racing line at several centre-line arc lengths (``s`` within one lap ahead).

        Returns:
            Arrays (x_m, y_m, lateral_m, speed_mps) shaped like ``s``.
        """
        return self._line_by_center().many(s)

    def _line_by_center(self) -> _LineByCenter:
        table = self._line_table
        if table is None:
            table = self._line_table = _LineByCenter(self.racing_line, self._track)
        return table

    @property
    def waypoints(self) -> list[tuple[float, float]]:
        """The shared waypoints list (centre line, driving order)."""
        return self._waypoints

    def width_at_segment(self, segment: int, s: float) -> float:
        """Road width at arc length ``s`` on ``segment``, interpolated between its waypoints.

        Args:
            segment: Index i of the segment i -> i+1 (wrapping on a closed track).
            s: Arc length from waypoint 0, metres.

        Returns:
            Road width, metres.
        """
        widths = self._widths_list
        i = segment
        j = i + 1
        if j >= self._n:
            if not self._closed:
                return widths[i]
            j = 0
        seg_len = self._seg_len[i] if i < len(self._seg_len) else 0.0
        if seg_len <= 0.0:
            return widths[i]
        t = (s - self._s_list[i]) / seg_len
        t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)
        return widths[i] + t * (widths[j] - widths[i])

    def progress_pct(self, s: float, start_s: float, prev_progress: float) -> float:
        """Percent of the lap driven from ``start_s`` to ``s`` (see the class docstring).

        Args:
            s: Arc length of the car's front point, metres.
            start_s: Arc length where the episode started, metres.
            prev_progress: Progress at the previous step, percent.

        Returns:
            Progress, percent in [0, 100].
        """
        length = self._length
        if self._closed:
            raw = ((s - start_s) % length) / length * 100.0
            if raw - prev_progress > BEHIND_START_JUMP_PCT:
                return 0.0
            return raw
        remaining = length - start_s
        if remaining <= 0.0:
            return 100.0
        raw = (s - start_s) / remaining * 100.0
        return 0.0 if raw < 0.0 else (100.0 if raw > 100.0 else raw)

    def build(self, inp: StepInputs) -> dict[str, Any]:
        """Assemble the ``params`` dict for one step.

        Args:
            inp: What the env knows at this step.

        Returns:
            A new dict with every DeepRacer key (:data:`DEEPRACER_KEYS`) and racer's extras
            (:data:`EXTRA_KEYS`), with DeepRacer's types (bools are bool, indices int, lists
            are lists).
        """
        track = self._track
        fx = float(inp.front_xy[0])
        fy = float(inp.front_xy[1])
        proj = inp.projection if inp.projection is not None else track.project(np.array((fx, fy)))
        s = float(proj.s)
        lateral = float(proj.lateral)
        seg = int(proj.segment)
        nxt = seg + 1
        if nxt >= self._n:
            nxt = 0 if self._closed else seg
        all_on, none_on = self._wheels_on_track(inp.wheels_xy, fx, fy, abs(lateral), seg)
        heading = heading_deg(inp.heading_rad)
        track_heading = heading_deg(float(proj.heading_rad))
        heading_error = heading - track_heading
        if heading_error > 180.0:
            heading_error -= 360.0
        elif heading_error <= -180.0:
            heading_error += 360.0
        params: dict[str, Any] = {
            "all_wheels_on_track": all_on,
            "x": fx,
            "y": fy,
            "heading": heading,
            "distance_from_center": abs(lateral),
            "is_left_of_center": lateral > 0.0,
            "progress": (
                self.progress_pct(s, inp.start_s, inp.prev_progress)
                if inp.progress is None
                else float(inp.progress)
            ),
            "steps": int(inp.steps),
            "speed": float(inp.speed_cmd_mps),
            "steering_angle": float(inp.steering_cmd_deg),
            "track_width": self.width_at_segment(seg, s),
            "track_length": self._length,
            "waypoints": self._waypoints,
            "closest_waypoints": [seg, nxt],
            "is_offtrack": none_on,
            "is_crashed": bool(inp.is_crashed),
            "is_reversed": bool(inp.is_reversed),
            "projection_distance": s,
            "sim_time": float(inp.sim_time_s),
            "measured_speed": float(inp.measured_speed_mps),
            "lateral_offset": lateral,
            "track_heading": track_heading,
            "heading_error": heading_error,
        }
        lx, ly, line_lateral, line_speed, line_heading = self.line_at(s)
        params["racing_line_point"] = [lx, ly]
        params["racing_line_distance"] = math.hypot(fx - lx, fy - ly)
        params["racing_line_offset"] = lateral - line_lateral
        params["racing_line_speed"] = line_speed
        params["racing_line_heading"] = heading_deg(line_heading)
        params["racing_line_lap_time"] = self.racing_line.lap_time_s
        if inp.objects:
            self._add_objects(params, inp, s)
        else:
            params["closest_objects"] = [0, 0]
            params["objects_location"] = []
            params["objects_left_of_center"] = []
            params["objects_speed"] = []
            params["objects_heading"] = []
            params["objects_distance"] = []
            params["objects_distance_from_center"] = []
            params["object_in_camera"] = False
        return params

    def build_many(
        self,
        front_xy: np.ndarray,
        heading_rad: np.ndarray,
        wheels_xy: np.ndarray,
        speed_cmd_mps: np.ndarray,
        steering_cmd_deg: np.ndarray,
        measured_speed_mps: np.ndarray,
        steps: np.ndarray,
        sim_time_s: np.ndarray,
        progress: np.ndarray,
        projection: Projection,
        is_reversed: bool,
        objects: ObjectColumns | None = None,
        is_crashed: np.ndarray | None = None,
        camera_hfov_rad: float | None = None,
    ) -> ParamsBatch:
        """The ``params`` of many cars at once (see :meth:`build`).

        Args:
            front_xy: (n, 2) front points, m.
            heading_rad: (n,) yaws, rad.
            wheels_xy: (n, 4, 2) wheel contact points, m.
            speed_cmd_mps: (n,) commanded speeds, m/s.
            steering_cmd_deg: (n,) commanded steering, degrees.
            measured_speed_mps: (n,) measured speeds, m/s.
            steps: (n,) step counts.
            sim_time_s: (n,) simulated seconds.
            progress: (n,) progress the env tracks, percent.
            projection: ``track.project(front_xy)`` (fields shaped (n,)).
            is_reversed: the episodes run the track reversed (this builder's direction).
            objects: each car's objects (the same number per car), or None: no objects.
            is_crashed: (n,) whether each car touched an object this step (None: none did).
            camera_hfov_rad: the camera's field of view, for ``object_in_camera``.

        Returns:
            A :class:`ParamsBatch`; its rows equal :meth:`build`'s dicts for the same inputs
            (to float rounding: the arithmetic is the same, elementwise).
        """
        n = int(front_xy.shape[0])
        fx = front_xy[:, 0].astype(np.float64)
        fy = front_xy[:, 1].astype(np.float64)
        s = np.asarray(projection.s, dtype=np.float64).reshape(n)
        lateral = np.asarray(projection.lateral, dtype=np.float64).reshape(n)
        seg = np.asarray(projection.segment, dtype=np.intp).reshape(n)
        nxt = seg + 1
        if self._closed:
            nxt[nxt >= self._n] = 0
        else:
            nxt = np.minimum(nxt, self._n - 1)
            nxt = np.where(seg + 1 >= self._n, seg, nxt)
        distance = np.abs(lateral)
        all_on, none_on = self._wheels_on_track_many(wheels_xy, fx, fy, distance, seg)
        heading = heading_deg_many(heading_rad)
        track_heading = heading_deg_many(np.asarray(projection.heading_rad).reshape(n))
        err = heading - track_heading
        err = np.where(err > 180.0, err - 360.0, np.where(err <= -180.0, err + 360.0, err))
        table = self._line_by_center()
        lx, ly, line_lat, line_v = table.many(s)
        line_heading = table.heading_many(s)
        cols: dict[str, np.ndarray] = {
            "all_wheels_on_track": all_on,
            "x": fx,
            "y": fy,
            "heading": heading,
            "distance_from_center": distance,
            "is_left_of_center": lateral > 0.0,
            "progress": np.asarray(progress, dtype=np.float64),
            "steps": np.asarray(steps, dtype=np.int64),
            "speed": np.asarray(speed_cmd_mps, dtype=np.float64),
            "steering_angle": np.asarray(steering_cmd_deg, dtype=np.float64),
            "track_width": self._width_many(seg, s),
            "is_offtrack": none_on,
            "is_crashed": (
                np.zeros(n, dtype=bool) if is_crashed is None else np.asarray(is_crashed, bool)
            ),
            "is_reversed": np.full(n, bool(is_reversed)),
            "projection_distance": s,
            "sim_time": np.asarray(sim_time_s, dtype=np.float64),
            "measured_speed": np.asarray(measured_speed_mps, dtype=np.float64),
            "lateral_offset": lateral,
            "track_heading": track_heading,
            "heading_error": err,
            "racing_line_distance": np.hypot(fx - lx, fy - ly),
            "racing_line_offset": lateral - line_lat,
            "racing_line_speed": line_v,
            "racing_line_heading": heading_deg_many(line_heading),
            "closest_waypoints": _pairs(seg, nxt, np.int64),
            "racing_line_point": _pairs(lx, ly, np.float64),
        }
        shared = {
            "track_length": self._length,
            "waypoints": self._waypoints,
            "racing_line_lap_time": self.racing_line.lap_time_s,
            "object_in_camera": False,
        }
        if objects is not None and objects.x.shape[1] > 0:
            del shared["object_in_camera"]
            self._add_objects_many(cols, objects, fx, fy, heading_rad, s, camera_hfov_rad)
        return ParamsBatch(cols, shared, n)

    def _add_objects_many(
        self,
        cols: dict[str, np.ndarray],
        objects: ObjectColumns,
        fx: np.ndarray,
        fy: np.ndarray,
        heading_rad: np.ndarray,
        car_s: np.ndarray,
        camera_hfov_rad: float | None,
    ) -> None:
        """:meth:`_add_objects` for many cars: the same definitions, as (n, objects) columns."""
        n, k = objects.x.shape
        xy = np.stack((objects.x, objects.y), axis=-1).reshape(-1, 2)
        proj = self._track.project(xy)
        obj_s = np.asarray(proj.s, dtype=np.float64).reshape(n, k)
        obj_lat = np.asarray(proj.lateral, dtype=np.float64).reshape(n, k)
        length = self._length
        cs = car_s[:, None]
        if self._closed:
            ahead = (obj_s - cs) % length
            behind = (cs - obj_s) % length
        else:
            ahead = np.where(obj_s >= cs, obj_s - cs, np.inf)
            behind = np.where(obj_s < cs, cs - obj_s, np.inf)
        rows = np.arange(n)
        i_ahead = ahead.argmin(axis=1)
        i_behind = behind.argmin(axis=1)
        no_ahead = np.isinf(ahead[rows, i_ahead])
        no_behind = np.isinf(behind[rows, i_behind])
        i_ahead, i_behind = (
            np.where(no_ahead, i_behind, i_ahead),
            np.where(no_behind, i_ahead, i_behind),
        )
        cols["closest_objects"] = _pairs(i_behind, i_ahead, np.int64)
        cols["objects_location"] = xy.reshape(n, k, 2).copy()
        cols["objects_left_of_center"] = obj_lat > 0.0
        cols["objects_speed"] = np.asarray(objects.speed, dtype=np.float64).copy()
        cols["objects_heading"] = heading_deg_many(objects.yaw)
        cols["objects_distance"] = obj_s
        cols["objects_distance_from_center"] = np.abs(obj_lat)
        hfov = camera_hfov_rad if camera_hfov_rad is not None else DEFAULT_CAMERA_HFOV_RAD
        dx = objects.x - fx[:, None]
        dy = objects.y - fy[:, None]
        dist = np.hypot(dx, dy)
        bearing = np.arctan2(dy, dx) - np.asarray(heading_rad, dtype=np.float64)[:, None]
        bearing = (bearing + np.pi) % (2.0 * np.pi) - np.pi
        seen = (dist <= OBJECT_IN_CAMERA_RANGE_M) & (dist != 0.0) & (np.abs(bearing) <= 0.5 * hfov)
        cols["object_in_camera"] = seen.any(axis=1)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The per-waypoint lists as arrays (widths, segment lengths + 0, s, clearance), once."""
        arrays = self._np
        if arrays is None:
            arrays = self._np = (
                np.asarray(self._widths_list),
                np.append(np.asarray(self._seg_len), 0.0),
                np.asarray(self._s_list),
                np.asarray(self._clearance),
            )
        return arrays

    def _width_many(self, seg: np.ndarray, s: np.ndarray) -> np.ndarray:
        """:meth:`width_at_segment` for many cars."""
        widths, seg_len_all, s_all, _ = self._arrays()
        j = seg + 1
        wrap = j >= self._n
        j = np.where(wrap, 0, j)
        seg_len = seg_len_all[np.minimum(seg, len(self._seg_len))]
        s0 = s_all[seg]
        t = np.clip((s - s0) / np.where(seg_len > 0.0, seg_len, 1.0), 0.0, 1.0)
        wi = widths[seg]
        out = wi + t * (widths[j] - wi)
        flat = (seg_len <= 0.0) | (wrap & (not self._closed))
        return np.where(flat, wi, out)

    def _wheels_on_track_many(
        self,
        wheels_xy: np.ndarray,
        fx: np.ndarray,
        fy: np.ndarray,
        distance: np.ndarray,
        seg: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_wheels_on_track` for many cars: the same fast path, one polygon test for the rest."""
        # Each wheel within its car's segment's clearance is on the road (a sharper test than
        # the single-car path's front point + reach, and as certain); the rest get the polygon.
        t = self._track
        ax, ay = t._ax[seg][:, None], t._ay[seg][:, None]
        ux, uy = t._ux[seg][:, None], t._uy[seg][:, None]
        dx = wheels_xy[:, :, 0] - ax
        dy = wheels_xy[:, :, 1] - ay
        along = np.minimum(np.maximum(dx * ux + dy * uy, 0.0), t.segment_lengths[seg][:, None])
        ex = dx - along * ux
        ey = dy - along * uy
        near2 = (ex * ex + ey * ey).max(axis=1)
        clearance = self._arrays()[3][seg]
        all_on = near2 < clearance * clearance
        none_on = np.zeros(len(fx), dtype=bool)
        slow = np.nonzero(~all_on)[0]
        if slow.size:
            on = np.asarray(self._track.on_track(wheels_xy[slow])).reshape(slow.size, -1)
            all_on[slow] = on.all(axis=1)
            none_on[slow] = ~on.any(axis=1)
        return all_on, none_on

    def _wheels_on_track(
        self, wheels_xy: np.ndarray, fx: float, fy: float, distance: float, seg: int
    ) -> tuple[bool, bool]:
        """``(all wheels on the road, no wheel on the road)``, exactly as ``track.on_track``.

        Fast path: when every wheel lies closer to the front point than the front point lies to
        the nearest border (``clearance - distance``), all wheels are on the road without a
        polygon test.
        """
        wheels = wheels_xy.tolist() if isinstance(wheels_xy, np.ndarray) else list(wheels_xy)
        reach2 = 0.0
        for wx, wy in wheels:
            d2 = (wx - fx) * (wx - fx) + (wy - fy) * (wy - fy)
            if d2 > reach2:
                reach2 = d2
        if distance + math.sqrt(reach2) < self._clearance[seg]:
            return True, False
        on = np.asarray(self._track.on_track(wheels_xy)).tolist()
        if isinstance(on, bool):
            return on, not on
        return all(on), not any(on)

    def _add_objects(self, params: dict[str, Any], inp: StepInputs, car_s: float) -> None:
        """Fill the ``objects_*`` keys (DeepRacer's meaning) for a non-empty object list."""
        objects = inp.objects
        xy = np.array([(o.x_m, o.y_m) for o in objects], dtype=np.float64)
        proj = self._track.project(xy)
        obj_s: list[float] = np.asarray(proj.s, dtype=np.float64).tolist()
        obj_lat: list[float] = np.asarray(proj.lateral, dtype=np.float64).tolist()
        length = self._length
        # Distance along the track from the car to each object, in the driving direction.
        if self._closed:
            ahead = [(o_s - car_s) % length for o_s in obj_s]
        else:
            ahead = [o_s - car_s if o_s >= car_s else math.inf for o_s in obj_s]
        behind = [
            (car_s - o_s) % length if self._closed else (car_s - o_s if o_s < car_s else math.inf)
            for o_s in obj_s
        ]
        i_ahead = min(range(len(objects)), key=ahead.__getitem__)
        i_behind = min(range(len(objects)), key=behind.__getitem__)
        if math.isinf(ahead[i_ahead]):
            i_ahead = i_behind
        if math.isinf(behind[i_behind]):
            i_behind = i_ahead
        params["closest_objects"] = [int(i_behind), int(i_ahead)]
        params["objects_location"] = [(float(o.x_m), float(o.y_m)) for o in objects]
        params["objects_left_of_center"] = [lat > 0.0 for lat in obj_lat]
        params["objects_speed"] = [float(o.speed_mps) for o in objects]
        params["objects_heading"] = [heading_deg(o.heading_rad) for o in objects]
        params["objects_distance"] = obj_s
        params["objects_distance_from_center"] = [abs(lat) for lat in obj_lat]
        params["object_in_camera"] = _any_in_camera(inp, objects)


class _LineByCenter:
    """Racing-line x, y, lateral offset, speed and heading against centre-line arc length.

    The line's points are sorted by their centre-line arc length; a closed track's table is
    extended by one lap's worth on each side so that ``np.interp`` runs across the seam.
    """

    __slots__ = ("c", "closed", "length", "rows", "s", "s_arr", "sn", "x", "y", "lat", "v")

    def __init__(self, line: RacingLine, track: Track) -> None:
        cs = np.asarray(line.center_s_m, dtype=np.float64)
        cols = np.column_stack(
            (
                line.xy,
                line.lateral_m,
                line.speed_mps,
                np.cos(line.heading_rad),
                np.sin(line.heading_rad),
            )
        )
        self.closed = bool(track.closed)
        self.length = float(track.length)
        order = np.argsort(cs, kind="stable")
        cs, cols = cs[order], cols[order]
        if self.closed:
            cs = np.concatenate((cs - self.length, cs, cs + self.length))
            cols = np.vstack((cols, cols, cols))
        self.s: list[float] = cs.tolist()
        self.rows: list[list[float]] = cols.tolist()
        self.s_arr = cs
        self.x, self.y, self.lat, self.v, self.c, self.sn = (cols[:, k].copy() for k in range(6))

    def many(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x, y, lateral offset and speed of the line at several centre-line arc lengths."""
        sa = self.s_arr
        return (
            np.interp(s, sa, self.x),
            np.interp(s, sa, self.y),
            np.interp(s, sa, self.lat),
            np.interp(s, sa, self.v),
        )

    def heading_many(self, s: np.ndarray) -> np.ndarray:
        """The line's heading, rad, at several centre-line arc lengths."""
        sa = self.s_arr
        return np.arctan2(np.interp(s, sa, self.sn), np.interp(s, sa, self.c))

    def at(self, s: float) -> tuple[float, float, float, float, float]:
        s_ = self.s
        j = bisect.bisect_right(s_, s)
        j = 1 if j < 1 else (len(s_) - 1 if j >= len(s_) else j)
        a, b = self.rows[j - 1], self.rows[j]
        span = s_[j] - s_[j - 1]
        t = (s - s_[j - 1]) / span if span > 0.0 else 0.0
        t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)
        x, y, lat, v, c, sn = (p + t * (q - p) for p, q in zip(a, b, strict=True))
        return x, y, lat, v, math.atan2(sn, c)


def _segment_clearance(track: Track) -> np.ndarray:
    """Per centre-line segment: a lower bound on the distance from it to the road's edges, m.

    A point within ``clearance[i] - r`` of segment ``i`` has a whole disc of radius ``r`` on the
    road (the centre line lies on the road). Zero where that does not hold (centre line off the
    road, or an open track's end caps), which disables the fast on-track path there.
    """
    center = np.asarray(track.center, dtype=np.float64)
    left = np.asarray(track.left, dtype=np.float64)
    right = np.asarray(track.right, dtype=np.float64)
    if track.closed:
        a, b = center, np.roll(center, -1, axis=0)
        edges = [(left, np.roll(left, -1, axis=0)), (right, np.roll(right, -1, axis=0))]
    else:
        a, b = center[:-1], center[1:]
        ring = np.concatenate((left, right[::-1]))
        edges = [(ring, np.roll(ring, -1, axis=0))]
    c = np.concatenate([e[0] for e in edges])
    d = np.concatenate([e[1] for e in edges])
    clearance = np.empty(len(a))
    chunk = max(1, 200_000 // max(len(c), 1))
    for lo in range(0, len(a), chunk):
        hi = min(len(a), lo + chunk)
        sa, sb = a[lo:hi, None, :], b[lo:hi, None, :]
        dist = np.minimum(
            np.minimum(_point_segment(sa, c, d), _point_segment(sb, c, d)),
            np.minimum(_point_segment(c, sa, sb), _point_segment(d, sa, sb)),
        )
        crossing = _segments_cross(sa, sb, c, d)
        clearance[lo:hi] = np.where(crossing, 0.0, dist).min(axis=1)
    if not np.all(np.asarray(track.on_track(center))):
        clearance[:] = 0.0
    return clearance * (1.0 - 1e-9)


def _point_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from points ``p`` to segments ``a``-``b`` (broadcast over leading axes)."""
    ab = b - a
    ap = p - a
    denom = np.maximum((ab * ab).sum(axis=-1), 1e-300)
    t = np.clip((ap * ab).sum(axis=-1) / denom, 0.0, 1.0)
    e = ap - t[..., None] * ab
    return np.sqrt((e * e).sum(axis=-1))


def _segments_cross(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Whether segments ``a``-``b`` and ``c``-``d`` intersect (touching counts)."""

    def orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (
            r[..., 0] - p[..., 0]
        )

    o1, o2 = orient(a, b, c), orient(a, b, d)
    o3, o4 = orient(c, d, a), orient(c, d, b)
    return (o1 * o2 <= 0.0) & (o3 * o4 <= 0.0)


def _any_in_camera(inp: StepInputs, objects: Sequence[ObjectInfo]) -> bool:
    """True when an object lies ahead of the car, inside the camera's field of view and range."""
    hfov = inp.camera_hfov_rad if inp.camera_hfov_rad is not None else DEFAULT_CAMERA_HFOV_RAD
    half = 0.5 * hfov
    fx, fy = float(inp.front_xy[0]), float(inp.front_xy[1])
    yaw = inp.heading_rad
    for o in objects:
        dx = o.x_m - fx
        dy = o.y_m - fy
        dist = math.hypot(dx, dy)
        if dist > OBJECT_IN_CAMERA_RANGE_M or dist == 0.0:
            continue
        bearing = math.atan2(dy, dx) - yaw
        bearing = (bearing + math.pi) % (2.0 * math.pi) - math.pi
        if abs(bearing) <= half:
            return True
    return False
