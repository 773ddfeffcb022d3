"""Fixtures for racer.rewards: a hand-computed circular track and a car-pose helper."""

from __future__ import annotations

import pytest
from rewards_testlib import PoseFn, circle_track, make_pose

from racer.rewards import ParamsBuilder, StepInputs
from racer.track import Track


@pytest.fixture(scope="session")
def circle() -> Track:
    return circle_track()


@pytest.fixture(scope="session")
def builder(circle: Track) -> ParamsBuilder:
    return ParamsBuilder(circle)


@pytest.fixture()
def pose(circle: Track) -> PoseFn:
    """``pose(s, lateral_m, **kw)`` on the circle track."""

    def _pose(s: float, lateral_m: float = 0.0, **kwargs: object) -> StepInputs:
        return make_pose(circle, s, lateral_m, **kwargs)  # type: ignore[arg-type]

    return _pose
