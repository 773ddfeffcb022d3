"""``racer sweep``: many trainings of one recipe on Ray Tune, ranked by the leaderboard's rule.

A sweep is a grid of agent.toml values (``--grid hyperparameters.learning_rate=1e-4,3e-4``),
each point trained ``samples`` times with seeds ``budget.seed + k``. Every trial is a normal
run folder, written by the same pipeline as ``racer train`` (:func:`racer.train.pipeline.train`)
into ``OUT/trials/<name>``. Ray Tune schedules them across the cluster's CPUs and stops the ones
that do not learn with ASHA on the trainer's periodic evaluation (:func:`training_score` of its
laps, one lap from each of ``evaluation.episodes`` start points). At the end each trial's best
model races the leaderboard's official evaluation (3 consecutive laps, Ray tasks) and the trials
are ranked by the leaderboard's rule (:func:`racer.env.ranking.ranking_key`): a table, a plot
(``sweep.png``) and ``sweep.json``.

``OUT/sweep.json`` is also the sweep's book, written by the driver alone (atomically) as trials
finish: run the same command again after a crash and trials already finished are not trained
again, a trial cut off mid-way continues from its last checkpoint, and finished races are not
raced again. A trial whose worker dies is restarted by Tune from its run folder's checkpoint.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import math
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racer.env.ranking import RaceScore, ranking_key
from racer.errors import ConfigError, RacerError
from racer.evaluate.races import RaceConfig
from racer.train.config import (
    RECIPE_SECTIONS,
    AgentConfig,
    check_option,
    config_from_dict,
    load_agent,
)
from racer.util.files import atomic_write_json

SWEEP_JSON = "sweep.json"
SWEEP_PNG = "sweep.png"
RANKING_TXT = "ranking.txt"
TRIALS = "trials"
TUNE = "tune"
SCHEMA = 1
#: recipe sections a grid may set (``agent`` and ``action_space`` are not single values)
SECTIONS = RECIPE_SECTIONS
SECTIONS = (
    "env",
    "algorithm",
    "hyperparameters",
    "budget",
    "evaluation",
    "checkpoint",
    "pretrain",
)
#: CPUs Ray reserves for each trial (the trainer's one process; torch on one thread)
TRIAL_CPUS = 1
#: Tune restarts of a trial whose worker died (each continues from the run's checkpoint)
MAX_FAILURES = 3
#: training_score of a trial whose every evaluation lap completes: this plus 1000 / lap time
COMPLETE_SCORE = 200.0

Log = Callable[[str], None]


# --- the grid -------------------------------------------------------------------------------


def _section_fields() -> dict[str, dict[str, Any]]:
    """section -> field -> default, from the recipe's dataclasses."""
    cfg = AgentConfig()
    return {
        s: {f.name: getattr(getattr(cfg, s), f.name) for f in dataclasses.fields(getattr(cfg, s))}
        for s in SECTIONS
    }


def check_key(key: str) -> str:
    """A grid key as a dotted agent.toml key (``hyperparameters.learning_rate``), checked.

    Raises:
        ConfigError: an unknown key, with the nearest valid one.
    """
    fields = _section_fields()
    valid = [f"{s}.{f}" for s, names in fields.items() for f in names]
    if key in valid:
        return key
    leaf = key.rpartition(".")[2]
    near = [v for v in valid if v.endswith("." + leaf)] or difflib.get_close_matches(
        key, valid, n=1, cutoff=0.5
    )
    hint = f"; did you mean {near[0]!r}?" if near else "; keys are agent.toml's: section.field"
    raise ConfigError(f"--grid: unknown key {key!r}{hint}")


def _split_values(text: str) -> list[str]:
    """``a,b,[1,2]`` -> ``["a", "b", "[1,2]"]``: commas inside brackets or quotes stay."""
    out, depth, quote, start = [], 0, "", 0
    for i, c in enumerate(text):
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [v.strip() for v in out]


def _parse_value(text: str, default: Any) -> Any:
    """A grid value as TOML reads it (``3e-4``, ``true``, ``[64, 64]``); a bare word of a string
    field is that string."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    if isinstance(default, str) and not isinstance(value, str):
        value = text
    if isinstance(default, list) and isinstance(value, str):
        value = [value]  # one track
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``--grid key=v1,v2`` options as ``{key: [values]}``, every value checked by the recipe's
    rule for its key (one-line :class:`ConfigError` before anything starts).

    Args:
        items: the options' values, ``key=v1,v2,...``.

    Returns:
        The grid in option order.
    """
    fields = _section_fields()
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ConfigError(
                f"--grid {item!r}: write KEY=V1,V2 (e.g. ppo keys: hyperparameters.learning_rate=1e-4,3e-4)"
            )
        key = check_key(key)
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice: list all its values in one option")
        section, name = key.split(".", 1)
        default = fields[section][name]
        values = [_parse_value(t, default) for t in _split_values(text)]
        if any(t == "" for t in _split_values(text)):
            raise ConfigError(f"--grid {item!r}: an empty value")
        for v in values:
            check_option(f"--grid {key}", key, v)
        if len({repr(v) for v in values}) != len(values):
            raise ConfigError(f"--grid {key}: a value is listed twice")
        grid[key] = values
    return grid


# --- the plan -------------------------------------------------------------------------------


@dataclass
class Trial:
    """One training of the sweep.

    Attributes:
        name: its run folder's name under ``OUT/trials``.
        params: the grid values it takes (key -> value) and its seed (``budget.seed``).
        recipe: the whole recipe (agent.toml form) it trains.
    """

    name: str
    params: dict[str, Any]
    recipe: dict[str, Any]


def recipe_of(cfg: AgentConfig) -> dict[str, Any]:
    """An :class:`AgentConfig` as agent.toml's dict (what :func:`config_from_dict` reads)."""
    data = cfg.to_dict()
    agent = {"name": data.pop("name"), "description": data.pop("description")}
    if not data["action_space"]:
        data.pop("action_space")
    return {"agent": agent, **data}


def base_recipe(
    agent: str | Path, tracks: list[str] | None = None, steps: int | None = None
) -> AgentConfig:
    """The sweep's recipe: the agent with ``--track`` and ``--steps`` applied.

    Track files are made absolute (Tune runs each trial in its own working folder).
    """
    cfg = load_agent(agent)
    if tracks:
        check_option("--track", "env.tracks", list(tracks))
        cfg.env.tracks = [str(Path(t).resolve()) if Path(t).is_file() else t for t in tracks]
    if steps is not None:
        check_option("--steps", "budget.steps", steps)
        cfg.budget.steps = steps
    if cfg.evaluation.every_steps <= 0:
        raise ConfigError(
            f"{agent}: a sweep needs evaluation.every_steps > 0 (ASHA compares the trials' "
            "evaluations)"
        )
    return cfg


def _short(value: Any) -> str:
    text = ("x".join(str(v) for v in value)) if isinstance(value, list) else f"{value}"
    keep = "".join(c if c.isalnum() or c in ".-_" else "_" for c in text)
    return keep[:24]


def plan_trials(base: AgentConfig, grid: dict[str, list[Any]], samples: int = 1) -> list[Trial]:
    """Every grid point ``samples`` times (seeds ``budget.seed + k`` unless the grid sets the
    seed), each recipe validated whole (a batch too large for a rollout, SAC with discrete
    actions...) before anything starts.

    Args:
        base: the sweep's recipe (:func:`base_recipe`).
        grid: :func:`parse_grid`'s result.
        samples: repeats of each point.

    Returns:
        The trials, named ``t000-...`` in grid order.
    """
    if samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {samples}")
    keys = list(grid)
    points = list(itertools.product(*(grid[k] for k in keys))) or [()]
    seeded = "budget.seed" in grid
    trials: list[Trial] = []
    data = recipe_of(base)
    for point in points:
        for k in range(samples if not seeded else 1):
            recipe = copy.deepcopy(data)
            params: dict[str, Any] = {}
            for key, value in zip(keys, point, strict=True):
                section, name = key.split(".", 1)
                recipe[section][name] = value
                params[key] = value
            if not seeded:
                recipe["budget"]["seed"] = base.budget.seed + k
                params["budget.seed"] = recipe["budget"]["seed"]
            label = "-".join(f"{key.rpartition('.')[2]}={_short(v)}" for key, v in params.items())
            name = f"t{len(trials):03d}-{label}"[:120]
            source = f"trial {name}"
            cfg = config_from_dict(recipe, source=source, base_dir=base.base_dir)
            trials.append(Trial(name, params, recipe_of(cfg)))
    return trials


# --- the book (sweep.json) ------------------------------------------------------------------


@dataclass
class Book:
    """``sweep.json``: the plan, and each trial's state and results.

    Attributes:
        path: the file.
        data: its content: ``plan`` (what was asked: agent, grid, samples, recipe) and
            ``trials`` (name -> ``params``, ``status`` pending | done | stopped | failed,
            ``training`` (the last evaluation reported), ``race`` (the official evaluation)).
    """

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    def save(self) -> None:
        """Write the book atomically (a crash leaves the previous one whole)."""
        atomic_write_json(self.path, self.data, sort_keys=False)

    def trial(self, name: str) -> dict[str, Any]:
        return self.data["trials"][name]  # type: ignore[no-any-return]


def open_book(out: Path, plan: dict[str, Any], trials: list[Trial]) -> Book:
    """The sweep's book: a new one, or the one a previous run of the same sweep left (resume).

    Raises:
        ConfigError: ``out`` holds another sweep, or something that is not a sweep.
    """
    path = out / SWEEP_JSON
    if path.exists():
        import json

        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            old_plan = data["plan"]
            data["trials"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: not a readable sweep book ({exc}); choose another --out"
            ) from None
        if old_plan != plan:
            changed = sorted(k for k in set(plan) | set(old_plan) if plan.get(k) != old_plan.get(k))
            raise ConfigError(
                f"{out}: holds a different sweep ({', '.join(changed)} differ); rerun its own "
                "command to resume it, or choose another --out"
            )
        return Book(path, data)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: exists and is not an empty folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    book = Book(
        path,
        {
            "schema": SCHEMA,
            "plan": plan,
            "trials": {
                t.name: {"params": t.params, "recipe": t.recipe, "status": "pending"}
                for t in trials
            },
        },
    )
    book.save()
    return book


# --- a trial, in its Ray worker ---------------------------------------------------------------


def training_score(laps: int, episodes: int, mean_progress: float, mean_lap_time_s: float) -> float:
    """What ASHA compares (higher is better): the share of the evaluation's laps completed (0-100)
    plus their mean progress (0-100); once every lap completes, :data:`COMPLETE_SCORE` plus
    1000 / the mean lap time in seconds (a faster lap, a higher score)."""
    if episodes > 0 and laps >= episodes and math.isfinite(mean_lap_time_s) and mean_lap_time_s > 0:
        return COMPLETE_SCORE + 1000.0 / mean_lap_time_s
    share = 100.0 * laps / episodes if episodes else 0.0
    return share + float(mean_progress)


def _report_of(result: Any) -> dict[str, Any]:
    lap = result.mean_lap_time_s
    return {
        "steps": int(result.steps),
        "laps": int(result.laps),
        "episodes": int(result.episodes),
        "mean_progress": round(float(result.mean_progress), 3),
        "mean_lap_time_s": round(float(lap), 4) if math.isfinite(lap) else None,
        "score": round(training_score(result.laps, result.episodes, result.mean_progress, lap), 4),
    }


def train_trial(
    config: dict[str, Any], out: str, base_dir: str, recipes: dict[str, dict[str, Any]]
) -> None:
    """Tune's trainable: one trial's training (a new run, or its run folder resumed).

    Each periodic evaluation of the trainer is reported to Tune (:func:`training_score`); Tune
    may stop the trial after any of them (ASHA). A run folder left by a killed worker continues
    from its newest checkpoint; one without a checkpoint starts again.
    """
    from ray import tune

    from racer.train.checkpoint import usable_checkpoints
    from racer.train.pipeline import train
    from racer.train.run_folder import RunFolder

    name = config["trial"]
    run_dir = Path(out) / TRIALS / name
    cfg = config_from_dict(recipes[name], source=f"trial {name}", base_dir=base_dir)
    resume = None
    if run_dir.is_dir() and any(run_dir.iterdir()):
        try:
            checkpoints = usable_checkpoints(RunFolder(run_dir).checkpoints_dir)
        except ConfigError:  # no checkpoints folder yet, or none of them loads
            checkpoints = []
        if checkpoints:
            steps = cfg.budget.steps
            cfg = RunFolder.open(run_dir).config()
            cfg.budget.steps = steps
            resume = run_dir
        else:  # cut off before its first checkpoint: nothing to continue from
            shutil.rmtree(run_dir)
    reported: list[dict[str, Any]] = []

    def on_eval(result: Any) -> None:
        reported.append(_report_of(result))
        tune.report({**reported[-1], "finished": False})

    res = train(
        cfg, out=None if resume else run_dir, resume=resume, progress_bar=False, on_eval=on_eval
    )
    last = reported[-1] if reported else {"steps": res.steps, "score": 0.0}
    tune.report({**last, "steps": int(res.steps), "finished": True})


# --- the final race, in a Ray task ----------------------------------------------------------


def race_task(run_dir: str, track: str, config: dict[str, Any]) -> dict[str, Any]:
    """Ray task: the official evaluation of a trial's best model (nothing written)."""
    from racer.evaluate import evaluate, load_policy

    try:
        policy = load_policy(run_dir)
        result = evaluate(policy, track, RaceConfig(**config))
    except RacerError as exc:
        return {"error": str(exc)}
    t = result.best_trial()
    return {
        "track": track,
        "complete": bool(t.complete),
        "average_lap_s": t.average_lap_s,
        "best_lap_s": t.best_lap_s,
        "completion_percentage": float(t.completion_percentage),
        "off_track_count": int(t.off_track_count),
        "lap_times_s": [float(x) for x in t.lap_times_s],
        "episode_status": t.episode_status,
    }


def race_key(race: dict[str, Any] | None) -> tuple[float, ...]:
    """A trial's place by the leaderboard's rule (no race, or a failed one, last)."""
    if not race or "error" in race:
        return (2, 0.0, 0)
    score = RaceScore(
        complete=bool(race["complete"]),
        average_lap_s=race["average_lap_s"],
        completion_percentage=float(race["completion_percentage"]),
        off_track_count=int(race["off_track_count"]),
    )
    return ranking_key(score)


# --- the driver -----------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes:
        out: the sweep folder.
        ranking: trial names, best first.
        book: ``sweep.json``'s content.
        trained: trials trained (or continued) by this call.
        table: the ranking table as text (also ``OUT/ranking.txt``).
    """

    out: Path
    ranking: list[str]
    book: dict[str, Any]
    trained: list[str]
    table: str


def run_sweep(
    agent: str | Path,
    grid: dict[str, list[Any]],
    *,
    out: Path,
    samples: int = 1,
    tracks: list[str] | None = None,
    steps: int | None = None,
    address: str = "local",
    grace_steps: int | None = None,
    race: RaceConfig | None = None,
    max_failures: int = MAX_FAILURES,
    log: Log | None = print,
) -> SweepResult:
    """Run (or resume) a sweep and rank it; see the module docstring.

    Args:
        agent: the recipe (folder or ``.toml``).
        grid: :func:`parse_grid`'s result.
        out: the sweep folder (its ``sweep.json`` resumes the sweep).
        samples: trainings of each grid point (seeds ``budget.seed + k``).
        tracks: ``--track``: the recipe's tracks replaced.
        steps: ``--steps``: every trial's budget.
        address: Ray: ``local``, ``auto`` or ``HOST:PORT``.
        grace_steps: ASHA trains every trial at least this many steps (default: a quarter of
            the budget, at least one evaluation period).
        race: the final race's settings (default: the leaderboard's official evaluation).
        max_failures: Tune restarts of a trial whose worker died.
        log: progress lines (None: silent).

    Returns:
        The ranking and the book.
    """
    from racer.evaluate.leaderboard import official_config
    from racer.train.pipeline import eval_track

    say = log or (lambda _m: None)
    base = base_recipe(agent, tracks, steps)
    trials = plan_trials(base, grid, samples)
    race_cfg = race or official_config()
    track = eval_track(base)
    plan = {
        "agent": str(Path(base.base_dir)),
        "grid": grid,
        "samples": samples,
        "steps": base.budget.steps,
        "tracks": list(base.env.tracks),
        "race_track": track,
        "race": race_cfg.to_dict(),
        "trials": [t.name for t in trials],
    }
    out = out.resolve()
    book = open_book(out, plan, trials)
    todo = [t for t in trials if book.trial(t.name)["status"] not in ("done", "stopped")]
    from racer.distributed.cluster import connect

    ray = connect(address)
    if todo:
        say(f"sweep: {len(todo)} of {len(trials)} trials to train -> {out / TRIALS}")
        _tune(ray, book, todo, base, out, grace_steps, max_failures, say)
    _race(ray, book, trials, out, track, race_cfg, say)
    ranking = sorted(
        (t.name for t in trials), key=lambda n: (race_key(book.trial(n).get("race")), n)
    )
    for place, name in enumerate(ranking, 1):
        book.trial(name)["rank"] = place
    book.data["ranking"] = ranking
    book.save()
    table = write_table(book, ranking, out / RANKING_TXT)
    write_plot(book, ranking, out, out / SWEEP_PNG)
    return SweepResult(out, ranking, book.data, [t.name for t in todo], table)


def _tune(
    ray: Any,
    book: Book,
    todo: list[Trial],
    base: AgentConfig,
    out: Path,
    grace_steps: int | None,
    max_failures: int,
    say: Log,
) -> None:
    """Train ``todo`` under Tune with ASHA; the book follows every result (driver side)."""
    import os

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's console tables: racer logs its own
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    class Bookkeeper(tune.Callback):  # type: ignore[misc]
        """Tune's events into the book, in the driver: the single writer of sweep.json."""

        def on_trial_result(
            self, iteration: int, trials: Any, trial: Any, result: Any, **info: Any
        ) -> None:
            entry = book.trial(trial.config["trial"])
            entry["training"] = {
                k: result.get(k)
                for k in ("steps", "laps", "episodes", "mean_progress", "mean_lap_time_s", "score")
            }
            entry["finished"] = bool(result.get("finished"))
            entry["status"] = "running"
            book.save()

        def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            name = trial.config["trial"]
            entry = book.trial(name)
            steps = int((entry.get("training") or {}).get("steps") or 0)
            # ASHA stops a trial at its last report too (steps = max_t): the budget decides
            finished = entry.get("finished") or steps >= max_t
            entry["status"] = "done" if finished else "stopped"
            book.save()
            t = entry.get("training") or {}
            why = "" if entry["status"] == "done" else " (stopped early by ASHA)"
            say(
                f"trial {name}: {t.get('steps', 0)} steps, evaluation score {t.get('score', 0)}{why}"
            )

        def on_trial_recover(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            name = trial.config["trial"]
            entry = book.trial(name)
            entry["restarts"] = int(entry.get("restarts", 0)) + 1
            book.save()
            say(f"trial {name}: its worker failed; restarted from its last checkpoint")

        def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            name = trial.config["trial"]
            entry = book.trial(name)
            entry["status"] = "failed"
            entry["error"] = str(getattr(trial, "error_msg", "") or "failed")[:500]
            book.save()
            say(
                f"trial {name}: failed; its run folder is kept, the next run of the sweep resumes it"
            )

    every = base.evaluation.every_steps
    max_t = max(1, base.budget.steps)
    grace = grace_steps if grace_steps is not None else max(every, max_t // 4)
    scheduler = ASHAScheduler(
        time_attr="steps",
        max_t=max_t,
        grace_period=max(1, min(grace, max_t)),
        reduction_factor=2,
    )
    # a trial trains in one process: its cars are stepped together there (racer.train.vec)
    cpus = TRIAL_CPUS
    recipes = {t.name: t.recipe for t in todo}
    trainable = tune.with_resources(
        tune.with_parameters(train_trial, out=str(out), base_dir=base.base_dir, recipes=recipes),
        {"cpu": cpus},
    )
    runs = sorted((out / TUNE).glob("run-*")) if (out / TUNE).is_dir() else []
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search([t.name for t in todo])},
        tune_config=tune.TuneConfig(scheduler=scheduler, metric="score", mode="max"),
        run_config=tune.RunConfig(
            name=f"run-{len(runs)}",
            storage_path=str(out / TUNE),
            verbose=0,
            callbacks=[Bookkeeper()],
            failure_config=tune.FailureConfig(max_failures=max_failures),
        ),
    )
    tuner.fit()


def _race(
    ray: Any,
    book: Book,
    trials: list[Trial],
    out: Path,
    track: str,
    race: RaceConfig,
    say: Log,
) -> None:
    """The official evaluation of every trained trial not raced yet, as Ray tasks."""
    from racer.train.run_folder import RunFolder

    task = ray.remote(race_task).options(num_cpus=1, max_retries=3, retry_exceptions=False)
    pending = {}
    for t in trials:
        entry = book.trial(t.name)
        run_dir = out / TRIALS / t.name
        if entry.get("race") or entry["status"] not in ("done", "stopped"):
            continue
        if not (run_dir / RunFolder(run_dir).best_model_path.name).exists():
            entry["race"] = {"error": "no model was saved"}
            continue
        pending[task.remote(str(run_dir), track, race.to_dict())] = t.name
    if pending:
        say(f"sweep: racing {len(pending)} trained trial(s) on {track} ({race.laps} laps)")
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        name = pending.pop(done[0])
        try:
            result = ray.get(done[0])
        except ray.exceptions.RayError as exc:
            result = {"error": f"the race's worker failed: {type(exc).__name__}"}
        book.trial(name)["race"] = result
        book.save()
    book.save()


# --- the outputs ----------------------------------------------------------------------------


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def table_rows(book: Book, ranking: list[str]) -> list[dict[str, str]]:
    """The ranking table's rows (column -> text), best first."""
    keys = list(book.data["plan"]["grid"])
    rows = []
    for place, name in enumerate(ranking, 1):
        e = book.trial(name)
        race = e.get("race") or {}
        train = e.get("training") or {}
        row = {"#": str(place), "trial": name}
        for k in keys:
            row[k.rpartition(".")[2]] = str(e["params"].get(k))
        row["seed"] = str(e["params"].get("budget.seed", e["recipe"]["budget"]["seed"]))
        row["status"] = e["status"]
        row["steps"] = str(train.get("steps", "-"))
        row["train score"] = _fmt(train.get("score"), ".1f")
        if "error" in race:
            row["avg of 3 laps (s)"] = "-"
            row["completion %"] = race["error"][:40]
            row["off-tracks"] = "-"
        else:
            row["avg of 3 laps (s)"] = _fmt(race.get("average_lap_s"))
            row["completion %"] = _fmt(race.get("completion_percentage"), ".1f")
            row["off-tracks"] = str(race.get("off_track_count", "-"))
        rows.append(row)
    return rows


def write_table(book: Book, ranking: list[str], path: Path) -> str:
    """The ranking as a rich table: printed into ``path`` (plain text) and returned."""
    import io

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from racer.util.files import atomic_write_text

    rows = table_rows(book, ranking)
    plan = book.data["plan"]
    table = Table(
        title=escape(f"sweep of {Path(plan['agent']).name} - race on {plan['race_track']}")
    )
    for col in rows[0] if rows else ["#", "trial"]:
        table.add_column(col, justify="left" if col in ("trial", "status") else "right")
    for row in rows:
        table.add_row(*(escape(v) for v in row.values()))
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(table)
    text = buf.getvalue()
    atomic_write_text(path, text)
    return text


def write_plot(book: Book, ranking: list[str], out: Path, path: Path) -> Path:
    """``sweep.png``: each trial's training evaluations (score over steps) and the final race."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from racer.util.files import atomic_write

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in ranking:
        eval_csv = out / TRIALS / name / "eval.csv"
        xs, ys = [], []
        if eval_csv.exists():
            with open(eval_csv, newline="") as fh:
                for r in csv.DictReader(fh):
                    try:
                        lap = float(r["mean_lap_time_s"]) if r["mean_lap_time_s"] else math.nan
                        xs.append(int(r["steps"]))
                        ys.append(
                            training_score(
                                int(r["laps"]), int(r["episodes"]), float(r["mean_progress"]), lap
                            )
                        )
                    except (KeyError, ValueError):
                        continue
        ax1.plot(xs, ys, marker=".", label=name[:40])
    ax1.set_xlabel("training steps")
    ax1.set_ylabel("evaluation score (ASHA's metric)")
    ax1.set_title("training")
    if len(ranking) <= 12:
        ax1.legend(fontsize=7)
    labels, values, colors = [], [], []
    for name in ranking:
        race = book.trial(name).get("race") or {}
        labels.append(name[:28])
        if race.get("complete") and race.get("average_lap_s") is not None:
            values.append(float(race["average_lap_s"]))
            colors.append("tab:green")
        else:
            values.append(float(race.get("completion_percentage") or 0.0))
            colors.append("tab:gray")
    ax2.barh(range(len(labels)), values, color=colors)
    ax2.set_yticks(range(len(labels)), labels, fontsize=7)
    ax2.invert_yaxis()
    ax2.set_title("final race (green: average of 3 laps, s; gray: completion %)")
    fig.tight_layout()

    def save(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=100)

    try:
        atomic_write(path, save)
    finally:
        plt.close(fig)
    return path
