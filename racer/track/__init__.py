"""racer.track: the track model and everything about tracks.

Owns :class:`Track` (centre line, borders, widths and vectorised geometry: projection, progress,
closest waypoints, heading, curvature, on-road test), loading (built-in names, the user library,
DeepRacer ``.npy``, ``.track.toml``), validation, seeded generation, plotting, and the racing line
with its speed profile and lap-time bound (:func:`racing_line`). Imports NumPy; SciPy is imported
lazily by the racing line, matplotlib by the plots.
"""

from __future__ import annotations

from racer.track.generate import generate_track
from racer.track.geometry import Projection, Track, beside
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
from racer.track.plot import plot_racing_line, plot_track
from racer.track.racing_line import (
    CarLimits,
    LinePoint,
    RacingLine,
    centerline_line,
    load_line_csv,
    profile_lap_time,
    racing_line,
    speed_profile,
)
from racer.track.validation import validate_track

__all__ = [
    "DEFAULT_TRACK",
    "CarLimits",
    "LinePoint",
    "Projection",
    "RacingLine",
    "Track",
    "TrackInfo",
    "beside",
    "builtin_track_names",
    "centerline_line",
    "generate_track",
    "import_track",
    "list_tracks",
    "load_line_csv",
    "load_track",
    "load_track_file",
    "plot_racing_line",
    "plot_track",
    "profile_lap_time",
    "racing_line",
    "save_npy",
    "speed_profile",
    "to_deepracer_array",
    "track_from_deepracer",
    "user_tracks_dir",
    "validate_track",
]
