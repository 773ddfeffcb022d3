"""`racer tracks` commands: list the available tracks, draw one, import one, export one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from racer.errors import ConfigError, TrackError

app = typer.Typer(
    help="""Tracks: list built-in and user tracks, draw one, import a DeepRacer .npy or .track.toml.

Examples:

```
racer tracks list
racer tracks show oval --out oval.png
racer tracks import reInvent2019_track.npy
racer tracks line speedway --out line.png
```
""",
    no_args_is_help=True,
)

TrackArg = Annotated[
    str,
    typer.Argument(
        help="Built-in or user track name, a .npy / .track.toml file, or `random:<seed>`.",
        show_default=False,
    ),
]


def _width_text(lo: float, hi: float) -> str:
    return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}"


def _check_output(path: Path, option: str, image: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    Args:
        path: The file to write.
        option: The option's name, for the message.
        image: Also require a supported image suffix.

    Returns:
        The path.

    Raises:
        ConfigError: One line: an unsupported image suffix, or a folder in the way.
    """
    from racer.track.loading import shown_path
    from racer.track.plot import check_image_path

    if image:
        check_image_path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {shown_path(path)} is a directory; give a file name")
    return path


def _write_error(path: Path, exc: OSError) -> ConfigError:
    """One line for an output file that could not be written (no permission, disk full)."""
    from racer.track.loading import shown_path

    return ConfigError(f"cannot write {shown_path(path)} ({exc.strerror or exc})")


@app.command("list")
def list_command() -> None:
    """List every track available by name: length, width, turns and source.

    Examples:

    ```
    racer tracks list
    ```
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from racer.track import list_tracks, load_track_file
    from racer.track.loading import shown_path

    table = Table(title=None, show_edge=False, header_style="bold")
    for column, justify in (
        ("name", "left"),
        ("length (m)", "right"),
        ("width (m)", "right"),
        ("turns", "right"),
        ("source", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for info in list_tracks():
        # A library file's name is anything the file system allows: no markup, no escapes.
        name = escape(shown_path(info.name))
        try:
            track = load_track_file(info.path, name=info.name, source=info.source)
        except TrackError as exc:
            table.add_row(name, "-", "-", "-", escape(f"{info.source} (invalid: {exc})"))
            continue
        table.add_row(
            name,
            f"{track.length:.1f}",
            _width_text(track.min_width, track.max_width),
            str(track.turns()),
            info.source,
        )
    Console(width=120).print(table)


@app.command("show")
def show_command(
    track: TrackArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Image file to write (.png, .svg, .pdf).")
    ] = Path("track.png"),
) -> None:
    """Draw a track to an image: road, borders, centre line, start line, direction.

    Examples:

    ```
    racer tracks show oval
    racer tracks show reInvent2019_track.npy --out reinvent.svg
    racer tracks show random:7 --out random7.png
    ```
    """
    from racer.track import load_track, plot_track

    _check_output(out, "--out", image=True)
    t = load_track(track)
    try:
        path = plot_track(t, out)
    except OSError as exc:
        raise _write_error(out, exc) from None
    typer.echo(
        f"{t.name}: {t.length:.2f} m, width {_width_text(t.min_width, t.max_width)} m, "
        f"{t.turns()} turns, {t.direction}, {t.n_waypoints} waypoints -> {path}"
    )


@app.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(help="A DeepRacer .npy or a .track.toml file.", show_default=False)
    ],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Library name (default: the file's name).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a user track of the same name.")
    ] = False,
) -> None:
    """Validate a track file and add it to the user library (`$RACER_HOME/tracks`).

    The track is then available by name everywhere a track is asked for.

    Examples:

    ```
    racer tracks import reInvent2019_track.npy
    racer tracks import my_track.track.toml --name home --force
    ```
    """
    from racer.track import import_track, load_track_file

    dest = import_track(file, name=name, force=force)
    lib_name = dest.name.removesuffix(".npy").removesuffix(".track.toml")
    t = load_track_file(dest, name=lib_name)
    typer.echo(
        f"imported {file} as {lib_name!r}: {t.length:.2f} m, "
        f"width {_width_text(t.min_width, t.max_width)} m -> {dest}"
    )


@app.command("export")
def export_command(
    track: TrackArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="The .npy file to write.")],
) -> None:
    """Write a track in DeepRacer's .npy format (`N x [cx, cy, ix, iy, ox, oy]`).

    Examples:

    ```
    racer tracks export oval --out oval.npy
    racer tracks export random:7 -o random7.npy
    ```
    """
    from racer.track import load_track, save_npy

    path = save_npy(load_track(track), out)
    typer.echo(f"wrote {path}")


@app.command("line")
def line_command(
    track: TrackArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Draw the line on the track to this image (.png, .svg)."),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the line as CSV (s_m,x_m,y_m,speed_mps).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON only.")
    ] = False,
    margin: Annotated[
        float, typer.Option("--margin", help="Clearance between the car's side and the border, m.")
    ] = 0.05,
    method: Annotated[
        str, typer.Option("--method", help="min-time or min-curvature.")
    ] = "min-time",
    reverse: Annotated[
        bool, typer.Option("--reverse", help="Drive the track the other way.")
    ] = False,
) -> None:
    """Compute the racing line and the lap-time bound of the simulated car on a track.

    Examples:

    ```
    racer tracks line oval
    racer tracks line speedway --out line.png --csv line.csv
    racer tracks line technical --method min-curvature --json
    ```
    """
    import json

    from racer.track import load_track, plot_racing_line, racing_line

    if out is not None:
        _check_output(out, "--out", image=True)
    if csv is not None:
        _check_output(csv, "--csv")
    t = load_track(track)
    if reverse:
        t = t.reversed()
    line = racing_line(t, safety_margin_m=margin, method=method)
    for target, write in (
        (csv, lambda p: line.to_csv(p)),
        (out, lambda p: plot_racing_line(line, t, p)),
    ):
        if target is not None:
            try:
                write(target)
            except OSError as exc:
                raise _write_error(target, exc) from None
    summary = line.summary()
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
        return
    written = ", ".join(str(p) for p in (out, csv) if p is not None)
    typer.echo(
        f"{t.name}: {summary['length_m']:.2f} m, {method} bound {summary['bound_s']:.2f} s "
        f"(centre line {summary['centerline_bound_s']:.2f} s), line {summary['line_length_m']:.2f} m, "
        f"speed {summary['min_speed_mps']:.2f}-{summary['top_speed_mps']:.2f} m/s"
        + (f" -> {written}" if written else "")
    )
