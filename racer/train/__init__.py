"""racer.train: PPO/SAC training on stable-baselines3, run folders, callbacks, simtrace CSV.

- :mod:`racer.train.config`: ``agent.toml`` -> :class:`AgentConfig` (every key validated).
- :mod:`racer.train.pipeline`: :func:`train` (new or ``resume``), warm starts, writing the run folder.
- :mod:`racer.train.run_folder`: :class:`RunFolder`, the layout and the one policy loader.
- :mod:`racer.train.callbacks`: evaluation (best model by :mod:`racer.env.ranking`), simtrace,
  metrics; :mod:`racer.train.checkpoint`: atomic checkpoints and resume.
- :mod:`racer.train.pretrain`: imitation warm start from the centre-line or racing expert.
- :mod:`racer.train.report`: the run's PNG report; :mod:`racer.train.wrappers`: vector envs;
  :mod:`racer.train.networks`: the camera CNN; :mod:`racer.train.io`: run-folder file helpers.

:class:`RunFolder` (:mod:`racer.train.run_folder`) is the one reader of a run folder; importing
it (and this package) stays light: torch and stable-baselines3 load only when a model does.
"""

from racer.train.run_folder import RunFolder

__all__ = ["RunFolder"]
