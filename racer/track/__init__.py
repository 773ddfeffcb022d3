"""racer.track: the track model and everything about tracks.

Owns :class:`Track` (centre line, borders, widths and vectorised geometry: projection, progress,
closest waypoints, heading, curvature, on-road test), loading (built-in names, the user library,
DeepRacer ``.npy``, ``.track.toml``), validation, seeded generation and plotting. Imports NumPy
only; matplotlib is imported lazily by :func:`plot_track`.
"""

from __future__ import annotations

from racer.track.generate import generate_track
from racer.track.geometry import Projection, Track
from racer.track.loading import (
    DEFAULT_TRACK,
    TrackInfo,
    builtin_track_names,
    import_track,
    list_tracks,
    load_track,
    load_track_file,
    save_npy,
    to_deepracer_array,
    track_from_deepracer,
    user_tracks_dir,
)
from racer.track.plot import plot_track
from racer.track.validation import validate_track

__all__ = [
    "DEFAULT_TRACK",
    "Projection",
    "Track",
    "TrackInfo",
    "builtin_track_names",
    "generate_track",
    "import_track",
    "list_tracks",
    "load_track",
    "load_track_file",
    "plot_track",
    "save_npy",
    "to_deepracer_array",
    "track_from_deepracer",
    "user_tracks_dir",
    "validate_track",
]
