"""racer.car: the onboard runtime that drives a car from a deploy bundle.

It reads and verifies a bundle (:mod:`racer.car.bundle`), preprocesses frames exactly as the
simulator's observation (:mod:`racer.car.preprocess`), runs the policy with ONNX Runtime or
OpenVINO (:mod:`racer.car.backends`), maps its output to steering and throttle
(:mod:`racer.car.actions`) and sends them to an actuator (:mod:`racer.car.actuators`), in the
loop of :mod:`racer.car.runtime`, fed by a frame source (:mod:`racer.car.sources`). A DeepRacer
model archive (``model_metadata.json`` + TensorFlow ``model.pb``) drives the same way on OpenVINO
(:mod:`racer.car.deepracer`).

Dependencies: the standard library, numpy, and onnxruntime or openvino (imported lazily, by
backend); OpenCV only for video/camera/JPEG sources and the Adafruit driver only for the PCA9685
actuator, both lazily. Of racer only :mod:`racer.contract` (the action space, observations and
constants it shares with the simulator), :mod:`racer.util` and :mod:`racer.errors`, so the car
needs neither PyTorch, Gymnasium nor PyBullet.
"""

from racer.car.actions import ActionDecoder, Calibration, ChannelCalibration, PhysicalAction
from racer.car.actuators import Actuator, Command, parse_actuator
from racer.car.backends import Backend, OnnxRuntimeBackend, OpenVinoBackend, measure_latency
from racer.car.bundle import (
    SCHEMA_VERSION,
    Bundle,
    SelfTestReport,
    compute_checksums,
    load_bundle,
    pack_bundle,
    validate_metadata,
    write_metadata,
)
from racer.car.deepracer import DeepRacerModel, load_deepracer, load_model
from racer.car.preprocess import Preprocessor
from racer.car.runtime import Driver, DriveReport
from racer.car.sources import ClosedLoopSource, FrameSource, parse_source

__all__ = [
    "SCHEMA_VERSION",
    "ActionDecoder",
    "Actuator",
    "Backend",
    "Bundle",
    "Calibration",
    "ChannelCalibration",
    "ClosedLoopSource",
    "Command",
    "DeepRacerModel",
    "DriveReport",
    "Driver",
    "FrameSource",
    "OnnxRuntimeBackend",
    "OpenVinoBackend",
    "PhysicalAction",
    "Preprocessor",
    "SelfTestReport",
    "compute_checksums",
    "load_bundle",
    "load_deepracer",
    "load_model",
    "measure_latency",
    "pack_bundle",
    "parse_actuator",
    "parse_source",
    "validate_metadata",
    "write_metadata",
]
