"""The ``racer-car`` console script: the car's own command line, without the trainer.

It is the entry point of the ``racer-car`` wheel (``racer car-wheel`` builds it), which holds only
:mod:`racer.car`, :mod:`racer.contract`, :mod:`racer.util` and racer's bottom modules, and runs on
Python 3.9 and later with numpy and ONNX Runtime (or OpenVINO)::

    racer-car drive BUNDLE --source camera:0 --actuator pca9685 --calibration calib.json
    racer-car drive BUNDLE --source images:frames/ --actuator null --no-realtime
    racer-car selftest BUNDLE [--backend onnxruntime]
    python3 -m racer.car.cli ...      # the same, where ~/.local/bin is not on PATH

``drive`` is ``racer drive`` for a car (a racer bundle or a DeepRacer model): it verifies the
model, runs its self-test on the chosen engine before any camera or actuator is opened, then
drives until the source ends, ``--max-steps`` or Ctrl-C. A user mistake prints one ``racer-car: error:`` line and exits 2 (the
traceback with ``RACER_DEBUG=1``). Only argparse: no Typer on the car.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Any

from racer import __version__
from racer.car import selftest
from racer.car.actions import THROTTLE_CURVES, Calibration
from racer.car.actuators import ACTUATOR_SPECS, parse_actuator
from racer.car.backends import BACKENDS
from racer.car.deepracer import default_backend, load_model
from racer.car.runtime import Driver
from racer.car.sources import SOURCE_SPECS, parse_source
from racer.errors import RacerError

PROG = "racer-car"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Drive a car with a racer bundle, or self-test a bundle here."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    drive = commands.add_parser(
        "drive",
        help="verify and self-test a bundle, then frame -> policy -> actuator",
        description="Verify a bundle, run its golden self-test, then drive: frame -> policy -> "
        "actuator, until the source ends, --max-steps or Ctrl-C.",
    )
    drive.add_argument(
        "bundle",
        help="bundle folder or .tar.gz from 'racer export', or a DeepRacer model .tar.gz "
        "(model_metadata.json + model.pb)",
    )
    drive.add_argument(
        "--source", required=True, help=f"where frames come from: {', '.join(SOURCE_SPECS)}"
    )
    drive.add_argument(
        "--actuator",
        default="stdout",
        help=f"where commands go: {', '.join(ACTUATOR_SPECS)} (default: stdout)",
    )
    drive.add_argument(
        "--backend",
        choices=BACKENDS,
        help="inference engine (default: onnxruntime; openvino for a DeepRacer model)",
    )
    drive.add_argument("--calibration", help="servo/ESC calibration JSON (see racer.car.actions)")
    drive.add_argument(
        "--throttle-curve", choices=THROTTLE_CURVES, help="speed-to-throttle curve (overrides)"
    )
    drive.add_argument("--max-steps", type=_non_negative, help="stop after this many commands")
    drive.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pace the loop at the policy's rate (default: on)",
    )
    drive.add_argument("--threads", type=_positive, default=1, help="inference threads")
    drive.add_argument("--report-json", help="also write the report as JSON here")
    drive.set_defaults(run=_drive)

    test = commands.add_parser(
        "selftest",
        help="verify a bundle and run its golden self-test on the engines installed",
        description="Verify a bundle's checksums and metadata, then run golden.npz on every "
        "installed engine (or the ones named).",
    )
    test.add_argument("bundle", help="bundle folder or .tar.gz")
    test.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="engine to test (repeat for several; default: every installed engine)",
    )
    test.set_defaults(run=_selftest)
    return parser


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _drive(args: argparse.Namespace) -> int:
    # The calibration first: a bad value refuses before any bundle, model or device is opened.
    calib = Calibration.load(args.calibration) if args.calibration else Calibration()
    if args.throttle_curve is not None:
        calib.throttle_curve = args.throttle_curve
    with load_model(args.bundle) as bundle:  # checksums and metadata; a BundleError ends here
        engine = bundle.backend(args.backend or default_backend(bundle), threads=args.threads)
        bundle.self_test(engine)  # before any source or actuator is opened
        frames = parse_source(args.source)
        try:
            out = parse_actuator(args.actuator, calib)
        except BaseException:
            frames.close()
            raise
        try:
            driver = Driver(
                bundle,
                engine,
                frames,
                out,
                calibration=calib,
                max_steps=args.max_steps,
                realtime=args.realtime,
                threads=args.threads,
            )
        except BaseException:
            frames.close()
            out.close()
            raise
        report = driver.run()  # closes the source and the actuator, also on failure
    # JSON lines go to stdout with the stdout actuator: keep the report off that stream.
    print(report.summary(), file=sys.stderr if args.actuator == "stdout" else sys.stdout)
    if args.report_json:
        data: dict[str, Any] = {"drive": asdict(report)}
        with open(args.report_json, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2, default=str) + "\n")
    return 0


def _selftest(args: argparse.Namespace) -> int:
    argv = [args.bundle]
    for name in args.backend or []:
        argv += ["--backend", name]
    return selftest.main(argv)


def main(argv: list[str] | None = None) -> int:
    """Run ``racer-car``; returns the exit status (0 ok, 2 a user mistake)."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except RacerError as exc:
        if os.environ.get("RACER_DEBUG") == "1":
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
