"""Policies the evaluator can drive: a trained run, a deploy bundle, or the centre-line follower.

Everything the evaluator needs of a driver is the small :class:`Policy` protocol: which
observation it reads, which action space it acts in (DeepRacer ``model_metadata.json`` terms),
``reset(env)`` at every (re)start of the car and ``act(obs)`` once per control step.

- :class:`Sb3Policy` loads a run folder's stable-baselines3 model (``best_model.zip`` by
  default) with its observation statistics through
  :meth:`racer.train.run_folder.RunFolder.load_policy`. Run folders are the user's own files,
  so unpickling them is acceptable.
- :class:`BundlePolicy` runs a deploy bundle's ``policy.onnx`` with ONNX Runtime through the
  car's own runtime pieces (:mod:`racer.car`): preprocessing, inference, action decoding.
  Bundles are never unpickled; :func:`racer.car.bundle.load_bundle` verifies them first. A
  DeepRacer model archive (``model_metadata.json`` + TensorFlow ``model.pb``, from the AWS
  console, DRfC or ``racer export --deepracer``) runs the same way on OpenVINO, read and
  bounded by :func:`racer.car.deepracer.load_model`.
- :class:`OnnxPolicy` is the engine behind :class:`BundlePolicy`, usable on a bare ONNX file
  (the speed benchmark builds one on the fly).
- :class:`FollowerPolicy` wraps :class:`racer.env.follower.CenterlineFollower` and
  :class:`ExpertPolicy` the racing-line expert (:class:`racer.env.expert.RacingLineExpert`):
  privileged (they read the true pose), for reference rows, baselines and benchmarks. Both load
  by name: ``expert:centerline`` and ``expert:racing-line`` (:data:`EXPERTS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from racer.car.actions import ActionDecoder
from racer.car.backends import Backend, OnnxRuntimeBackend
from racer.car.bundle import METADATA, Bundle, is_archive, run_model
from racer.car.deepracer import default_backend, is_deepracer_folder, load_model
from racer.car.preprocess import Preprocessor
from racer.contract.actions import ActionSpace
from racer.contract.bundle import bundle_action_space as contract_action_space
from racer.contract.car import MAX_SPEED_MPS, MAX_STEERING_DEG, MIN_SPEED_MPS
from racer.contract.observations import OBSERVATIONS
from racer.errors import BundleError, RacerError
from racer.train.run_folder import RUN_CONFIG, RunFolder

ENV_OBSERVATIONS = OBSERVATIONS  # what RaceEnv can observe (racer.contract.observations)
EXPERT_PREFIX = "expert:"
#: The built-in drivers that load by name (``expert:<name>``), with what each is.
EXPERTS: dict[str, str] = {
    "racing-line": "the optimal racing line at the car's limits (pure pursuit, profile speed)",
    "centerline": "the centre-line follower at 1.5 m/s (0.8 m/s in the tightest turns)",
}
#: A continuous space over everything the car can do: what the racing expert acts in.
FULL_ACTION_SPACE: dict[str, Any] = ActionSpace(
    kind="continuous",
    steering_deg=(-MAX_STEERING_DEG, MAX_STEERING_DEG),
    speed_mps=(MIN_SPEED_MPS, MAX_SPEED_MPS),
).to_model_metadata()


@runtime_checkable
class Policy(Protocol):
    """A driver for the evaluator.

    Attributes:
        name: a label for tables and the leaderboard.
        observation: the :class:`racer.env.RaceEnv` observation it reads.
        action_space: the action space in ``model_metadata.json`` terms
            (``{"action_space_type", "action_space"}``), or None for the env's default.
    """

    name: str
    observation: str
    action_space: Mapping[str, Any] | None

    def reset(self, env: Any) -> None:
        """Called whenever the car is (re)placed on the track, before the first ``act``."""
        ...

    def act(self, obs: np.ndarray) -> Any:
        """The env action (discrete index or normalised ``(steering, speed)``) for ``obs``."""
        ...


def bundle_action_space(action_space: Mapping[str, Any]) -> dict[str, Any]:
    """A bundle's action space in ``model_metadata.json`` terms, for :class:`RaceEnv`.

    Args:
        action_space: a bundle's parsed ``metadata.json`` (schema version 1 or 2), or its action
            space in either form (:func:`racer.contract.bundle.deepracer_form`).

    Returns:
        ``{"action_space_type": ..., "action_space": ...}``.
    """
    return contract_action_space(action_space).to_model_metadata()


class OnnxPolicy:
    """An ONNX model driven the way the car drives it: preprocess, infer, decode.

    Args:
        backend: an inference engine (:class:`racer.car.backends.Backend`).
        preprocessor: the bundle's frame preprocessing.
        decoder: the bundle's action decoder.
        observation: ``camera`` | ``stereo`` | ``lidar``.
        action_space: the action space in ``model_metadata.json`` terms.
        name: a label.
    """

    def __init__(
        self,
        backend: Backend,
        preprocessor: Preprocessor,
        decoder: ActionDecoder,
        observation: str,
        action_space: Mapping[str, Any],
        name: str = "onnx",
    ) -> None:
        self.backend = backend
        self.preprocessor = preprocessor
        self.decoder = decoder
        self.observation = observation
        self.action_space: Mapping[str, Any] | None = action_space
        self.name = name
        self._input_shape = tuple(backend.input_shape)

    @classmethod
    def from_file(
        cls,
        onnx_path: str | Path,
        action_space: Mapping[str, Any],
        action_output: str,
        preprocessing: Sequence[Mapping[str, Any]],
        observation: str = "camera",
        threads: int = 1,
        name: str = "onnx",
    ) -> OnnxPolicy:
        """An ONNX Runtime policy on a bare ``.onnx`` file (no bundle; benchmarks, tests).

        Args:
            onnx_path: the model (input raw frames, output as ``action_output`` says).
            action_space: the action space in DeepRacer's form
                (``{"action_space_type", "action_space"}``) or schema 1's (``{"type": ...}``).
            action_output: ``"probabilities"`` | ``"logits"`` | ``"normalized"``.
            preprocessing: the bundle-style preprocessing steps.
            observation: ``camera`` | ``stereo`` | ``lidar``.
            threads: ONNX Runtime CPU threads.
            name: a label.

        Returns:
            The policy.
        """
        backend = OnnxRuntimeBackend(Path(onnx_path), threads=threads)
        return cls(
            backend=backend,
            preprocessor=Preprocessor(preprocessing, backend.input_shape[1:]),
            decoder=ActionDecoder(action_space, action_output),
            observation=observation,
            action_space=bundle_action_space(action_space),
            name=name,
        )

    def reset(self, env: Any) -> None:
        """Forget stacked frames."""
        self.preprocessor.reset()

    def act(self, obs: np.ndarray) -> Any:
        """Preprocess the observation, run the model, and return the env action."""
        return self.act_with(self.preprocessor, obs)

    def act_with(self, preprocessor: Preprocessor, obs: np.ndarray) -> Any:
        """:meth:`act` with a given preprocessor (each car of a batch has its own frame stack)."""
        frame = obs[0] if self.observation == "camera" else obs
        x = preprocessor(frame).astype(np.float32).reshape(self._input_shape)
        out = run_model(self.backend, x, f"{self.name}: the model failed during the evaluation")
        action = self.decoder.decode(out)
        if action.index is not None:
            return action.index
        return self.decoder.space.to_action(action.steering_deg, action.speed_mps)


class BundlePolicy(OnnxPolicy):
    """A verified deploy bundle run with ONNX Runtime, or a DeepRacer model with OpenVINO
    (never unpickled).

    Args:
        bundle: a bundle or DeepRacer model from :func:`racer.car.deepracer.load_model`.
        threads: inference CPU threads.
        name: a label; defaults to the bundle's file name.
    """

    def __init__(self, bundle: Bundle, threads: int = 1, name: str | None = None) -> None:
        if bundle.observation not in ENV_OBSERVATIONS:  # pragma: no cover - metadata validated
            raise BundleError(f"{bundle.source}: unknown observation {bundle.observation!r}")
        self.bundle = bundle
        super().__init__(
            backend=bundle.backend(default_backend(bundle), threads=threads),
            preprocessor=bundle.preprocessor(),
            decoder=bundle.decoder(),
            observation=bundle.observation,
            action_space=bundle_action_space(bundle.metadata),
            name=name or bundle_label(bundle.source),
        )

    def check_observation(self, obs: np.ndarray) -> None:
        """Reject a bundle whose preprocessing does not turn the simulator's frame into its input.

        Args:
            obs: one observation from the env the bundle will drive.

        Raises:
            BundleError: one line naming the shapes.
        """
        frame = obs[0] if self.observation == "camera" else obs
        try:
            x = self.preprocessor(frame)
        except (ValueError, BundleError) as exc:
            raise BundleError(
                f"{self.bundle.source.name}: its preprocessing cannot read the simulator's "
                f"{self.observation} frame {list(np.shape(frame))} ({exc})"
            ) from None
        finally:
            self.preprocessor.reset()
        if int(np.prod(x.shape)) != int(np.prod(self._input_shape)):
            raise BundleError(
                f"{self.bundle.source.name}: preprocessed observation {list(x.shape)} does not "
                f"fit the model input {list(self._input_shape)}"
            )


class Sb3Policy:
    """A run folder's stable-baselines3 model (the user's own, trusted files).

    Loaded with the run's observation statistics by
    :meth:`racer.train.run_folder.RunFolder.load_policy`.

    Args:
        run_dir: the run folder (holds ``config.toml`` and ``best_model.zip``).
        which: ``"best"`` or ``"final"``; None for ``best_model.zip``, else ``final_model.zip``.
        threads: torch CPU threads.
    """

    def __init__(self, run_dir: str | Path, which: str | None = None, threads: int = 1) -> None:
        self.run_dir = Path(run_dir)
        self.trained = RunFolder.open(self.run_dir).load_policy(which, threads=threads)
        cfg = self.trained.config
        self.observation = self.trained.observation
        self.tracks: list[str] = list(cfg.env.tracks)
        self.action_space: Mapping[str, Any] | None = cfg.action_space or None
        self.algorithm = self.trained.algorithm
        self.name = self.run_dir.resolve().name
        self.model = self.trained.model

    def reset(self, env: Any) -> None:
        """Nothing to reset (the model is stateless)."""

    def act(self, obs: np.ndarray) -> Any:
        """The model's deterministic action."""
        action, _ = self.model.predict(self.trained.normalize(obs), deterministic=True)
        if np.ndim(action) == 0:
            return int(action)
        return np.asarray(action, dtype=np.float32)


class FollowerPolicy:
    """The privileged centre-line follower (pure pursuit on the true pose).

    Not a deployable policy: for tests, baselines, bots and benchmarks.

    Args:
        observation: the observation the env should produce (the follower ignores it; pick
            ``camera`` to include the render cost in a benchmark).
        action_space: the action space (``model_metadata.json`` terms), or None for the default.
        speed_mps: cruise speed.
        min_speed_mps: speed in the tightest turns.
        name: a label.
    """

    def __init__(
        self,
        observation: str = "state",
        action_space: Mapping[str, Any] | None = None,
        speed_mps: float = 1.5,
        min_speed_mps: float = 0.8,
        name: str = "follower",
    ) -> None:
        self.observation = observation
        self.action_space = action_space
        self.speed_mps = speed_mps
        self.min_speed_mps = min_speed_mps
        self.name = name
        self._follower: Any = None

    def reset(self, env: Any) -> None:
        """Bind to the env (the follower reads its true pose)."""
        from racer.env.follower import CenterlineFollower

        if self._follower is None or self._follower.env is not env.unwrapped:
            self._follower = CenterlineFollower(
                env, speed_mps=self.speed_mps, min_speed_mps=self.min_speed_mps
            )

    def act(self, obs: np.ndarray) -> Any:
        """The follower's action, in the env's action space."""
        if self._follower is None:
            raise RuntimeError("FollowerPolicy.act() before reset(env)")
        return self._follower.act()


class ExpertPolicy:
    """The privileged racing-line expert (:class:`racer.env.expert.RacingLineExpert`).

    It acts in the car's full continuous range (0.1-4 m/s, +-30 deg) and reads the true pose,
    so its laps are the drivable version of the track's lap-time bound. Not deployable.

    Args:
        speed_scale: multiplies the profile speed (1.0 = the car's limits).
        name: a label.
    """

    def __init__(self, speed_scale: float = 1.0, name: str = "expert:racing-line") -> None:
        self.observation = "state"
        self.action_space: Mapping[str, Any] | None = FULL_ACTION_SPACE
        self.speed_scale = speed_scale
        self.name = name
        self._expert: Any = None

    def reset(self, env: Any) -> None:
        """Bind to the env (the expert reads its true pose and racing line)."""
        from racer.env.expert import RacingLineExpert

        if self._expert is None or self._expert.env is not env.unwrapped:
            self._expert = RacingLineExpert(env, speed_scale=self.speed_scale)

    def act(self, obs: np.ndarray) -> Any:
        """The expert's action, in the env's action space."""
        if self._expert is None:
            raise RuntimeError("ExpertPolicy.act() before reset(env)")
        return self._expert.act()


def expert_policy(name: str) -> Policy:
    """A built-in driver by name: ``expert:racing-line`` or ``expert:centerline``.

    Raises:
        RacerError: an unknown expert name (the message lists the known ones).
    """
    kind = name[len(EXPERT_PREFIX) :] if name.startswith(EXPERT_PREFIX) else name
    if kind == "racing-line":
        return ExpertPolicy(name=EXPERT_PREFIX + kind)
    if kind == "centerline":
        return FollowerPolicy(action_space=FULL_ACTION_SPACE, name=EXPERT_PREFIX + kind)
    import difflib

    near = difflib.get_close_matches(kind, list(EXPERTS), n=1)
    hint = f" (did you mean {EXPERT_PREFIX}{near[0]}?)" if near else ""
    known = ", ".join(EXPERT_PREFIX + k for k in EXPERTS)
    raise RacerError(f"unknown built-in driver {name!r}{hint}: use one of {known}")


def bundle_label(path: str | Path) -> str:
    """A bundle's display name: its folder name, or its archive name without ``.tar.gz``."""
    name = Path(path).name
    for suffix in (".tar.gz", ".tgz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_bundle_path(path: str | Path) -> bool:
    """Whether ``path`` looks like a bundle or a DeepRacer model (a ``.tar.gz``, a folder with
    ``metadata.json``, or a folder holding a DeepRacer model)."""
    p = Path(path)
    if p.is_file():
        return is_archive(p)
    if not p.is_dir():
        return False
    if (p / METADATA).is_file() or is_deepracer_folder(p):
        return True
    entries = list(p.iterdir())
    return len(entries) == 1 and entries[0].is_dir() and (entries[0] / METADATA).is_file()


def load_policy(path: str | Path, threads: int = 1) -> Policy:
    """A policy from a run folder (stable-baselines3), a bundle (ONNX), a DeepRacer model
    (TensorFlow graph on OpenVINO) or a built-in driver.

    Args:
        path: a run folder (holding ``config.toml``), a bundle folder or a bundle ``.tar.gz``,
            a DeepRacer model ``.tar.gz`` (or its folder: ``model_metadata.json`` and a ``.pb``,
            no ``metadata.json``), or ``expert:racing-line`` / ``expert:centerline``
            (:func:`expert_policy`).
        threads: CPU threads for inference.

    Returns:
        :class:`Sb3Policy`, :class:`BundlePolicy`, :class:`ExpertPolicy` or
        :class:`FollowerPolicy`; a bundle is verified (checksums, metadata, I/O shapes) and
        self-tested on its golden inputs first, a DeepRacer model checked
        (:func:`racer.car.deepracer.load_model`) and run on synthetic frames.

    Raises:
        RacerError: the path is missing or is neither a run folder nor a bundle.
    """
    if str(path).startswith(EXPERT_PREFIX):
        return expert_policy(str(path))
    p = Path(path)
    if not p.exists():
        raise RacerError(
            f"{p} not found; give a run folder (runs/<name>), a bundle (folder or .tar.gz), a "
            "DeepRacer model (.tar.gz) or a built-in driver (expert:racing-line)"
        )
    if p.is_dir() and (p / RUN_CONFIG).is_file():
        return Sb3Policy(p, threads=threads)
    if is_bundle_path(p):
        bundle = load_model(p)
        try:
            bundle.self_test(default_backend(bundle))
            return BundlePolicy(bundle, threads=threads)
        except BaseException:
            bundle.close()
            raise
    raise RacerError(
        f"{p}: neither a run folder (no {RUN_CONFIG}) nor a bundle (no {METADATA}, not .tar.gz) "
        "nor a DeepRacer model (no model_metadata.json)"
    )


class BatchPolicy(Protocol):
    """A policy driving several cars of a :class:`racer.env.RaceVectorEnv` at once."""

    def reset(self, venv: Any, idx: np.ndarray) -> None:
        """Cars ``idx`` start a drive (or were put back): forget what they saw."""

    def act(self, idx: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """The actions of cars ``idx`` for their observations ``obs`` (one row per car)."""


class _OnnxBatch:
    """An ONNX policy for many cars: one preprocessor (frame stack) per car, one model."""

    def __init__(self, policy: OnnxPolicy, n: int) -> None:
        self.policy = policy
        pre = policy.preprocessor
        self.pre = [Preprocessor(pre.steps, pre.expected_shape) for _ in range(n)]

    def reset(self, venv: Any, idx: np.ndarray) -> None:
        for i in np.asarray(idx).tolist():
            self.pre[i].reset()

    def act(self, idx: np.ndarray, obs: np.ndarray) -> np.ndarray:
        p = self.policy
        return np.asarray(
            [p.act_with(self.pre[i], o) for i, o in zip(np.asarray(idx).tolist(), obs, strict=True)]
        )


class _Sb3Batch:
    """A run folder's model for many cars: one batched forward pass per step."""

    def __init__(self, policy: Sb3Policy) -> None:
        self.policy = policy

    def reset(self, venv: Any, idx: np.ndarray) -> None:
        """Stateless."""

    def act(self, idx: np.ndarray, obs: np.ndarray) -> np.ndarray:
        p = self.policy
        action, _ = p.model.predict(p.trained.normalize(obs), deterministic=True)
        return np.asarray(action)


class _FollowerBatch:
    """The centre-line follower for many cars (:class:`racer.env.follower.VectorCenterlineFollower`)."""

    def __init__(self, policy: FollowerPolicy) -> None:
        self.policy = policy
        self.driver: Any = None

    def reset(self, venv: Any, idx: np.ndarray) -> None:
        from racer.env.follower import VectorCenterlineFollower

        if self.driver is None or self.driver.venv is not venv:
            p = self.policy
            self.driver = VectorCenterlineFollower(
                venv, speed_mps=p.speed_mps, min_speed_mps=p.min_speed_mps
            )

    def act(self, idx: np.ndarray, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self.driver.act())[np.asarray(idx)]


def batch_policy(policy: Policy, n: int) -> BatchPolicy | None:
    """``policy`` driving ``n`` cars at once, or None when it cannot (it reads one simulator).

    Bundles, DeepRacer models and ONNX files get a frame stack per car; run folders one batched
    forward pass; the centre-line follower its batched form. The racing expert reads its own
    ``RaceEnv`` and has none.
    """
    if _plain(policy, OnnxPolicy):
        return _OnnxBatch(policy, n)  # type: ignore[arg-type]
    if _plain(policy, Sb3Policy):
        return _Sb3Batch(policy)  # type: ignore[arg-type]
    if _plain(policy, FollowerPolicy):
        return _FollowerBatch(policy)  # type: ignore[arg-type]
    return None


def _plain(policy: Any, cls: type) -> bool:
    """An instance of ``cls`` whose ``act`` and ``reset`` are ``cls``'s own (its batched form is
    then exact; a subclass that drives differently keeps the one-car path)."""
    kind = type(policy)
    own = ("act", "reset")
    return isinstance(policy, cls) and all(getattr(kind, m) is getattr(cls, m) for m in own)


def close_policy(policy: Policy) -> None:
    """Release what a policy holds (a packed bundle's or DeepRacer model's temporary folder)."""
    bundle = getattr(policy, "bundle", None)
    if isinstance(bundle, Bundle):
        bundle.close()
