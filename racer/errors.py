"""The one error type for user mistakes.

Every stage raises :class:`RacerError` (or a subclass) for anything the user can fix: an unknown
track, a malformed file, a bad config key, a broken reward plugin, a corrupt bundle. The CLI turns
it into one line on stderr and exit status 2 (the traceback only with ``RACER_DEBUG=1``).
This module imports nothing of the stack, so every stage may import it.
"""

from __future__ import annotations


class RacerError(Exception):
    """A user mistake: the message says what is wrong and how to fix it, in one line."""


class TrackError(RacerError):
    """A track name, file or geometry that cannot be used."""


class RewardError(RacerError):
    """A reward plugin that cannot be loaded or that failed while running.

    The message is the one line to show. An error raised by a call of the reward also carries
    the message's parts, for callers that act on them; each is None when not known.

    Attributes:
        plugin: The reward's name.
        file: The file the reward function is defined in.
        line: The line in ``file`` where the call failed (or the function's ``def`` line).
        step: The episode step of the failing call.
        cause: What went wrong, without the reward's name, place and params.
        params: The call's ``params``, abbreviated to one line.
        timed_out: The call ran past its time limit (False for every other failure).
    """

    def __init__(
        self,
        *args: object,
        plugin: str | None = None,
        file: str | None = None,
        line: int | None = None,
        step: int | None = None,
        cause: str | None = None,
        params: str | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(*args)
        self.plugin = plugin
        self.file = file
        self.line = line
        self.step = step
        self.cause = cause
        self.params = params
        self.timed_out = timed_out


class ConfigError(RacerError):
    """A configuration file or option that is not valid."""


class BundleError(RacerError):
    """A deploy bundle that is corrupt, tampered with, or does not match its metadata."""


class MissingDependencyError(RacerError):
    """An optional dependency is not installed; the message carries the install command."""
