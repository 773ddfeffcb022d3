"""`racer rewards` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="rewards commands.", no_args_is_help=True)
