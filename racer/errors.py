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
    """A reward plugin that cannot be loaded or that failed while running."""


class ConfigError(RacerError):
    """A configuration file or option that is not valid."""


class BundleError(RacerError):
    """A deploy bundle that is corrupt, tampered with, or does not match its metadata."""


class MissingDependencyError(RacerError):
    """An optional dependency is not installed; the message carries the install command."""
