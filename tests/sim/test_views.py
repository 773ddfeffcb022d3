"""Tests of racer.sim.views: the human views and the reference render, moved out of World."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from racer.sim import World, views
from racer.sim.texture import FLOOR_RGB


def digest(img: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()


def scene(track) -> World:
    """A world with the car driven a little and a box and a bot car in front of it."""
    w = World(track)
    for _ in range(20):
        w.step(0.2, 1.5)
    st = w.car_state()
    w.add_box(st.x_m + 0.8, st.y_m, 0.3)
    w.add_bot(1.5, 0.5, 0.1)
    for _ in range(5):
        w.step(-0.1, 1.0)
    return w


@pytest.fixture
def pair(track):
    """Two worlds in the same state: one looked at through World, one through views."""
    a, b = scene(track), scene(track)
    yield a, b
    a.close()
    b.close()


def test_world_methods_render_what_the_views_module_renders(pair):
    a, b = pair
    frames_a = [
        a.render_topdown(),
        a.render_topdown(200, 150),
        a.render_chase(),
        a.render_chase(160, 120),
        a.camera_reference(),
        a.camera_reference(lateral_m=0.03, flat=False),
    ]
    frames_b = [
        views.render_topdown(b),
        views.render_topdown(b, 200, 150),
        views.render_chase(b),
        views.render_chase(b, 160, 120),
        views.camera_reference(b),
        views.camera_reference(b, lateral_m=0.03, flat=False),
    ]
    shapes = [(400, 400, 3), (150, 200, 3), (240, 320, 3), (120, 160, 3), (120, 160), (120, 160)]
    assert [f.shape for f in frames_a] == shapes
    assert all(f.dtype == np.uint8 for f in frames_a)
    assert [digest(f) for f in frames_a] == [digest(f) for f in frames_b]


def test_views_leave_the_agent_sensors_unchanged(pair):
    a, b = pair
    before = (a.camera(), a.stereo(), a.lidar())
    a.render_chase()  # builds the floor mesh, which the camera must hide while compositing
    a.camera_reference()
    a.render_topdown()
    after = (a.camera(), a.stereo(), a.lidar())
    untouched = (b.camera(), b.stereo(), b.lidar())
    for x, y, z in zip(before, after, untouched, strict=True):
        assert np.array_equal(x, y) and np.array_equal(x, z)


def test_floor_mesh_is_built_once(track):
    with World(track) as w:
        assert w._floor_body is None
        body = views.ensure_floor(w)
        assert views.ensure_floor(w) == body == w._floor_body


def test_topdown_draws_car_and_objects(track):
    with World(track) as w:
        empty = w.render_topdown(200, 150)
        assert (empty == np.array(FLOOR_RGB, np.uint8)).all(axis=2).any()
        st = w.car_state()
        w.add_box(st.x_m + 1.0, st.y_m)
        with_box = w.render_topdown(200, 150)
        assert (with_box != empty).any(axis=2).sum() > 0
        assert (views.render_topdown(w, 200, 150) == with_box).all()


def test_fill_convex_fills_inside_only():
    img = np.zeros((10, 10, 3), dtype=np.uint8)
    px = np.array([2.0, 6.0, 6.0, 2.0])
    py = np.array([3.0, 3.0, 7.0, 7.0])
    views.fill_convex(img, px, py, (1, 2, 3))
    filled = (img == (1, 2, 3)).all(axis=2)
    assert filled.sum() == 16 and filled[3:7, 2:6].all()
    views.fill_convex(img, px + 100, py, (9, 9, 9))  # off the image: nothing drawn
    assert not (img == 9).any()


def test_floor_mesh_covers_the_texture_and_a_skirt(track):
    with World(track) as w:
        tex = w.texture
    verts, idx, uvs = views.floor_mesh(tex)
    v = np.asarray(verts)
    assert len(verts) == len(uvs) and len(idx) % 3 == 0 and max(idx) < len(verts)
    assert (v[:, 2] == 0).all()
    assert v[:, 0].min() == pytest.approx(tex.x0_m - views.FLOOR_SKIRT_M)
    assert v[:, 1].max() == pytest.approx(tex.y0_m + tex.height_m + views.FLOOR_SKIRT_M)
    assert np.asarray(uvs).min() >= 0 and np.asarray(uvs).max() <= 1


def test_agent_path_does_not_import_the_views():
    code = (
        "import sys\n"
        "from racer.track import generate_track\n"
        "from racer.sim import World\n"
        "w = World(generate_track(seed=3))\n"
        "w.step(0.1, 1.0); w.camera(); w.stereo(); w.lidar()\n"
        "assert 'racer.sim.views' not in sys.modules\n"
        "w.render_topdown(40, 30)\n"
        "assert 'racer.sim.views' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
