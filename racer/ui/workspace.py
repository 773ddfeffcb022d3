"""The console's workspace: the folders it serves and the one rule for paths from a request.

A workspace is the folder ``racer ui`` runs in (or any folder given to
:func:`racer.ui.app.create_app`)::

    runs/              run folders (``--runs DIR`` puts them elsewhere)
    export/            bundles and DeepRacer archives (``racer export``'s default)
    leaderboard.db     the leaderboard
    .racer-ui/         the console's own files: recipes made with the Create form, jobs (one
                       JSON file and one log per worker process), cached track maps and thumbnails

Every path that comes from a request goes through :meth:`Workspace.inside`: resolved (links
followed) and refused unless it lies inside one of the workspace's roots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from racer.errors import ConfigError

UI_DIR = ".racer-ui"
RUNS_DIR = "runs"
EXPORT_DIR = "export"
LEADERBOARD_DB = "leaderboard.db"
#: A run or recipe name: one path component, letters, digits, ``._-``, not starting with a dot.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class PathRefused(ConfigError):
    """A path from a request that lies outside the workspace (answered 403)."""


@dataclass(frozen=True)
class Workspace:
    """The folders the console serves.

    Attributes:
        root: the workspace folder.
        runs: the run folders' parent.
    """

    root: Path
    runs: Path

    @classmethod
    def at(cls, root: str | Path, runs: str | Path | None = None) -> Workspace:
        """The workspace at ``root`` (created when missing) with its runs in ``runs``."""
        base = Path(root).expanduser().resolve()
        runs_dir = Path(runs).expanduser() if runs is not None else base / RUNS_DIR
        if not runs_dir.is_absolute():
            runs_dir = base / runs_dir
        ws = cls(root=base, runs=runs_dir.resolve())
        for folder in (ws.root, ws.runs, ws.ui_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"{folder}: cannot create ({exc.strerror or exc})") from None
        return ws

    @property
    def ui_dir(self) -> Path:
        """``.racer-ui/``: the console's own files."""
        return self.root / UI_DIR

    @property
    def exports(self) -> Path:
        """``export/``: bundles and DeepRacer archives."""
        return self.root / EXPORT_DIR

    @property
    def db(self) -> Path:
        """The leaderboard file."""
        return self.root / LEADERBOARD_DB

    @property
    def recipes(self) -> Path:
        """``.racer-ui/recipes/``: one recipe folder per model made with the Create form."""
        return self.ui_dir / "recipes"

    @property
    def jobs(self) -> Path:
        """``.racer-ui/jobs/``: one JSON file and one log per worker process."""
        return self.ui_dir / "jobs"

    @property
    def cache(self) -> Path:
        """``.racer-ui/cache/``: track maps and thumbnails (safe to delete)."""
        return self.ui_dir / "cache"

    def roots(self) -> tuple[Path, ...]:
        """The folders a request may reach into."""
        return (self.root, self.runs)

    def inside(self, path: str | Path) -> Path:
        """``path`` resolved (relative to the workspace root), if it lies inside the workspace.

        Raises:
            PathRefused: it resolves outside every root (``..``, an absolute path elsewhere, a
                link out).
        """
        text = str(path)
        if "\x00" in text:
            raise PathRefused(f"{text!r}: not a valid path")
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = candidate.resolve()
        for root in self.roots():
            if resolved == root or resolved.is_relative_to(root):
                return resolved
        raise PathRefused(f"{text}: outside the workspace {self.root}")

    def run_dir(self, name: str) -> Path:
        """The run folder called ``name`` (it may not exist yet).

        Raises:
            ConfigError: ``name`` is not a plain folder name.
            PathRefused: it resolves outside the runs folder (a link out).
        """
        check_name(name, "run name")
        path = (self.runs / name).resolve()
        if not path.is_relative_to(self.runs):
            raise PathRefused(f"{name}: outside the runs folder {self.runs}")
        return path

    def recipe_dir(self, name: str) -> Path:
        """The Create form's recipe folder of model ``name``."""
        check_name(name, "model name")
        return self.recipes / name


def check_name(name: str, what: str = "name") -> str:
    """A run or model name: one path component of letters, digits and ``._-``.

    Raises:
        ConfigError: one line saying what is allowed.
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        shown = repr(name) if isinstance(name, str) and len(name) <= 60 else "the value"
        raise ConfigError(
            f"{what} {shown} is not valid: use up to 80 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name
