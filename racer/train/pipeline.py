"""The training pipeline: recipe -> vectorised RaceEnvs -> PPO/SAC -> run folder.

The run folder (``runs/<agent>-<time>`` by default) is written through
:class:`racer.train.run_folder.RunFolder`, which holds its layout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from racer.contract.observations import DEEPRACER_SENSORS, IMAGE_OBSERVATIONS
from racer.env import RaceEnv
from racer.errors import ConfigError, RacerError
from racer.rewards.plugin import set_hard_stop
from racer.train.callbacks import (
    CheckpointCallback,
    CriticWarmupCallback,
    EpisodeStatsCallback,
    EvalCallback,
    SimtraceCallback,
)
from racer.train.checkpoint import (
    LATEST,
    restore_rng,
    rewind_run,
    usable_checkpoints,
)
from racer.train.config import (
    AgentConfig,
    check_batch,
    device_problem,
    dump_toml,
)
from racer.train.io import (
    DiskFullError,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    clean_stale_temps,
    is_disk_full,
    writing,
)
from racer.train.run_folder import REWARD, RunFolder
from racer.train.vec import RaceVecEnv
from racer.train.wrappers import TrainingWrapper

SENSORS = DEEPRACER_SENSORS  # model_metadata.json's "sensor" per observation (racer.contract)
DEEPRACER_STATE = "deepracer"  # a checkpoint's state key of the DRfC trace counters


@dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path
    steps: int
    interrupted: bool
    wall_s: float


def reward_spec(cfg: AgentConfig) -> str:
    """The reward as the env takes it: file paths resolved against the recipe's folder."""
    spec = cfg.env.reward
    path_part = spec.split(":", 1)[0] if ".py" in spec else ""
    if path_part and not Path(path_part).is_absolute() and cfg.base_dir:
        resolved = Path(cfg.base_dir) / path_part
        spec = str(resolved) + spec[len(path_part) :]
    return spec


def resolve_tracks(cfg: AgentConfig, n_envs: int) -> list[str]:
    """One track per environment: the recipe's tracks round-robin; ``random`` gets seeded tracks."""
    out = []
    for i in range(n_envs):
        t = cfg.env.tracks[i % len(cfg.env.tracks)]
        if t == "random":
            t = f"random:{cfg.budget.seed * 1000 + i}"
        elif (cfg.base_dir and not Path(t).is_absolute()) and (Path(cfg.base_dir) / t).is_file():
            t = str(Path(cfg.base_dir) / t)
        out.append(t)
    return out


def eval_track(cfg: AgentConfig) -> str:
    """The track the best model is chosen on: the first named track (a seeded one for random)."""
    for t in cfg.env.tracks:
        if t != "random":
            return resolve_tracks(
                AgentConfig(env=type(cfg.env)(tracks=[t]), base_dir=cfg.base_dir), 1
            )[0]
    return f"random:{cfg.budget.seed * 1000 + 999}"


def timed_reward(spec: Any, timeout_s: float) -> Any:
    """The reward plugin for ``spec`` with the recipe's per-call time limit."""
    from racer.rewards import load_reward

    return load_reward(spec).with_timeout(timeout_s)


def make_env(
    cfg: AgentConfig, track: str, seed: int, ignore_sigint: bool = False, **overrides: Any
) -> Any:
    """A factory for one training environment (picklable for subprocess workers)."""
    kwargs: dict[str, Any] = dict(
        track=track,
        observation=cfg.env.observation,
        action_space=cfg.action_space or None,
        reward=reward_spec(cfg),
        start=cfg.env.start,
        direction=cfg.env.direction,
        max_steps=cfg.env.max_steps or None,
        race=cfg.race.setup(),  # [race]: boxes or bot cars
    )
    kwargs.update(overrides)
    timeout_s = cfg.env.reward_timeout_s

    def _init() -> Any:
        reward = timed_reward(kwargs["reward"], timeout_s)
        env = TrainingWrapper(RaceEnv(**{**kwargs, "reward": reward}), ignore_sigint=ignore_sigint)
        env.reset(seed=seed)
        env.action_space.seed(seed)
        return env

    return _init


def preflight(cfg: AgentConfig, n_envs: int) -> None:
    """Check every track and the reward in this process, before any folder or worker exists.

    A bad track or reward raised inside a subprocess worker would surface as a broken pipe; here
    it is a one-line :class:`RacerError` naming the file.
    """
    from racer.rewards import load_reward
    from racer.track import load_track

    for t in sorted(set(resolve_tracks(cfg, n_envs))):
        load_track(t)
    load_reward(reward_spec(cfg))
    env = make_env(cfg, resolve_tracks(cfg, 1)[0], cfg.budget.seed)()
    env.close()


def build_vec_env(cfg: AgentConfig, n_envs: int) -> Any:
    """The training cars: ``n_envs`` of them stepped together in this process (racer.train.vec).

    The reward runs in this process: one that ignores its time limit ends the run, one line.
    """
    from stable_baselines3.common.vec_env import VecMonitor

    set_hard_stop(2, announce=True)
    venv = RaceVecEnv(
        resolve_tracks(cfg, n_envs),
        [cfg.budget.seed + i for i in range(n_envs)],
        observation=cfg.env.observation,
        action_space=cfg.action_space or None,
        reward=timed_reward(reward_spec(cfg), cfg.env.reward_timeout_s),
        start=cfg.env.start,
        direction=cfg.env.direction,
        max_steps=cfg.env.max_steps or None,
        randomize=randomize_of(cfg),
        race=cfg.race.setup(),  # [race]: boxes or bot cars, each car its own
    )
    return VecMonitor(venv)


def randomize_of(cfg: AgentConfig) -> Any:
    """The recipe's ``[randomize]`` for the training envs, or None (the plain world)."""
    return cfg.randomize if cfg.randomize.enabled else None


def policy_setup(cfg: AgentConfig) -> tuple[str, dict[str, Any]]:
    """Policy class name and kwargs for the observation and network choice."""
    image = cfg.env.observation in IMAGE_OBSERVATIONS
    network = cfg.algorithm.network
    if network == "auto":
        network = "shallow_cnn" if image else "mlp"
    if image and network == "mlp":
        raise ConfigError("algorithm.network = 'mlp' cannot read camera frames: use 'shallow_cnn'")
    if not image and network != "mlp":
        raise ConfigError(
            f"algorithm.network = {network!r} needs a camera observation; use 'mlp' for "
            f"{cfg.env.observation!r}"
        )
    arch = list(cfg.algorithm.net_arch)
    kwargs: dict[str, Any] = {}
    if cfg.algorithm.name == "ppo":
        kwargs["net_arch"] = {"pi": arch, "vf": arch}
    else:
        kwargs["net_arch"] = {"pi": arch, "qf": arch}
    if cfg.action_spec().kind == "continuous":
        kwargs["log_std_init"] = cfg.hyperparameters.log_std_init
    if network == "shallow_cnn":
        from racer.train.networks import ShallowCNN

        kwargs["features_extractor_class"] = ShallowCNN
    return ("CnnPolicy" if image else "MlpPolicy"), kwargs


def build_model(cfg: AgentConfig, venv: Any, run_dir: Path) -> Any:
    """A fresh PPO or SAC learner for the recipe."""
    from stable_baselines3 import PPO, SAC

    policy, policy_kwargs = policy_setup(cfg)
    h = cfg.hyperparameters
    common: dict[str, Any] = dict(
        learning_rate=h.learning_rate,
        batch_size=h.batch_size,
        gamma=h.gamma,
        policy_kwargs=policy_kwargs,
        tensorboard_log=str(RunFolder(run_dir).tensorboard_dir),
        seed=cfg.budget.seed,
        device=cfg.budget.device,
        verbose=0,
    )
    if cfg.algorithm.name == "sac":
        return SAC(policy, venv, buffer_size=h.buffer_size, **common)
    return PPO(
        policy,
        venv,
        n_steps=h.n_steps,
        n_epochs=h.n_epochs,
        ent_coef=h.ent_coef,
        gae_lambda=h.gae_lambda,
        clip_range=h.clip_range,
        max_grad_norm=h.max_grad_norm,
        **common,
    )


def model_metadata(cfg: AgentConfig) -> dict[str, Any]:
    """DeepRacer's ``model_metadata.json`` for the recipe."""
    meta = cfg.action_spec().to_model_metadata()
    image = cfg.env.observation in IMAGE_OBSERVATIONS
    meta.update(
        {
            "sensor": SENSORS[cfg.env.observation],
            "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW" if image else "MLP",
            "training_algorithm": "clipped_ppo" if cfg.algorithm.name == "ppo" else "sac",
            "version": "5",
        }
    )
    return meta


def deepracer_hyperparameters(cfg: AgentConfig, n_envs: int) -> dict[str, Any]:
    """``ip/hyperparameters.json``: the learner's settings under DeepRacer's names.

    Only what racer's learner really has: stable-baselines3's PPO samples its stochastic
    policy (no epsilon-greedy schedule: ``e_greedy_value`` and ``epsilon_steps`` are null),
    fits its value function with a squared error, and updates every ``n_steps`` x environments
    steps rather than every N episodes (``num_episodes_between_training`` is null; the step
    count is under ``racer``); training ends with its step budget (or ``patience``), not on a
    score or episode count (``term_cond_*`` are null). SAC has no epochs nor entropy bonus
    setting (its entropy coefficient is learned). ``racer`` holds racer's own settings.
    """
    h = cfg.hyperparameters
    ppo = cfg.algorithm.name == "ppo"
    discrete = cfg.action_spec().kind == "discrete"
    return {
        "batch_size": h.batch_size,
        "beta_entropy": h.ent_coef if ppo else None,
        "discount_factor": h.gamma,
        "e_greedy_value": None,
        "epsilon_steps": None,
        "exploration_type": "categorical" if discrete else "gaussian",
        "loss_type": "mean squared error",
        "lr": h.learning_rate,
        "num_episodes_between_training": None,
        "num_epochs": h.n_epochs if ppo else None,
        "stack_size": 1,
        "term_cond_avg_score": None,
        "term_cond_max_episodes": None,
        **({} if ppo else {"sac_alpha": "auto"}),
        "racer": {
            "algorithm": cfg.algorithm.name,
            "envs": n_envs,
            "steps_between_training": h.n_steps * n_envs if ppo else 1,
            "total_steps": cfg.budget.steps,
            "seed": cfg.budget.seed,
            **dataclasses.asdict(h),
        },
    }


def config_to_toml(cfg: AgentConfig) -> str:
    """The resolved recipe as TOML."""
    data = cfg.to_dict()
    agent = {"name": data.pop("name"), "description": data.pop("description")}
    data.pop("action_space")
    space = cfg.action_spec().to_model_metadata()  # always the full, explicit form
    out = dump_toml({"agent": agent, **data})
    # action_space holds a list of tables: write it in TOML's array-of-tables form
    out += f'\n[action_space]\naction_space_type = "{space["action_space_type"]}"\n'
    if space["action_space_type"] == "discrete":
        for a in space["action_space"]:
            out += (
                f"\n[[action_space.action_space]]\nsteering_angle = {a['steering_angle']!r}\n"
                f"speed = {a['speed']!r}\n"
            )
    else:
        sa, sp = space["action_space"]["steering_angle"], space["action_space"]["speed"]
        out += (
            f"\n[action_space.action_space.steering_angle]\nlow = {sa['low']!r}\nhigh = {sa['high']!r}\n"
            f"\n[action_space.action_space.speed]\nlow = {sp['low']!r}\nhigh = {sp['high']!r}\n"
        )
    return out


def prepare_run(cfg: AgentConfig, out: Path | None) -> Path:
    """Create the run folder: resolved config, reward copy, model_metadata.json."""
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{cfg.name}-{stamp}"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; choose another --out")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"{out}: run folder exists and is not empty (use --resume {out} or --out)"
        )
    try:
        with writing(out):
            out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create the run folder ({exc.strerror or exc})") from None
    run = RunFolder(out)
    spec = reward_spec(cfg)
    if ".py" in spec:
        src = Path(spec.split(":", 1)[0])
        if not src.exists():
            raise ConfigError(f"{src}: reward file not found")
        with writing(run.reward_path):
            shutil.copyfile(src, run.reward_path)
        func = spec.split(":", 1)[1] if ":" in spec else ""
        cfg.env.reward = REWARD + (f":{func}" if func else "")
    cfg.env.tracks = [
        t
        if t == "random" or not (Path(cfg.base_dir) / t).is_file()
        else str(Path(cfg.base_dir) / t)
        for t in cfg.env.tracks
    ]
    cfg.base_dir = str(out.resolve())
    atomic_write_text(run.config_path, config_to_toml(cfg))
    meta = model_metadata(cfg)
    atomic_write_json(run.model_metadata_path, meta)
    # DRfC's places of the same facts, for the log-analysis notebooks (deepracer-utils)
    for path in (run.deepracer_model_metadata_path, run.hyperparameters_path):
        with writing(path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run.deepracer_model_metadata_path, meta)
    atomic_write_json(run.hyperparameters_path, deepracer_hyperparameters(cfg, cfg.resolved_envs()))
    return out


def load_run_config(run_dir: Path) -> AgentConfig:
    """The resolved recipe of an existing run (:meth:`RunFolder.config`)."""
    return RunFolder.open(run_dir).config()


def warn(message: str) -> None:
    """One warning line on stderr (the run goes on)."""
    print(f"racer: warning: {message}", file=sys.stderr, flush=True)


def saved_intact(run_dir: Path | None) -> str:
    """What a run stopped by a full disk still has: its last complete checkpoint."""
    if run_dir is None:
        return "nothing was written yet"
    meta_path = RunFolder(run_dir).checkpoints_dir / LATEST
    try:
        import json

        meta = json.loads(meta_path.read_text())
        name, steps = str(meta["name"]), int(meta["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"no checkpoint was complete yet in {run_dir}; free some space and start again"
    return (
        f"checkpoint {name} ({steps} steps) is intact: free some space, then "
        f"racer train --resume {run_dir}"
    )


def _load_checkpoint(
    cfg: AgentConfig, venv: Any, candidates: list[dict[str, Any]], run_dir: Path
) -> tuple[Any, Any, dict[str, Any]]:
    """Load the newest checkpoint that loads; a damaged one falls back to the previous kept one.

    Returns:
        The (possibly VecNormalize-wrapped) env, the model, and the checkpoint used.
    """
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import VecNormalize

    algo = SAC if cfg.algorithm.name == "sac" else PPO
    problems: list[str] = []
    for ckpt in candidates:
        wrapped = venv
        try:
            if cfg.hyperparameters.normalize_observations:
                if ckpt["norm"] is not None:
                    wrapped = VecNormalize.load(str(ckpt["norm"]), venv)
                else:
                    wrapped = VecNormalize(venv, norm_obs=True, norm_reward=False)
            model: Any = algo.load(
                ckpt["zip"],
                env=wrapped,
                device=cfg.budget.device,
                tensorboard_log=str(RunFolder(run_dir).tensorboard_dir),
            )
            if ckpt["replay"] is not None:
                model.load_replay_buffer(ckpt["replay"])
            restore_rng(ckpt["rng"])
        except Exception as exc:  # sb3 / torch / pickle raise many types for damaged files
            detail = (str(exc).strip().splitlines() or [""])[0][:200]
            problems.append(f"{ckpt['name']} cannot be loaded ({type(exc).__name__}: {detail})")
            continue
        if problems:
            warn(
                f"{RunFolder(run_dir).checkpoints_dir}: {problems[0]}; resuming from the previous "
                f"checkpoint {ckpt['name']} ({candidates[0]['steps'] - ckpt['steps']} steps "
                "earlier)"
            )
        return wrapped, model, ckpt
    raise ConfigError(
        f"{run_dir}: no usable checkpoint to resume from ({'; '.join(problems[:2])}); start "
        "the run again without --resume"
    )


def _warm_start(cfg: AgentConfig, model: Any, verbose: bool) -> None:
    """Imitation warm start from a built-in teacher (racer.train.pretrain)."""
    from racer.train.pretrain import pretrain

    if cfg.hyperparameters.normalize_observations:
        raise ConfigError("pretrain cannot be combined with normalize_observations yet")
    env = RaceEnv(
        track=eval_track(cfg),
        observation=cfg.env.observation,
        action_space=cfg.action_space or None,
        reward="progress",
        max_steps=cfg.env.max_steps or None,
        randomize=randomize_of(cfg),  # the student learns on the worlds it will train on
    )
    try:
        report = pretrain(
            model,
            env,
            frames=cfg.pretrain.frames,
            rounds=cfg.pretrain.rounds,
            epochs=cfg.pretrain.epochs,
            seed=cfg.budget.seed,
            teacher=cfg.pretrain.teacher,
            teacher_speed_scale=cfg.pretrain.teacher_speed_scale,
            teacher_margin_m=cfg.pretrain.teacher_margin_m or None,
            log=print if verbose else None,
        )
    finally:
        env.close()
    if verbose:
        if report.majority_share == report.majority_share:  # discrete: a baseline to compare
            baseline = f" (its most common action alone: {100 * report.majority_share:.0f}%)"
        else:  # continuous: agreement is "within 0.1 of the teacher's action"; no baseline
            baseline = " (within 0.1 of its action)"
        print(
            f"warm start: {report.frames} frames, student agrees with the teacher on "
            f"{100 * report.teacher_agreement:.0f}%{baseline}"
        )


def train(
    cfg: AgentConfig,
    out: Path | None = None,
    *,
    resume: Path | None = None,
    progress_bar: bool = True,
    stop_after_laps: int | None = None,
    on_eval: Any = None,
) -> TrainResult:
    """Train (or resume) a run; returns when the budget is spent, on Ctrl-C, or on early stop.

    A resume starts from the newest checkpoint that loads (a damaged one falls back to the
    previous kept one, with a warning) and cuts the logs back to it (see
    :func:`racer.train.checkpoint.rewind_run`).

    Args:
        cfg: the resolved recipe (for ``resume``, the run's own config with any overrides).
        out: run folder for a new run (default ``runs/<agent>-<time>``).
        resume: an existing run folder to continue from its last checkpoint.
        progress_bar: show the live bar.
        stop_after_laps: stop at the first evaluation completing this many laps.
        on_eval: callback receiving each :class:`racer.train.callbacks.EvalResult`.

    Raises:
        ConfigError: a bad recipe, run folder or device; no usable checkpoint to resume from.
        DiskFullError: the disk filled up; the message names the path and the intact checkpoint.
    """
    where: list[Path] = []  # the run folder, once known
    try:
        return _train(
            cfg,
            out,
            resume=resume,
            progress_bar=progress_bar,
            stop_after_laps=stop_after_laps,
            on_eval=on_eval,
            where=where,
        )
    except DiskFullError as exc:
        raise DiskFullError(exc.path, saved_intact(where[0] if where else None)) from None
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        path = getattr(exc, "filename", None) or (where[0] if where else Path.cwd())
        raise DiskFullError(path, saved_intact(where[0] if where else None)) from None


def _train(
    cfg: AgentConfig,
    out: Path | None,
    *,
    resume: Path | None,
    progress_bar: bool,
    stop_after_laps: int | None,
    on_eval: Any,
    where: list[Path],
) -> TrainResult:
    """The body of :func:`train`; ``where`` receives the run folder once it is known."""
    import torch
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    n_envs = cfg.resolved_envs()
    check_batch(cfg, n_envs, f"{n_envs} environments")
    problem = device_problem(cfg.budget.device)
    if problem is not None:
        raise ConfigError(f"budget.device = {cfg.budget.device!r}: {problem}")
    candidates: list[dict[str, Any]] = []
    if resume is not None:
        run_dir = resume
        run = RunFolder(run_dir)
        candidates = usable_checkpoints(run.checkpoints_dir, warn=warn)
        for folder in (run.path, run.checkpoints_dir, run.simtrace_dir):
            clean_stale_temps(folder, min_age_s=0.0)  # left by a killed run's atomic writes
        text = config_to_toml(cfg)
        if run.config_path.read_text(encoding="utf-8") != text:
            # --steps / --envs / --device on resume: the run's config says what it now runs for
            atomic_write_text(run.config_path, text)
    else:
        preflight(cfg, n_envs)
        run_dir = prepare_run(cfg, out)
        run = RunFolder(run_dir)
    where.append(run_dir)
    ckpt: dict[str, Any] | None = None

    venv = build_vec_env(cfg, n_envs)
    try:
        model: Any
        if candidates:
            venv, model, ckpt = _load_checkpoint(cfg, venv, candidates, run_dir)
            removed = rewind_run(run_dir, ckpt)
            if removed and progress_bar:
                cut = ", ".join(f"{n} from {name}" for name, n in removed.items())
                print(f"resuming from {ckpt['name']}: removed rows written after it ({cut})")
        else:
            if cfg.hyperparameters.normalize_observations:
                venv = VecNormalize(venv, norm_obs=True, norm_reward=False)
            model = build_model(cfg, venv, run_dir)
            if cfg.pretrain.frames > 0:
                _warm_start(cfg, model, progress_bar)

        normalize: Any = venv.normalize_obs if isinstance(venv, VecNormalize) else None
        eval_env = RaceEnv(
            track=eval_track(cfg),
            observation=cfg.env.observation,
            action_space=cfg.action_space or None,
            reward=timed_reward(reward_spec(cfg), cfg.env.reward_timeout_s),
            max_steps=cfg.env.max_steps or None,
            race=cfg.race.setup(),  # the evaluation laps meet the recipe's objects
        )
        stats = EpisodeStatsCallback(run.metrics_csv_path, cfg.budget.steps, progress_bar)
        saved_state: dict[str, Any] = {}
        if ckpt is not None:
            saved_state = (ckpt.get("meta") or {}).get("state") or {}
            stats.restore(saved_state)
        simtrace = SimtraceCallback(run.simtrace_dir, iteration=stats.iteration)
        simtrace.restore(saved_state.get(DEEPRACER_STATE) or {})
        checkpoints = CheckpointCallback(
            run.checkpoints_dir,
            cfg.checkpoint.every_steps,
            cfg.checkpoint.keep,
            cfg.budget.seed,
        )
        checkpoints.before_save.append(simtrace.flush)
        checkpoints.state = lambda: {**stats.state(), DEEPRACER_STATE: simtrace.state()}
        callbacks: list[Any] = [stats, simtrace]
        if cfg.pretrain.frames > 0 and cfg.pretrain.critic_warmup_steps > 0:
            callbacks.append(CriticWarmupCallback(cfg.pretrain.critic_warmup_steps))
        evaluator = None
        if cfg.evaluation.every_steps > 0:
            evaluator = EvalCallback(
                eval_env,
                run_dir,
                cfg.evaluation.every_steps,
                cfg.evaluation.episodes,
                normalize=normalize,
                stop_after_laps=stop_after_laps,
                on_result=on_eval,
                patience=cfg.evaluation.patience,
                record=simtrace.record_evaluation,
                video=cfg.evaluation.video,
            )
            callbacks.append(evaluator)
        # after the evaluation: a checkpoint at the same step records its eval.csv row and best
        callbacks.append(checkpoints)

        remaining = cfg.budget.steps - model.num_timesteps
        interrupted = False
        if evaluator is not None and ckpt is None and cfg.pretrain.frames > 0:
            first = evaluator.evaluate_before_training(model)  # the warm start's own laps
            if stop_after_laps is not None and first.laps >= stop_after_laps:
                remaining = 0  # done before learn(): the checkpoint below still needs the model
                checkpoints.init_callback(model)
        if remaining > 0:
            try:
                model.learn(
                    total_timesteps=remaining,
                    callback=CallbackList(callbacks),
                    reset_num_timesteps=ckpt is None,
                    tb_log_name="run",
                )
            except KeyboardInterrupt:
                interrupted = True
                stats._on_training_end()
                simtrace._on_training_end()
            except RacerError:
                stats._on_training_end()
                simtrace._on_training_end()
                raise
        if not interrupted and evaluator is not None and evaluator.best is None:
            evaluator.run_eval()  # short runs: always leave a best model behind
        checkpoints.save()
        atomic_write(run.final_model_path, lambda tmp: model.save(tmp))
        if isinstance(venv, VecNormalize):
            atomic_write(run.vecnormalize_path, lambda tmp: venv.save(str(tmp)))
        eval_env.close()
    finally:
        with contextlib.suppress(EOFError, BrokenPipeError, OSError):
            venv.close()
    return TrainResult(
        run_dir=run_dir,
        steps=int(model.num_timesteps),
        interrupted=interrupted,
        wall_s=time.perf_counter() - t0,
    )
