"""The training pipeline: recipe -> vectorised RaceEnvs -> PPO/SAC -> run folder.

Run folder (``runs/<agent>-<time>`` by default)::

    config.toml          the resolved recipe (CLI overrides applied); resume reads it
    reward.py            a copy of the reward file (when the reward is a file)
    model_metadata.json  DeepRacer's format: action space, sensor, network, algorithm
    checkpoints/         atomic checkpoints (see racer.train.checkpoint)
    best_model.zip       best deterministic evaluation so far (laps, then progress)
    final_model.zip      the model at the end of the budget (or at Ctrl-C)
    metrics.csv          one row per iteration: return, progress, completion, steps/s
    eval.csv             one row per evaluation
    simtrace/            DeepRacer simtrace CSV per worker
    tensorboard/         TensorBoard event files
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from racer.env import RaceEnv
from racer.errors import ConfigError, RacerError
from racer.train.callbacks import (
    CheckpointCallback,
    EpisodeStatsCallback,
    EvalCallback,
    SimtraceCallback,
)
from racer.train.checkpoint import latest_checkpoint, restore_rng
from racer.train.config import AgentConfig, config_from_dict, dump_toml
from racer.train.io import atomic_write, atomic_write_json, atomic_write_text
from racer.train.wrappers import TrainingWrapper

IMAGE_OBSERVATIONS = ("camera", "stereo")
SENSORS = {
    "camera": ["FRONT_FACING_CAMERA"],
    "stereo": ["STEREO_CAMERAS"],
    "lidar": ["FRONT_FACING_CAMERA", "LIDAR"],
    "state": ["STATE"],
}


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
    )
    kwargs.update(overrides)

    def _init() -> Any:
        env = TrainingWrapper(RaceEnv(**kwargs), ignore_sigint=ignore_sigint)
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
    """Parallel environments: subprocesses when more than one."""
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    tracks = resolve_tracks(cfg, n_envs)
    fns = [
        make_env(cfg, tracks[i], cfg.budget.seed + i, ignore_sigint=n_envs > 1)
        for i in range(n_envs)
    ]
    venv = SubprocVecEnv(fns, start_method="forkserver") if n_envs > 1 else DummyVecEnv(fns)
    return VecMonitor(venv)


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
        tensorboard_log=str(run_dir / "tensorboard"),
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
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"{out}: run folder exists and is not empty (use --resume {out} or --out)"
        )
    out.mkdir(parents=True, exist_ok=True)
    spec = reward_spec(cfg)
    if ".py" in spec:
        src = Path(spec.split(":", 1)[0])
        if not src.exists():
            raise ConfigError(f"{src}: reward file not found")
        shutil.copyfile(src, out / "reward.py")
        func = spec.split(":", 1)[1] if ":" in spec else ""
        cfg.env.reward = "reward.py" + (f":{func}" if func else "")
    cfg.env.tracks = [
        t
        if t == "random" or not (Path(cfg.base_dir) / t).is_file()
        else str(Path(cfg.base_dir) / t)
        for t in cfg.env.tracks
    ]
    cfg.base_dir = str(out.resolve())
    atomic_write_text(out / "config.toml", config_to_toml(cfg))
    atomic_write_json(out / "model_metadata.json", model_metadata(cfg))
    return out


def load_run_config(run_dir: Path) -> AgentConfig:
    """The resolved recipe of an existing run."""
    import tomllib

    path = run_dir / "config.toml"
    if not path.exists():
        raise ConfigError(f"{run_dir}: not a run folder (no config.toml)")
    data = tomllib.loads(path.read_text())
    return config_from_dict(data, source=str(path), base_dir=str(run_dir.resolve()))


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
            log=print if verbose else None,
        )
    finally:
        env.close()
    if verbose:
        print(
            f"warm start: {report.frames} frames, student agrees with the teacher on "
            f"{100 * report.teacher_agreement:.0f}% (its most common action alone: "
            f"{100 * report.majority_share:.0f}%)"
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

    Args:
        cfg: the resolved recipe (for ``resume``, the run's own config with any overrides).
        out: run folder for a new run (default ``runs/<agent>-<time>``).
        resume: an existing run folder to continue from its last checkpoint.
        progress_bar: show the live bar.
        stop_after_laps: stop at the first evaluation completing this many laps.
        on_eval: callback receiving each :class:`racer.train.callbacks.EvalResult`.
    """
    import torch
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    n_envs = cfg.resolved_envs()
    if resume is not None:
        run_dir = resume
        ckpt = latest_checkpoint(run_dir / "checkpoints")
    else:
        preflight(cfg, n_envs)
        run_dir = prepare_run(cfg, out)
        ckpt = None

    venv = build_vec_env(cfg, n_envs)
    try:
        if cfg.hyperparameters.normalize_observations:
            if ckpt is not None and ckpt["norm"] is not None:
                venv = VecNormalize.load(str(ckpt["norm"]), venv)
            else:
                venv = VecNormalize(venv, norm_obs=True, norm_reward=False)
        if ckpt is not None:
            algo = SAC if cfg.algorithm.name == "sac" else PPO
            model: Any = algo.load(
                ckpt["zip"],
                env=venv,
                device=cfg.budget.device,
                tensorboard_log=str(run_dir / "tensorboard"),
            )
            if ckpt["replay"] is not None:
                model.load_replay_buffer(ckpt["replay"])
            restore_rng(ckpt["rng"])
        else:
            model = build_model(cfg, venv, run_dir)
            if cfg.pretrain.frames > 0:
                _warm_start(cfg, model, progress_bar)

        normalize: Any = venv.normalize_obs if isinstance(venv, VecNormalize) else None
        eval_env = RaceEnv(
            track=eval_track(cfg),
            observation=cfg.env.observation,
            action_space=cfg.action_space or None,
            reward=reward_spec(cfg),
            max_steps=cfg.env.max_steps or None,
        )
        stats = EpisodeStatsCallback(run_dir / "metrics.csv", cfg.budget.steps, progress_bar)
        simtrace = SimtraceCallback(run_dir / "simtrace")
        checkpoints = CheckpointCallback(
            run_dir / "checkpoints",
            cfg.checkpoint.every_steps,
            cfg.checkpoint.keep,
            cfg.budget.seed,
        )
        checkpoints.before_save.append(simtrace.flush)
        callbacks: list[Any] = [stats, simtrace, checkpoints]
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
            )
            callbacks.append(evaluator)

        remaining = cfg.budget.steps - model.num_timesteps
        interrupted = False
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
        atomic_write(run_dir / "final_model.zip", lambda tmp: model.save(tmp))
        if isinstance(venv, VecNormalize):
            atomic_write(run_dir / "vecnormalize.pkl", lambda tmp: venv.save(str(tmp)))
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
