"""Headless evaluation with DeepRacer's continuous-evaluation rules and lap timing.

A trial starts the car at rest on the start line and drives the requested laps. When the car goes
off the track (no wheel on the road), crashes into a box or a bot car, drives backwards or stops,
it is put back at rest on the centre line at the point nearest to where it was, facing along the
track, and the trial goes on: DeepRacer's continuous evaluation. Near a box (within 1 m along the
track) it goes 1 m behind the box in the other lane, as DeepRacer's simulator resets it; with
objects on the track it is moved back until clear of all of them.
Off-tracks and crashes add their penalty seconds to the elapsed time (and to the lap they happen
in); each put-back counts one reset, up to ``reset_limit``.

Lap accounting is the environment's (:mod:`racer.env.laps`): the evaluator drives one
:class:`racer.env.RaceEnv` episode per trial, puts the car back with ``env.put_back()`` (the
distance, the laps and the step count go on; a car put back behind a box loses the distance it is
moved back) and goes on past each ``lap_complete`` with ``env.next_lap()``. It reads the laps
(``info["lap_completed"]``), the driving time (``info["sim_time_s"]``) and the distance
(``info["distance_m"]``) from the env's ``info`` and adds only the penalties and the put-backs.

Metrics per trial use DeepRacer's names: ``completion_percentage`` (of the requested laps),
``elapsed_time_in_milliseconds`` (simulated time plus penalties), ``episode_status``
(``lap_complete`` when every lap was driven, else the status that ended the trial: ``off_track``
or ``crashed`` past the reset limit, ``time_up``), ``off_track_count``, ``crash_count``,
``reset_count``, plus ``lap_times_s`` (penalties included).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from racer.env.race_env import (
    CONTROL_HZ,
    DT_S,
    STATUS_CRASHED,
    STATUS_IMMOBILIZED,
    STATUS_LAP_COMPLETE,
    STATUS_OFF_TRACK,
    STATUS_REVERSED,
    STATUS_TIME_UP,
    RaceEnv,
)
from racer.env.race_setup import BOX_LANE_FRACTION, place_objects
from racer.env.ranking import RaceScore, ranking_key
from racer.env.vector import RaceVectorEnv, StepColumns
from racer.errors import ConfigError
from racer.evaluate.policies import BatchPolicy, Policy, batch_policy
from racer.evaluate.races import RaceConfig, setup_race, trial_rng
from racer.track import Track, load_track
from racer.train.run_folder import (
    SIMTRACE_HEADER_LINE,
    STAMP_FORMAT,
    STATUS_LABELS,
    RunFolder,
    action_text,
    simtrace_line,
)
from racer.util.files import atomic_write_text

log = logging.getLogger(__name__)

RESET_BACKOFF_M = 0.25  # after a crash, move the put-back point back by this much until clear, m
RESET_BEHIND_M = (
    1.0  # put back this far behind a box near the incident (simapp's RESET_BEHIND_DIST)
)
RESET_OBJECT_GAP_M = 1.0  # a box this near along the track decides the put-back (CLOSEST_OBJ_GAP)
RESET_CLEARANCE_M = 0.35  # free space between the put-back car's centre and an object's edge, m
MAX_BACKOFF_STEPS = 40  # at most 10 m back
#: From this many trials a time trial drives them together (benchmarks/eval_speed.py, camera +
#: CNN on ONNX Runtime, one core: per car-step 1.21 / 1.00 / 0.86 / 0.57 ms for 4 / 6 / 8 / 16
#: trials together vs 0.83-0.96 ms one at a time: the batched step's fixed cost pays from ~8).
TOGETHER_MIN_TRIALS = 8
INCIDENTS = (STATUS_OFF_TRACK, STATUS_CRASHED, STATUS_REVERSED, STATUS_IMMOBILIZED)
METRIC_NAMES = (
    "completion_percentage",
    "elapsed_time_in_milliseconds",
    "episode_status",
    "off_track_count",
    "crash_count",
    "reset_count",
    "lap_times_s",
)


@dataclass
class TrialResult:
    """One trial's metrics (DeepRacer's names) and its driven line.

    Attributes:
        trial: index, from 0.
        completion_percentage: percent of the requested laps driven, 0-100.
        elapsed_time_in_milliseconds: simulated time plus penalties, ms.
        episode_status: ``lap_complete``, ``off_track``, ``crashed``, ``reversed``,
            ``immobilized`` or ``time_up``.
        off_track_count: times the car left the road.
        crash_count: collisions with boxes or bot cars.
        reset_count: times the car was put back on the track.
        lap_times_s: the completed laps' times, penalties included, s.
        laps: laps requested.
        penalty_s: penalty seconds in total.
        sim_time_s: simulated driving time, s.
        steps: control steps driven.
        trajectory: ``(M, 2)`` front-point positions, m; a row of NaN where the car was put back.
        lap_ends: indices into ``trajectory`` where each lap ended.
        layout: the boxes and bots of the trial.
        poses: ``(M, 4)`` beside each ``trajectory`` row: heading (rad), steering command
            (rad), measured speed (m/s) and the lap's progress (percent); NaN rows with the
            trajectory's. What a video of a lap replays (:mod:`racer.sim.video`).
        trace: DeepRacer's simtrace rows of the trial without their episode column (a
            ``prepare`` row, then one per step; ``tstamp`` counts the penalties, the reward
            column is empty: no reward function runs in an evaluation).
    """

    trial: int
    completion_percentage: float
    elapsed_time_in_milliseconds: int
    episode_status: str
    off_track_count: int
    crash_count: int
    reset_count: int
    lap_times_s: list[float]
    laps: int
    penalty_s: float
    sim_time_s: float
    steps: int
    trajectory: np.ndarray = field(repr=False)
    lap_ends: list[int] = field(default_factory=list)
    layout: dict[str, Any] = field(default_factory=dict)
    poses: np.ndarray | None = field(default=None, repr=False)
    trace: list[str] = field(default_factory=list, repr=False)

    @property
    def complete(self) -> bool:
        """Whether every requested lap was driven."""
        return len(self.lap_times_s) >= self.laps

    @property
    def average_lap_s(self) -> float | None:
        """Average of the requested consecutive laps (penalties included), or None if incomplete."""
        if not self.complete:
            return None
        return float(np.mean(self.lap_times_s[: self.laps]))

    @property
    def best_lap_s(self) -> float | None:
        """The fastest completed lap, or None."""
        return float(min(self.lap_times_s)) if self.lap_times_s else None

    @property
    def score(self) -> RaceScore:
        """What the trial is ranked by (:func:`racer.env.ranking.ranking_key`)."""
        return RaceScore.of(self)

    def lap_line(self, lap: int) -> np.ndarray:
        """The ``(M, 2)`` line of completed lap ``lap`` (NaN rows where the car was put back)."""
        end = self.lap_ends[lap]
        start = self.lap_ends[lap - 1] if lap > 0 else 0
        return self.trajectory[start : end + 1]

    def best_lap_line(self) -> np.ndarray | None:
        """The line of the fastest completed lap, or None."""
        if not self.lap_times_s:
            return None
        return self.lap_line(int(np.argmin(self.lap_times_s)))

    def metrics(self) -> dict[str, Any]:
        """The JSON-ready metrics: DeepRacer's names first, then racer's extras."""
        return {
            "trial": self.trial,
            "completion_percentage": round(self.completion_percentage, 3),
            "elapsed_time_in_milliseconds": self.elapsed_time_in_milliseconds,
            "episode_status": self.episode_status,
            "off_track_count": self.off_track_count,
            "crash_count": self.crash_count,
            "reset_count": self.reset_count,
            "lap_times_s": [round(t, 4) for t in self.lap_times_s],
            "laps": self.laps,
            "average_lap_s": None if self.average_lap_s is None else round(self.average_lap_s, 4),
            "penalty_s": self.penalty_s,
            "sim_time_s": round(self.sim_time_s, 4),
            "steps": self.steps,
        }


@dataclass
class EvaluationResult:
    """Every trial of one evaluation.

    Attributes:
        model: the policy's name.
        track: the track's name.
        config: the race settings.
        trials: the trials, in order.
        wall_s: wall-clock seconds the evaluation took.
        track_obj: the track (for plots).
        bound_s: the track's lap-time bound in the driven direction (the fastest lap the car
            can drive: :func:`racer.track.racing_line`), s; None when it could not be computed.
    """

    model: str
    track: str
    config: RaceConfig
    trials: list[TrialResult]
    wall_s: float = 0.0
    track_obj: Track | None = field(default=None, repr=False)
    bound_s: float | None = None

    def best_trial(self) -> TrialResult:
        """The best trial by the leaderboard's rule (see :func:`trial_rank_key`)."""
        return min(self.trials, key=trial_rank_key)

    @property
    def sim_s(self) -> float:
        """Simulated seconds driven over all trials."""
        return float(sum(t.sim_time_s for t in self.trials))

    @property
    def lap_ratio(self) -> float | None:
        """The best trial's average lap over the bound ("gap to optimal", 1.0 = the bound).

        The average is the leaderboard's figure: the requested consecutive laps (3 on the
        leaderboard), or the single lap of a one-lap evaluation. None when the best trial is
        incomplete or the bound is unknown.
        """
        return lap_ratio(self.best_trial().average_lap_s, self.bound_s)

    def summary(self) -> dict[str, Any]:
        """Figures over all trials."""
        done = [t for t in self.trials if t.complete]
        best = self.best_trial()
        laps = [x for t in self.trials for x in t.lap_times_s]
        return {
            "trials": len(self.trials),
            "complete_trials": len(done),
            "mean_completion_percentage": round(
                float(np.mean([t.completion_percentage for t in self.trials])), 3
            ),
            "best_lap_s": round(min(laps), 4) if laps else None,
            "best_average_lap_s": (
                None if best.average_lap_s is None else round(best.average_lap_s, 4)
            ),
            "bound_s": None if self.bound_s is None else round(self.bound_s, 4),
            "lap_ratio": None if self.lap_ratio is None else round(self.lap_ratio, 4),
            "mean_elapsed_time_in_milliseconds": int(
                round(float(np.mean([t.elapsed_time_in_milliseconds for t in self.trials])))
            ),
            "off_track_count": int(sum(t.off_track_count for t in self.trials)),
            "crash_count": int(sum(t.crash_count for t in self.trials)),
            "reset_count": int(sum(t.reset_count for t in self.trials)),
            "realtime_factor": round(self.sim_s / self.wall_s, 2) if self.wall_s > 0 else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: model, track, config, summary and every trial's metrics."""
        return {
            "model": self.model,
            "track": self.track,
            "race": self.config.to_dict(),
            "summary": self.summary(),
            "trials": [{**t.metrics(), "layout": t.layout} for t in self.trials],
        }


def lap_ratio(lap_s: float | None, bound_s: float | None) -> float | None:
    """A lap time as a multiple of the track's bound (1.0 = the fastest possible lap).

    Args:
        lap_s: the lap time (or an average of laps), s; None for none.
        bound_s: the track's lap-time bound, s; None when unknown.

    Returns:
        ``lap_s / bound_s``, or None when either is missing or the bound is not positive.
    """
    if lap_s is None or bound_s is None or not bound_s > 0.0:
        return None
    return float(lap_s) / float(bound_s)


def lap_time_bound_s(track: Track) -> float | None:
    """The fastest lap the simulated car can drive on ``track`` (as driven), or None.

    The optimal racing line of :func:`racer.track.racing_line` (cached per track): a flying lap
    on a loop, start to end from rest on an open track. Any failure to compute it is logged at
    debug level and gives None, so that it never breaks an evaluation or a page.

    Args:
        track: the track in the driven direction (``track.reversed()`` for a reverse drive).

    Returns:
        The bound, s, or None.
    """
    try:
        from racer.track.racing_line import racing_line

        bound = float(racing_line(track).lap_time_s)
    except Exception as exc:  # the bound is an extra: never fatal
        log.debug("no lap-time bound for track %r: %s: %s", track.name, type(exc).__name__, exc)
        return None
    if not (math.isfinite(bound) and bound > 0.0):
        log.debug("no lap-time bound for track %r: got %r", track.name, bound)
        return None
    return bound


def trial_rank_key(t: TrialResult) -> tuple[int, float, int, int]:
    """Ordering of trials, best first: :func:`racer.env.ranking.ranking_key`, then the index."""
    return (*ranking_key(t.score), t.trial)


class Evaluator:
    """Runs trials of one policy on one track with one race format.

    Args:
        policy: the driver (:class:`racer.evaluate.policies.Policy`).
        track: a track name, path or :class:`racer.track.Track`.
        config: the race settings.
        world_config: simulator settings (:class:`racer.sim.WorldConfig`); None for the default.
        together: drive every trial at once (:meth:`run_together`, boxes and bots included)
            when the policy can drive many cars (:func:`racer.evaluate.policies.batch_policy`);
            False drives them one after another in a ``RaceEnv``; None (the default) drives them
            together from :data:`TOGETHER_MIN_TRIALS` trials up, where it is faster.
        randomize: sim-to-real perturbations (:class:`racer.sim.randomize.Perturbation`, fixed
            levels, or a :class:`~racer.sim.randomize.RandomizeConfig`), applied by the envs
            exactly as in training; None: the plain world.
    """

    def __init__(
        self,
        policy: Policy,
        track: str | Track,
        config: RaceConfig | None = None,
        world_config: Any = None,
        together: bool | None = None,
        randomize: Any = None,
    ) -> None:
        self.policy = policy
        self.randomize = randomize
        self.world_config = world_config
        self.config = config or RaceConfig()
        self.track: Track = track if isinstance(track, Track) else load_track(track)
        if not self.track.closed and self.config.laps > 1:
            raise ConfigError(
                f"track {self.track.name!r} is not a loop: it has one lap; use --laps 1"
            )
        if together is None:
            together = self.config.trials >= TOGETHER_MIN_TRIALS
        self.together = together  # boxes and bots too: RaceVectorEnv has them (racer.sim.objects)
        self.limit_steps = int(
            math.ceil(self.config.laps * self.config.time_limit_per_lap_s * CONTROL_HZ)
        )
        self.env = RaceEnv(
            self.track,
            observation=policy.observation,
            action_space=policy.action_space,
            reward="progress",
            start="fixed",
            direction="forward",
            max_steps=self.limit_steps + 1,  # the evaluator's time limit comes first
            world_config=world_config,
            randomize=randomize,
        )
        check = getattr(policy, "check_observation", None)
        if check is not None:
            obs, _ = self.env.reset(options={"start_s": 0.0, "reverse": False})
            check(obs)

    # ------------------------------------------------------------------ running
    def run(self) -> EvaluationResult:
        """Run every trial.

        Returns:
            The results.
        """
        import time

        t0 = time.perf_counter()
        batch = batch_policy(self.policy, self.config.trials) if self.together else None
        if batch is not None:
            trials = self.run_together(batch)
        else:
            trials = [self.run_trial(k) for k in range(self.config.trials)]
        wall_s = time.perf_counter() - t0
        return EvaluationResult(
            model=self.policy.name,
            track=self.track.name,
            config=self.config,
            trials=trials,
            wall_s=wall_s,
            track_obj=self.track,
            # Every trial drives the track forward (from the start line): its own bound.
            bound_s=lap_time_bound_s(self.track),
        )

    def run_trial(self, trial: int) -> TrialResult:
        """Drive one trial from the start line (see the module docstring for the rules).

        Args:
            trial: the trial index (seeds the object placement).

        Returns:
            The trial's metrics and line.
        """
        env = self.env
        policy = self.policy
        layout = setup_race(env.world, self.track, self.config, trial)
        obs, info = env.reset(options={"start_s": 0.0, "reverse": False})
        policy.reset(env)
        run = _TrialRun(self.config, trial, layout, info, self.limit_steps)
        while True:
            action = policy.act(obs)
            obs, _, terminated, truncated, info = env.step(action)
            what = run.after_step(info, action, terminated or truncated)
            if what == _NEXT_LAP:
                env.next_lap()  # the env's lap ended; the trial goes on into the next one
            elif what == _PUT_BACK:
                state = env.world.car_state()
                start_s, lateral = self._put_back(
                    env.driven_track, state.x_m, state.y_m, env.world.objects()
                )
                obs, info = env.put_back(start_s, lateral)
                policy.reset(env)
                run.put_back(info)
            elif what == _END:
                return run.result()

    def run_together(self, batch: BatchPolicy) -> list[TrialResult]:
        """Drive every trial at once, one car each, in one :class:`racer.env.RaceVectorEnv`.

        The same rules as :meth:`run_trial` (one :class:`_TrialRun` per car), for races without
        objects; the policy drives the cars together (``batch``, see
        :func:`racer.evaluate.policies.batch_policy`).
        """
        cfg = self.config
        n = cfg.trials
        venv = RaceVectorEnv(
            n,
            self.track,
            observation=self.policy.observation,
            action_space=self.policy.action_space,
            reward="progress",
            start="fixed",
            direction="forward",
            max_steps=self.limit_steps + 1,
            world_config=self.world_config,
            randomize=self.randomize,
            race=cfg.setup,
        )
        # each trial's objects as setup_race places them for run_trial (the trial's generator)
        lays = [place_objects(cfg.setup, self.track, trial_rng(cfg.seed, k)) for k in range(n)]
        options: dict[str, Any] = {"start_s": 0.0, "reverse": False}
        if cfg.setup.n_boxes or cfg.setup.n_bots:
            options["layout"] = lays
        obs, info = venv.reset(options=options)
        batch.reset(venv, np.arange(n))
        runs = [
            _TrialRun(cfg, k, lays[k].to_dict(), _car_info(info, k), self.limit_steps)
            for k in range(n)
        ]
        results: list[TrialResult | None] = [None] * n
        active = np.arange(n)
        track = venv.driven_tracks[False]
        while active.size:
            actions = batch.act(active, obs[active])
            cols = venv.step_cars(active, actions)
            obs[active] = cols.obs
            ended = cols.terminated | cols.truncated
            laps, backs, done = [], [], []
            for j, i in enumerate(active.tolist()):
                what = runs[i].after_step(_step_info(cols, j), actions[j], bool(ended[j]))
                if what == _NEXT_LAP:
                    laps.append(i)
                elif what == _PUT_BACK:
                    backs.append(i)
                elif what == _END:
                    done.append(i)
                    results[i] = runs[i].result()
            if laps:
                venv.next_lap(np.asarray(laps))
            if backs:
                x, y, _ = venv.car_poses()
                where = [self._put_back(track, x[i], y[i], _objects_of(venv, i)) for i in backs]
                idx = np.asarray(backs)
                back = venv.put_back_cars(
                    idx, np.array([w[0] for w in where]), np.array([w[1] for w in where])
                )
                obs[idx] = back.obs
                batch.reset(venv, idx)
                for j, i in enumerate(backs):
                    runs[i].put_back(_step_info(back, j))
            if done:
                active = np.setdiff1d(active, done)
        venv.close()
        return [r for r in results if r is not None]

    def _put_back(self, track: Track, x_m: float, y_m: float, objects: Any) -> tuple[float, float]:
        """Where the car goes back on the track: ``(arc length of its centre, lateral offset)``.

        DeepRacer's rule (simapp's ``RolloutCtrl._get_car_reset_model_state``): the centre-line
        point nearest to the car's centre (``x_m``, ``y_m``); but when a box lies within
        :data:`RESET_OBJECT_GAP_M` of it along the track, :data:`RESET_BEHIND_M` behind that box,
        in the other lane (+-width/4). Then, with objects on the track, moved back along the
        track until the car is clear of every object (bots, the other boxes).
        """
        s = float(track.project(np.array([x_m, y_m], dtype=np.float64)).s)
        if not objects:
            return s, 0.0
        length = float(track.length)
        lateral = 0.0
        gap_best = RESET_OBJECT_GAP_M
        for o in objects:
            if o.kind != "box":
                continue
            p = track.project(np.array([o.x_m, o.y_m], dtype=np.float64))
            gap = abs(float(p.s) - s)
            if track.closed:
                gap = min(gap, length - gap)
            if gap < gap_best:
                gap_best = gap
                box_s, box_left = float(p.s), float(p.lateral) >= 0.0
                s = _along(track, box_s - RESET_BEHIND_M)
                lane = BOX_LANE_FRACTION * float(track.width_at(s))
                lateral = -lane if box_left else lane
        for _ in range(MAX_BACKOFF_STEPS):
            x, y, _ = track.lane_pose(s, lateral)
            clear = all(
                math.hypot(o.x_m - x, o.y_m - y)
                > 0.5 * math.hypot(o.size_m[0], o.size_m[1]) + RESET_CLEARANCE_M
                for o in objects
            )
            if clear:
                break
            s = _along(track, s - RESET_BACKOFF_M)
        return s, lateral

    def close(self) -> None:
        """Release the simulator."""
        self.env.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_GO, _NEXT_LAP, _PUT_BACK, _END = "go", "next_lap", "put_back", "end"


class _Placed(NamedTuple):
    """An object's centre, size and kind, as ``_put_back`` reads them (a World's ObjectState
    too)."""

    x_m: float
    y_m: float
    size_m: tuple[float, float, float]
    kind: str


def _along(track: Track, s: float) -> float:
    """Arc length ``s`` on the track: wrapped on a loop, clipped to the ends otherwise."""
    return s % float(track.length) if track.closed else min(max(s, 0.0), float(track.length))


def _objects_of(venv: RaceVectorEnv, i: int) -> list[_Placed]:
    """Car ``i``'s boxes and bots now (RaceEnv's ``world.objects()`` for ``_put_back``)."""
    objs = venv.objects_of(i)
    if objs is None:
        return []
    return [
        _Placed(
            float(objs.x[0, k]),
            float(objs.y[0, k]),
            (2 * float(objs.half_l[0, k]), 2 * float(objs.half_w[0, k]), float(objs.z1[0, k])),
            "bot" if bool(objs.bot[0, k]) else "box",
        )
        for k in range(objs.count)
    ]


class _TrialRun:
    """One trial's rules and bookkeeping, step by step, whoever drives the car.

    :meth:`Evaluator.run_trial` (one ``RaceEnv``) and :meth:`Evaluator.run_together` (a car of a
    ``RaceVectorEnv`` per trial) feed it each step's ``info``; it answers what the car does
    next (drive on, go on into the next lap, be put back, stop) and builds the
    :class:`TrialResult`.
    """

    def __init__(
        self, cfg: RaceConfig, trial: int, layout: dict[str, Any], info: dict[str, Any], limit: int
    ) -> None:
        self.cfg = cfg
        self.trial = trial
        self.layout = layout
        self.limit_steps = limit
        self.lap_m = float(info["lap_m"])
        self.done_m = 0.0  # distance driven along the track since the start, m (the env's)
        self.steps = 0
        self.penalty_s = 0.0
        self.off_track = self.crashes = self.resets = 0
        self.lap_times: list[float] = []
        self.lap_ends: list[int] = []
        self.lap_start_s = 0.0  # elapsed time (with penalties) at the start of the current lap
        params = info["params"]
        self.points: list[tuple[float, float]] = [(float(params["x"]), float(params["y"]))]
        self.poses: list[tuple[float, float, float, float]] = [_pose(info)]
        self.trace = [simtrace_line(_trace_fields(info, "prepare", 0.0), 0, "-1", "", False)]
        self.status = STATUS_TIME_UP

    def after_step(self, info: dict[str, Any], action: Any, ended: bool) -> str:
        """Account one step; returns what happens next (go on, next lap, put back, end)."""
        cfg = self.cfg
        self.steps = int(info["steps"])
        self.done_m = float(info["distance_m"])
        params = info["params"]
        self.points.append((float(params["x"]), float(params["y"])))
        self.poses.append(_pose(info))
        elapsed = float(info["sim_time_s"]) + self.penalty_s
        row = _trace_fields(info, str(info["episode_status"]), elapsed)
        self.trace.append(simtrace_line(row, self.steps, action_text(action), "", False))
        if info["lap_completed"] and len(self.lap_times) < cfg.laps:
            self.lap_times.append(elapsed - self.lap_start_s)
            self.lap_ends.append(len(self.points) - 1)
            self.lap_start_s = elapsed
        if len(self.lap_times) >= cfg.laps:
            self.status = STATUS_LAP_COMPLETE
            return _END
        env_status = info["episode_status"]
        what = _GO
        if env_status == STATUS_LAP_COMPLETE:
            what = _NEXT_LAP
        elif env_status in INCIDENTS:
            if env_status == STATUS_OFF_TRACK:
                self.off_track += 1
                self.penalty_s += cfg.offtrack_penalty_s
            elif env_status == STATUS_CRASHED:
                self.crashes += 1
                self.penalty_s += cfg.crash_penalty_s
            if self.resets >= cfg.reset_limit:
                self.status = env_status
                return _END
            self.resets += 1
            what = _PUT_BACK
        elif ended:  # pragma: no cover - the env's limit is past ours
            self.status = env_status
            return _END
        if self.steps >= self.limit_steps:
            self.status = STATUS_TIME_UP
            return _END
        return what

    def put_back(self, info: dict[str, Any]) -> None:
        """Account a put-back (``info`` as ``put_back`` returned it)."""
        self.done_m = float(info["distance_m"])
        params = info["params"]
        self.points.append((math.nan, math.nan))
        self.points.append((float(params["x"]), float(params["y"])))
        self.poses.append((math.nan, math.nan, math.nan, math.nan))
        self.poses.append(_pose(info))

    def result(self) -> TrialResult:
        """The trial's metrics and line."""
        cfg = self.cfg
        total_m = cfg.laps * self.lap_m
        done = self.status == STATUS_LAP_COMPLETE
        completion = 100.0 if done else 100.0 * self.done_m / total_m
        steps = self.steps
        trace = self.trace
        return TrialResult(
            trial=self.trial,
            completion_percentage=float(min(100.0, max(0.0, completion))),
            elapsed_time_in_milliseconds=int(round((steps * DT_S + self.penalty_s) * 1000.0)),
            episode_status=self.status,
            off_track_count=self.off_track,
            crash_count=self.crashes,
            reset_count=self.resets,
            lap_times_s=[float(t) for t in self.lap_times],
            laps=cfg.laps,
            penalty_s=float(self.penalty_s),
            sim_time_s=steps * DT_S,
            steps=steps,
            trajectory=np.asarray(self.points, dtype=np.float64),
            lap_ends=self.lap_ends,
            layout=self.layout,
            poses=np.asarray(self.poses, dtype=np.float64),
            trace=trace[:-1] + [trace[-1].replace(",False,", ",True,", 1)],  # done: the last
        )


def _car_info(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Car ``i``'s ``info`` dict from a ``RaceVectorEnv``'s vector ``info``."""
    out: dict[str, Any] = {"params": info["params"][i]}
    for key, values in info.items():
        if key.startswith("_") or key == "params" or not info.get("_" + key, [False])[i]:
            continue
        value = values[i]
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def _step_info(cols: StepColumns, j: int) -> dict[str, Any]:
    """Car ``j``'s ``info`` dict from a ``RaceVectorEnv`` core call's columns."""
    out: dict[str, Any] = {"params": cols.params[j]}
    for key, values in cols.info.items():
        value = values[j]
        out[key] = value.item() if isinstance(value, np.generic) else value
    if not math.isnan(cols.lap_time_s[j]):
        out["lap_time_s"] = float(cols.lap_time_s[j])
    return out


def _trace_fields(info: dict[str, Any], status: str, tstamp_s: float) -> tuple[Any, ...]:
    """A simtrace row's fields (:data:`racer.train.run_folder.TRACE_FIELDS`) from ``info``."""
    p = info["params"]
    x, y = float(p["x"]), float(p["y"])
    wps = p["waypoints"]
    prev_i, next_i = p["closest_waypoints"]
    closer = (wps[prev_i][0] - x) ** 2 + (wps[prev_i][1] - y) ** 2 <= (wps[next_i][0] - x) ** 2 + (
        wps[next_i][1] - y
    ) ** 2
    return (
        x,
        y,
        float(p["heading"]),
        float(info.get("steering_deg", 0.0)),
        float(info.get("throttle_mps", 0.0)),
        bool(p["all_wheels_on_track"]),
        float(info.get("progress", 0.0)),
        prev_i if closer else next_i,
        float(p["track_length"]),
        tstamp_s,
        status,
    )


def write_deepracer_evaluation(
    run_dir: str | Path, result: EvaluationResult, when: datetime | None = None
) -> dict[str, Path]:
    """Write an evaluation of a run into the run folder in DeepRacer-for-Cloud's layout.

    ``evaluation-<YYYYMMDDhhmmss>/evaluation-simtrace/0-iteration.csv`` (one episode per trial,
    DeepRacer's simtrace columns) and ``metrics/EvaluationMetrics-<YYYYMMDDhhmmss>.json`` (one
    entry per trial, DeepRacer's keys), what deepracer-utils' ``load_evaluation_trace()`` and
    the log-analysis notebooks read; ``model/model_metadata.json`` too when the run lacks it.

    Args:
        run_dir: the run folder the evaluated model came from.
        result: the evaluation.
        when: the evaluation's time (default now); a later second when that one is taken.

    Returns:
        What was written, by description.
    """
    run = RunFolder(run_dir)
    when = when or datetime.now()
    stamp = when.strftime(STAMP_FORMAT)
    while run.evaluation_simtrace_path(stamp).parent.parent.exists():
        when += timedelta(seconds=1)
        stamp = when.strftime(STAMP_FORMAT)
    trace_path = run.evaluation_simtrace_path(stamp)
    lines = [SIMTRACE_HEADER_LINE]
    entries = []
    clock_ms = 0
    for k, t in enumerate(result.trials):
        lines.extend(f"{k},{row}" for row in t.trace)
        statuses = [row.split(",")[14] for row in t.trace]  # episode_status
        entries.append(
            {
                "completion_percentage": int(t.completion_percentage),
                "metric_time": clock_ms + t.elapsed_time_in_milliseconds,
                "start_time": clock_ms,
                "elapsed_time_in_milliseconds": t.elapsed_time_in_milliseconds,
                "episode_status": STATUS_LABELS.get(t.episode_status, t.episode_status),
                "crash_count": t.crash_count,
                "immobilized_count": statuses.count(STATUS_IMMOBILIZED),
                "off_track_count": t.off_track_count,
                "reversed_count": statuses.count(STATUS_REVERSED),
                "reset_count": t.reset_count,
                "trial": k + 1,
            }
        )
        clock_ms += t.elapsed_time_in_milliseconds
    trace_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(trace_path, "".join(lines))
    metrics_path = run.evaluation_metrics_path(stamp)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(metrics_path, json.dumps({"metrics": entries}) + "\n")
    written = {
        "DeepRacer evaluation trace": trace_path,
        "DeepRacer evaluation metrics": metrics_path,
    }
    model_meta = run.deepracer_model_metadata_path
    if not model_meta.is_file() and run.model_metadata_path.is_file():
        model_meta.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(model_meta, run.model_metadata_path.read_text(encoding="utf-8"))
    return written


def _pose(info: dict[str, Any]) -> tuple[float, float, float, float]:
    """A trajectory row's pose from the env's ``info``: heading and steering (rad), speed, progress."""
    params = info["params"]
    return (
        math.radians(float(params["heading"])),
        math.radians(float(info.get("steering_deg", 0.0))),
        float(info.get("speed_mps", 0.0)),
        float(info.get("progress", math.nan)),
    )


def evaluate(
    policy: Policy,
    track: str | Track,
    config: RaceConfig | None = None,
    world_config: Any = None,
) -> EvaluationResult:
    """Evaluate a policy: every trial of ``config`` on ``track``, headless.

    Args:
        policy: the driver.
        track: a track name, path or :class:`racer.track.Track`.
        config: the race settings (default: 3 trials of one time-trial lap).
        world_config: simulator settings, or None.

    Returns:
        The results.
    """
    with Evaluator(policy, track, config, world_config) as ev:
        return ev.run()


__all__ = [
    "METRIC_NAMES",
    "TOGETHER_MIN_TRIALS",
    "EvaluationResult",
    "Evaluator",
    "TrialResult",
    "evaluate",
    "lap_ratio",
    "lap_time_bound_s",
    "trial_rank_key",
    "write_deepracer_evaluation",
]
