"""A track too large to paint is refused before the floor texture is allocated."""

from __future__ import annotations

import numpy as np
import pytest

from racer.errors import TrackError
from racer.sim.texture import MAX_TEXTURE_PX, floor_texture
from racer.track import Track


def test_a_huge_track_is_refused_before_painting() -> None:
    # a 1 km x 1 km square loop (within the track loader's coordinate bound): 4e10 texels at 5 mm
    corners = np.array([[0.0, 0.0], [1000.0, 0.0], [1000.0, 1000.0], [0.0, 1000.0]])
    center = np.concatenate(
        [np.linspace(corners[i], corners[(i + 1) % 4], 50, endpoint=False) for i in range(4)]
    )
    # a square's inside/outside borders: the loop runs counter-clockwise, left = inside
    mid = center.mean(axis=0)
    inward = (mid - center) / np.linalg.norm(mid - center, axis=1, keepdims=True)
    track = Track(center, center + 0.5 * inward, center - 0.5 * inward, closed=True, name="huge")
    with pytest.raises(TrackError, match=r"spans 100\d x 100\d m.*megapixels"):
        floor_texture(track, m_per_px=0.005)
    assert MAX_TEXTURE_PX >= 20_000_000  # DeepRacer's largest tracks (~20 x 12 m) still paint
