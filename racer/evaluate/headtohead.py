"""Head-to-head races between controllable cars: two (or more) models racing each other.

Every car drives in its own :class:`racer.env.RaceEnv` (its own observation, action space and
runtime: a bundle, a DeepRacer model, a run folder or an ``expert:`` driver), and every other car
is a puppet in that car's world (:meth:`racer.sim.World.add_puppet`), moved to its true pose at
every control step. All cars act on the same instant's picture, then all step; puppets wait out of
reach while a world steps, are moved to the new poses, and the camera, stereo and lidar
observations are taken again where another car is in sight, so a car sees the others where they
are now, never a step late.

The rules, DeepRacer's head-to-head rules as its simulation application (simapp) applies them:

- **Start**: every car on the start line's grid, car ``g`` of the grid :data:`STAGGER_M` x ``g``
  behind the line, lanes alternating (pole in the outer lane, the next in the inner lane, at
  +-width/4 of the centre line, as simapp's ``racecar_0`` / ``racecar_1`` start positions). Each
  car's laps count from its own start, so each drives the same distance. The pole goes by a coin
  toss drawn from the seed (:func:`racer.evaluate.races.trial_rng`), then rotates trial after
  trial. Loops only (an open track would give the cars different distances).
- **Contacts**: after every step the cars' footprints (the chassis box, length x width) are
  tested for overlap at :data:`CONTACT_SUBSTEPS` poses interpolated across the step, by the
  world's own contact rule (:func:`racer.sim.objects.overlaps`, as a car touches a bot car), so
  two cars never pass through or sit in each other silently; every contact is logged.
- **Who is penalised**: the car behind along the track at the moment of contact (simapp: the car
  whose progress is smaller crashes, the car ahead races on); when they are level, both. The
  penalised car counts one crash and ``crash_penalty_s``, and is put back on the centre line at
  the nearest point behind, moved back until it is clear of every other car (the two separate).
- **Penalties are time standing still**: after an off-track (``offtrack_penalty_s``) or a crash,
  the car waits at its put-back point for the penalty before it drives on (simapp pauses the car
  and makes it a non-colliding "ghost" while it blinks); other cars can pass it meanwhile, and
  contacts with a waiting car do not count. Elapsed times include the penalties exactly as in a
  time trial (:mod:`racer.evaluate.evaluator`'s rules, one :class:`_TrialRun` per car).
- **Finish**: a car that has driven the laps leaves the track (simapp parks it); the race goes on
  until every car has finished, run out of resets or out of time, or is decided: when every car
  but one has finished, the last one is stopped where it is (``episode_status``
  ``in_progress``: it places last whatever it would do next). Two cars: the race ends when the
  winner crosses its line.
- **Ranking** (:func:`race_order`): cars that finished, by elapsed time including penalties
  (who crossed the line first); then the others by completion; ties by fewer crashes, fewer
  off-tracks, then the better grid slot.
- **Overtakes**: a car counts one each time it moves from behind another car to ahead of it along
  the track while driving (put-backs do not count as being overtaken).
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from racer.env.race_env import CONTROL_HZ, DT_S, STATUS_CRASHED, STATUS_IN_PROGRESS, RaceEnv
from racer.errors import ConfigError
from racer.evaluate.evaluator import (
    _END,
    _NEXT_LAP,
    _PUT_BACK,
    TrialResult,
    _TrialRun,
    lap_time_bound_s,
)
from racer.evaluate.policies import Policy
from racer.evaluate.races import RaceConfig, RaceFormat, trial_rng
from racer.sim.car import BODY_LENGTH_M, BODY_WIDTH_M
from racer.sim.objects import ObjectArrays, overlaps
from racer.track import Track, load_track
from racer.util.files import atomic_write_text

STAGGER_M = 0.75  # grid slot g starts g x this behind the line (simapp: a fixed offset per car), m
LANE_FRACTION = 0.25  # lane centres at +-width/4 of the centre line (as the boxes' lanes)
CONTACT_SUBSTEPS = 4  # footprint tests per control step, at poses interpolated across it
PUT_BACK_STEP_M = 0.25  # a put-back point moves back by this much until clear of the others, m
PUT_BACK_CLEARANCE_M = 0.15  # free gap between a put-back car and any other car, m
MAX_PUT_BACK_STEPS = 40  # at most 10 m back
PARK_XY_M = (1.0e4, 1.0e4)  # where puppets wait while a world steps (out of reach and sight), m
CAR_RADIUS_M = 0.5 * math.hypot(BODY_LENGTH_M, BODY_WIDTH_M)  # the footprint's half diagonal, m
RESULTS_JSON = "results.json"
TRAJECTORIES_PNG = "trajectories.png"
RACE_HTML = "race.html"
COLOURS = ("#e6194b", "#4363d8", "#3cb44b", "#f58231", "#911eb4", "#42d4f4")


@dataclass(frozen=True)
class Contact:
    """Two cars' footprints overlapped during a step.

    Attributes:
        step: the race's control step (from 1).
        time_s: the race clock at the end of that step, s.
        cars: the two cars' indices.
        penalised: the cars that counted a crash (the one behind, or both when level; empty when
            neither could: e.g. one finished its lap or left the road in the same step).
        x_m: where it happened (the midpoint of the two centres), m.
        y_m: where it happened, m.
    """

    step: int
    time_s: float
    cars: tuple[int, int]
    penalised: tuple[int, ...]
    x_m: float
    y_m: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "step": self.step,
            "time_s": round(self.time_s, 4),
            "cars": list(self.cars),
            "penalised": list(self.penalised),
            "x_m": round(self.x_m, 4),
            "y_m": round(self.y_m, 4),
        }


@dataclass
class CarRace:
    """One car's race.

    Attributes:
        name: the policy's name.
        grid: its grid slot (0 = pole).
        start_s_m: its start's arc length (behind the line for slots past the pole), m.
        lateral_m: its lane's offset from the centre line (+ = left), m.
        trial: its metrics and line, as a time trial has them (:class:`TrialResult`).
        overtakes: other cars it passed while driving.
        contacts: contacts it was part of.
        place: its finishing place (1 = winner).
        out_step: the race's control step when it left the race (finished, out of resets or
            out of time).
    """

    name: str
    grid: int
    start_s_m: float
    lateral_m: float
    trial: TrialResult
    overtakes: int = 0
    contacts: int = 0
    place: int = 0
    out_step: int = 0

    @property
    def finished(self) -> bool:
        """Whether it drove every lap."""
        return self.trial.complete

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: name, grid, place, overtakes, contacts and the trial's metrics."""
        return {
            "name": self.name,
            "grid": self.grid,
            "place": self.place,
            "start_s_m": round(self.start_s_m, 4),
            "lateral_m": round(self.lateral_m, 4),
            "overtakes": self.overtakes,
            "contacts": self.contacts,
            "out_step": self.out_step,
            **self.trial.metrics(),
        }


@dataclass
class RaceResult:
    """One race from the start line.

    Attributes:
        race: the race's index, from 0.
        cars: every car's race, in the order the policies were given.
        contacts: every contact, in order.
        steps: control steps the race lasted.
        poses: ``(steps + 1, cars, 3)`` every car's centre ``(x, y, yaw)`` at the start and
            after each step (put-backs done), m and rad.
        solid: ``(steps + 1, cars)`` whether each car could collide then (on the track, not
            waiting out a penalty).
    """

    race: int
    cars: list[CarRace]
    contacts: list[Contact]
    steps: int
    poses: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)), repr=False)
    solid: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool), repr=False)

    @property
    def order(self) -> list[int]:
        """Car indices by finishing place, winner first."""
        return race_order(self.cars)

    @property
    def winner(self) -> int:
        """The winning car's index."""
        return self.order[0]

    @property
    def sim_s(self) -> float:
        """Simulated seconds of the race."""
        return self.steps * DT_S

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "race": self.race,
            "winner": self.cars[self.winner].name,
            "order": [self.cars[i].name for i in self.order],
            "steps": self.steps,
            "cars": [c.to_dict() for c in self.cars],
            "contacts": [c.to_dict() for c in self.contacts],
        }


@dataclass
class HeadToHeadResult:
    """Every race of a head-to-head evaluation.

    Attributes:
        names: the cars' names, in the order the policies were given.
        track: the track's name.
        config: the race settings.
        races: the races, in order.
        wall_s: wall-clock seconds all races took.
        track_obj: the track (for plots).
        bound_s: the track's lap-time bound, s, or None.
    """

    names: list[str]
    track: str
    config: RaceConfig
    races: list[RaceResult]
    wall_s: float = 0.0
    track_obj: Track | None = field(default=None, repr=False)
    bound_s: float | None = None

    @property
    def wins(self) -> list[int]:
        """Races won by each car."""
        out = [0] * len(self.names)
        for r in self.races:
            out[r.winner] += 1
        return out

    @property
    def sim_s(self) -> float:
        """Simulated seconds over all races (one race clock, however many cars)."""
        return float(sum(r.sim_s for r in self.races))

    @property
    def winner(self) -> int:
        """The overall winner: most races won, then the better sum of places, then the index."""
        places = [sum(r.cars[i].place for r in self.races) for i in range(len(self.names))]
        wins = self.wins
        return min(range(len(self.names)), key=lambda i: (-wins[i], places[i], i))

    def summary(self) -> dict[str, Any]:
        """Figures over all races."""
        return {
            "races": len(self.races),
            "wins": dict(zip(self.names, self.wins, strict=True)),
            "winner": self.names[self.winner],
            "contacts": int(sum(len(r.contacts) for r in self.races)),
            "bound_s": None if self.bound_s is None else round(self.bound_s, 4),
            "realtime_factor": round(self.sim_s / self.wall_s, 2) if self.wall_s > 0 else None,
            "wall_s": round(self.wall_s, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: cars, track, race settings, summary and every race."""
        return {
            "cars": list(self.names),
            "track": self.track,
            "race": {**self.config.to_dict(), "opponents": len(self.names) - 1},
            "summary": self.summary(),
            "races": [r.to_dict() for r in self.races],
        }


def race_order(cars: Sequence[CarRace]) -> list[int]:
    """DeepRacer's head-to-head order: indices of ``cars``, winner first.

    Cars that drove every lap by elapsed time, penalties included (the first across the line);
    then the others by completion (higher first); ties by fewer crashes, fewer off-tracks, then
    the better grid slot.
    """

    def key(i: int) -> tuple[int, float, int, int, int]:
        t = cars[i].trial
        first = (
            (0, float(t.elapsed_time_in_milliseconds))
            if t.complete
            else (1, -t.completion_percentage)
        )
        return (*first, t.crash_count, t.off_track_count, cars[i].grid)

    return sorted(range(len(cars)), key=key)


# ---------------------------------------------------------------------- geometry


def footprints_overlap(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """Whether two car footprints (``(x, y, yaw)`` of each centre) overlap or touch.

    The world's own contact rule (:func:`racer.sim.objects.overlaps`: separating axes of the
    car's body rectangle and an object's footprint), with the other car as a car-sized object:
    a car touches another car exactly as it touches a bot car in training and evaluation.
    """
    if math.hypot(a[0] - b[0], a[1] - b[1]) > 2 * CAR_RADIUS_M:
        return False
    other = ObjectArrays.empty(1, 1)
    other.x[0, 0], other.y[0, 0], other.yaw[0, 0] = b
    other.half_l[0, 0], other.half_w[0, 0] = BODY_LENGTH_M / 2, BODY_WIDTH_M / 2
    other.bot[0, 0] = True
    return bool(overlaps(np.array([a[0]]), np.array([a[1]]), np.array([a[2]]), other)[0])


def _lerp_pose(
    p0: tuple[float, float, float], p1: tuple[float, float, float], f: float
) -> tuple[float, float, float]:
    dyaw = (p1[2] - p0[2] + math.pi) % (2 * math.pi) - math.pi
    return (p0[0] + f * (p1[0] - p0[0]), p0[1] + f * (p1[1] - p0[1]), p0[2] + f * dyaw)


def swept_overlap(
    a0: tuple[float, float, float],
    a1: tuple[float, float, float],
    b0: tuple[float, float, float],
    b1: tuple[float, float, float],
) -> bool:
    """Whether two cars moving from ``a0``/``b0`` to ``a1``/``b1`` touch during the step.

    Tested at :data:`CONTACT_SUBSTEPS` poses interpolated across the step (the last one the
    step's end): at 4 m/s each, two cars close at most 0.53 m per step, so a contact lasts over
    one substep at least.
    """
    for k in range(1, CONTACT_SUBSTEPS + 1):
        f = k / CONTACT_SUBSTEPS
        if footprints_overlap(_lerp_pose(a0, a1, f), _lerp_pose(b0, b1, f)):
            return True
    return False


def _outer_sign(track: Track) -> float:
    """The lateral sign (+ = left) of the outer lane: right on a counter-clockwise loop."""
    c = np.asarray(track.center, dtype=np.float64)
    x, y = c[:, 0], c[:, 1]
    area = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    return -1.0 if area > 0 else 1.0


# ---------------------------------------------------------------------- the race


@dataclass
class _Car:
    """One car's state during a race."""

    index: int
    env: RaceEnv
    policy: Policy
    run: _TrialRun
    obs: Any
    grid: int
    start_s: float  # unwrapped: negative behind the line
    lateral: float
    wait: int = 0  # control steps left standing still (a penalty)
    done: bool = False
    out_step: int = 0
    result: TrialResult | None = None
    overtakes: int = 0
    contacts: int = 0
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    speed: float = 0.0

    @property
    def racing(self) -> bool:
        return not self.done and self.wait == 0

    def position_m(self) -> float:
        """Where the car is along the race, unwrapped from the start line, m."""
        return self.start_s + self.run.done_m


class HeadToHeadRace:
    """Races controllable cars against each other on one track (see the module docstring).

    Args:
        policies: the drivers, two or more; each keeps its own observation and action space.
        track: a track name, path or :class:`racer.track.Track` (a loop).
        config: the rules (laps, penalties, reset limit, time limit, seed, ``trials`` races);
            the race format is head-to-head, bots are not used.
        world_config: simulator settings (:class:`racer.sim.WorldConfig`) or None.
    """

    def __init__(
        self,
        policies: Sequence[Policy],
        track: str | Track,
        config: RaceConfig | None = None,
        world_config: Any = None,
    ) -> None:
        if len(policies) < 2:
            raise ConfigError(f"a head-to-head race needs 2 cars or more, got {len(policies)}")
        self.policies = list(policies)
        cfg = config or RaceConfig(race=RaceFormat.HEAD_TO_HEAD)
        self.config = dataclasses.replace(cfg, race=RaceFormat.HEAD_TO_HEAD)
        self.track: Track = track if isinstance(track, Track) else load_track(track)
        if not self.track.closed:
            raise ConfigError(
                f"track {self.track.name!r} is not a loop: head-to-head races need one "
                "(each car laps from its own grid slot)"
            )
        needed = STAGGER_M * (len(self.policies) - 1) + 2.0
        if self.track.length < needed:
            raise ConfigError(
                f"track {self.track.name!r} ({self.track.length:.1f} m) is too short for "
                f"{len(self.policies)} cars"
            )
        self.limit_steps = int(
            math.ceil(self.config.laps * self.config.time_limit_per_lap_s * CONTROL_HZ)
        )
        self.outer = _outer_sign(self.track)
        self.envs: list[RaceEnv] = []
        self.puppets: list[dict[int, int]] = []
        try:
            for p in self.policies:
                env = RaceEnv(
                    self.track,
                    observation=p.observation,
                    action_space=p.action_space,
                    reward="progress",
                    start="fixed",
                    direction="forward",
                    max_steps=self.limit_steps + 1,  # the race's clock comes first
                    world_config=world_config,
                )
                self.envs.append(env)
                check = getattr(p, "check_observation", None)
                if check is not None:
                    obs, _ = env.reset(options={"start_s": 0.0, "reverse": False})
                    check(obs)
            for i, env in enumerate(self.envs):
                self.puppets.append(
                    {
                        j: env.world.add_puppet(PARK_XY_M[0] + 10.0 * j, PARK_XY_M[1], 0.0)
                        for j in range(len(self.envs))
                        if j != i
                    }
                )
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ running
    def run(self, pole: int | None = None) -> HeadToHeadResult:
        """Run ``config.trials`` races, the pole rotating from race to race.

        Args:
            pole: the index of the car on pole in the first race; None draws it from the seed
                (:func:`racer.evaluate.races.trial_rng` of the seed and trial 0).

        Returns:
            The results.
        """
        n = len(self.policies)
        if pole is None:
            pole = int(trial_rng(self.config.seed, 0).integers(n))
        t0 = time.perf_counter()
        races = []
        for k in range(self.config.trials):
            first = (pole + k) % n
            races.append(self.run_race(k, [(first + g) % n for g in range(n)]))
        return HeadToHeadResult(
            names=[p.name for p in self.policies],
            track=self.track.name,
            config=self.config,
            races=races,
            wall_s=time.perf_counter() - t0,
            track_obj=self.track,
            bound_s=lap_time_bound_s(self.track),
        )

    def run_race(self, race: int, grid: Sequence[int]) -> RaceResult:
        """Drive one race from the grid.

        Args:
            race: the race's index (labels the trials).
            grid: car indices by grid slot, pole first.

        Returns:
            The race.
        """
        n = len(self.policies)
        if sorted(grid) != list(range(n)):
            raise ValueError(f"grid must list every car once, got {list(grid)}")
        for i, env in enumerate(self.envs):  # nobody in the way of the grid
            for j, oid in self.puppets[i].items():
                env.world.move_object(oid, PARK_XY_M[0] + 10.0 * j, PARK_XY_M[1], 0.0)
        cars = [self._start(race, i, list(grid).index(i)) for i in range(n)]
        self._show(cars)
        for c in cars:
            c.obs = self._observe(c, fresh=True)  # from its lane
        contacts: list[Contact] = []
        ahead = self._ahead(cars)
        poses = [np.array([c.pose for c in cars])]
        solid = [np.array([c.racing for c in cars])]
        step = 0
        while not all(c.done for c in cars):
            if step >= self.limit_steps:
                for c in cars:
                    if not c.done:
                        self._finish(c, step)
                break
            step += 1
            moving = [c for c in cars if c.racing]
            actions = {c.index: c.policy.act(c.obs) for c in moving}
            before = {c.index: c.pose for c in cars}
            infos: dict[int, dict[str, Any]] = {}
            for c in cars:
                if c.done:
                    continue
                if c.wait > 0:
                    c.wait -= 1
                    continue
                self._hide(c)
                c.obs, _, terminated, truncated, info = c.env.step(actions[c.index])
                infos[c.index] = {**info, "_ended": terminated or truncated}
                c.run.done_m = float(info["distance_m"])
                s = c.env.world.car_state()
                c.pose, c.speed = (s.x_m, s.y_m, s.yaw_rad), float(s.speed_mps)
            penalised = self._contacts(cars, before, step, contacts, infos)
            self._overtakes(cars, ahead, infos)
            for c in cars:
                if c.index not in infos:
                    continue
                info = infos.pop(c.index)
                ended = bool(info.pop("_ended"))
                if c.index in penalised:
                    info["episode_status"] = STATUS_CRASHED
                    ended = True
                penalty_before = c.run.penalty_s
                what = c.run.after_step(info, actions[c.index], ended)
                if what == _NEXT_LAP:
                    c.env.next_lap()
                elif what == _PUT_BACK:
                    self._put_back(c, cars)
                    wait_s = c.run.penalty_s - penalty_before
                    c.wait = int(round(wait_s * CONTROL_HZ))
                elif what == _END:
                    self._finish(c, step)
            left = [c for c in cars if not c.done]
            if len(left) == 1 and all(c.result and c.result.complete for c in cars if c.done):
                left[0].run.status = STATUS_IN_PROGRESS  # the race is decided: it comes last
                self._finish(left[0], step)
            ahead = self._ahead(cars)
            poses.append(np.array([c.pose for c in cars]))
            solid.append(np.array([c.racing for c in cars]))
            self._show(cars)
            for c in cars:
                if c.racing:
                    c.obs = self._observe(c)
        out = []
        for c in cars:
            assert c.result is not None
            out.append(
                CarRace(
                    name=c.policy.name,
                    grid=c.grid,
                    start_s_m=c.start_s,
                    lateral_m=c.lateral,
                    trial=c.result,
                    overtakes=c.overtakes,
                    contacts=c.contacts,
                    out_step=c.out_step,
                )
            )
        for place, i in enumerate(race_order(out), start=1):
            out[i].place = place
        return RaceResult(
            race=race,
            cars=out,
            contacts=contacts,
            steps=step,
            poses=np.stack(poses),
            solid=np.stack(solid),
        )

    # ------------------------------------------------------------------ pieces
    def _start(self, race: int, i: int, slot: int) -> _Car:
        """Car ``i`` at rest on grid slot ``slot``: its lane, behind the line.

        ``RaceEnv.reset`` starts a car on the centre line; the world then moves it into its lane
        (the lap counts from the same arc length). Camera and lidar observations are taken
        again from the lane; a ``state`` observation's first one, at rest, is the centre line's.
        """
        env, policy, track = self.envs[i], self.policies[i], self.track
        start_s = -STAGGER_M * slot
        lateral = (self.outer if slot % 2 == 0 else -self.outer) * LANE_FRACTION
        lateral *= float(track.width_at(start_s % track.length))
        obs, info = env.reset(options={"start_s": start_s % track.length, "reverse": False})
        x, y, yaw = track.lane_pose(start_s % track.length, lateral)
        env.world.reset_car(x, y, yaw)  # into its lane (the env keeps the lap's start)
        state = env.world.car_state()
        params = dict(info["params"])
        params["x"], params["y"] = float(state.front_xy[0]), float(state.front_xy[1])
        info = {**info, "params": params}
        policy.reset(env)
        layout = {"boxes": [], "bots": [], "grid": slot, "start_s_m": start_s, "lateral_m": lateral}
        run = _TrialRun(self.config, race, layout, info, self.limit_steps)
        car = _Car(i, env, policy, run, obs, slot, start_s, lateral)
        car.pose = (state.x_m, state.y_m, state.yaw_rad)
        return car

    def _hide(self, c: _Car) -> None:
        """Park the other cars of ``c``'s world out of reach while it steps."""
        world = c.env.world
        for j, oid in self.puppets[c.index].items():
            world.move_object(oid, PARK_XY_M[0] + 10.0 * j, PARK_XY_M[1], 0.0)

    def _show(self, cars: Sequence[_Car]) -> None:
        """Move every car's puppets to the true poses (finished cars stay parked)."""
        for c in cars:
            world = c.env.world
            for j, oid in self.puppets[c.index].items():
                other = cars[j]
                if other.done:
                    world.move_object(oid, PARK_XY_M[0] + 10.0 * j, PARK_XY_M[1], 0.0)
                else:
                    world.move_object(oid, *other.pose, speed_mps=other.speed)

    def _observe(self, c: _Car, fresh: bool = False) -> Any:
        """``c``'s observation with the other cars where they are now.

        Without ``fresh``, a camera frame is taken again only when another car is in view (the
        step's own frame, taken with the others parked, is otherwise the same).
        """
        env = c.env
        name = env.observation_name
        if name == "state":  # no objects in it: the step's own observation stands
            return c.obs
        world = env.world
        if name == "lidar":
            return world.lidar()
        if not fresh and not world.object_in_camera():  # the step's frame is the same
            return c.obs
        frame = world.camera() if name == "camera" else world.stereo()
        return env.preprocessor(frame) if env.preprocessor is not None else frame

    def _ahead(self, cars: Sequence[_Car]) -> dict[tuple[int, int], bool]:
        """For each pair of cars still racing, whether the first is ahead along the race."""
        out = {}
        for a in cars:
            for b in cars:
                if a.index < b.index and not (a.done or b.done):
                    out[(a.index, b.index)] = a.position_m() > b.position_m()
        return out

    def _overtakes(
        self, cars: Sequence[_Car], ahead: dict[tuple[int, int], bool], moved: dict[int, Any]
    ) -> None:
        """Count the passes of this step (the passer drove; put-backs come after this)."""
        for (i, j), i_ahead in ahead.items():
            a, b = cars[i], cars[j]
            if a.done or b.done:
                continue
            pa, pb = a.position_m(), b.position_m()
            if not i_ahead and pa > pb and i in moved:
                a.overtakes += 1
            elif i_ahead and pb > pa and j in moved:
                b.overtakes += 1

    def _contacts(
        self,
        cars: Sequence[_Car],
        before: dict[int, tuple[float, float, float]],
        step: int,
        contacts: list[Contact],
        infos: dict[int, dict[str, Any]],
    ) -> set[int]:
        """Find this step's contacts between solid cars; the cars that count a crash."""
        penalised: set[int] = set()
        solid = [c for c in cars if not c.done and c.wait == 0]
        lap = float(self.track.length)
        for x, a in enumerate(solid):
            for b in solid[x + 1 :]:
                if not swept_overlap(before[a.index], a.pose, before[b.index], b.pose):
                    continue
                gap = (a.position_m() - b.position_m() + lap / 2) % lap - lap / 2
                behind = [a] if gap < 0 else [b] if gap > 0 else [a, b]
                who = tuple(
                    sorted(
                        c.index
                        for c in behind
                        if c.index in infos
                        and infos[c.index]["episode_status"] == STATUS_IN_PROGRESS
                    )
                )
                penalised.update(who)
                a.contacts += 1
                b.contacts += 1
                contacts.append(
                    Contact(
                        step=step,
                        time_s=step * DT_S,
                        cars=(a.index, b.index),
                        penalised=who,
                        x_m=0.5 * (a.pose[0] + b.pose[0]),
                        y_m=0.5 * (a.pose[1] + b.pose[1]),
                    )
                )
        return penalised

    def _put_back(self, c: _Car, cars: Sequence[_Car]) -> None:
        """Put ``c`` back at rest on the centre line, behind and clear of every other car."""
        track = self.track
        s = float(track.project(np.array(c.pose[:2], dtype=np.float64)).s)
        others = [o.pose for o in cars if o.index != c.index and not o.done]
        for _ in range(MAX_PUT_BACK_STEPS):
            x, y = np.asarray(track.point_at(s), dtype=np.float64).reshape(-1)
            clear = all(
                math.hypot(p[0] - x, p[1] - y) > BODY_LENGTH_M + PUT_BACK_CLEARANCE_M
                for p in others
            )
            if clear:
                break
            s = (s - PUT_BACK_STEP_M) % float(track.length)
        obs, info = c.env.put_back(s)
        c.policy.reset(c.env)
        c.run.put_back(info)
        c.run.done_m = float(info["distance_m"])
        state = c.env.world.car_state()
        c.pose, c.speed = (state.x_m, state.y_m, state.yaw_rad), 0.0
        c.obs = obs

    def _finish(self, c: _Car, step: int) -> None:
        """``c`` is out of the race (finished, out of resets or out of time): it leaves."""
        c.done = True
        c.out_step = step
        c.result = c.run.result()

    def close(self) -> None:
        """Release every simulator."""
        for env in self.envs:
            env.close()

    def __enter__(self) -> HeadToHeadRace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def head_to_head(
    policies: Sequence[Policy],
    track: str | Track,
    config: RaceConfig | None = None,
    world_config: Any = None,
    pole: int | None = None,
) -> HeadToHeadResult:
    """Race ``policies`` against each other: ``config.trials`` races (see the module docstring).

    Args:
        policies: the drivers (two or more).
        track: a loop track's name, path or :class:`racer.track.Track`.
        config: the rules; None for one race of one lap with the default penalties.
        world_config: simulator settings, or None.
        pole: the car on pole in the first race; None: a coin toss from the seed.

    Returns:
        The results.
    """
    cfg = config or RaceConfig(race=RaceFormat.HEAD_TO_HEAD, trials=1)
    with HeadToHeadRace(policies, track, cfg, world_config) as race:
        return race.run(pole)


# ---------------------------------------------------------------------- outputs


def results_table(result: HeadToHeadResult) -> Any:
    """A :class:`rich.table.Table`: one row per car per race, by place."""
    from rich.markup import escape
    from rich.table import Table

    cfg = result.config
    table = Table(
        title=(
            f"{escape(' vs '.join(result.names))} on {escape(result.track)}: head-to-head, "
            f"{cfg.laps} lap(s) x {len(result.races)} race(s), crash penalty "
            f"{cfg.crash_penalty_s:g} s, off-track penalty {cfg.offtrack_penalty_s:g} s"
        )
    )
    for name, justify in (
        ("race", "right"),
        ("place", "right"),
        ("car", "left"),
        ("grid", "right"),
        ("episode_status", "left"),
        ("completion_percentage", "right"),
        ("elapsed_time_in_milliseconds", "right"),
        ("lap_times_s", "left"),
        ("crash_count", "right"),
        ("off_track_count", "right"),
        ("overtakes", "right"),
        ("contacts", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in result.races:
        for i in r.order:
            c = r.cars[i]
            t = c.trial
            table.add_row(
                str(r.race),
                str(c.place),
                escape(c.name),
                str(c.grid + 1),
                t.episode_status,
                f"{t.completion_percentage:.1f}",
                str(t.elapsed_time_in_milliseconds),
                ", ".join(f"{x:.3f}" for x in t.lap_times_s) or "-",
                str(t.crash_count),
                str(t.off_track_count),
                str(c.overtakes),
                str(c.contacts),
            )
    return table


def summary_line(result: HeadToHeadResult) -> str:
    """One line: races won by each car, the winner, contacts, speed."""
    s = result.summary()
    wins = ", ".join(f"{name} {w}" for name, w in s["wins"].items())
    rt = s["realtime_factor"]
    return f"wins: {wins}; winner {s['winner']}; {s['contacts']} contact(s)" + (
        f", {rt:.1f}x real time" if rt else ""
    )


def race_html(result: HeadToHeadResult) -> str:
    """A self-contained HTML report: each race's table and map of both cars' lines."""
    from racer.evaluate.html import track_svg

    sections = []
    for r in result.races:
        rows = []
        lines = []
        for i in r.order:
            c = r.cars[i]
            t = c.trial
            colour = COLOURS[i % len(COLOURS)]
            lines.append((colour, t.trajectory))
            rows.append(
                f'<tr><td>{c.place}</td><td class="name"><span class="swatch" '
                f'style="background:{colour}"></span>{html.escape(c.name)}</td>'
                f"<td>{c.grid + 1}</td><td>{html.escape(t.episode_status)}</td>"
                f"<td>{t.completion_percentage:.1f}</td>"
                f"<td>{t.elapsed_time_in_milliseconds / 1000.0:.3f}</td>"
                f"<td>{t.crash_count}</td><td>{t.off_track_count}</td>"
                f"<td>{c.overtakes}</td></tr>"
            )
        figure = track_svg(result.track_obj, lines) if result.track_obj is not None else ""
        sections.append(
            f"<section><h2>Race {r.race + 1}: {html.escape(r.cars[r.winner].name)} wins</h2>"
            '<div class="board"><table><thead><tr><th>place</th><th class="name">car</th>'
            "<th>grid</th><th>status</th><th>completion %</th><th>time (s)</th>"
            "<th>crashes</th><th>off-tracks</th><th>overtakes</th></tr></thead><tbody>"
            + "".join(rows)
            + f"</tbody></table>{figure}</div>"
            f'<p class="note">{len(r.contacts)} contact(s).</p></section>'
        )
    title = f"{' vs '.join(result.names)} on {result.track}"
    css = (
        "body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa}"
        ".board{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start;background:#fff;"
        "border:1px solid #ddd;border-radius:8px;padding:16px}"
        "table{border-collapse:collapse;font-size:14px}th,td{padding:5px 10px;"
        "border-bottom:1px solid #e5e5e5;text-align:right}td.name,th.name{text-align:left}"
        ".swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px}"
        "svg{background:#c9c9c9;border-radius:6px}.note{color:#666;font-size:13px}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{css}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="note">{html.escape(summary_line(result))}</p>'
        + "".join(sections)
        + "</body></html>\n"
    )


def write_outputs(result: HeadToHeadResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``trajectories.png`` (every car's line) and ``race.html``.

    Args:
        result: the races.
        out_dir: the folder (created when missing).

    Returns:
        What was written, by description.
    """
    from racer.track import plot_track

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / RESULTS_JSON
    atomic_write_text(results, json.dumps(result.to_dict(), indent=2) + "\n", mode=0o644)
    written = {"results": results}
    if result.track_obj is not None:
        lines = [c.trial.trajectory for r in result.races for c in r.cars]
        written["trajectories"] = plot_track(
            result.track_obj,
            folder / TRAJECTORIES_PNG,
            trajectories=lines,
            title=f"{' vs '.join(result.names)} on {result.track} (head-to-head)",
        )
    page = folder / RACE_HTML
    atomic_write_text(page, race_html(result), mode=0o644)
    written["report"] = page
    return written


__all__ = [
    "CONTACT_SUBSTEPS",
    "STAGGER_M",
    "CarRace",
    "Contact",
    "HeadToHeadRace",
    "HeadToHeadResult",
    "RaceResult",
    "footprints_overlap",
    "head_to_head",
    "race_order",
    "results_table",
    "summary_line",
    "swept_overlap",
    "write_outputs",
]
