"""``sim:TRACK``: the simulator as a closed-loop frame source for the car runtime.

:class:`SimSource` hands the runtime the frames a :class:`racer.env.RaceEnv` observes, exactly as
the policy saw them in training (the same observation, the same action space), and applies the
runtime's physical command back to the simulator. The command arrives in physical units
(steering in degrees, speed in m/s), decoded by the car's own :class:`racer.car.ActionDecoder`;
it is mapped back to the environment's action by the contract's inverse mapping
(:meth:`racer.contract.ActionSpace.to_action`): the index of the identical pair in a discrete
action list (any other command is refused), or the normalised value of a continuous one. So
``racer drive --source sim:TRACK`` exercises the whole onboard path (preprocessing, engine,
decoding) in closed loop.

It lives beside the other simulator drivers (:mod:`racer.env.follower`, :mod:`racer.env.expert`);
the car runtime knows it only as a ``ClosedLoopSource`` (``read()``, ``apply(...)``).

Episodes start where the training evaluation starts them
(:func:`racer.train.callbacks.evaluate_policy_laps`): episode ``k`` of ``n`` at ``k/n`` of the
lap, forward, reset with seed ``k``. The source ends after ``episodes`` episodes; with
``episodes=None`` it cycles through :data:`START_POINTS` start points until the runtime stops.

``perturb`` (:class:`racer.sim.randomize.Perturbation`, ``racer drive --perturb``) drives the car
in a perturbed world (light, noise, blur, lens, latency, ...): the environment applies it exactly as
``racer evaluate --perturb`` and training's randomisation do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from racer.contract.bundle import bundle_action_space
from racer.env.race_env import RaceEnv
from racer.env.spaces import ActionSpec, resolve_action_space
from racer.errors import ConfigError
from racer.sim.randomize import Perturbation

START_POINTS = 8  # start points along the lap when driving an open-ended number of episodes


@dataclass
class EpisodeRecord:
    """One simulated episode driven by the runtime.

    Attributes:
        start_s: start point, metres along the lap.
        steps: control steps driven.
        status: how it ended (DeepRacer's names; ``in_progress`` when the drive stopped first).
        progress: percent of the lap done.
        lap_time_s: lap time when the lap was completed, else None.
        actions: the environment actions applied (indices, or normalised pairs).
        trajectory: ``(steps, 3)`` x, y (m) and measured speed (m/s) after each step.
    """

    start_s: float
    steps: int = 0
    status: str = "in_progress"
    progress: float = 0.0
    lap_time_s: float | None = None
    actions: list[Any] = field(default_factory=list)
    trajectory: list[tuple[float, float, float]] = field(default_factory=list)


def action_spec_from_bundle(metadata: dict[str, Any]) -> ActionSpec:
    """The environment's action space from a bundle's ``metadata.json`` (schema 1 or 2)."""
    return resolve_action_space(bundle_action_space(metadata))


class SimSource:
    """A :class:`racer.car.ClosedLoopSource` backed by a ``RaceEnv``.

    Args:
        track: the track (name or path).
        observation: ``camera``, ``stereo`` or ``lidar`` (the bundle's).
        action_spec: the bundle's action space.
        episodes: episodes to drive before the source ends (None: no end).
        max_steps: step limit per episode (None: the environment's default).
        perturb: fixed sim-to-real perturbations (None: the plain world).
    """

    def __init__(
        self,
        track: str,
        observation: str,
        action_spec: ActionSpec,
        episodes: int | None = 1,
        max_steps: int | None = None,
        perturb: Perturbation | None = None,
    ) -> None:
        if episodes is not None and episodes < 1:
            raise ConfigError(f"--episodes must be >= 1, got {episodes}")
        self.env = RaceEnv(
            track=track,
            observation=observation,
            action_space=action_spec,
            reward="progress",
            start="fixed",
            max_steps=max_steps,
            randomize=perturb,
        )
        self.spec = action_spec
        self.episodes = episodes
        self.records: list[EpisodeRecord] = []
        self._obs: np.ndarray | None = None
        self._start_episode()

    @classmethod
    def from_metadata(
        cls,
        track: str,
        metadata: dict[str, Any],
        episodes: int | None = 1,
        max_steps: int | None = None,
        perturb: Perturbation | None = None,
    ) -> SimSource:
        """A source matching a bundle: its observation and action space."""
        spec = action_spec_from_bundle(metadata)
        return cls(track, metadata["observation"], spec, episodes, max_steps, perturb)

    @property
    def done(self) -> bool:
        """Whether every episode has ended."""
        return self._obs is None

    def _start_episode(self) -> None:
        k = len(self.records)
        if self.episodes is not None and k >= self.episodes:
            self._obs = None
            return
        points = self.episodes or START_POINTS
        start_s = (k % points) * self.env.track.length / points
        self._obs, _ = self.env.reset(seed=k, options={"start_s": start_s, "reverse": False})
        self.records.append(EpisodeRecord(start_s=start_s))

    def read(self) -> np.ndarray | None:
        """The observation the policy acts on now, or None after the last episode."""
        return None if self._obs is None else self._obs

    def env_action(self, steering_deg: float, speed_mps: float) -> Any:
        """The environment action for a physical command.

        Raises:
            ConfigError: a discrete command that is not in the action list (the bundle and the
                simulator disagree).
        """
        action = self.spec.to_action(steering_deg, speed_mps)
        if self.spec.kind == "discrete" and self.spec.actions[int(action)] != (
            float(steering_deg),
            float(speed_mps),
        ):
            raise ConfigError(
                f"command ({steering_deg} deg, {speed_mps} m/s) is not in the bundle's "
                "action list; the bundle's metadata.json is inconsistent"
            )
        return action

    def apply(
        self, steering: float, throttle: float, steering_deg: float, speed_mps: float
    ) -> None:
        """Step the simulator with the runtime's command (physical units are used)."""
        if self._obs is None:
            return
        action = self.env_action(steering_deg, speed_mps)
        obs, _, terminated, truncated, info = self.env.step(action)
        rec = self.records[-1]
        rec.steps += 1
        rec.actions.append(action)
        p = info["params"]
        rec.trajectory.append((float(p["x"]), float(p["y"]), float(info["speed_mps"])))
        rec.progress = float(info["progress"])
        rec.status = str(info["episode_status"])
        if "lap_time_s" in info:
            rec.lap_time_s = float(info["lap_time_s"])
        if terminated or truncated:
            self._start_episode()
        else:
            self._obs = obs

    def close(self) -> None:
        """Release the simulator."""
        self.env.close()

    def summary(self) -> str:
        """Laps, lap times and progress, for the drive report."""
        laps = [r for r in self.records if r.lap_time_s is not None]
        lines = [
            f"sim {self.env.track.name}: {len(self.records)} episode(s), {len(laps)} lap(s)"
            + (f", best lap {min(float(r.lap_time_s or 0.0) for r in laps):.2f} s" if laps else "")
        ]
        for i, r in enumerate(self.records):
            lap = f", lap {r.lap_time_s:.2f} s" if r.lap_time_s is not None else ""
            lines.append(
                f"  episode {i}: start {r.start_s:.2f} m, {r.steps} steps, {r.status}, "
                f"progress {r.progress:.1f}%{lap}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The results as JSON-able data."""
        return {
            "track": self.env.track.name,
            "episodes": [
                {
                    "start_s": r.start_s,
                    "steps": r.steps,
                    "status": r.status,
                    "progress": r.progress,
                    "lap_time_s": r.lap_time_s,
                }
                for r in self.records
            ],
        }
