"""`racer drive` (run a bundle on frames, closed loop in the simulator or on a car) and
`racer deploy` (copy a bundle to a car over ssh and self-test it there)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from racer.errors import ConfigError, RacerError


class BackendChoice(StrEnum):
    """Inference engines of the car runtime."""

    onnxruntime = "onnxruntime"
    openvino = "openvino"
    openvino_int8 = "openvino_int8"


class ThrottleCurve(StrEnum):
    """Speed-to-throttle curves (see racer.car.actions)."""

    linear = "linear"
    deepracer = "deepracer"


class DeployError(RacerError):
    """Copying a bundle to a car, or its remote self-test, failed."""


def _open_source(
    spec: str,
    metadata: dict[str, Any],
    episodes: int | None,
    max_steps: int | None,
    perturb: str | None = None,
) -> Any:
    """A frame source from its spec; ``sim:TRACK`` is the simulator (closed loop), perturbed by
    ``perturb`` (``NAME=VALUE,...``, :class:`racer.sim.randomize.Perturbation`)."""
    from racer.car.sources import parse_source

    kind, sep, arg = spec.partition(":")
    if kind == "sim":
        if not sep or not arg:
            raise ConfigError(f"bad source {spec!r}; use sim:TRACK (for example sim:oval)")
        from racer.env.sim_source import SimSource
        from racer.sim.randomize import Perturbation

        levels = Perturbation.parse(perturb) if perturb is not None else None
        return SimSource.from_metadata(
            arg, metadata, episodes=episodes, max_steps=max_steps, perturb=levels
        )
    if perturb is not None:
        raise ConfigError("--perturb perturbs the simulator: use it with --source sim:TRACK")
    return parse_source(spec)


def drive(
    bundle: Annotated[
        Path,
        typer.Argument(
            help="Bundle folder or .tar.gz from 'racer export', or a DeepRacer model .tar.gz "
            "(model_metadata.json + model.pb)."
        ),
    ],
    source: Annotated[
        str,
        typer.Option(help="Frames: sim:TRACK, camera:INDEX, video:PATH or images:DIR."),
    ],
    actuator: Annotated[
        str, typer.Option(help="Commands: stdout, udp:HOST:PORT, pca9685[:STEER:THROTTLE], null.")
    ] = "stdout",
    backend: Annotated[
        BackendChoice | None,
        typer.Option(
            help="Inference engine (default: onnxruntime; openvino for a DeepRacer model)."
        ),
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="Servo/ESC calibration JSON (see racer.car.actions).")
    ] = None,
    throttle_curve: Annotated[
        ThrottleCurve | None, typer.Option(help="Speed-to-throttle curve (overrides the file).")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many commands.", min=0)
    ] = None,
    realtime: Annotated[
        bool | None,
        typer.Option(
            "--realtime/--no-realtime",
            help="Pace the loop at the policy's rate (default: on, off for sim sources).",
        ),
    ] = None,
    episodes: Annotated[
        int | None,
        typer.Option(
            help="sim sources: episodes to drive from evenly spaced starts (default 1, or as many "
            "as --max-steps allows).",
            min=1,
        ),
    ] = None,
    episode_steps: Annotated[
        int | None, typer.Option(help="sim sources: step limit per episode.", min=1)
    ] = None,
    perturb: Annotated[
        str | None,
        typer.Option(
            "--perturb",
            help="sim sources: fixed levels NAME=VALUE,... as in racer evaluate --perturb.",
        ),
    ] = None,
    threads: Annotated[int, typer.Option(help="Inference threads.", min=1)] = 1,
    report_json: Annotated[
        Path | None, typer.Option("--report-json", help="Also write the report as JSON here.")
    ] = None,
) -> None:
    """Drive with a bundle or a DeepRacer model: verify it, self-test it, then frame -> policy ->
    actuator.

    The car's own runtime path, here or on the car: frames from the simulator (`sim:TRACK`,
    closed loop), a camera, a video or a folder of images; commands to stdout as JSON lines, over
    UDP or to a PCA9685 servo board. The report (and, for `sim:` sources, the laps driven) goes
    to stderr when the commands go to stdout.

    Examples:

    ```
    racer drive export/mycar.tar.gz --source sim:oval
    racer drive export/mycar --source sim:speedway --episodes 3 --actuator null
    racer drive export/mycar --source sim:oval --perturb noise=8,latency_steps=1
    racer drive export/mycar --source camera:0 --actuator pca9685
    racer drive model.tar.gz --source video:lap.mp4 --max-steps 300
    ```
    """
    from dataclasses import asdict

    from racer.car.actions import Calibration
    from racer.car.actuators import parse_actuator
    from racer.car.deepracer import default_backend, load_model
    from racer.car.runtime import Driver

    # The calibration first: a bad value refuses before any bundle, model or device is opened.
    calib = Calibration.load(calibration) if calibration is not None else Calibration()
    if throttle_curve is not None:
        calib.throttle_curve = throttle_curve.value
    loaded = load_model(bundle)  # checksums and metadata; a BundleError ends here
    try:
        engine_name = backend.value if backend is not None else default_backend(loaded)
        engine = loaded.backend(engine_name, threads=threads)
        loaded.self_test(engine)  # before any source or actuator is opened
        is_sim = source.startswith("sim:")
        if episodes is None:
            episodes = None if max_steps is not None else 1
        frames = _open_source(source, loaded.metadata, episodes, episode_steps, perturb)
        try:
            out = parse_actuator(actuator, calib)
        except BaseException:
            frames.close()
            raise
        driver = Driver(
            loaded,
            engine,
            frames,
            out,
            calibration=calib,
            max_steps=max_steps,
            realtime=(not is_sim) if realtime is None else realtime,
            threads=threads,
        )
        try:
            report = driver.run()
        except BaseException:
            frames.close()
            out.close()
            raise
        # JSON lines go to stdout with the stdout actuator: keep the report off that stream.
        to_err = actuator == "stdout"
        typer.echo(report.summary(), err=to_err)
        data: dict[str, Any] = {"drive": asdict(report)}
        if is_sim:
            typer.echo(frames.summary(), err=to_err)
            data["sim"] = frames.to_dict()
        if report_json is not None:
            report_json.write_text(json.dumps(data, indent=2, default=str) + "\n")
    finally:
        loaded.close()


def _run(cmd: list[str], what: str) -> str:
    """Run a transport command; a failure becomes one DeployError line."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise DeployError(f"{what}: {cmd[0]!r} not found; install OpenSSH's client") from None
    except subprocess.TimeoutExpired:
        raise DeployError(f"{what}: {cmd[0]} timed out after 600 s") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise DeployError(f"{what} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


def _install_runtime(host: str, remote_dir: str, opts: list[str], python: str, tmp: Path) -> None:
    """Build the racer-car wheel, copy it to ``host:remote_dir`` and pip-install it there.

    Into the car's Python's own environment when that is a virtual environment, else with
    ``--user``. Two pip runs: the first brings missing dependencies (numpy, ONNX Runtime), the
    second replaces racer-car itself even at the same version (a rebuilt wheel of this tree).
    """
    from racer.cli.car import build_car_wheel

    wheel = build_car_wheel(tmp / "wheel")
    typer.echo(f"installing {wheel.name} on {host} with {python}", err=True)
    _run(["scp", *opts, str(wheel), f"{host}:{remote_dir}/{wheel.name}"], "scp")
    d, w, py = shlex.quote(remote_dir), shlex.quote(wheel.name), shlex.quote(python)
    pip = f"{py} -m pip install --disable-pip-version-check -q $user"
    remote = (
        f"cd {d} && if {py} -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; "
        f"then user=; else user=--user; fi && {pip} {w} && {pip} --no-deps --force-reinstall {w}"
    )
    try:
        _run(["ssh", *opts, host, remote], f"installing racer-car on {host}")
    except DeployError as exc:
        raise DeployError(
            f"{exc}; where the system Python refuses pip (externally managed), make a virtual "
            "environment on the car and pass its python with --python, or install racer-car "
            "yourself and use --no-install-runtime"
        ) from None


def deploy(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder or .tar.gz from 'racer export'.")],
    target: Annotated[str, typer.Argument(help="HOST:DIR on the car, e.g. deepracer@car:bundles.")],
    ssh_opts: Annotated[
        str, typer.Option(help='Extra options for ssh and scp, e.g. "-i key -o Port=2222".')
    ] = "",
    python: Annotated[
        str,
        typer.Option(
            help="Python on the car (3.9+); racer-car is installed into it unless "
            "--no-install-runtime (an absolute path for a virtual environment's)."
        ),
    ] = "python3",
    install_runtime: Annotated[
        bool,
        typer.Option(
            "--install-runtime/--no-install-runtime",
            help="Build the racer-car wheel (see 'racer car-wheel'), copy it and pip-install it "
            "on the car (--user outside a virtual environment) before the self-test.",
        ),
    ] = True,
) -> None:
    """Copy a bundle to a car with scp, install the runtime, unpack it and self-test it there.

    Needs OpenSSH's `ssh` and `scp`. The runtime is the `racer-car` wheel (see
    `racer car-wheel`), pip-installed into the car's Python before the self-test.

    Examples:

    ```
    racer deploy export/mycar.tar.gz deepracer@car.local:bundles
    racer deploy export/mycar pi@car:bundles --ssh-opts "-o Port=2222"
    racer deploy export/mycar car:bundles --python /home/pi/venv/bin/python3
    racer deploy export/mycar car:bundles --no-install-runtime
    ```
    """
    from racer.car.bundle import is_archive, load_bundle, pack_bundle

    host, sep, remote_dir = target.partition(":")
    if not sep or not host or not remote_dir:
        raise ConfigError(f"bad target {target!r}; use HOST:DIR (for example car.local:bundles)")
    if host.startswith("-"):  # ssh would read it as an option
        raise ConfigError(f"bad target {target!r}: the host cannot start with '-'")
    try:
        opts = shlex.split(ssh_opts)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise ConfigError(
            f"bad --ssh-opts {ssh_opts!r}: {exc}; quote it as a shell would, "
            "e.g. --ssh-opts '-i key -o Port=2222'"
        ) from None
    with load_bundle(bundle) as loaded, tempfile.TemporaryDirectory() as tmp:  # verify locally
        name = loaded.root.name  # the bundle's folder name (inside the archive, too)
        if is_archive(bundle):
            archive = bundle
        else:
            archive = pack_bundle(loaded.root, Path(tmp) / f"{name}.tar.gz")
        remote_archive = f"{name}.tar.gz"
        d, n, a = shlex.quote(remote_dir), shlex.quote(name), shlex.quote(remote_archive)
        typer.echo(f"copying {archive.name} to {host}:{remote_dir}", err=True)
        _run(["ssh", *opts, host, f"mkdir -p {d}"], f"ssh {host}")
        _run(["scp", *opts, str(archive), f"{host}:{remote_dir}/{remote_archive}"], "scp")
        if install_runtime:
            _install_runtime(host, remote_dir, opts, python, Path(tmp))
        remote = (
            f"cd {d} && rm -rf -- {n} && tar xzf {a} && "
            f"{shlex.quote(python)} -m racer.car.selftest {n}"
        )
        out = _run(["ssh", *opts, host, remote], f"remote self-test on {host}")
    sys.stdout.write(out)
    typer.echo(f"deployed {name} to {host}:{remote_dir}/{name}")
