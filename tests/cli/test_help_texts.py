"""Every ``racer ... --help``: paragraphs as written (re-wrapped to the terminal, never at the
docstring's own line breaks), option help whole on its row, and at least one example.

The command tree is walked from ``racer.cli.main.app``, so a new command is covered as soon as it
is wired in.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from racer.cli.main import app

#: Wide enough that a paragraph never wraps before this many characters: any shorter line that
#: continues on the next one was broken by the docstring, not by the terminal.
WIDE = 200
#: Wide enough that no option's help wraps in its panel.
WIDEST = 400
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LIST_ITEM = re.compile(r"^\s*(?:[•*-]|\d+\.?)\s")  # Rich numbers items without a dot
EXAMPLES = re.compile(r"^\s*Examples?:\s*$")
PANEL = ("╭", "│", "╰")


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command's path, groups included (typer vendors click: duck-typed)."""
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not sub.hidden:
            yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(typer.main.get_command(app)))


def _params(path: tuple[str, ...]) -> list[Any]:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return list(command.params)


def _help(path: tuple[str, ...], columns: int) -> list[str]:
    """``racer PATH --help`` rendered ``columns`` wide, as plain lines."""
    env = {"COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    result = CliRunner().invoke(app, [*path, "--help"], env=env)
    assert result.exit_code == 0, result.output
    return ANSI.sub("", result.output).splitlines()


def _text(lines: list[str]) -> tuple[list[str], list[str]]:
    """The help text between the usage line and the first panel: (description, examples)."""
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith(PANEL)), len(lines))
    text = lines[start:end]
    cut = next((i for i, line in enumerate(text) if EXAMPLES.match(line)), len(text))
    return text[:cut], text[cut:]


def _id(path: tuple[str, ...]) -> str:
    return " ".join(("racer", *path))


@pytest.mark.parametrize("path", COMMANDS, ids=_id)
def test_help_has_examples(path: tuple[str, ...]) -> None:
    """An "Examples:" section of ``racer ...`` lines, each whole on one line at 80 columns."""
    _, examples = _text(_help(path, 80))
    assert examples, f"{_id(path)} --help has no 'Examples:' section"
    lines = [line.strip() for line in examples[1:] if line.strip()]
    assert lines, f"{_id(path)} --help: no example under 'Examples:'"
    for line in lines:
        assert line.startswith("racer "), (
            f"{_id(path)} --help: {line!r} under 'Examples:' is not a racer command (or an "
            "example too long for 80 columns wrapped)"
        )
        _parse(line)


def _parse(line: str) -> None:
    """Parse an example's arguments as the command would (names, options, values, choices)."""
    args = shlex.split(line)[1:]
    if "--help" in args:
        return
    command: Any = typer.main.get_command(app)
    name = "racer"
    while hasattr(command, "commands") and args and args[0] in command.commands:
        name = args.pop(0)
        command = command.commands[name]
    try:
        command.make_context(name, args)
    except Exception as exc:  # click's usage errors (typer vendors click)
        pytest.fail(f"example {line!r} does not parse: {exc}")


@pytest.mark.parametrize("path", COMMANDS, ids=_id)
def test_paragraphs_are_not_broken_mid_sentence(path: tuple[str, ...]) -> None:
    """At WIDE columns a line of a paragraph continues on the next only when it is full.

    A line far shorter than the terminal, followed by more of the same paragraph (not a blank
    line, not a new list item), kept a line break of the docstring.
    """
    description, _ = _text(_help(path, WIDE))
    for line, following in zip(description, description[1:], strict=False):
        if not line.strip() or not following.strip() or LIST_ITEM.match(following):
            continue
        next_word = following.split()[0]
        assert len(line.rstrip()) + 1 + len(next_word) > WIDE - 20, (
            f"{_id(path)} --help breaks a paragraph mid-sentence:\n"
            f"{line.rstrip()}\n{following.rstrip()}"
        )


@pytest.mark.parametrize("path", COMMANDS, ids=_id)
def test_option_help_is_whole_on_one_row(path: tuple[str, ...]) -> None:
    """Each argument's and option's help, as written, appears on one line of its panel.

    Nothing broken at a line break of the source, and nothing swallowed as markup (a ``[word]``
    taken for a Rich tag, a ``<word>`` for HTML: write literals in backticks).
    """
    rows = [
        " ".join(line.strip("│ ").split()) for line in _help(path, WIDEST) if line.startswith("│")
    ]
    for param in _params(path):
        text = getattr(param, "help", None)
        if not text:
            continue
        expected = " ".join(text.replace("`", "").split())
        assert any(expected in row for row in rows), (
            f"{_id(path)} --help: the help of {param.name!r} is not shown whole on one row:\n"
            f"{expected}\n" + "\n".join(rows)
        )
