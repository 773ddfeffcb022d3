"""`racer rewards` commands: list the installed rewards, check a reward function before training."""

from __future__ import annotations

import math
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    help="""Reward functions: list the built-in and installed ones, check your own before training.

Examples:

```
racer rewards list
racer rewards check my_reward.py
```
""",
    no_args_is_help=True,
)

TrackOption = Annotated[
    str | None,
    typer.Option(
        "--track",
        "-t",
        help="Track to draw the car poses on: a name or a file (default: racer's default track).",
        show_default=False,
    ),
]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


@app.command("list")
def list_rewards() -> None:
    """List the rewards that `reward=` accepts by name: built-ins and installed plugins.

    Examples:

    ```
    racer rewards list
    ```
    """
    from racer.rewards import describe_rewards

    infos = describe_rewards()
    table = Table(title="Rewards (entry-point group racer.rewards)", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("source")
    table.add_column("description")
    for info in infos:
        table.add_row(escape(info.name), escape(info.source), escape(info.doc))
    console = _console()
    console.print(table)
    console.print("Use a name, a file (reward.py or reward.py:function) or a Python callable.")


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4g}"


@app.command("check")
def check(
    reward: Annotated[
        str,
        typer.Argument(
            help="The reward: reward.py, reward.py:function, or an installed name.",
            show_default=False,
        ),
    ],
    track: TrackOption = None,
    runs: Annotated[int, typer.Option(min=1, help="Runs (start points) per situation.")] = 8,
    steps: Annotated[int, typer.Option(min=1, help="Consecutive steps per run.")] = 12,
    seed: Annotated[int, typer.Option(help="Seed for the pose perturbations.")] = 0,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Time limit of one call, seconds (default 5, as in training; "
            "`[env] reward_timeout_s` there).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Try a reward on synthetic car poses (no physics) and report its values and failures.

    The car is placed along the track in several situations (on the centre line, near the
    border, off the track, driving backwards, zig-zag steering, objects ahead), each as short
    runs of consecutive steps. Prints the reward range per situation, the params keys the
    function reads and any failure (exceptions, `sys.exit()`, non-numbers, NaN). The check runs
    in a child process under the same per-call time limit as training.

    Exit status: 0 all good, 1 the function failed on some poses, 2 it could not be loaded, ran
    past the time limit or ended the process (`os._exit()`).

    Examples:

    ```
    racer rewards check my_reward.py
    racer rewards check my_reward.py:reward_function --track speedway
    racer rewards check progress --runs 16 --steps 30 --timeout 1
    ```
    """
    from racer.rewards import load_reward
    from racer.rewards.check import check_reward_isolated
    from racer.track import DEFAULT_TRACK, load_track

    plugin = load_reward(reward)
    if timeout is not None:
        plugin = plugin.with_timeout(timeout)
    the_track = load_track(track if track is not None else DEFAULT_TRACK)
    report = check_reward_isolated(plugin, the_track, runs=runs, steps=steps, seed=seed)

    console = _console()
    title = f"{plugin.name} on {report.track_name} ({plugin.source})"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("situation", style="bold")
    table.add_column("poses", justify="right")
    table.add_column("min", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("max", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("what")
    for result in report.situations:
        failed = str(result.failures) if result.failures else "0"
        table.add_row(
            result.name,
            str(result.calls),
            _fmt(result.min),
            _fmt(result.mean),
            _fmt(result.max),
            f"[red]{failed}[/red]" if result.failures else failed,
            escape(result.description),
        )
    console.print(table)
    console.print(f"params read: {', '.join(report.keys_read) or '(none)'}")
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    if report.ok:
        console.print("[green]ok[/green]: no failures")
        return
    console.print(f"[red]{report.failures} failed call(s)[/red]; the first in each situation:")
    for result in report.situations:
        if result.messages:
            console.print(f"  {result.name}: {result.messages[0]}", markup=False)
    # SystemExit, not typer.Exit: click's non-standalone mode (racer.cli.main) swallows Exit codes.
    raise SystemExit(1)
