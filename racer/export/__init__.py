"""racer.export: a trained run to a deploy bundle the car can run, checked on the way.

- :mod:`racer.export.policy`: load a run's SB3 model; :class:`PolicyGraph`, the torch module
  exported (observation normalisation, /255, deterministic action head, clipping inside).
- :mod:`racer.export.record`: observations recorded in the simulator with the policy driving.
- :mod:`racer.export.convert`: torch -> ONNX (one file) -> OpenVINO IR, optional INT8 (NNCF).
- :mod:`racer.export.parity`: parity of every engine with the trained policy, and latency.
- :mod:`racer.export.exporter`: :func:`export_run`, the whole ``racer export``, atomic.
- :mod:`racer.export.deepracer`: the ``NAME.tar.gz`` a stock AWS DeepRacer car loads (a
  TensorFlow frozen graph written without TensorFlow, :class:`GraphBuilder`), its parity through
  OpenVINO's TensorFlow front end (``racer export --deepracer``).

``sim:TRACK``, the simulator as a frame source of ``racer drive``, is :mod:`racer.env.sim_source`.
Imports racer.train, racer.env, racer.car (the bundle writer and engines) and racer.contract;
the car runtime never imports this package.
"""

from racer.export.deepracer import GraphBuilder, write_deepracer_archive
from racer.export.errors import ExportError, ParityError
from racer.export.exporter import ExportResult, export_run
from racer.export.policy import PolicyGraph, TrainedPolicy, load_trained_policy

__all__ = [
    "ExportError",
    "ExportResult",
    "GraphBuilder",
    "ParityError",
    "PolicyGraph",
    "TrainedPolicy",
    "export_run",
    "load_trained_policy",
    "write_deepracer_archive",
]
