"""`racer tracks` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="tracks commands.", no_args_is_help=True)
