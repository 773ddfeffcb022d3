"""Running the racer CLI in-process from a test, and asserting its one-line refusals."""

from __future__ import annotations

import pytest

from racer.cli.main import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``racer ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(args: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    """Assert the CLI refuses with exit status 2 and one ``racer: error:`` line holding every
    needle; returns that line."""
    code, _, err = run_cli(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("racer: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
