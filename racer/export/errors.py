"""Errors of the export stage: user-fixable problems, one line each (see :mod:`racer.errors`)."""

from __future__ import annotations

from racer.errors import RacerError


class ExportError(RacerError):
    """A run that cannot be exported (no model, a ``state`` policy, an unsupported policy)."""


class ParityError(ExportError):
    """The exported model does not reproduce the trained policy within the tolerance."""
