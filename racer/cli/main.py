"""The `racer` console script: wires the command groups together and turns user errors into one line."""

from __future__ import annotations

import os
import sys

import typer

from racer import __version__
from racer.cli import car as car_cli
from racer.cli import demo as demo_cli
from racer.cli import drive as drive_cli
from racer.cli import evaluate as evaluate_cli
from racer.cli import export as export_cli
from racer.cli import leaderboard as leaderboard_cli
from racer.cli import rewards as rewards_cli
from racer.cli import sweep as sweep_cli
from racer.cli import tracks as tracks_cli
from racer.cli import train as train_cli
from racer.cli import ui as ui_cli
from racer.errors import RacerError

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import ClickException as _ClickException
except ImportError:  # pragma: no cover - older typer with click installed
    from click import ClickException as _ClickException  # type: ignore[no-redef,assignment]

# Help texts are Markdown (every command and sub-group inherits the mode): a docstring's
# paragraph is one paragraph on screen, re-wrapped to the terminal, whatever its line breaks in
# the source; lists stay lists and ``` blocks stay as written. Each command's docstring ends
# with an "Examples:" paragraph and a ``` block of `racer ...` lines (tests/cli/test_help_texts.py
# holds every command to it). Write literals holding <, [, * or _ in backticks: `runs/<name>`.
app = typer.Typer(
    name="racer",
    help="""Local reinforcement-learning racing: train, evaluate and export DeepRacer-style agents.

Examples:

```
racer demo
racer train agents/quickstart --track oval
racer evaluate runs/quickstart-20250101-120000 --track oval
racer export runs/quickstart-20250101-120000
racer COMMAND --help
```
""",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(tracks_cli.app, name="tracks")
app.add_typer(rewards_cli.app, name="rewards")
app.command("demo")(demo_cli.demo)
app.command("train")(train_cli.train)
app.command("report")(train_cli.report)
app.command("sweep")(sweep_cli.sweep)
app.command("export")(export_cli.export)
app.command("drive")(drive_cli.drive)
app.command("deploy")(drive_cli.deploy)
app.command("car-wheel")(car_cli.car_wheel)
app.command("evaluate")(evaluate_cli.evaluate)
app.add_typer(leaderboard_cli.app, name="leaderboard")
app.command("ui")(ui_cli.ui)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"racer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """racer: DeepRacer-style training, racing and deployment on your own machine."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a RacerError becomes one line on stderr and exit status 2."""
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except RacerError as exc:
        if os.environ.get("RACER_DEBUG") == "1":
            raise
        print(f"racer: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("racer: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("racer: aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        if isinstance(exc, _ClickException):
            if os.environ.get("RACER_DEBUG") == "1":
                raise
            print(f"racer: error: {exc.format_message()}", file=sys.stderr)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
