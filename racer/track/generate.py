"""Seeded generation of random closed tracks at DeepRacer scale.

A track is drawn in polar form: control points at jittered, increasing angles around a circle,
with radii perturbed by a few random Fourier modes. The points are smoothed by a periodic cubic
spline, scaled to a random lap length, resampled, and validated; a draw that is too tight or
crosses itself is rejected and the next draw (from the same seeded generator) is tried.
The same seed always gives the same track.
"""

from __future__ import annotations

import numpy as np

from racer.errors import TrackError
from racer.track.geometry import Track
from racer.track.spline import smooth_centerline
from racer.track.validation import validate_track

LENGTH_RANGE_M = (17.0, 35.0)  # m, DeepRacer lap lengths
WIDTH_RANGE_M = (0.75, 1.1)  # m, DeepRacer road widths
MIN_RADIUS_M = 0.5  # m, tightest centre-line radius a 1/18 car (turn radius ~0.3 m) takes well
RADIUS_HALF_WIDTH_FACTOR = 1.3  # centre-line radius >= 1.3 x half width: borders stay clean
SPACING_M = 0.2  # m, waypoint spacing
_MAX_TRIES = 200


def _draw(rng: np.random.Generator, length_m: float, width_m: float) -> Track:
    n_ctrl = int(rng.integers(10, 17))
    angles = (np.arange(n_ctrl) + rng.uniform(-0.3, 0.3, n_ctrl)) * (2.0 * np.pi / n_ctrl)
    radius = np.ones(n_ctrl)
    for mode in range(2, 6):
        amp = rng.uniform(0.0, 0.28 / mode**0.5)
        radius += amp * np.cos(mode * angles + rng.uniform(0.0, 2.0 * np.pi))
    radius += rng.uniform(-0.08, 0.08, n_ctrl)
    radius = np.maximum(radius, 0.25)
    points = np.stack((radius * np.cos(angles), radius * np.sin(angles)), axis=1)
    # Scale so that the smoothed loop has the wanted length (the spline scales with its points).
    rough, _, _ = smooth_centerline(points, closed=True, spacing_m=0.01)
    rough_len = float(np.sum(np.hypot(*np.diff(np.vstack((rough, rough[:1])), axis=0).T)))
    points *= length_m / rough_len
    center, normals, _ = smooth_centerline(points, closed=True, spacing_m=SPACING_M)
    half = 0.5 * width_m
    return Track(
        center,
        center + normals * half,
        center - normals * half,
        closed=True,
        name="random",
        source="generated",
    )


def generate_track(
    seed: int,
    *,
    length_m: float | None = None,
    width_m: float | None = None,
    max_tries: int = _MAX_TRIES,
) -> Track:
    """Generate a random valid closed track, deterministically from a seed.

    Args:
        seed: Seed of the random generator; the same seed gives the same track.
        length_m: Lap length, m; drawn from 17-35 m when None.
        width_m: Road width, m; drawn from 0.75-1.1 m when None.
        max_tries: Draws to try before giving up.

    Returns:
        A validated counter-clockwise track named ``random:<seed>``, waypoints about 0.2 m
        apart, minimum centre-line radius >= 0.5 m and >= 1.3 x half the width.

    Raises:
        TrackError: Bad arguments, or no valid track within ``max_tries`` draws.
    """
    if length_m is not None and not 5.0 <= length_m <= 200.0:
        raise TrackError(f"length_m must be within 5-200 m, got {length_m}")
    if width_m is not None and not 0.2 <= width_m <= 3.0:
        raise TrackError(f"width_m must be within 0.2-3 m, got {width_m}")
    rng = np.random.default_rng(seed)
    length = float(length_m) if length_m is not None else float(rng.uniform(*LENGTH_RANGE_M))
    width = float(width_m) if width_m is not None else float(rng.uniform(*WIDTH_RANGE_M))
    min_radius = max(MIN_RADIUS_M, RADIUS_HALF_WIDTH_FACTOR * 0.5 * width)
    name = f"random:{seed}"
    for _ in range(max_tries):
        track = _draw(rng, length, width)
        if track.min_radius < min_radius:
            continue
        try:
            validate_track(track)
        except TrackError:
            continue
        return Track(
            track.center,
            track.left,
            track.right,
            closed=True,
            name=name,
            description=f"generated from seed {seed}",
            source="generated",
        )
    raise TrackError(
        f"could not generate a valid track for seed {seed} in {max_tries} tries "
        f"(length {length:.1f} m, width {width:.2f} m); try a longer length or a narrower width"
    )
