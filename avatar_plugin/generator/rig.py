"""Stage 4: the rig (``run(meshes, options) -> Rig``): a :class:`Puppet` with keyforms for every standard
parameter and pendulum physics for the hair.

Node tree (all rest transforms identity; pivots where things rotate)::

    root
    └── body_group            body, neck            BodyAngleX/Y/Z and Breath deform them (one field)
        └── head  (pivot: neck)                     AngleZ rotates; the body fields move it along
            ├── back_hair, face, cheek, side hair, front hair, accessory   ParamAngle deforms (faux 3D)
            ├── brow_l, brow_r                      ParamAngle as translate + scale; BrowY translate
            ├── eye_l, eye_r  (groups)              ParamAngle as translate + scale (rigid per eye)
            │     white, iris (clipped by white), eyelid, lashes     ParamEyeL/R (open x smile) deform
            └── mouth_group                         ParamAngle as translate + scale
                  mouth_interior, mouth             MouthOpenY, MouthForm deform

Faux 3D (``ParamAngle`` = AngleX x AngleY, 3 x 3 keyforms): each vertex gets a depth on the head model of
:mod:`.rig_model` (features on the face surface, bangs in front of it, back hair behind) and is rotated by
``YAW`` degrees at AngleX = +-30 and ``PITCH`` at AngleY = +-30, then projected. Near side widens, far side
narrows, features slide over the face, bangs and back hair shift with parallax.

Eyes: a 2-D parameter per eye (``ParamEyeLOpen`` x ``ParamEyeLSmile``; axis ids are the Live2D ids). At
open = 0 the eye white collapses onto the lower lid line (the iris, clipped by the white, goes with it) and the
lashes move onto that line as a thin lash line; the face layer, complete under the eye, shows skin above it.
Smile raises the lower lid in an arch; closed + smile draws the arch ("^ ^"). Every lid keyform maps a
column of the eye affinely in y with a positive slope, so no triangle can flip.

Mouth: the mouth mesh is cut at the lip seam (stage 3); MouthOpenY moves the lower piece down (most in the
middle, not at the corners) and stretches the interior from a collapsed line to the opening between the lips.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avatar_plugin._version import __version__
from avatar_plugin.generator.mesh import Meshes, PartMesh
from avatar_plugin.generator.rig_model import HeadModel, fit_curve, head_model
from avatar_plugin.generator.types import Layer, Part
from avatar_plugin.puppet import standard
from avatar_plugin.puppet.model import (
    Axis,
    Binding,
    BindingTarget,
    Landmarks,
    Mesh,
    Meta,
    Node,
    NodeKind,
    Parameter,
    PhysicsChain,
    PhysicsInput,
    PhysicsOutput,
    Puppet,
    Texture,
    Transform,
)

__all__ = ["EYE_OPEN_KEYS", "Rig", "RigOptions", "run"]

EYE_OPEN_KEYS = (0.0, 0.1, 1.0)  # the extra key: the white and iris fade only over the last 10 %
MOUTH_OPEN_KEYS = (0.0, 0.15, 1.0)  # the interior fades in over the first 15 % of the opening
# vowel mouth shapes (ParamA/I/U/E/O at 1): (opening as a fraction of MouthOpenY's, width scale)
VOWELS = {"ParamA": (1.0, 1.0), "ParamI": (0.3, 1.15), "ParamU": (0.35, 0.7), "ParamE": (0.6, 1.06),
          "ParamO": (0.8, 0.75)}
VOWEL_STACK = 0.7  # a vowel's opening, as a fraction of MouthOpenY's (drawn-closed mouths; see _mouth)
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]


@dataclass(frozen=True)
class RigOptions:
    yaw: float = 20.0  # degrees of virtual head yaw at AngleX = +-30
    pitch: float = 11.0  # degrees of virtual pitch at AngleY = +-30
    roll: float = 12.0  # head roll (degrees) at AngleZ = +-30
    body_yaw: float = 14.0  # degrees of torso yaw at BodyAngleX = +-10
    body_roll: float = 3.0  # degrees at BodyAngleZ = +-10
    bangs_depth: float = 0.20  # front/side hair above the face surface over the face (head radii): parallax
    back_depth: float = 0.50  # back hair below the surface behind the face's middle (head radii)
    tip_follow: float = 0.35  # how much of the head's motion the lowest hair tips follow (roots follow fully)
    head_body_yaw: float = 6.0  # degrees the head yaws with the body at BodyAngleX = +-10 (faux 3D, like AngleX)
    head_body_roll: float = 3.0  # degrees the head rolls about the neck at BodyAngleZ = +-10, beyond the body's


@dataclass(frozen=True, eq=False)
class Rig:
    """Stage 4 output: the puppet (one texture per layer; stage 5 packs the atlas) and notes."""

    puppet: Puppet
    part_of_node: dict[str, Part]
    warnings: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------------
def _bbox(layer: Layer, threshold: int = 127) -> tuple[float, float, float, float]:
    a = layer.image[..., 3] > threshold
    if not a.any():
        a = layer.image[..., 3] > 0
    ys, xs = np.nonzero(a)
    ox, oy = layer.offset
    return float(xs.min() + ox), float(ys.min() + oy), float(xs.max() + 1 + ox), float(ys.max() + 1 + oy)


def _columns(layer: Layer, threshold: int = 127) -> tuple[F64, F64, F64, F64]:
    """Per column with alpha: x centre, top edge, bottom edge, alpha-weighted centre (canvas px)."""
    a = layer.image[..., 3].astype(np.float64)
    mask = a > threshold
    cols = np.nonzero(mask.any(axis=0))[0]
    rows = np.arange(a.shape[0], dtype=np.float64)
    top = np.array([np.argmax(mask[:, c]) for c in cols], np.float64)
    bottom = np.array([a.shape[0] - np.argmax(mask[::-1, c]) for c in cols], np.float64)
    centre = np.array([(rows + 0.5) @ a[:, c] / max(a[:, c].sum(), 1e-9) for c in cols], np.float64)
    ox, oy = layer.offset
    return cols + 0.5 + ox, top + oy, bottom + oy, centre + oy


def _zeros(grid: tuple[int, ...], n: int) -> F32:
    return np.zeros((*grid, n, 2), np.float32)


class _Builder:
    """Accumulates nodes, bindings and textures."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.bindings: list[Binding] = []
        self.textures: list[Texture] = []
        self.meshes: dict[str, Mesh] = {}

    def group(self, node_id: str, parent: str | None, pivot: tuple[float, float] = (0.0, 0.0)) -> None:
        self.nodes.append(Node(id=node_id, kind=NodeKind.GROUP, parent=parent, name=node_id,
                               transform=Transform(pivot=(float(pivot[0]), float(pivot[1])))))

    def part(self, node_id: str, parent: str, vertices: F32, triangles: NDArray[np.int32], image: NDArray[np.uint8],
             offset: tuple[int, int], order: float, pivot: tuple[float, float] = (0.0, 0.0), **kw: object) -> None:
        h, w = image.shape[:2]
        uvs = (vertices.astype(np.float64) - np.array(offset, np.float64)) / np.array([w, h], np.float64)
        mesh = Mesh(vertices=vertices, uvs=uvs.astype(np.float32), triangles=triangles)
        self.textures.append(Texture(file=f"{node_id}.png", image=image))
        self.meshes[node_id] = mesh
        self.nodes.append(Node(id=node_id, kind=NodeKind.PART, parent=parent, name=node_id, mesh=mesh,
                               texture=len(self.textures) - 1, draw_order=order,
                               transform=Transform(pivot=(float(pivot[0]), float(pivot[1]))), **kw))  # type: ignore[arg-type]

    def order_of(self, node_id: str) -> float:
        return next(n.draw_order for n in self.nodes if n.id == node_id)

    def deform(self, param: str, node: str, values: F32) -> None:
        if np.any(values != 0):
            self.bindings.append(Binding(param=param, node=node, target=BindingTarget.DEFORM, values=values))

    def channel(self, param: str, node: str, target: BindingTarget, values: F64 | list[float]) -> None:
        arr = np.asarray(values, np.float64)
        if np.any(arr != 0):
            self.bindings.append(Binding(param=param, node=node, target=target, values=arr))


# ----------------------------------------------------------------------------------------------------------
# the rig
# ----------------------------------------------------------------------------------------------------------
_HAIR = (Part.FRONT_HAIR, Part.SIDE_HAIR_L, Part.SIDE_HAIR_R, Part.BACK_HAIR)
_EYE_PARTS = {
    "l": (Part.EYE_WHITE_L, Part.IRIS_L, Part.EYELID_L, Part.LASHES_L),
    "r": (Part.EYE_WHITE_R, Part.IRIS_R, Part.EYELID_R, Part.LASHES_R),
}


def _angle_grid(opts: RigOptions) -> list[tuple[tuple[int, int], float, float]]:
    keys = standard.STANDARD["ParamAngleX"].keypoints
    keys_y = standard.STANDARD["ParamAngleY"].keypoints
    out = []
    for i, ax in enumerate(keys):
        for j, ay in enumerate(keys_y):
            out.append(((i, j), opts.yaw * ax / 30.0, opts.pitch * ay / 30.0))
    return out


def run(meshes: Meshes, options: RigOptions | None = None) -> Rig:
    """Stage 4: build the puppet from meshed layers."""
    opts = options or RigOptions()
    layers = meshes.layers
    lm = layers.landmarks
    W, H = layers.canvas_size
    parts = [p for p in layers.depth_order if p in meshes.meshes]
    if Part.FACE not in parts:
        raise ValueError("stage 4 (rig): expected a face layer from stage 2, found none "
                         f"(layers: {[p.value for p in parts]})")
    head = head_model(lm)
    R = head.rx
    b = _Builder()
    warnings: list[str] = []
    order = {p: 10.0 * k for k, p in enumerate(parts)}

    # 1. groups
    b.group("root", None)
    body_pivot = (W / 2.0, float(H))
    b.group("body_group", "root", body_pivot)
    b.group("head", "body_group", head.neck)
    eye_geo: dict[str, _Eye] = {}
    for side, members in _EYE_PARTS.items():
        if any(m in parts for m in members):
            eye_geo[side] = _eye_geometry(side, layers.layers, lm)
            b.group(f"eye_{side}", "head", eye_geo[side].centre)
    mouth_parts = [p for p in (Part.MOUTH_INTERIOR, Part.MOUTH) if p in parts]
    mouth_centre = lm.mouth
    if Part.MOUTH in parts:
        x0, y0, x1, y1 = _bbox(layers.layers[Part.MOUTH])
        mouth_centre = ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
    if mouth_parts:
        b.group("mouth_group", "head", mouth_centre)

    # 2. parts
    part_of_node: dict[str, Part] = {}
    for p in parts:
        layer, m = layers.layers[p], meshes.meshes[p]
        parent, pivot = "head", (0.0, 0.0)
        if p in (Part.BODY, Part.NECK):
            parent = "body_group"
        elif p in mouth_parts:
            parent = "mouth_group"
        else:
            for side, members in _EYE_PARTS.items():
                if p in members:
                    parent = f"eye_{side}"
        if p in (Part.BROW_L, Part.BROW_R):
            x0, y0, x1, y1 = _bbox(layer)
            pivot = ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
        clip: tuple[str, ...] = ()
        if p in (Part.IRIS_L, Part.IRIS_R):
            white = Part.EYE_WHITE_L if p is Part.IRIS_L else Part.EYE_WHITE_R
            if white in parts:
                clip = (white.value,)
        b.part(p.value, parent, m.vertices, m.triangles, layer.image, layer.offset, order[p], pivot, clip=clip)
        part_of_node[p.value] = p
    cheek = _cheek_layer(lm, (W, H))
    if cheek is not None:
        img, off, verts, tris = cheek
        b.part("cheek", "head", verts, tris, img, off, order[Part.FACE] + 1.0, opacity=0.0)

    # 3. faux 3D head turn (ParamAngle): one depth field per kind (face / front+side hair / back hair), all
    # continuous where the kinds meet; hair below the chin lags (roots follow the head, tips less)
    # BodyAngleX yaws the head a little too (the same faux 3D turn, added to AngleX's): the head turns with
    # the body instead of only riding along
    lag = _hair_lag(layers, parts, head, opts)
    by = opts.head_body_yaw
    body_turns: list[tuple[tuple[int, ...], float, float]] = [((0,), -by, 0.0), ((1,), 0.0, 0.0), ((2,), by, 0.0)]
    angle_turns: list[tuple[tuple[int, ...], float, float]] = list(_angle_grid(opts))
    schedules: list[tuple[str, tuple[int, ...], list[tuple[tuple[int, ...], float, float]]]] = [
        ("ParamAngle", (3, 3), angle_turns)]
    if by:
        schedules.append(("ParamBodyAngleX", (3,), body_turns))
    rigid = [(f"eye_{s}", g.centre, 0.03) for s, g in eye_geo.items()]
    rigid += [(p.value, _centre(layers.layers[p]), 0.05) for p in (Part.BROW_L, Part.BROW_R) if p in parts]
    if mouth_parts:
        rigid.append(("mouth_group", mouth_centre, 0.05))
    for param, grid, turns in schedules:
        for node_id, mesh in b.meshes.items():
            found = part_of_node.get(node_id, Part.FACE if node_id == "cheek" else None)
            if found is None:
                continue
            p = found
            v = mesh.vertices.astype(np.float64)
            if p in (Part.FACE, Part.ACCESSORY) or p in _HAIR:
                front, back = head.hair_depth(v[:, 0], v[:, 1], opts.bangs_depth, opts.back_depth)
                if p is Part.FACE:
                    z = head.surface(v[:, 0], v[:, 1])
                elif p is Part.ACCESSORY:
                    z = front + 0.03 * R
                else:
                    z = back if p is Part.BACK_HAIR else front
                wt = lag(v[:, 1]) if p in _HAIR else np.ones(len(v))
                table = _zeros(grid, len(v))
                for idx, yaw, pitch in turns:
                    dx, dy = head.turn(v[:, 0], v[:, 1], z, yaw, pitch)
                    table[idx] = np.stack([dx * wt, dy * wt], axis=1)
                b.deform(param, node_id, table)
            elif p is Part.NECK:
                _neck_follow(b, mesh, head, turns, layers.layers[Part.NECK], param, grid)
        for node_id, (x, y), dz in rigid:
            tx, ty, sx, sy = (np.zeros(grid) for _ in range(4))
            for idx, yaw, pitch in turns:
                tx[idx], ty[idx], sx[idx], sy[idx] = head.turn_affine(x, y, dz * R, yaw, pitch)
            b.channel(param, node_id, BindingTarget.TRANSLATE_X, tx)
            b.channel(param, node_id, BindingTarget.TRANSLATE_Y, ty)
            b.channel(param, node_id, BindingTarget.SCALE_X, sx - 1.0)
            b.channel(param, node_id, BindingTarget.SCALE_Y, sy - 1.0)

    # 4. head roll (hair below the chin lags, the neck's top follows), body, breath
    b.channel("ParamAngleZ", "head", BindingTarget.ROTATE, [-opts.roll, 0.0, opts.roll])
    back_bottom = None
    if Part.BACK_HAIR in parts:  # where the back hair shows down to (the shoulders; completed further down)
        bl = layers.layers[Part.BACK_HAIR]
        cols = np.nonzero(bl.visible.any(axis=0))[0]
        if len(cols):
            lows = np.array([bl.visible.shape[0] - np.argmax(bl.visible[::-1, c]) for c in cols], np.float64)
            back_bottom = float(np.percentile(lows, 25)) + bl.offset[1]
    _roll_lag(b, parts, head, lag, opts, back_bottom)
    if opts.head_body_roll:  # BodyAngleZ: the head rolls a little beyond the body (the group's rotation below)
        _roll_lag(b, parts, head, lag, opts, back_bottom, "ParamBodyAngleZ", opts.head_body_roll)
    _body(b, layers, head, (W, H), opts, parts)

    # 5. eyes, brows, mouth, cheek
    eye_params: list[Parameter] = []
    for side, geo in eye_geo.items():
        top = max(order[q] for q in _EYE_PARTS[side] if q in parts)
        _lash_line(b, side, geo, top + 0.5)
        eye_params.append(_eyes(b, side, geo, parts))
    for p, pid in ((Part.BROW_L, "ParamBrowLY"), (Part.BROW_R, "ParamBrowRY")):
        if p in parts:
            side = "l" if p is Part.BROW_L else "r"
            amp = 0.35 * eye_geo[side].height if side in eye_geo else 0.03 * (lm.face_box[3] - lm.face_box[1])
            b.channel(pid, p.value, BindingTarget.TRANSLATE_Y, [amp, 0.0, -amp])
    mouth_keys: tuple[float, ...] = MOUTH_OPEN_KEYS
    mouth_in_picture = 0.0
    if Part.MOUTH in parts:
        mouth_in_picture = _mouth(b, meshes.meshes[Part.MOUTH], layers.layers[Part.MOUTH],
                                  layers.layers.get(Part.MOUTH_INTERIOR), (lm.face_box[3] - lm.face_box[1]))
        if mouth_in_picture > 0.0:
            mouth_keys = _drawn_open_keys(mouth_in_picture)
    else:
        warnings.append("mouth: no mouth layer; ParamMouthOpenY/Form do nothing")
    if cheek is not None:
        b.channel("ParamCheek", "cheek", BindingTarget.OPACITY, [0.0, 1.0])

    # 6. hair sway + physics
    chains = _hair(b, layers, parts, head)

    # 7. parameters and the puppet
    used = {bd.param for bd in b.bindings}
    ids = [pid for pid in standard.STANDARD if pid in used or (pid in ("ParamAngleX", "ParamAngleY")
                                                                    and "ParamAngle" in used)]
    params = [_with_keys(p, "ParamMouthOpenY", mouth_keys) for p in standard.parameters(ids)] + eye_params
    params.sort(key=lambda p: _param_rank(p.id))
    landmarks = Landmarks(face_box=tuple(float(v) for v in lm.face_box), eye_l=tuple(map(float, lm.eye_l)),  # type: ignore[arg-type]
                          eye_r=tuple(map(float, lm.eye_r)), mouth=tuple(map(float, lm.mouth)))  # type: ignore[arg-type]
    meta = Meta(name="avatar", canvas_size=(W, H), generator=f"avatar-plugin {__version__}", source_size=(W, H),
                landmarks=landmarks, extra={"landmarks_source": lm.source or "unknown",
                                             "mouth_open_in_picture": round(mouth_in_picture, 3)})
    puppet = Puppet(meta=meta, parameters=tuple(params), nodes=tuple(b.nodes), bindings=tuple(b.bindings),
                    physics=tuple(chains), textures=tuple(b.textures))
    return Rig(puppet=puppet, part_of_node=part_of_node, warnings=tuple(warnings) + meshes.warnings)


def _with_keys(p: Parameter, pid: str, keys: tuple[float, ...]) -> Parameter:
    if p.id != pid:
        return p
    a = p.axes[0]
    return Parameter(id=pid, axes=(Axis(id=a.id, min=a.min, max=a.max, default=a.default, keypoints=keys),))


def _param_rank(pid: str) -> int:
    order = ["ParamAngle", "ParamAngleZ", "ParamEyeL", "ParamEyeR", *standard.STANDARD]
    return order.index(pid) if pid in order else len(order)


def _centre(layer: Layer) -> tuple[float, float]:
    x0, y0, x1, y1 = _bbox(layer)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


# ----------------------------------------------------------------------------------------------------------
# neck and body
# ----------------------------------------------------------------------------------------------------------
def _neck_follow(b: _Builder, mesh: Mesh, head: HeadModel, turns: list[tuple[tuple[int, ...], float, float]],
                 layer: Layer, param: str = "ParamAngle", grid: tuple[int, ...] = (3, 3)) -> None:
    """The neck's top follows the chin in a head turn, its base stays on the body."""
    v = mesh.vertices.astype(np.float64)
    base = _bbox(layer)[3]
    top = min(head.chin_y, base - 1.0)
    s = np.clip((base - v[:, 1]) / max(base - top, 1.0), 0.0, 1.0) ** 1.5
    table = _zeros(grid, len(v))
    zc = head.surface(np.array([head.cx]), np.array([head.chin_y]))
    for idx, yaw, pitch in turns:
        dx, dy = head.turn(np.array([head.cx]), np.array([head.chin_y]), zc, yaw, pitch)
        table[idx] = np.stack([dx[0] * s * 0.8, dy[0] * s * 0.5], axis=1)
    b.deform(param, "neck", table)


def _hair_lag(layers: object, parts: list[Part], head: HeadModel, opts: RigOptions
              ) -> Callable[[F64], F64]:
    """Weight of the head's motion for hair at canvas height y: 1 down to the chin, then falling smoothly to
    ``tip_follow`` at the lowest hair tip (a lock hangs from the head; its tip stays nearer the body)."""
    from avatar_plugin.generator.types import Layers

    assert isinstance(layers, Layers)
    bottoms = [_bbox(layers.layers[p])[3] for p in parts if p in _HAIR]
    y0 = head.chin_y
    y1 = max([*bottoms, y0 + 1.0])

    def weight(y: F64) -> F64:
        t = np.clip((y - y0) / max(y1 - y0, 1.0), 0.0, 1.0)
        return 1.0 - (1.0 - opts.tip_follow) * t * t * (3.0 - 2.0 * t)

    return weight


def _roll_lag(b: _Builder, parts: list[Part], head: HeadModel, lag: Callable[[F64], F64],
              opts: RigOptions, back_bottom: float | None = None, param: str = "ParamAngleZ",
              roll: float | None = None) -> None:
    """AngleZ rotates the head group about the neck pivot; hair below the chin takes only ``lag`` of that
    rotation (a counter-deform in the group's frame), and the neck's top turns with the chin. With ``param`` /
    ``roll``: the same for the head's own roll at BodyAngleZ (beyond the body's, which everything shares)."""
    roll = opts.roll if roll is None else roll
    px, py = head.neck
    for p in [*(q for q in _HAIR if q in parts), Part.NECK]:
        node = p.value
        if node not in b.meshes:
            continue
        v = b.meshes[node].vertices.astype(np.float64)
        X, Y = v[:, 0] - px, v[:, 1] - py
        if p is Part.NECK:  # not in the head group: turn its top with the head
            base = float(v[:, 1].max())
            wt = np.clip((base - v[:, 1]) / max(base - head.chin_y, 1.0), 0.0, 1.0) ** 1.5
        else:
            wt = lag(v[:, 1])
            if p is Part.BACK_HAIR:  # back hair ends on the shoulders: its lower edge stays there (a roll
                # lifting it opened background under the hair, and the body's outline showed as a stray line)
                bottom = max(back_bottom if back_bottom is not None else float(v[:, 1].max()), head.chin_y + head.rx)
                t = np.clip((v[:, 1] - head.chin_y) / max(bottom - head.chin_y, 1.0), 0.0, 1.0)
                wt = wt * (1.0 - 0.7 * t * t * (3.0 - 2.0 * t))
        table = _zeros((3,), len(v))
        for i, sgn in ((0, -1.0), (2, 1.0)):
            a = math.radians(sgn * roll)
            c, s_ = math.cos(a), math.sin(a)
            rx, ry = X * c - Y * s_, X * s_ + Y * c  # the rotation (+ = clockwise on screen, y down)
            tx, ty = X + wt * (rx - X), Y + wt * (ry - Y)  # where the vertex should end up
            if p is Part.NECK:
                table[i] = np.stack([tx - X, ty - Y], axis=1)
            else:  # pre-image under the group's rotation
                ux, uy = tx * c + ty * s_, -tx * s_ + ty * c
                table[i] = np.stack([ux - X, uy - Y], axis=1)
        b.deform(param, node, table)


def _body(b: _Builder, layers: object, head: HeadModel, size: tuple[int, int], opts: RigOptions,
          parts: list[Part]) -> None:
    from avatar_plugin.generator.types import Layers

    assert isinstance(layers, Layers)
    W, H = size
    if Part.BODY in parts:
        bx0, by0, bx1, by1 = _bbox(layers.layers[Part.BODY])
    else:
        bx0, by0, bx1, by1 = W * 0.2, head.chin_y + 0.1 * H, W * 0.8, float(H)
    by1 = min(by1, float(H))
    fw = head.rx * 2.0
    fh = head.chin_y - (head.cy - head.ry)
    # the torso: about a face width either side of the neck (arms beyond it move with the shoulder's edge);
    # it turns above the hips (for a bust, the body's bottom), the legs stay
    bcx, rb = head.neck[0], max(min((bx1 - bx0) / 2.0, 1.0 * fw), 1.0)
    bottom = min(by1, head.chin_y + 2.4 * max(fh, fw))
    shoulder = by0 + 0.12 * (bottom - by0)

    def g(y: F64) -> F64:  # 0 at the picture's bottom, 1 from the shoulders up (smoothstep)
        t = np.clip((bottom - y) / max(bottom - shoulder, 1.0), 0.0, 1.0)
        return t * t * (3 - 2 * t)

    def h(y: F64) -> F64:  # torso turn weight: 1 at the shoulders, 0 at the hips
        return g(y)

    breath = 0.008 * H
    # a body cut by the picture's side edges continues outside it: pinned there (stretches instead of opening
    # background at the edge)
    edge = max(0.12 * W, 1.0)
    cut_l, cut_r = bx0 <= 1.0, bx1 >= W - 1.0

    def pin(x: F64) -> F64:
        out = np.ones_like(x)
        if cut_l:
            t = np.clip(x / edge, 0.0, 1.0)
            out = out * t * t * (3 - 2 * t)
        if cut_r:
            t = np.clip((W - x) / edge, 0.0, 1.0)
            out = out * t * t * (3 - 2 * t)
        return out

    lift = 0.010 * H

    def fields(x: F64, y: F64) -> dict[str, Callable[[float], tuple[F64, F64]]]:
        def breath_f(v: float) -> tuple[F64, F64]:
            gg = g(y)
            return (x - bcx) * 0.012 * gg * v, -breath * gg * v

        def yaw_f(v: float) -> tuple[F64, F64]:
            # the torso as a cylinder (elliptic section, depth 0.6 (1 - u^2) body radii) turning by beta about an
            # axis at half its depth: the chest slides toward the turn, the near shoulder widens, the far one
            # narrows (slope cos b -+ 1.2 u sin b > 0), the silhouette's edges barely move
            beta = math.radians(opts.body_yaw * v / 10.0)
            u = np.clip((x - bcx) / rb, -1.0, 1.0)
            z = rb * (0.6 * (1 - u * u) - 0.3)  # about an axis at mid depth: the outline barely moves
            X = u * rb
            dx = X * (math.cos(beta) - 1.0) + z * math.sin(beta)
            return h(y) * dx * pin(x), np.zeros_like(y)

        def roll_f(v: float) -> tuple[F64, F64]:  # about the hips (the picture's bottom centre)
            a = math.radians(opts.body_roll * v / 10.0)
            return np.maximum(bottom - y, 0.0) * math.sin(a) * pin(x), (x - bcx) * math.sin(a) * 0.3 * g(y)

        def pitch_f(v: float) -> tuple[F64, F64]:  # a lean toward the viewer: the upper body lifts and grows
            return (x - bcx) * 0.03 * g(y) * v / 10.0 * pin(x), -lift * g(y) * v / 10.0

        return {"ParamBreath": breath_f, "ParamBodyAngleX": yaw_f, "ParamBodyAngleZ": roll_f,
                "ParamBodyAngleY": pitch_f}

    keys = {pid: standard.STANDARD[pid].keypoints for pid in ("ParamBreath", "ParamBodyAngleX", "ParamBodyAngleZ",
                                                              "ParamBodyAngleY")}
    for node in ("body", "neck"):
        if node not in b.meshes:
            continue
        v = b.meshes[node].vertices.astype(np.float64)
        fs = fields(v[:, 0], v[:, 1])
        for pid, f in fs.items():
            table = _zeros((len(keys[pid]),), len(v))
            for i, k in enumerate(keys[pid]):
                dx, dy = f(float(k))
                table[i] = np.stack([dx, dy], axis=1)
            b.deform(pid, node, table)
    # the head rides on the neck: move its pivot with the same fields
    nx, ny = np.array([head.neck[0]]), np.array([head.neck[1]])
    fs = fields(nx, ny)
    # hair hanging below the chin lies on the shoulders and chest: it follows the body's field where it is
    # (a counter-deform of the head's translation), so locks do not slide off a turning torso
    fh = max(head.chin_y - (head.cy - head.ry), 1.0)
    for p in _HAIR:
        if p.value not in b.meshes:
            continue
        v = b.meshes[p.value].vertices.astype(np.float64)
        t = np.clip((v[:, 1] - head.chin_y) / (0.3 * fh), 0.0, 1.0)
        wt = t * t * (3 - 2 * t)
        if not wt.any():
            continue
        here = fields(v[:, 0], v[:, 1])
        for pid, f in here.items():
            table = _zeros((len(keys[pid]),), len(v))
            for i, k in enumerate(keys[pid]):
                dx, dy = f(float(k))
                hx, hy = fs[pid](float(k))
                table[i] = np.stack([wt * (dx - hx[0]), wt * (dy - hy[0])], axis=1)
            b.deform(pid, p.value, table)
    for pid, f in fs.items():
        tx = [float(f(float(k))[0][0]) for k in keys[pid]]
        ty = [float(f(float(k))[1][0]) for k in keys[pid]]
        b.channel(pid, "head", BindingTarget.TRANSLATE_X, tx)
        b.channel(pid, "head", BindingTarget.TRANSLATE_Y, ty)
    roll = opts.body_roll + opts.head_body_roll  # the head rolls a little more than the body (see _roll_lag)
    b.channel("ParamBodyAngleZ", "head", BindingTarget.ROTATE, [-roll, 0.0, roll])


# ----------------------------------------------------------------------------------------------------------
# eyes
# ----------------------------------------------------------------------------------------------------------
@dataclass
class _Eye:
    centre: tuple[float, float]
    x0: float
    x1: float
    height: float
    lower: F64  # polynomial coefficients: lower lid line y(x)
    upper: F64  # upper edge of the white
    lash_centre: F64 | None
    iris_size: tuple[float, float]
    white_width: float
    lash_top_coef: F64 | None = None  # the lash band's top edge y(x)
    lash_thickness: float = 3.0
    lash_colour: tuple[int, int, int] = (60, 40, 40)

    def lash_top(self, x: F64) -> F64:
        if self.lash_top_coef is None:
            return self.at(self.upper, x) - 0.5 * self.lash_thickness
        w = self.x1 - self.x0
        return np.polyval(self.lash_top_coef, np.clip(x, self.x0 + 0.1 * w, self.x1 - 0.1 * w))

    def q(self, x: F64) -> F64:
        hw = max((self.x1 - self.x0) / 2.0, 1.0)
        return (np.clip(x, self.x0, self.x1) - self.centre[0]) / hw

    def at(self, coef: F64, x: F64) -> F64:
        # flat beyond the inner 80 %: the eye's corners are near-vertical, a curve that steep folds triangles
        inset = 0.1 * (self.x1 - self.x0)
        return np.polyval(coef, np.clip(x, self.x0 + inset, self.x1 - inset))

    def closed_line(self, x: F64) -> F64:
        # the lower lid's curve, half as deep (a gentle arc; its steep ends would fold triangles)
        low = self.at(self.lower, x)
        ends = 0.5 * float(self.at(self.lower, np.array([self.x0]))[0] + self.at(self.lower, np.array([self.x1]))[0])
        return ends + 0.5 * (low - ends) - 0.16 * self.height

    def happy_line(self, x: F64) -> F64:
        mid = 0.5 * (self.at(self.lower, x) + self.at(self.upper, x))
        q = self.q(x)
        return mid + self.height * (0.02 + 0.22 * q * q - 0.2)

    def smile_line(self, x: F64) -> F64:
        q = self.q(x)
        return self.at(self.lower, x) - 0.42 * self.height * np.clip(1.0 - q * q, 0.0, 1.0)


def _eye_geometry(side: str, layers: Mapping[Part, Layer], lm: object) -> _Eye:
    from avatar_plugin.generator.types import FaceLandmarks

    assert isinstance(lm, FaceLandmarks)
    white, iris, lashes = (layers.get(Part(f"{n}_{side}")) for n in ("eye_white", "iris", "lashes"))
    ref = white or iris or lashes
    if ref is None:  # only an eyelid: use the landmark box
        box = lm.eye_l_box if side == "l" else lm.eye_r_box
        c = lm.eye_l if side == "l" else lm.eye_r
        box = box or (c[0] - 10, c[1] - 6, c[0] + 10, c[1] + 6)
        return _Eye(centre=((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), x0=box[0], x1=box[2],
                    height=box[3] - box[1], lower=np.array([0.0, 0.0, box[3]]), upper=np.array([0.0, 0.0, box[1]]),
                    lash_centre=None, iris_size=(box[2] - box[0], box[3] - box[1]), white_width=box[2] - box[0])
    xs, top, bottom, _ = _columns(ref)
    height = float(np.max(bottom - top))
    lower = fit_curve(xs, bottom)
    upper = fit_curve(xs, top)
    x0, x1 = float(xs.min()), float(xs.max())
    lash_centre = lash_top = None
    thickness = max(2.0, 0.12 * height)
    if lashes is not None:
        lx, lt, lb, lc = _columns(lashes, threshold=64)
        inside = (lx >= x0) & (lx <= x1)
        if inside.sum() >= 4:
            lash_centre = fit_curve(lx[inside], lc[inside])
            lash_top = fit_curve(lx[inside], lt[inside])
            thickness = float(np.clip(np.percentile((lb - lt)[inside], 30), 2.0, 0.5 * height))
    colour = _lash_colour(lashes, [q for q in (iris, white) if q is not None])
    iris_size = (x1 - x0, height)
    if iris is not None:
        ix0, iy0, ix1, iy1 = _bbox(iris)
        iris_size = (ix1 - ix0, iy1 - iy0)
    return _Eye(centre=((x0 + x1) / 2.0, float(np.mean((top + bottom) / 2.0))), x0=x0, x1=x1, height=height,
                lower=lower, upper=upper, lash_centre=lash_centre, iris_size=iris_size, white_width=x1 - x0,
                lash_top_coef=lash_top, lash_thickness=thickness, lash_colour=colour)


def _lash_colour(lashes: Layer | None, others: list[Layer]) -> tuple[int, int, int]:
    """The closed eye's line colour: the lashes' dark pixels, else the darkest pixels of the eye, darkened."""
    if lashes is not None:
        px = lashes.image[lashes.image[..., 3] > 127][:, :3].astype(np.float64)
        if len(px) >= 4:
            lum = px.mean(axis=1)
            return tuple(int(c) for c in np.median(px[lum <= np.percentile(lum, 40)], axis=0))  # type: ignore[return-value]
    chunks = [o.image[o.image[..., 3] > 127][:, :3].astype(np.float64) for o in others]
    px = np.concatenate(chunks) if chunks else np.zeros((0, 3))
    if len(px) < 4:
        return (60, 40, 40)
    lum = px.mean(axis=1)
    dark = np.median(px[lum <= np.percentile(lum, 5)], axis=0)
    return tuple(int(c) for c in 0.6 * dark + 0.4 * np.array([50.0, 35.0, 35.0]))  # type: ignore[return-value]


def _lash_line(b: _Builder, side: str, eye: _Eye, order: float) -> None:
    """A drawn lash line (``lash_line_l/r``) that travels with the lid and shows as the eye closes: a closed
    eye reads as closed, with the same stroke on both sides, whatever stage 1 left in the lashes layer (a
    lash line split between the lashes and the face, or no lashes layer at all). Hidden at rest (opacity 0)."""
    w = eye.x1 - eye.x0
    if w < 6.0:
        return
    th = float(np.clip(eye.lash_thickness, 2.0, max(2.0, 0.25 * eye.height)))
    xa, xb = eye.x0 + 0.02 * w, eye.x1 - 0.02 * w

    def centre(x: F64) -> F64:
        return np.asarray(eye.lash_top(x) + 0.5 * th, np.float64)

    def taper(q: F64) -> F64:
        return 0.35 + 0.65 * np.sqrt(np.clip(1.0 - q * q, 0.0, 1.0))

    _stroke_part(b, f"lash_line_{side}", f"eye_{side}", centre, taper, xa, xb, th, eye.lash_colour,
                 samples=33, ncol=int(np.clip(w / 2.0, 6, 40)), order=order)


def _stroke_part(b: _Builder, node: str, parent: str, centre: Callable[[F64], F64], taper: Callable[[F64], F64],
                 xa: float, xb: float, th: float, colour: tuple[int, int, int] | F64, *, samples: int, ncol: int,
                 order: float) -> None:
    """A hidden (opacity 0) part ``node``: a stroke of thickness ``th * taper(q)`` along ``centre(x)`` from
    ``xa`` to ``xb`` (``q`` = -1..1 across it), drawn into its own texture, on a 3-row strip mesh that follows
    the curve so the stroke bends with the deformers. Used for the lash lines and the closed-mouth line."""
    cx, hw = 0.5 * (xa + xb), 0.5 * (xb - xa)
    cs = centre(np.linspace(xa, xb, samples))
    ox, oy = int(math.floor(xa)) - 2, int(math.floor(cs.min() - th)) - 3
    x1, y1 = int(math.ceil(xb)) + 2, int(math.ceil(cs.max() + th)) + 3
    yy, xx = np.mgrid[oy:y1, ox:x1].astype(np.float64) + 0.5
    q = np.clip((xx - cx) / hw, -1.5, 1.5)
    half = 0.5 * th * taper(q)
    alpha = np.clip(half - np.abs(yy - centre(xx)) + 0.5, 0.0, 1.0) * (np.abs(q) <= 1.0)
    img = np.zeros((*alpha.shape, 4), np.uint8)
    img[..., :3] = np.round(np.asarray(colour, np.float64)).astype(np.uint8)
    img[..., 3] = np.round(alpha * 255).astype(np.uint8)
    gx = np.linspace(ox + 0.5, x1 - 0.5, ncol + 1)
    gc = centre(gx)
    rows = (-(th + 2.0), 0.0, th + 2.0)
    verts = np.array([(x, c + r) for r in rows for x, c in zip(gx, gc, strict=True)], np.float32)
    verts[:, 1] = np.clip(verts[:, 1], oy, y1)
    tris = []
    n = ncol + 1
    for j in range(len(rows) - 1):
        for i in range(ncol):
            a = j * n + i
            tris += [(a, a + 1, a + n + 1), (a, a + n + 1, a + n)]
    b.part(node, parent, verts, np.array(tris, np.int32), img, (ox, oy), order, opacity=0.0)


def _eyes(b: _Builder, side: str, eye: _Eye, parts: list[Part]) -> Parameter:
    """Open x smile keyforms for one eye; gaze on the iris. Returns the eye's 2-D parameter.

    A lid motion, not a cross-fade: the lash line travels down (each column translated, so it keeps its
    thickness) onto the closed line -- the lower lid's gentle curve, or an arch for the smiling eye -- and the
    eye white is squashed between the lash line and its lower edge, so the iris (clipped by the white) is cut
    away under the lid; at 0 the white is a band inside the lash line. Lash pixels below the lash band (iris
    bits stage 1 left in the lashes) are folded up into the band as it closes. Every keyform maps each column
    monotonically in y, so no triangle flips. Stage 2's eyelid art stays hidden (the face is skin under the eye).
    """
    up = side.upper()
    axes = (Axis(id=f"ParamEye{up}Open", min=0.0, max=1.0, default=1.0, keypoints=EYE_OPEN_KEYS),
            Axis(id=f"ParamEye{up}Smile", min=0.0, max=1.0, default=0.0, keypoints=(0.0, 1.0)))
    pid = f"ParamEye{up}"
    grid = (len(EYE_OPEN_KEYS), 2)
    t = eye.lash_thickness
    sliver = max(1.5, 0.9 * t, 0.3 * eye.height)

    def table(node: str, key: Callable[[float, int, F64, F64], F64]) -> None:
        """Keyforms blend the closed and the open shape linearly: the lid moves at a constant speed."""
        v = b.meshes[node].vertices.astype(np.float64)
        x, y = v[:, 0], v[:, 1]
        out = _zeros(grid, len(v))
        for i, open_ in enumerate(EYE_OPEN_KEYS):
            for j in range(2):
                closed = key(0.0, j, x, y)
                opened = key(1.0, j, x, y)
                out[i, j, :, 1] = (1.0 - open_) * closed + open_ * opened
        b.deform(pid, node, out)

    def closed(smile: int, x: F64) -> F64:
        return eye.happy_line(x) if smile else eye.closed_line(x)

    def white_key(open_: float, smile: int, x: F64, y: F64) -> F64:
        top = eye.at(eye.upper, x)
        low = eye.at(eye.lower, x)
        span = np.maximum(low - top, 1.0)
        if open_ == 0.0:  # a band along the closed lash line: affine (a straight chord through the line's
            # mean, one y scale), so no triangle can fold; it has faded out before it gets there
            xs = np.linspace(eye.x0, eye.x1, 9)
            slope, icpt = np.polyfit(xs, closed(smile, xs), 1)
            return slope * x + icpt + sliver * (y - eye.centre[1]) / max(eye.height, 1.0) - y
        if smile:  # the lower lid pushed up: squash toward the top
            r = np.clip((eye.smile_line(x) - top) / span, 0.15, 1.0)
            return (r - 1.0) * np.maximum(y - top, 0.0)
        return np.zeros_like(y)

    def lash_key(open_: float, smile: int, x: F64, y: F64) -> F64:
        band_top = eye.lash_top(x)
        rel = y - band_top
        if open_ == 0.0:
            c = closed(smile, x)
            inside = c - 0.5 * t + np.minimum(rel, t)
            below = 0.5 * np.maximum(rel - t, 0.0)  # fold what hangs below the band into it
            return inside + below - y
        if smile:
            return np.full_like(y, 0.08 * eye.height)
        return np.zeros_like(y)

    line = f"lash_line_{side}"
    if line in b.meshes:
        lv = b.meshes[line].vertices.astype(np.float64)
        rest_c = eye.lash_top(lv[:, 0]) + 0.5 * np.clip(t, 2.0, max(2.0, 0.25 * eye.height))

        def line_key(open_: float, smile: int, x: F64, y: F64) -> F64:
            if open_ == 0.0:
                return closed(smile, x) - rest_c
            return np.full_like(y, 0.08 * eye.height) if smile else np.zeros_like(y)

        table(line, line_key)
        show = np.zeros(grid)
        show[0, :] = show[1, :] = 1.0  # drawn from 10 % open down; fades in with the lid's travel above
        b.channel(pid, line, BindingTarget.OPACITY, show)
    white = f"eye_white_{side}"
    for p in _EYE_PARTS[side]:
        node = p.value
        if node not in b.meshes:
            continue
        if p.value.startswith("eye_white"):
            table(node, white_key)
        elif p.value.startswith("lashes"):
            table(node, lash_key)
        elif p.value.startswith("eyelid"):  # stage 2's closed-lid art: kept for editors, never shown
            b.channel(pid, node, BindingTarget.OPACITY, np.full(grid, -1.0))
        elif p.value.startswith("iris") and white not in b.meshes:
            table(node, white_key)  # no white to clip by: squash the iris itself
    # the white's sliver and the iris inside it are gone at 0 (the lash line covers them before that)
    fade = np.zeros(grid)
    fade[0, :] = -1.0
    for node in (white, f"iris_{side}"):
        if node in b.meshes:
            b.channel(pid, node, BindingTarget.OPACITY, fade)
    iris = f"iris_{side}"
    if iris in b.meshes:
        iw, ih = eye.iris_size
        gx = max(0.12 * iw, 0.42 * max(eye.white_width - iw, 0.0))
        gy = 0.12 * ih
        b.channel("ParamEyeBallX", iris, BindingTarget.TRANSLATE_X, [-gx, 0.0, gx])
        b.channel("ParamEyeBallY", iris, BindingTarget.TRANSLATE_Y, [gy, 0.0, -gy])
    return Parameter(id=pid, axes=axes)


# ----------------------------------------------------------------------------------------------------------
# mouth
# ----------------------------------------------------------------------------------------------------------
def _drawn_open_keys(o_pic: float) -> tuple[float, ...]:
    """MouthOpenY keys for a mouth drawn open: closed, the interior faded in, as drawn, wide open."""
    return tuple(sorted({0.0, round(min(MOUTH_OPEN_KEYS[1], 0.5 * o_pic), 3), o_pic, 1.0}))


@dataclass(frozen=True)
class _Opening:
    """The gap between the lips of a mouth drawn open, per canvas column: the interior's top edge ``top(x)``
    and height ``gap(x)`` (smoothed, held beyond the interior's ends) and how much of it closes
    (``close(x)``: 80 % of the gap over the interior, tapering to 0 at the lips' corners)."""

    xs: F64
    top_s: F64
    gap_s: F64
    ia: float  # the interior's column span
    ib: float
    ma: float  # the mouth's column span
    mb: float

    def top(self, x: F64) -> F64:
        return np.interp(x, self.xs, self.top_s)

    def gap(self, x: F64) -> F64:
        return np.maximum(np.interp(x, self.xs, self.gap_s), 1.0)

    def close(self, x: F64) -> F64:
        left = np.clip((x - self.ma) / max(self.ia - self.ma, 1.0), 0.0, 1.0)
        right = np.clip((self.mb - x) / max(self.mb - self.ib, 1.0), 0.0, 1.0)
        taper = np.where(x < self.ia, left, np.where(x > self.ib, right, 1.0))
        return 0.8 * self.gap(x) * taper

    def band(self, x: F64, y: F64) -> F64:
        """0 above the opening (the upper lip), 1 below it (the lower lip), linear across it."""
        return np.clip((y - self.top(x)) / self.gap(x), 0.0, 1.0)

    def flat(self, x: F64) -> F64:
        """How far the closed lip line sits below the opening's top: most of the way to the straight chord
        between its ends (an arched O-mouth closes to a gentle curve, not a frown)."""
        ya, yb = self.top(np.array([self.ia + 0.5])), self.top(np.array([self.ib - 0.5]))
        t = np.clip((x - self.ia) / max(self.ib - self.ia, 1.0), 0.0, 1.0)
        return 0.7 * np.maximum(ya + t * (yb - ya) - self.top(x), 0.0)

    def lift(self, x: F64, y: F64) -> F64:
        """How far a point moves down per unit of openness relative to closed: the closing map
        ``y + flat(x) - close(x) band(x, y)`` has slope >= 0.2 in y (the flattening is a shift per column), so
        no triangle folds at any openness."""
        return self.close(x) * self.band(x, y) - self.flat(x)


def _drawn_opening(layer: Layer, interior: Layer | None) -> _Opening | None:
    """The opening of a mouth the picture shows open (its interior visible and enclosed by the lips: most of
    the interior's visible pixels inside the lips' box, lip pixels above and below most of its columns), else
    None (a closed mouth, or an interior drawn by stage 3 / hidden at rest)."""
    if interior is None or interior.visible.sum() < 4:
        return None
    ma = layer.image[..., 3] > 64
    if not ma.any():
        return None
    vis = interior.visible
    ys, xs = np.nonzero(vis)
    gx, gy = xs + interior.offset[0] - layer.offset[0], ys + interior.offset[1] - layer.offset[1]
    w = ma.shape[1]
    my, mx = np.nonzero(ma)
    inbox = (gx >= mx.min() - 1) & (gx <= mx.max() + 1) & (gy >= my.min() - 1) & (gy <= my.max() + 1)
    if inbox.mean() < 0.8:
        return None
    cols = np.unique(xs)
    tops = np.array([ys[xs == c].min() for c in cols], np.float64)
    bots = np.array([ys[xs == c].max() + 1 for c in cols], np.float64)
    enclosed = 0
    for c, t, bt in zip(cols, tops, bots, strict=True):
        mc = int(c + interior.offset[0] - layer.offset[0])
        if not 0 <= mc < w:
            continue
        ta, ba = int(t + interior.offset[1] - layer.offset[1]), int(bt + interior.offset[1] - layer.offset[1])
        enclosed += bool(ma[: max(ta, 0), mc].any()) and bool(ma[max(ba, 0):, mc].any())
    if enclosed < 0.6 * len(cols):
        return None
    k = np.array([1.0, 2.0, 1.0]) / 4.0
    gap = bots - tops
    for _ in range(2):
        tops = np.convolve(np.pad(tops, 1, mode="edge"), k, mode="valid")
        gap = np.convolve(np.pad(gap, 1, mode="edge"), k, mode="valid")
    ox, oy = interior.offset
    xc = cols + 0.5 + ox
    return _Opening(xs=xc.astype(np.float64), top_s=tops + oy, gap_s=gap, ia=float(xc.min() - 0.5),
                    ib=float(xc.max() + 0.5), ma=float(mx.min() + layer.offset[0] - 0.5),
                    mb=float(mx.max() + 1 + layer.offset[0] + 0.5))


def _mouth(b: _Builder, pm: PartMesh, layer: Layer, interior: Layer | None, face_h: float) -> float:
    """MouthOpenY, MouthForm and the vowels on the mouth and its interior. Returns how open the picture
    draws the mouth (0: closed; else the MouthOpenY value that reproduces it)."""
    x0, y0, x1, y1 = _bbox(layer, threshold=64)
    mw = max(x1 - x0, 2.0)
    mcx = (x0 + x1) / 2.0
    seam = pm.seam_y if pm.seam_y is not None else (y0 + y1) / 2.0
    open_h = min(0.55 * mw, 0.16 * face_h)
    drawn = _drawn_opening(layer, interior)
    if drawn is not None:
        _mouth_line(b, drawn, layer, b.order_of("mouth") + 0.5)
        return _mouth_drawn_open(b, drawn, mw, mcx, open_h)

    def bulge(x: F64) -> F64:  # round in the middle, a finite slope at the corners (MouthOpenY 1 + a vowel
        # doubles the opening: an elliptic profile's vertical tangent there folded corner triangles)
        u = np.clip(np.abs(x - mcx) / (mw / 2.0 * 1.02), 0.0, 1.0)
        return 1.0 - u ** 2.5

    def form(x: F64) -> tuple[F64, F64]:
        q = np.clip((x - mcx) / (mw / 2.0), -1.3, 1.3)
        return 0.05 * mw * q, -0.12 * mw * q * q

    v = b.meshes["mouth"].vertices.astype(np.float64)
    lower = pm.lower
    t_open = _zeros((len(MOUTH_OPEN_KEYS),), len(v))
    for i, k in enumerate(MOUTH_OPEN_KEYS):
        t_open[i, :, 1] = k * np.where(lower, open_h * bulge(v[:, 0]), -0.12 * open_h * bulge(v[:, 0]))
    b.deform("ParamMouthOpenY", "mouth", t_open)
    t_form = _zeros((3,), len(v))
    for i, f in enumerate((-1.0, 0.0, 1.0)):
        fx, fy = form(v[:, 0])
        t_form[i] = np.stack([f * fx, f * fy], axis=1)
    b.deform("ParamMouthForm", "mouth", t_form)
    for pid, (o, sx) in VOWELS.items():  # lip-sync shapes: opening x width, corners stay on the bulge profile
        o *= VOWEL_STACK  # lip sync sets MouthOpenY and a vowel together: their sum stays foldless
        t_v = _zeros((2,), len(v))
        dy = o * np.where(lower, open_h * bulge(v[:, 0]), -0.12 * open_h * bulge(v[:, 0]))
        t_v[1] = np.stack([(sx - 1.0) * (v[:, 0] - mcx), dy], axis=1)
        b.deform(pid, "mouth", t_v)

    if interior is None or "mouth_interior" not in b.meshes:
        return 0.0
    iv = b.meshes["mouth_interior"].vertices.astype(np.float64)
    ix0, iy0, ix1, iy1 = _bbox(interior, threshold=16)
    icx = (ix0 + ix1) / 2.0
    xt = mcx + (iv[:, 0] - icx) * (0.92 * mw / max(ix1 - ix0, 1.0))
    vrel = np.clip((iv[:, 1] - iy0) / max(iy1 - iy0, 1.0), -0.1, 1.1)
    bl = bulge(xt)
    t_int = _zeros((len(MOUTH_OPEN_KEYS),), len(iv))
    for i, k in enumerate(MOUTH_OPEN_KEYS):
        # the opening between the lips at openness k; never thinner than 2 px (no sliver triangles to flip);
        # at k = 0 it is transparent (opacity below) and hidden under the lip line
        k_eff = max(k, 0.06)
        top = seam - 0.12 * open_h * bl * k_eff - 1.0
        bottom = seam + open_h * bl * k_eff + 1.0
        t_int[i] = np.stack([xt - iv[:, 0], top + vrel * (bottom - top) - iv[:, 1]], axis=1)
    b.deform("ParamMouthOpenY", "mouth_interior", t_int)
    for pid, (o, sx) in VOWELS.items():  # relative to the closed mouth (MouthOpenY 0), shown by opacity
        o *= VOWEL_STACK
        top = seam - 0.12 * open_h * bl * o - 1.0
        bottom = seam + open_h * bl * o + 1.0
        target = np.stack([mcx + (xt - mcx) * sx - iv[:, 0], top + vrel * (bottom - top) - iv[:, 1]], axis=1)
        t_v = _zeros((2,), len(iv))
        t_v[1] = target - t_int[0]
        b.deform(pid, "mouth_interior", t_v)
        b.channel(pid, "mouth_interior", BindingTarget.OPACITY, [0.0, 1.0])
    b.channel("ParamMouthOpenY", "mouth_interior", BindingTarget.OPACITY, [-1.0, 0.0, 0.0])
    t_iform = _zeros((3,), len(iv))
    for i, f in enumerate((-1.0, 0.0, 1.0)):
        fx, fy = form(xt)
        t_iform[i] = np.stack([f * fx, f * fy], axis=1)
    b.deform("ParamMouthForm", "mouth_interior", t_iform)
    return 0.0


def _mouth_drawn_open(b: _Builder, op: _Opening, mw: float, mcx: float, open_h: float) -> float:
    """A mouth the picture draws open: MouthOpenY 0 closes it (the lower lip brought up to the upper one,
    everything between squashed into the lip line, the interior faded out), the picture's openness ``o`` shows it
    as drawn, 1 opens it wider (the drawn opening scaled by 1 / o). The deformation is linear in MouthOpenY."""
    o_pic = round(float(np.clip(float(op.close(op.xs).max()) / max(open_h, 1.0), 0.1, 0.85)), 3)
    keys = _drawn_open_keys(o_pic)

    def form(x: F64) -> tuple[F64, F64]:
        q = np.clip((x - mcx) / (mw / 2.0), -1.3, 1.3)
        return 0.05 * mw * q, -0.12 * mw * q * q

    for node in ("mouth", "mouth_interior"):
        if node not in b.meshes:
            continue
        v = b.meshes[node].vertices.astype(np.float64)
        per = op.lift(v[:, 0], v[:, 1]) / o_pic  # px down per unit of MouthOpenY, from closed
        t_open = _zeros((len(keys),), len(v))
        for i, k in enumerate(keys):
            t_open[i, :, 1] = (k - o_pic) * per
        b.deform("ParamMouthOpenY", node, t_open)
        t_form = _zeros((3,), len(v))
        for i, f in enumerate((-1.0, 0.0, 1.0)):
            fx, fy = form(v[:, 0])
            t_form[i] = np.stack([f * fx, f * fy], axis=1)
        b.deform("ParamMouthForm", node, t_form)
        for pid, (o, sx) in VOWELS.items():  # relative to the closed mouth: opening o, width scale sx
            t_v = _zeros((2,), len(v))
            t_v[1] = np.stack([(sx - 1.0) * (v[:, 0] - mcx), o * per], axis=1)
            b.deform(pid, node, t_v)
            if node == "mouth_interior":
                b.channel(pid, node, BindingTarget.OPACITY, [0.0, 1.0])
    if "mouth_interior" in b.meshes:
        fade = [-1.0 if k == 0.0 else 0.0 for k in keys]
        b.channel("ParamMouthOpenY", "mouth_interior", BindingTarget.OPACITY, fade)
    if "mouth_line" in b.meshes:  # the closed mouth's stroke: drawn at 0, gone once the lips part
        v = b.meshes["mouth_line"].vertices.astype(np.float64)
        b.channel("ParamMouthOpenY", "mouth_line", BindingTarget.OPACITY, [1.0 if k == 0.0 else 0.0 for k in keys])
        t_form = _zeros((3,), len(v))
        for i, f in enumerate((-1.0, 0.0, 1.0)):
            fx, fy = form(v[:, 0])
            t_form[i] = np.stack([f * fx, f * fy], axis=1)
        b.deform("ParamMouthForm", "mouth_line", t_form)
        for pid, (_, sx) in VOWELS.items():
            t_v = _zeros((2,), len(v))
            t_v[1, :, 0] = (sx - 1.0) * (v[:, 0] - mcx)
            b.deform(pid, "mouth_line", t_v)
            b.channel(pid, "mouth_line", BindingTarget.OPACITY, [0.0, -1.0])
    return o_pic


def _mouth_line(b: _Builder, op: _Opening, layer: Layer, order: float) -> None:
    """The closed mouth of a mouth drawn open (``mouth_line``): one stroke in the lips' dark colour where the
    lips meet, tapered at the corners, so the closed mouth reads as a clean line whatever stage 1 left in the
    lips (a broken outline, teeth highlights). Hidden unless MouthOpenY is 0."""
    xa, xb = op.ma + 0.5, op.mb - 0.5
    w = xb - xa
    if w < 4.0:
        return
    px = layer.image[layer.image[..., 3] > 127][:, :3].astype(np.float64)
    if len(px) < 4:
        return
    lum = px.mean(axis=1)
    colour = np.median(px[lum <= np.percentile(lum, 35)], axis=0)
    th = float(np.clip(0.1 * w, 1.6, 4.0))
    th = max(th, float(np.max(op.gap(op.xs) - op.close(op.xs))) + 1.0)  # covers what stays of the opening

    def centre(x: F64) -> F64:
        return np.asarray(op.top(x) + op.flat(x) + 0.15 * th, np.float64)

    def taper(q: F64) -> F64:
        return 0.4 + 0.6 * np.sqrt(np.clip(1.0 - q ** 4, 0.0, 1.0))

    _stroke_part(b, "mouth_line", "mouth_group", centre, taper, xa, xb, th, colour, samples=17,
                 ncol=int(np.clip(w / 2.0, 4, 24)), order=order)


# ----------------------------------------------------------------------------------------------------------
# cheek (blush), drawn here: stage 2 has no blush part
# ----------------------------------------------------------------------------------------------------------
def _cheek_layer(lm: object, size: tuple[int, int]
                 ) -> tuple[NDArray[np.uint8], tuple[int, int], F32, NDArray[np.int32]] | None:
    from avatar_plugin.generator.types import FaceLandmarks

    assert isinstance(lm, FaceLandmarks)
    fw = lm.face_width
    fh = lm.face_box[3] - lm.face_box[1]
    cy = max(lm.eye_l[1], lm.eye_r[1]) + 0.13 * fh
    rx, ry = 0.11 * fw, 0.045 * fw
    x0 = int(math.floor(min(lm.eye_r[0], lm.eye_l[0]) - 0.05 * fw - rx - 2))
    x1 = int(math.ceil(max(lm.eye_r[0], lm.eye_l[0]) + 0.05 * fw + rx + 2))
    y0, y1 = int(math.floor(cy - ry - 2)), int(math.ceil(cy + ry + 2))
    w, h = x1 - x0, y1 - y0
    if w < 4 or h < 4:
        return None
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    alpha = np.zeros((h, w))
    for ex, sgn in ((lm.eye_l[0], 1), (lm.eye_r[0], -1)):
        c = ex + sgn * 0.05 * fw - x0
        d = ((xx + 0.5 - c) / rx) ** 2 + ((yy + 0.5 - (cy - y0)) / ry) ** 2
        alpha = np.maximum(alpha, np.clip(1.0 - d, 0.0, 1.0) ** 0.7)
    img = np.zeros((h, w, 4), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 250, 120, 140
    img[..., 3] = (alpha * 150).astype(np.uint8)
    nx, ny = 8, 3
    gx, gy = np.meshgrid(np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1))
    verts = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    tris = []
    for j in range(ny):
        for i in range(nx):
            a = j * (nx + 1) + i
            tris += [(a, a + 1, a + nx + 2), (a, a + nx + 2, a + nx + 1)]
    return img, (x0, y0), verts, np.array(tris, np.int32)


# ----------------------------------------------------------------------------------------------------------
# hair
# ----------------------------------------------------------------------------------------------------------
def _hair(b: _Builder, layers: object, parts: list[Part], head: HeadModel) -> list[PhysicsChain]:
    from avatar_plugin.generator.types import Layers

    assert isinstance(layers, Layers)
    groups = {
        "ParamHairFront": ([Part.FRONT_HAIR], 0.10, 2.0),
        "ParamHairSide": ([Part.SIDE_HAIR_L, Part.SIDE_HAIR_R], 0.07, 2.0),
        "ParamHairBack": ([Part.BACK_HAIR], 0.05, 2.5),
    }
    chains = []
    for pid, (members, amp_rel, power) in groups.items():
        present = [p for p in members if p in parts]
        if not present:
            continue
        length = 0.0
        for p in present:
            x0, y0, x1, y1 = _bbox(layers.layers[p])
            root = y0 if p is not Part.BACK_HAIR else max(y0, head.cy)
            span = max(y1 - root, 1.0)
            length = max(length, span)
            amp = amp_rel * (y1 - y0) if p is not Part.FRONT_HAIR else amp_rel * min(x1 - x0, 2.5 * (y1 - y0))
            v = b.meshes[p.value].vertices.astype(np.float64)
            t = np.clip((v[:, 1] - root) / span, 0.0, 1.0) ** power
            table = _zeros((3,), len(v))
            for i, s in enumerate((-1.0, 0.0, 1.0)):
                table[i] = np.stack([s * amp * t, -0.25 * amp * s * s * t], axis=1)
            b.deform(pid, p.value, table)
        length = float(np.clip(length, 20.0, 2000.0))
        chains.append(PhysicsChain(
            id=pid.removeprefix("Param").lower(),
            # x weights: a full head turn (AngleX 30 + BodyAngleX 10) swings the hair to about 0.65 of its
            # range (0.25 / 0.2 x length saturated it at 1 during an ordinary turn)
            inputs=(PhysicsInput("ParamAngleX", "x", 0.15 * length), PhysicsInput("ParamAngleZ", "angle", 12.0),
                    PhysicsInput("ParamBodyAngleX", "x", 0.12 * length), PhysicsInput("ParamBodyAngleZ", "angle", 4.0)),
            outputs=(PhysicsOutput(pid, angle_range=15.0 if pid != "ParamHairBack" else 20.0),),
            length=length, segments=2, damping=0.7, stiffness=0.3,
        ))
    return chains
