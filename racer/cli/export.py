"""`racer export`: a trained run to a deploy bundle (ONNX + OpenVINO + golden frames + metadata),
and with ``--deepracer`` to the ``NAME.tar.gz`` a stock AWS DeepRacer car loads."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class ModelChoice(StrEnum):
    """Which model of the run to export."""

    best = "best"
    final = "final"


def export(
    run: Annotated[Path, typer.Argument(help="Run folder written by 'racer train'.")],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Bundle folder (default `export/<run-name>`); also writes `<out>.tar.gz`."
        ),
    ] = None,
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write an INT8 OpenVINO model (needs nncf).")
    ] = False,
    model: Annotated[
        ModelChoice, typer.Option(help="Export the best evaluated model or the final one.")
    ] = ModelChoice.best,
    samples: Annotated[
        int, typer.Option(help="Simulator observations the parity check runs on (>= 200).")
    ] = 256,
    deepracer: Annotated[
        bool,
        typer.Option(
            "--deepracer",
            help="Also write the model a stock AWS DeepRacer car loads: "
            "`<out's folder>/deepracer/<run-name>.tar.gz` (a frozen TensorFlow graph; camera or "
            "stereo runs).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result.")] = False,
) -> None:
    """Export a run for a car: check parity with the trained policy, measure latency, pack it.

    Writes the deploy bundle (ONNX + OpenVINO, golden frames, metadata) and its `.tar.gz`, to
    drive with `racer drive` or copy to a car with `racer deploy`.

    Examples:

    ```
    racer export runs/camera-20250101-120000
    racer export runs/camera-20250101-120000 --out export/mycar --int8
    racer export runs/camera-20250101-120000 --deepracer --model final
    ```
    """
    from racer.export.exporter import export_run

    def log(msg: str) -> None:
        if not quiet:
            typer.echo(msg, err=True)

    result = export_run(
        run, out, which=model.value, int8=int8, samples=samples, log=log, deepracer=deepracer
    )
    typer.echo(result.summary())
    typer.echo(
        f"drive it with: racer drive {result.archive} --source sim:<track> --actuator stdout"
    )
    if result.deepracer is not None:
        typer.echo(
            f"for a DeepRacer car: upload {result.deepracer.archive} in the car's console, or "
            "copy it to the models/ folder of its USB stick"
        )
