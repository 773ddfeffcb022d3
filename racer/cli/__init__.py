"""racer.cli: the Typer command line. One module per command group; `main` only wires them."""
