"""A small puppet built entirely in code: the format's test fixture and the first example.

It exercises every binding type (deform, translate, rotate, scale, opacity), a 2-D parameter
(ParamAngleX x ParamAngleY), clip masks (irises clipped by eye whites), a multiply-blended part (blush) and a
physics chain (back hair driven by head and body angles). Textures are drawn with Pillow into one atlas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from avatar_plugin._version import __version__
from avatar_plugin.puppet import standard
from avatar_plugin.puppet.model import (
    Binding,
    BindingTarget,
    BlendMode,
    Landmarks,
    Mesh,
    Meta,
    Node,
    NodeKind,
    PhysicsChain,
    PhysicsInput,
    PhysicsOutput,
    Puppet,
    Texture,
    Transform,
)

__all__ = ["build_sample_puppet", "grid_mesh"]

CANVAS = 512
ATLAS = 1024

SKIN = (255, 226, 208, 255)
HAIR = (92, 70, 160, 255)
HAIR_DARK = (62, 44, 120, 255)
LINE = (60, 40, 50, 255)


@dataclass
class _Region:
    """Where a part sits on the canvas (x, y, w, h) and in the atlas (ax, ay)."""

    x: int
    y: int
    w: int
    h: int
    ax: int
    ay: int


def grid_mesh(x: float, y: float, w: float, h: float, nx: int, ny: int,
              uv_box: tuple[float, float, float, float]) -> Mesh:
    """A rectangle of (nx+1) x (ny+1) vertices on the canvas, UVs spanning ``uv_box`` (u0, v0, u1, v1)."""
    gx, gy = np.meshgrid(np.linspace(0.0, 1.0, nx + 1), np.linspace(0.0, 1.0, ny + 1))
    vertices = np.stack([x + gx.ravel() * w, y + gy.ravel() * h], axis=1)
    u0, v0, u1, v1 = uv_box
    uvs = np.stack([u0 + gx.ravel() * (u1 - u0), v0 + gy.ravel() * (v1 - v0)], axis=1)
    tris = []
    for j in range(ny):
        for i in range(nx):
            a = j * (nx + 1) + i
            b, c, d = a + 1, a + nx + 1, a + nx + 2
            tris += [(a, b, d), (a, d, c)]
    return Mesh(vertices=vertices, uvs=uvs, triangles=np.array(tris))


def _draw_atlas() -> tuple[NDArray[np.uint8], dict[str, _Region]]:
    atlas = Image.new("RGBA", (ATLAS, ATLAS), (0, 0, 0, 0))
    d = ImageDraw.Draw(atlas)
    regions: dict[str, _Region] = {}
    cursor = [2, 2, 0]  # x, y, row height (2 px padding)

    def place(name: str, x: int, y: int, w: int, h: int) -> tuple[int, int]:
        if cursor[0] + w + 2 > ATLAS:
            cursor[0], cursor[1], cursor[2] = 2, cursor[1] + cursor[2] + 4, 0
        ax, ay = cursor[0], cursor[1]
        cursor[0] += w + 4
        cursor[2] = max(cursor[2], h)
        regions[name] = _Region(x, y, w, h, ax, ay)
        return ax, ay

    ax, ay = place("back_hair", 116, 96, 280, 330)
    d.rounded_rectangle((ax, ay, ax + 279, ay + 329), radius=110, fill=HAIR_DARK)
    ax, ay = place("body", 126, 360, 260, 150)
    d.rounded_rectangle((ax + 10, ay, ax + 249, ay + 170), radius=60, fill=(70, 110, 190, 255))
    d.polygon([(ax + 100, ay), (ax + 160, ay), (ax + 130, ay + 50)], fill=(240, 240, 250, 255))
    ax, ay = place("neck", 226, 320, 60, 60)
    d.rectangle((ax + 8, ay, ax + 51, ay + 59), fill=(235, 200, 185, 255))
    ax, ay = place("face", 156, 130, 200, 220)
    d.ellipse((ax, ay, ax + 199, ay + 219), fill=SKIN)
    for side in ("r", "l"):  # character's right eye is on the image's left
        cx = 210 if side == "r" else 302
        ax, ay = place(f"eye_white_{side}", cx - 26, 214, 52, 40)
        d.ellipse((ax + 1, ay + 1, ax + 50, ay + 38), fill=(255, 255, 255, 255), outline=LINE, width=2)
        ax, ay = place(f"iris_{side}", cx - 16, 216, 32, 36)
        d.ellipse((ax + 1, ay + 1, ax + 30, ay + 34), fill=(60, 140, 90, 255))
        d.ellipse((ax + 9, ay + 9, ax + 22, ay + 26), fill=(20, 50, 40, 255))
        d.ellipse((ax + 6, ay + 6, ax + 12, ay + 12), fill=(255, 255, 255, 255))
        ax, ay = place(f"brow_{side}", cx - 28, 197, 56, 14)
        d.rounded_rectangle((ax, ay + 3, ax + 55, ay + 10), radius=4, fill=HAIR_DARK)
        ax, ay = place(f"blush_{side}", cx - 24, 262, 48, 20)
        d.ellipse((ax, ay, ax + 47, ay + 19), fill=(255, 150, 160, 140))
    ax, ay = place("mouth", 226, 296, 60, 14)
    d.ellipse((ax + 6, ay + 2, ax + 53, ay + 11), fill=(150, 40, 60, 255), outline=LINE, width=2)
    ax, ay = place("front_hair", 146, 104, 220, 96)
    d.pieslice((ax, ay, ax + 219, ay + 170), 180, 360, fill=HAIR)
    for k in range(5):
        x0 = ax + 10 + k * 42
        d.polygon([(x0, ay + 80), (x0 + 42, ay + 80), (x0 + 21, ay + 94)], fill=HAIR)
    return np.asarray(atlas), regions


def _uv(region: _Region) -> tuple[float, float, float, float]:
    return (region.ax / ATLAS, region.ay / ATLAS, (region.ax + region.w) / ATLAS, (region.ay + region.h) / ATLAS)


def build_sample_puppet() -> Puppet:
    """The code-built sample puppet (512 x 512 canvas, one 512 x 512 atlas)."""
    atlas, regions = _draw_atlas()
    params = standard.parameters([
        "ParamAngleX", "ParamAngleY", "ParamAngleZ", "ParamEyeLOpen", "ParamEyeROpen", "ParamEyeBallX",
        "ParamEyeBallY", "ParamBrowLY", "ParamBrowRY", "ParamMouthOpenY", "ParamMouthForm", "ParamCheek",
        "ParamBodyAngleX", "ParamBodyAngleZ", "ParamBreath", "ParamHairBack",
    ])
    nodes: list[Node] = [
        Node(id="root", kind=NodeKind.GROUP, name="Root"),
        Node(id="body_group", kind=NodeKind.GROUP, parent="root", transform=Transform(pivot=(256.0, 500.0))),
        Node(id="head", kind=NodeKind.GROUP, parent="body_group", transform=Transform(pivot=(256.0, 350.0))),
        Node(id="eyes_l", kind=NodeKind.GROUP, parent="head", transform=Transform(pivot=(302.0, 234.0))),
        Node(id="eyes_r", kind=NodeKind.GROUP, parent="head", transform=Transform(pivot=(210.0, 234.0))),
    ]
    order = {"back_hair": 0, "body": 10, "neck": 20, "face": 30, "mouth": 40, "blush": 45, "eye_white": 50,
             "iris": 55, "brow": 60, "front_hair": 70}

    def part(name: str, parent: str, nx: int, ny: int, **kw: object) -> None:
        r = regions[name]
        base = name.rsplit("_", 1)[0] if name.endswith(("_l", "_r")) else name
        nodes.append(Node(id=name, kind=NodeKind.PART, parent=parent, name=name,
                          mesh=grid_mesh(r.x, r.y, r.w, r.h, nx, ny, _uv(r)), texture=0,
                          draw_order=float(order[base]) + (0.5 if name.endswith("_l") else 0.0), **kw))  # type: ignore[arg-type]

    part("back_hair", "head", 4, 6)
    part("body", "body_group", 4, 3)
    part("neck", "body_group", 2, 2)
    part("face", "head", 6, 6)
    part("mouth", "head", 4, 2)
    for side in ("l", "r"):
        part(f"blush_{side}", "head", 1, 1, opacity=0.0, blend_mode=BlendMode.MULTIPLY)
        part(f"eye_white_{side}", f"eyes_{side}", 4, 2)
        part(f"iris_{side}", f"eyes_{side}", 2, 2, clip=(f"eye_white_{side}",))
        part(f"brow_{side}", "head", 4, 1)
    part("front_hair", "head", 6, 3)

    by_id = {n.id: n for n in nodes}
    bindings: list[Binding] = []

    def deform(param: str, node: str, fn: object, grid: tuple[int, ...]) -> None:
        verts = by_id[node].mesh.vertices  # type: ignore[union-attr]
        table = np.zeros((*grid, len(verts), 2), np.float32)
        for idx in np.ndindex(*grid):
            table[idx] = fn(idx, verts)  # type: ignore[operator]
        bindings.append(Binding(param=param, node=node, target=BindingTarget.DEFORM, values=table))

    def channel(param: str, node: str, target: BindingTarget, values: list[float] | list[list[float]]) -> None:
        bindings.append(Binding(param=param, node=node, target=target, values=np.array(values)))

    # 2-D head turn: features slide toward the turn, the face's far side narrows (faux 3D on a sphere).
    def turn(depth: float, cx: float = 256.0, cy: float = 240.0) -> object:
        def fn(idx: tuple[int, int], v: NDArray[np.float32]) -> NDArray[np.float32]:
            yaw, pitch = (idx[0] - 1) * 30.0, (idx[1] - 1) * 30.0
            dx = np.sin(np.radians(yaw)) * depth * np.ones(len(v))
            dy = -np.sin(np.radians(pitch)) * depth * np.ones(len(v))
            # squeeze the far side of the face
            rel = (v[:, 0] - cx) / 100.0
            dx += -np.sign(yaw) * np.abs(np.sin(np.radians(yaw))) * 12.0 * (rel * np.sign(yaw)).clip(min=0) ** 2
            rel_y = (v[:, 1] - cy) / 110.0
            dy += np.sign(pitch) * np.abs(np.sin(np.radians(pitch))) * 10.0 * (rel_y * -np.sign(pitch)).clip(min=0) ** 2
            return np.stack([dx, dy], axis=1).astype(np.float32)
        return fn

    for node_id, depth in (("face", 4.0), ("mouth", 14.0), ("eye_white_l", 14.0), ("eye_white_r", 14.0),
                           ("iris_l", 14.0), ("iris_r", 14.0), ("brow_l", 15.0), ("brow_r", 15.0),
                           ("blush_l", 13.0), ("blush_r", 13.0), ("front_hair", 20.0), ("back_hair", -10.0)):
        deform("ParamAngle", node_id, turn(depth), (3, 3))
    channel("ParamAngleZ", "head", BindingTarget.ROTATE, [-12.0, 0.0, 12.0])
    channel("ParamBodyAngleZ", "body_group", BindingTarget.ROTATE, [-6.0, 0.0, 6.0])
    channel("ParamBodyAngleX", "body_group", BindingTarget.TRANSLATE_X, [-12.0, 0.0, 12.0])
    channel("ParamBreath", "body", BindingTarget.SCALE_Y, [0.0, 0.025])
    channel("ParamBreath", "body", BindingTarget.TRANSLATE_Y, [0.0, -3.0])
    for side in ("l", "r"):
        channel(f"ParamEye{side.upper()}Open", f"eyes_{side}", BindingTarget.SCALE_Y, [-0.92, 0.0])
        channel("ParamEyeBallX", f"iris_{side}", BindingTarget.TRANSLATE_X, [-12.0, 0.0, 12.0])
        channel("ParamEyeBallY", f"iris_{side}", BindingTarget.TRANSLATE_Y, [8.0, 0.0, -8.0])
        channel(f"ParamBrow{side.upper()}Y", f"brow_{side}", BindingTarget.TRANSLATE_Y, [8.0, 0.0, -10.0])
        channel("ParamCheek", f"blush_{side}", BindingTarget.OPACITY, [0.0, 1.0])

    def mouth_open(idx: tuple[int], v: NDArray[np.float32]) -> NDArray[np.float32]:
        lower = (v[:, 1] - 296.0) / 14.0  # 0 at the top edge, 1 at the bottom
        return np.stack([np.zeros(len(v)), lower * 22.0 * idx[0]], axis=1).astype(np.float32)

    def mouth_form(idx: tuple[int], v: NDArray[np.float32]) -> NDArray[np.float32]:
        form = (idx[0] - 1)  # -1 frown, 0, +1 smile
        corner = np.abs(v[:, 0] - 256.0) / 30.0
        return np.stack([np.zeros(len(v)), -form * 6.0 * corner**2], axis=1).astype(np.float32)

    deform("ParamMouthOpenY", "mouth", mouth_open, (2,))
    deform("ParamMouthForm", "mouth", mouth_form, (3,))

    def hair_sway(idx: tuple[int], v: NDArray[np.float32]) -> NDArray[np.float32]:
        swing = (idx[0] - 1) * 30.0
        down = ((v[:, 1] - 96.0) / 330.0).clip(0, 1) ** 1.5
        return np.stack([swing * down, np.zeros(len(v))], axis=1).astype(np.float32)

    deform("ParamHairBack", "back_hair", hair_sway, (3,))

    physics = (
        PhysicsChain(
            id="back_hair",
            inputs=(PhysicsInput("ParamAngleX", "x", -40.0), PhysicsInput("ParamAngleZ", "angle", -10.0),
                    PhysicsInput("ParamBodyAngleX", "x", -30.0)),
            outputs=(PhysicsOutput("ParamHairBack", angle_range=20.0),),
            length=200.0, segments=3, damping=0.6, stiffness=0.3,
        ),
    )
    meta = Meta(
        name="sample", canvas_size=(CANVAS, CANVAS), generator=f"avatar-plugin {__version__} (sample.py)",
        source_size=(CANVAS, CANVAS),
        landmarks=Landmarks(face_box=(156.0, 130.0, 356.0, 350.0), eye_l=(302.0, 234.0), eye_r=(210.0, 234.0),
                            mouth=(256.0, 303.0)),
    )
    return Puppet(meta=meta, parameters=tuple(params), nodes=tuple(nodes), bindings=tuple(bindings),
                  physics=physics, textures=(Texture(file="atlas0.png", image=atlas),))
