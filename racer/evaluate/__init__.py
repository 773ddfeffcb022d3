"""racer.evaluate: headless evaluation, lap timing, race formats, the leaderboard and its page.

- :mod:`racer.evaluate.policies`: the :class:`Policy` protocol and its drivers: a run folder's
  stable-baselines3 model, a deploy bundle run with ONNX Runtime, the centre-line follower.
- :mod:`racer.evaluate.races`: time trial, object avoidance, head-to-head; DeepRacer's rules.
- :mod:`racer.evaluate.evaluator`: trials with DeepRacer's continuous evaluation (put back on the
  track after an off-track, penalties, reset limit) and DeepRacer's metric names.
- :mod:`racer.evaluate.report`: the rich table, ``results.json`` and the PNG of the lines.
- :mod:`racer.evaluate.leaderboard`: a package: ``store`` (the SQLite file, locking),
  ``ranking`` (standings, table rows) and ``submission`` (sandboxed evaluation, parallel runs).
- :mod:`racer.evaluate.html`: the static leaderboard page.

The names below are imported lazily (on first use), so importing a light sub-module (for
example :mod:`racer.evaluate.races` from the CLI) does not load the simulator.

Imports :mod:`racer.env` (and below), :mod:`racer.car`, :mod:`racer.contract`, :mod:`racer.util`
and, to read run folders, :mod:`racer.train.run_folder` only; never the training loop or
:mod:`racer.export`. The ranking rule is :mod:`racer.env.ranking`'s, shared with training.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "METRIC_NAMES": "racer.evaluate.evaluator",
    "EvaluationResult": "racer.evaluate.evaluator",
    "Evaluator": "racer.evaluate.evaluator",
    "TrialResult": "racer.evaluate.evaluator",
    "evaluate": "racer.evaluate.evaluator",
    "trial_rank_key": "racer.evaluate.evaluator",
    "BundlePolicy": "racer.evaluate.policies",
    "EXPERTS": "racer.evaluate.policies",
    "ExpertPolicy": "racer.evaluate.policies",
    "FollowerPolicy": "racer.evaluate.policies",
    "OnnxPolicy": "racer.evaluate.policies",
    "Policy": "racer.evaluate.policies",
    "Sb3Policy": "racer.evaluate.policies",
    "load_policy": "racer.evaluate.policies",
    "RaceConfig": "racer.evaluate.races",
    "RaceFormat": "racer.evaluate.races",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'racer.evaluate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
