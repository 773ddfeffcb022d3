"""Views of a :class:`racer.sim.World` for people, and the reference render for tests.

Nothing here feeds the agent: its camera, stereo pair and lidar are :mod:`racer.sim.world`'s
and :mod:`racer.sim.camera`'s. This module owns the chase camera and the top-down map (what
``racer`` shows people, through ``World.render_chase`` / ``World.render_topdown``), and the
front camera as PyBullet's TinyRenderer draws it (``World.camera_reference``), which tests and
benchmarks compare the fast camera against. The chase view and the reference render need the
painted floor as a PyBullet mesh; it is built here, on first use, and only for them.

The functions take the world and use its rendering internals (same package): the car's pose
written into PyBullet, the TinyRenderer call, the front camera's matrices. ``World`` imports this
module only when one of these views is asked for.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pybullet as p

from racer.sim.car import BODY_LENGTH_M, BODY_WIDTH_M
from racer.sim.config import FRONT_OFFSET_M
from racer.sim.texture import FLOOR_RGB, FloorTexture, rgb_to_gray
from racer.sim.world import BOT_RGBA, BOX_RGBA

if TYPE_CHECKING:
    from racer.sim.world import World

FLOOR_TILE_M = 0.5  # PyBullet floor mesh tile (keeps TinyRenderer's texture mapping exact), m
FLOOR_SKIRT_M = 60.0  # plain floor beyond the texture in PyBullet's views, m
CAR_RGB = (30, 80, 220)  # the ego car on the top-down map: blue
NOSE_RGB = (255, 255, 255)  # its nose marker: white
NOSE_SIZE_M = 0.06  # side of the nose marker, m


def render_chase(world: World, width: int = 320, height: int = 240) -> np.ndarray:
    """A view from behind and above the car (PyBullet's TinyRenderer), for people.

    Args:
        world: The world to look at.
        width: Image width, px.
        height: Image height, px.

    Returns:
        (height, width, 3) uint8 RGB.
    """
    ensure_floor(world)
    world._sync_car(steering=True)
    st = world.car_state()
    c, s = math.cos(st.yaw_rad), math.sin(st.yaw_rad)
    eye = [st.x_m - 0.8 * c, st.y_m - 0.8 * s, 0.45]
    target = [st.x_m + 0.6 * c, st.y_m + 0.6 * s, 0.0]
    cid = world.client_id
    view = p.computeViewMatrix(eye, target, [0, 0, 1], physicsClientId=cid)
    proj = p.computeProjectionMatrixFOV(60, width / height, 0.05, 60, physicsClientId=cid)
    rgba = world._render(width, height, view, proj, flat=False)[0]
    return np.ascontiguousarray(rgba[..., :3])


def render_topdown(world: World, width: int = 400, height: int = 400) -> np.ndarray:
    """The whole track from above with the car and objects drawn on it, for people.

    Args:
        world: The world to look at.
        width: Image width, px.
        height: Image height, px.

    Returns:
        (height, width, 3) uint8 RGB; north (+y) is up.
    """
    tex = world.texture
    th, tw = tex.rgb.shape[:2]
    scale = max(tw / width, th / height)  # texels per output pixel
    cx = tex.x0_m + tw * tex.m_per_px / 2
    cy = tex.y0_m + th * tex.m_per_px / 2
    mpp = scale * tex.m_per_px  # metres per output pixel
    xs = cx + (np.arange(width) + 0.5 - width / 2) * mpp
    ys = cy - (np.arange(height) + 0.5 - height / 2) * mpp
    ix = np.floor((xs - tex.x0_m) / tex.m_per_px).astype(np.intp)
    iy = np.floor((ys - tex.y0_m) / tex.m_per_px).astype(np.intp)
    okx = (ix >= 0) & (ix < tw)
    oky = (iy >= 0) & (iy < th)
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[...] = FLOOR_RGB
    sub = tex.rgb[iy[oky]][:, ix[okx]]
    img[np.ix_(oky, okx)] = sub

    def draw(
        x: float, y: float, yaw: float, length: float, wid: float, rgb: tuple[int, ...]
    ) -> None:
        hl, hw = max(length / 2, 1.5 * mpp), max(wid / 2, 1.5 * mpp)
        cs, sn = math.cos(yaw), math.sin(yaw)
        corners = np.array([(hl, hw), (hl, -hw), (-hl, -hw), (-hl, hw)])
        wx = x + corners[:, 0] * cs - corners[:, 1] * sn
        wy = y + corners[:, 0] * sn + corners[:, 1] * cs
        px = (wx - cx) / mpp + width / 2
        py = (cy - wy) / mpp + height / 2
        fill_convex(img, px, py, rgb)

    for o in world.objects():
        rgb = tuple(int(255 * v) for v in (BOX_RGBA if o.kind == "box" else BOT_RGBA)[:3])
        draw(o.x_m, o.y_m, o.yaw_rad, o.size_m[0], o.size_m[1], rgb)
    st = world.car_state()
    draw(st.x_m, st.y_m, st.yaw_rad, BODY_LENGTH_M, BODY_WIDTH_M, CAR_RGB)
    # Nose marker: a small square at the front point.
    draw(
        st.x_m + FRONT_OFFSET_M * math.cos(st.yaw_rad),
        st.y_m + FRONT_OFFSET_M * math.sin(st.yaw_rad),
        st.yaw_rad,
        NOSE_SIZE_M,
        NOSE_SIZE_M,
        NOSE_RGB,
    )
    return img


def camera_reference(world: World, lateral_m: float = 0.0, flat: bool = True) -> np.ndarray:
    """The front camera rendered by PyBullet's TinyRenderer (slow; for tests and benchmarks).

    Args:
        world: The world to look at.
        lateral_m: Sideways offset of the camera, m (+ = left).
        flat: Ambient-only lighting, so that floor pixels show the texture's own colours.

    Returns:
        (H, W) uint8 gray, the same pose and intrinsics as ``World.camera``.
    """
    ensure_floor(world)
    cfg = world.config.camera
    view, proj = world._camera_matrices(lateral_m)
    rgba = world._render_without_car(cfg.width_px, cfg.height_px, view, proj, flat=flat)[0]
    return rgb_to_gray(rgba)


def ensure_floor(world: World) -> int:
    """The world's textured floor mesh in PyBullet, created on first use.

    Only the chase view and the reference render need it (the fast camera samples the texture
    directly). The world keeps its body id, to hide the floor while it composites objects.

    Returns:
        The floor's PyBullet body id.
    """
    if world._floor_body is None:
        world._floor_body = add_floor(world.client_id, world.texture)
    return world._floor_body


def add_floor(client_id: int, tex: FloorTexture) -> int:
    """Adds a floor mesh carrying ``tex`` to a PyBullet client; returns its body id."""
    verts, idx, uvs = floor_mesh(tex)
    vis = p.createVisualShape(
        p.GEOM_MESH,
        vertices=verts,
        indices=idx,
        uvs=uvs,
        normals=[[0.0, 0.0, 1.0]] * len(verts),
        physicsClientId=client_id,
    )
    body: int = p.createMultiBody(0, -1, vis, physicsClientId=client_id)
    tid = p.loadTexture(tex.png_path(), physicsClientId=client_id)
    p.changeVisualShape(
        body, -1, textureUniqueId=tid, rgbaColor=[1, 1, 1, 1], physicsClientId=client_id
    )
    return body


def floor_mesh(tex: FloorTexture) -> tuple[list[list[float]], list[int], list[list[float]]]:
    """A tiled floor quad carrying the texture (u along +x, v along +y), plus a plain skirt.

    Tiles keep TinyRenderer's screen-space texture interpolation close to exact; the skirt
    samples the texture's edge texels (plain floor) out to the horizon.

    Returns:
        Vertices (x, y, z), triangle vertex indices, and texture coordinates (u, v).
    """
    w_m, h_m = tex.width_m, tex.height_m
    nx = max(1, math.ceil(w_m / FLOOR_TILE_M))
    ny = max(1, math.ceil(h_m / FLOOR_TILE_M))
    us = np.linspace(0.0, 1.0, nx + 1)
    vs = np.linspace(0.0, 1.0, ny + 1)
    uu, vv = np.meshgrid(us, vs)
    xs = tex.x0_m + uu * w_m
    ys = tex.y0_m + vv * h_m
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1).tolist()
    uvs = np.stack([uu.ravel(), vv.ravel()], axis=1).tolist()
    idx: list[int] = []
    row = nx + 1
    for j in range(ny):
        for i in range(nx):
            a = j * row + i
            idx += [a, a + 1, a + row + 1, a, a + row + 1, a + row]
    # Skirt: four trapezoids from the texture's edge out to FLOOR_SKIRT_M, sampling edge texels.
    e = 0.5 / max(tex.rgb.shape[:2])
    x0, y0, x1, y1 = tex.x0_m, tex.y0_m, tex.x0_m + w_m, tex.y0_m + h_m
    d = FLOOR_SKIRT_M
    inner = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    outer = [(x0 - d, y0 - d), (x1 + d, y0 - d), (x1 + d, y1 + d), (x0 - d, y1 + d)]
    uv_edge = [(e, e), (1 - e, e), (1 - e, 1 - e), (e, 1 - e)]
    for k in range(4):
        k2 = (k + 1) % 4
        base = len(verts)
        for pt, uv in ((inner[k], uv_edge[k]), (inner[k2], uv_edge[k2])):
            verts.append([pt[0], pt[1], 0.0])
            uvs.append(list(uv))
        for pt, uv in ((outer[k2], uv_edge[k2]), (outer[k], uv_edge[k])):
            verts.append([pt[0], pt[1], 0.0])
            uvs.append(list(uv))
        # inner k, inner k2, outer k2, outer k: counter-clockwise seen from above (outer ring).
        idx += [base, base + 3, base + 2, base, base + 2, base + 1]
    return verts, idx, uvs


def fill_convex(img: np.ndarray, px: np.ndarray, py: np.ndarray, rgb: tuple[int, ...]) -> None:
    """Fills a convex polygon given in pixel coordinates (x right, y down) on img, in place."""
    h, w = img.shape[:2]
    x0 = max(int(math.floor(px.min())), 0)
    x1 = min(int(math.ceil(px.max())) + 1, w)
    y0 = max(int(math.floor(py.min())), 0)
    y1 = min(int(math.ceil(py.max())) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    gx = np.arange(x0, x1) + 0.5
    gy = (np.arange(y0, y1) + 0.5)[:, None]
    inside = np.ones((y1 - y0, x1 - x0), dtype=bool)
    n = len(px)
    signs = []
    for k in range(n):
        ax, ay, bx, by = px[k], py[k], px[(k + 1) % n], py[(k + 1) % n]
        signs.append((bx - ax) * (gy - ay) - (by - ay) * (gx - ax))
    pos = np.all([s >= 0 for s in signs], axis=0)
    neg = np.all([s <= 0 for s in signs], axis=0)
    inside &= pos | neg
    img[y0:y1, x0:x1][inside] = rgb
