"""Lap accounting: the one place where racer measures how far a car got and counts its laps.

:class:`LapCounter` follows the car's front point along the driven track step by step: the
signed distance travelled since the start (unwrapped across the start line of a loop, so it keeps
growing lap after lap and falls when the car drives backwards), the progress of the lap in hand,
the laps completed and each lap's time. :class:`racer.env.RaceEnv` owns one and reports it in
``info`` (``distance_m``, ``laps``, ``lap_completed``, ``lap_time_s``, ``progress``); the
evaluator and the training callbacks read it from there.

A lap is completed when the distance since the start passes another lap length (within
:data:`LAP_TOLERANCE_M`): the whole loop on a closed track, from the start to the end on an
open one. A put-back (the car moved to another point of the track without ending the drive)
counts the jump like any other move, so a car put back behind an object loses the distance it
is moved back.
"""

from __future__ import annotations

from racer.track import Track

LAP_TOLERANCE_M = 1e-6  # a lap is complete this close to the line (float sums over ~1e3 steps)


def unwrap_delta(delta_m: float, length_m: float, closed: bool) -> float:
    """A change of arc length as a signed move along the track.

    On a loop the arc length jumps by about one lap length at the start line; a change of more
    than half a lap is read as the short way round across the line.

    Args:
        delta_m: new arc length minus the previous one, m.
        length_m: the track's length, m.
        closed: whether the track is a loop.

    Returns:
        The signed distance moved, m (+ = in the driving direction).
    """
    if closed:
        half = 0.5 * length_m
        if delta_m > half:
            delta_m -= length_m
        elif delta_m < -half:
            delta_m += length_m
    return delta_m


class LapCounter:
    """Distance, progress, laps and lap times of one drive along one track.

    Call :meth:`start` when the car is placed at its start, :meth:`move` with the front point's
    arc length after every step (and after a put-back), then :meth:`lap_due` and
    :meth:`complete_lap` to count laps.

    Attributes:
        start_s_m: arc length of the start, m.
        lap_m: length of one lap, m (the loop; on an open track, the start to the end).
        distance_m: signed distance travelled along the track since the start, m.
        lap_distance_m: the part of it in the lap in hand, m (``distance_m`` less the laps
            completed; kept as its own sum so that progress is the same float every lap).
        laps: laps completed since the start.
        lap_start_step: the step the lap in hand started at.
    """

    __slots__ = (
        "_closed",
        "_last_s_m",
        "_length_m",
        "distance_m",
        "lap_distance_m",
        "lap_m",
        "lap_start_step",
        "laps",
        "start_s_m",
    )

    def __init__(self) -> None:
        self._length_m = 0.0
        self._closed = True
        self._last_s_m = 0.0
        self.start_s_m = 0.0
        self.lap_m = 0.0
        self.distance_m = 0.0
        self.lap_distance_m = 0.0
        self.laps = 0
        self.lap_start_step = 0

    def start(self, track: Track, s_m: float) -> None:
        """Begin a drive with the front point at arc length ``s_m`` of ``track`` (as driven).

        Args:
            track: the track in the driven direction.
            s_m: the front point's arc length, m.
        """
        self._length_m = float(track.length)
        self._closed = bool(track.closed)
        self.start_s_m = float(s_m)
        self._last_s_m = self.start_s_m
        self.lap_m = self._length_m if self._closed else self._length_m - self.start_s_m
        self.distance_m = 0.0
        self.lap_distance_m = 0.0
        self.laps = 0
        self.lap_start_step = 0

    def move(self, s_m: float) -> float:
        """Follow the front point to arc length ``s_m`` (a step or a put-back).

        Args:
            s_m: the front point's new arc length, m.

        Returns:
            The signed distance moved, m (+ = forward).
        """
        s = float(s_m)
        delta = unwrap_delta(s - self._last_s_m, self._length_m, self._closed)
        self._last_s_m = s
        self.distance_m += delta
        self.lap_distance_m += delta
        return delta

    @property
    def progress(self) -> float:
        """Percent of the lap in hand driven, 0-100 (~100 on a lap's last step, before :meth:`complete_lap`)."""
        if self.lap_m <= 0.0:
            return 100.0
        return float(min(100.0, max(0.0, 100.0 * self.lap_distance_m / self.lap_m)))

    def lap_due(self) -> bool:
        """Whether the distance since the start has passed the end of the lap in hand."""
        return self.distance_m >= (self.laps + 1) * self.lap_m - LAP_TOLERANCE_M

    def complete_lap(self, step: int, dt_s: float) -> float:
        """Count the lap in hand as done at control step ``step``.

        Args:
            step: the control step the lap ends on (steps since the start).
            dt_s: seconds per control step.

        Returns:
            The lap's time, s (driving time only: no penalties).
        """
        lap_time_s = (step - self.lap_start_step) * dt_s
        self.lap_distance_m -= self.lap_m
        self.laps += 1
        self.lap_start_step = step
        return lap_time_s


__all__ = ["LAP_TOLERANCE_M", "LapCounter", "unwrap_delta"]
