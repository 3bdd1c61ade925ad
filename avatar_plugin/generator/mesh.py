"""Stage 3: one triangle mesh per layer (``run(layers, options) -> Meshes``).

Per layer: the alpha mask (alpha > :data:`ALPHA_VISIBLE`) is dilated by one pixel, its outline (outer loops
and holes) is simplified by at most :data:`OUTLINE_TOLERANCE` px and triangulated with Shewchuk's Triangle
(constrained, quality ``q``), together with a jittered grid of interior points. The grid is denser where the rig
bends the part: the whole of eye parts (lids), a band around the mouth's lip seam, hair tips.

Guarantees (checked by the tests on every layer):

- every visible pixel of the layer (pixel centre, edges inclusive) is covered by a triangle;
- no triangle covers a pixel centre that is more than one pixel (8-neighbourhood) away from the alpha
  (``PartMesh.tight``; for noisy alpha -- specks, pinholes -- that would blow the budget, the mask is closed
  morphologically first and ``tight`` is False);
- vertex budgets: eyes, brows and mouth parts <= :data:`SMALL_BUDGET`, face, hair and body <= :data:`LARGE_BUDGET`.

The mouth mesh is cut along its lip seam (a horizontal line through the mouth): vertices on the seam are
duplicated so the lower lip can move away from the upper lip without stretching the line between them
(``PartMesh.lower`` marks the lower piece).

Array contracts: ``vertices`` (N, 2) float32 canvas pixels, origin top-left, +y down; ``triangles`` (T, 3) int32,
counter-clockwise on screen (positive signed area in y-down coordinates is made consistent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np
import triangle as tr
from numpy.typing import NDArray

from avatar_plugin.generator.types import FaceLandmarks, Layer, Layers, Part

__all__ = [
    "ALPHA_VISIBLE",
    "LARGE_BUDGET",
    "OUTLINE_TOLERANCE",
    "SMALL_BUDGET",
    "MeshOptions",
    "Meshes",
    "PartMesh",
    "covered_pixels",
    "fit_to_picture",
    "mesh_layer",
    "run",
    "synthesize_missing",
]

ALPHA_VISIBLE = 8  # alpha above this counts as a visible pixel of the layer
OUTLINE_TOLERANCE = 0.6  # px; < 1/sqrt(2) keeps the 1-px dilation both covering and tight
SMALL_BUDGET = 200
LARGE_BUDGET = 500

SMALL_PARTS = frozenset({
    Part.EYE_WHITE_L, Part.EYE_WHITE_R, Part.IRIS_L, Part.IRIS_R, Part.LASHES_L, Part.LASHES_R,
    Part.EYELID_L, Part.EYELID_R, Part.BROW_L, Part.BROW_R, Part.MOUTH, Part.MOUTH_INTERIOR,
})
HAIR_PARTS = frozenset({Part.FRONT_HAIR, Part.SIDE_HAIR_L, Part.SIDE_HAIR_R, Part.BACK_HAIR})


@dataclass(frozen=True)
class MeshOptions:
    """Target vertex counts (the mesher stays under the budgets whatever the targets)."""

    small_target: int = 110
    large_target: int = 330
    seed: int = 7


@dataclass(frozen=True, eq=False)
class PartMesh:
    """A layer's mesh. ``lower``: (N,) bool, True for vertices of the mouth's lower piece (else all False)."""

    part: Part
    vertices: NDArray[np.float32]
    triangles: NDArray[np.int32]
    lower: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    seam_y: float | None = None
    tight: bool = True  # False: noisy alpha was closed first, so triangles may reach over specks' gaps

    def __post_init__(self) -> None:
        v, t = self.vertices, self.triangles
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
            raise ValueError(f"{self.part.value}: vertices expected (N>=3, 2), found {v.shape}")
        if t.ndim != 2 or t.shape[1] != 3 or len(t) < 1 or t.min() < 0 or t.max() >= len(v):
            raise ValueError(f"{self.part.value}: triangles expected (T, 3) indices into vertices")
        if len(self.lower) == 0:
            object.__setattr__(self, "lower", np.zeros(len(v), bool))


@dataclass(frozen=True, eq=False)
class Meshes:
    """Stage 3 output: the (possibly completed) layers and one mesh per layer."""

    layers: Layers
    meshes: Mapping[Part, PartMesh]
    warnings: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------------------
# Parts the rig needs that stage 2 may not give (a mouth interior)
# ----------------------------------------------------------------------------------------------------------
def synthesize_missing(layers: Layers) -> tuple[Layers, tuple[str, ...]]:
    """Add a drawn mouth interior when stage 2 gave none (an open mouth must show something dark)."""
    if Part.MOUTH_INTERIOR in layers.layers or Part.MOUTH not in layers.layers:
        return layers, ()
    mouth = layers.layers[Part.MOUTH]
    h, w = mouth.image.shape[:2]
    ih = max(6, int(round(w * 0.6)))
    iw = max(6, w)
    yy, xx = np.mgrid[0:ih, 0:iw]
    u = (xx + 0.5 - iw / 2) / (iw / 2)
    v = (yy + 0.5 - ih / 2) / (ih / 2)
    inside = u * u + v * v <= 1.0
    img = np.zeros((ih, iw, 4), np.uint8)
    img[inside] = (105, 28, 38, 255)
    tongue = (u * u / 0.35 + (v - 0.55) ** 2 / 0.2 <= 1.0) & inside
    img[tongue] = (196, 88, 98, 255)
    ox = mouth.offset[0] + (w - iw) // 2
    oy = mouth.offset[1] + h // 2 - ih // 4
    interior = Layer(part=Part.MOUTH_INTERIOR, image=img, offset=(ox, oy), visible=np.zeros((ih, iw), bool))
    new_layers = dict(layers.layers)
    new_layers[Part.MOUTH_INTERIOR] = interior
    idx = layers.depth_order.index(Part.MOUTH)
    order = (*layers.depth_order[:idx], Part.MOUTH_INTERIOR, *layers.depth_order[idx:])
    out = Layers(canvas_size=layers.canvas_size, layers=new_layers, depth_order=order,
                 landmarks=layers.landmarks, source_path=layers.source_path, warnings=layers.warnings)
    return out, ("mouth: no interior layer from stage 2; drew a plain dark interior",)


# ----------------------------------------------------------------------------------------------------------
# Layers that compose back to the picture at rest, with hidden margins under their neighbours
# ----------------------------------------------------------------------------------------------------------
_NO_BLEED = SMALL_PARTS | {Part.ACCESSORY, Part.FACE}  # the face keeps its outline; stage 2 completes it
# left as stage 2 made them: hidden at rest, or (the mouth) cut and stretched by the rig, whose thin corners
# must keep their shape
_NOT_SHOWN_AT_REST = frozenset({Part.MOUTH_INTERIOR, Part.EYELID_L, Part.EYELID_R})
_HIDDEN_AT_REST = _NOT_SHOWN_AT_REST | {Part.MOUTH}
_LOCKS = (Part.SIDE_HAIR_L, Part.SIDE_HAIR_R, Part.FRONT_HAIR)  # hair in front of the body


def fit_to_picture(layers: Layers, bleed: float = 0.025) -> Layers:
    """Make the rest pose reproduce the picture and give moving parts hidden margins.

    The owner of a canvas pixel is the front-most layer whose ``visible`` mask holds it (what the picture showed
    there). 1. Trim: a layer's completed pixels where a layer *behind* it owns the pixel become transparent (a
    face completed past the jaw over the back hair, an eye white over the face's eye outline would change the
    rest pose); so do thin completed strokes away from the part's body (a neighbour's outline left in the
    layer), and completed face pixels far from the skin colour are recoloured. 2. Bleed: hair, neck and body
    grow by ``bleed`` x the face width (and fill their holes) into pixels owned by a layer *in front* of them
    (hidden at rest), in the colour found a few px inside them, so a part that slides (a lock over the body)
    uncovers more of the same part instead of a gap. 3. Seal: narrow gaps between front and side hair get the
    picture's colour there. Parts hidden at rest (mouth interior, eyelids) and the mouth are left alone, and so
    are pixels no layer owns (soft outer edges).
    """
    order = [p for p in layers.depth_order if p in layers.layers]
    W, H = layers.canvas_size
    owner = np.full((H, W), -1, np.int32)
    cover = np.full((H, W), -1, np.int32)  # the front-most opaque visible layer: it hides what is behind
    for k, p in enumerate(order):
        layer = layers.layers[p]
        if p in _NOT_SHOWN_AT_REST:
            continue
        vis = np.zeros((H, W), bool)
        _paste(vis, layer.visible, layer.offset)
        owner[vis] = k
        vis[:] = False
        _paste(vis, layer.visible & (layer.image[..., 3] > 250), layer.offset)
        cover[vis] = k
    layers = _reclaim_face(layers, order, owner, cover)
    layers = _trim_eyes(layers, order, owner, cover)
    grow = max(1, int(round(bleed * layers.landmarks.face_width)))
    out: dict[Part, Layer] = {}
    for k, p in enumerate(order):
        layer = layers.layers[p]
        if p in _HIDDEN_AT_REST:
            out[p] = layer
            continue
        pad = 0 if p in _NO_BLEED else grow
        img = np.pad(layer.image, ((pad, pad), (pad, pad), (0, 0)))
        vis = np.pad(layer.visible, pad)
        ox, oy = layer.offset[0] - pad, layer.offset[1] - pad
        h, w = img.shape[:2]
        own = np.full((h, w), -1, np.int32)
        _paste(own, owner, (-ox, -oy))  # the canvas owner map cropped to this layer's window
        hid = np.full((h, w), -1, np.int32)
        _paste(hid, cover, (-ox, -oy))
        vis = vis & (own == k)  # visible and not under a front layer's visible pixels
        behind = (own >= 0) & (own < k)
        # (partly transparent pixels stay: antialiased edges over the part behind are the picture's own)
        img[..., 3][behind & ~vis & (img[..., 3] > 250)] = 0
        if p not in _NO_BLEED or p is Part.FACE:
            _drop_stray_strokes(img, vis)
        if p is Part.FACE:
            _recolour_completion(img, vis, _eye_zone(layers, (ox, oy), img.shape[:2]))
        if p in (Part.BODY, Part.NECK):
            locks = [order.index(q) for q in _LOCKS if q in order and order.index(q) > k]
            if locks:
                _smooth_under_locks(img, vis, np.isin(hid, locks) | np.isin(own, locks),
                                    layers.landmarks.face_width)
        if pad:
            img = _bleed(img, (hid > k) & ~vis, pad)
        ys, xs = np.nonzero(img[..., 3] > 0)
        if len(ys) == 0:
            out[p] = layer
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        out[p] = Layer(part=p, image=np.ascontiguousarray(img[y0:y1, x0:x1]), offset=(ox + int(x0), oy + int(y0)),
                       visible=np.ascontiguousarray(vis[y0:y1, x0:x1]))
    _seal_hair_gaps(out, owner, order, (W, H), max(2, int(round(0.02 * layers.landmarks.face_width))))
    return Layers(canvas_size=layers.canvas_size, layers=out, depth_order=layers.depth_order,
                  landmarks=layers.landmarks, source_path=layers.source_path, warnings=layers.warnings)


def _reclaim_face(layers: Layers, order: list[Part], owner: NDArray[np.int32], cover: NDArray[np.int32]
                  ) -> Layers:
    """Pixels well inside the face (the convex hull of its completed alpha, eroded by 3 % of the face width,
    above the chin) that stage 1 gave to a layer *behind* the face (skin or a strand called body or back hair) become
    the face's, in the picture's colour there: they move with the face instead of staying behind as blotches
    of the back hair's fill when the head turns. ``owner`` and ``cover`` are updated in place."""
    from scipy import ndimage

    if Part.FACE not in layers.layers:
        return layers
    W, H = layers.canvas_size
    kf = order.index(Part.FACE)
    face = layers.layers[Part.FACE]
    full = face.full((W, H))
    solid = ndimage.binary_fill_holes(full[..., 3] > 200)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8))
    if n < 2:
        return layers
    big = lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    ys, xs = np.nonzero(big)
    hull = cv2.convexHull(np.stack([xs, ys], axis=1).astype(np.int32))
    solid = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(solid, hull, (1,))
    lm = layers.landmarks
    e = max(2, int(round(0.03 * lm.face_width)))
    core = cv2.erode(solid, np.ones((2 * e + 1, 2 * e + 1), np.uint8)).astype(bool)
    chin = lm.chin[1] if lm.chin is not None else lm.face_box[3]
    core[int(max(0, chin - 0.04 * lm.face_width)):] = False
    take = core & (owner >= 0) & (owner < kf)
    if not take.any():
        return layers
    colour = np.zeros((H, W, 4), np.uint8)
    for k in np.unique(owner[take]):
        m = take & (owner == k)
        colour[m] = layers.layers[order[int(k)]].full((W, H))[m]
    take &= colour[..., 3] > 250
    if not take.any():
        return layers
    full[take] = colour[take]
    vis = np.zeros((H, W), bool)
    _paste(vis, face.visible, face.offset)
    vis |= take
    owner[take] = kf
    cover[take] = kf
    ys, xs = np.nonzero(full[..., 3] > 0)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    new = dict(layers.layers)
    new[Part.FACE] = Layer(part=Part.FACE, image=np.ascontiguousarray(full[y0:y1, x0:x1]),
                           offset=(int(x0), int(y0)), visible=np.ascontiguousarray(vis[y0:y1, x0:x1]))
    return Layers(canvas_size=layers.canvas_size, layers=new, depth_order=layers.depth_order,
                  landmarks=layers.landmarks, source_path=layers.source_path, warnings=layers.warnings)


def _trim_eyes(layers: Layers, order: list[Part], owner: NDArray[np.int32], cover: NDArray[np.int32]) -> Layers:
    """Eye white and iris pixels beyond the eye's width (the lash line's columns, or the landmark box's when
    the lashes are short or missing; 8 % margin) are stage 1's mistakes (a strand or cheek called iris): they go
    to the face, in the picture's colour, so a closing lid never uncovers a skin patch wider than the eye.
    ``owner``/``cover`` updated in place."""
    if Part.FACE not in layers.layers:
        return layers
    W, H = layers.canvas_size
    kf = order.index(Part.FACE)
    lm = layers.landmarks
    new = dict(layers.layers)
    face = new[Part.FACE].full((W, H))
    fvis = np.zeros((H, W), bool)
    _paste(fvis, new[Part.FACE].visible, new[Part.FACE].offset)
    changed = False
    for side in ("l", "r"):
        box = lm.eye_l_box if side == "l" else lm.eye_r_box
        lashes = layers.layers.get(Part(f"lashes_{side}"))
        spans = [] if box is None else [(box[0], box[2])]
        if lashes is not None:
            cols = np.nonzero((lashes.image[..., 3] > 64).any(axis=0))[0]
            if len(cols):
                spans.append((cols.min() + lashes.offset[0], cols.max() + 1 + lashes.offset[0]))
        if not spans:
            continue
        if len(spans) == 2 and spans[1][1] - spans[1][0] >= 0.6 * (spans[0][1] - spans[0][0]):
            spans = spans[1:]  # a lash line as wide as the eye: the eye's width (landmark boxes are rough)
        xa, xb = min(a for a, _ in spans), max(b for _, b in spans)
        m = 0.08 * (xb - xa)
        outside = np.ones((H, W), bool)
        outside[:, max(int(math.floor(xa - m)), 0):max(int(math.ceil(xb + m)), 0)] = False
        if lashes is not None:
            outside |= _above_lashes(lashes, (W, H))
        outside |= _strands_over_eye(layers, order, owner, side, outside, (xa, xb))
        for p in (Part(f"eye_white_{side}"), Part(f"iris_{side}")):
            if p not in new:
                continue
            k = order.index(p)
            full = new[p].full((W, H))
            cut = outside & (full[..., 3] > 0)
            if not cut.any():
                continue
            take = cut & (owner == k) & (full[..., 3] > 250)
            face[take] = full[take]
            fvis |= take
            owner[take] = kf
            cover[take] = kf
            full[cut] = 0
            vis = np.zeros((H, W), bool)
            _paste(vis, new[p].visible, new[p].offset)
            vis &= ~cut
            new[p] = _window(p, full, vis, new[p])
            changed = True
    if not changed:
        return layers
    new[Part.FACE] = _window(Part.FACE, face, fvis, new[Part.FACE])
    return Layers(canvas_size=layers.canvas_size, layers=new, depth_order=layers.depth_order,
                  landmarks=layers.landmarks, source_path=layers.source_path, warnings=layers.warnings)


_HAIR = (Part.BACK_HAIR, Part.SIDE_HAIR_L, Part.SIDE_HAIR_R, Part.FRONT_HAIR)


def _strands_over_eye(layers: Layers, order: list[Part], owner: NDArray[np.int32], side: str,
                      outside: NDArray[np.bool_], span: tuple[float, float]) -> NDArray[np.bool_]:
    """Eye white and iris pixels in the hair's colour, connected to the hair around the eye: a strand crossing
    the eye that stage 1 called iris (a closing lid would replace it by skin). Only when the eye's middle is
    not itself hair-coloured (a brown iris under brown hair keeps everything)."""
    W, H = layers.canvas_size
    out = np.zeros((H, W), bool)
    col = np.zeros((H, W, 3), np.int32)
    eye = np.zeros((H, W), bool)
    for p in (Part(f"eye_white_{side}"), Part(f"iris_{side}")):
        if p in layers.layers:
            full = layers.layers[p].full((W, H))
            m = (owner == order.index(p)) & (full[..., 3] > 250)
            col[m] = full[m, :3]
            eye |= m
    eye &= ~outside
    if eye.sum() < 16:
        return out
    kh = [order.index(p) for p in _HAIR if p in order]
    ring = (cv2.dilate(eye.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0) & ~eye & np.isin(owner, kh)
    if ring.sum() < 8:
        return out
    hcol = np.zeros((H, W, 3), np.int32)
    for p in _HAIR:
        if p in layers.layers:
            full = layers.layers[p].full((W, H))
            m = ring & (owner == order.index(p))
            hcol[m] = full[m, :3]
    hair_c = np.median(hcol[ring], axis=0)
    hairlike = eye & (np.abs(col - hair_c).max(axis=2) < 48)
    xa, xb = span
    mid = np.zeros((H, W), bool)
    mid[:, max(int(xa + 0.3 * (xb - xa)), 0):max(int(xb - 0.3 * (xb - xa)), 0)] = True
    if (hairlike & mid).sum() > 0.15 * max(1, (eye & mid).sum()):
        return out  # the eye's middle is hair-coloured: cannot tell strands from iris
    _, lab = cv2.connectedComponents(hairlike.astype(np.uint8), connectivity=4)
    touch = cv2.dilate(ring.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    for i in np.unique(lab[hairlike & touch]):
        if i:
            out |= lab == i
    return out


def _above_lashes(lashes: Layer, size: tuple[int, int]) -> NDArray[np.bool_]:
    """Canvas pixels above the upper lash band's top edge, in the band's columns (gaps between lash columns
    interpolated, the edge smoothed over a few columns so a ragged lash tip does not cut into the eye): no eye
    white or iris lies there, so what stage 1 called iris above the lashes is a strand crossing the eye."""
    W, H = size
    out = np.zeros((H, W), bool)
    a = lashes.image[..., 3] > 64
    cols = np.nonzero(a.any(axis=0))[0]
    if len(cols) < 3:
        return out
    top = np.argmax(a[:, cols], axis=0).astype(np.float64)
    xs = np.arange(cols.min(), cols.max() + 1)
    edge = np.interp(xs, cols, top)
    k = max(1, len(xs) // 12)  # the band's top as a running minimum: the highest lash pixel nearby
    edge = np.array([edge[max(0, i - k):i + k + 1].min() for i in range(len(xs))])
    ox, oy = lashes.offset
    for x, e in zip(xs, edge, strict=True):
        cx, y1 = int(x) + ox, int(e) + oy - 1  # one pixel of slack above the band
        if 0 <= cx < W and y1 > 0:
            out[:min(y1, H), cx] = True
    return out


def _window(p: Part, full: NDArray[np.uint8], vis: NDArray[np.bool_], old: Layer) -> Layer:
    ys, xs = np.nonzero(full[..., 3] > 0)
    if len(ys) == 0:
        return old
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return Layer(part=p, image=np.ascontiguousarray(full[y0:y1, x0:x1]), offset=(int(x0), int(y0)),
                 visible=np.ascontiguousarray(vis[y0:y1, x0:x1]))


def _drop_stray_strokes(img: NDArray[np.uint8], vis: NDArray[np.bool_]) -> None:
    """Completed (not visible) pixels in thin structures away from the part's body -- outline strokes of a
    neighbour that stage 1-2 left in this layer -- become transparent (they show once the neighbour moves)."""
    a = img[..., 3] > ALPHA_VISIBLE
    body = cv2.morphologyEx(a.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)).astype(bool)
    near = cv2.dilate(body.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    img[..., 3][a & ~near & ~vis] = 0


def _eye_zone(layers: Layers, origin: tuple[int, int], shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """Pixels (in a window at ``origin`` of ``shape``) under the eyes' and the mouth's parts, grown by 2 px:
    the skin a closing lid or a closing (drawn-open) mouth uncovers."""
    zone = np.zeros(shape[:2], bool)
    for p in (Part.EYE_WHITE_L, Part.EYE_WHITE_R, Part.IRIS_L, Part.IRIS_R, Part.LASHES_L, Part.LASHES_R,
              Part.MOUTH, Part.MOUTH_INTERIOR):
        if p in layers.layers:
            lay = layers.layers[p]
            _paste(zone, lay.image[..., 3] > ALPHA_VISIBLE, (lay.offset[0] - origin[0], lay.offset[1] - origin[1]))
    return cv2.dilate(zone.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


def _recolour_completion(img: NDArray[np.uint8], vis: NDArray[np.bool_], eyes: NDArray[np.bool_]) -> None:
    """Completed face pixels far from the skin colour (a copy of the bangs' outline under the bangs), and all
    completed pixels under the eyes (the skin a closing lid uncovers), take the colour of the nearest
    skin-coloured pixel outside the eyes."""
    from scipy import ndimage

    a = img[..., 3] > 200
    ref = a & vis
    if ref.sum() < 16:
        return
    skin = np.median(img[ref][:, :3].astype(np.float64), axis=0)
    off = np.abs(img[..., :3].astype(np.float64) - skin).max(axis=2) > 60
    bad = (a & ~vis & off) | ((img[..., 3] > ALPHA_VISIBLE) & ~vis & eyes)
    good = a & ~off & ~eyes
    if not bad.any() or not good.any():
        return
    _, (iy, ix) = ndimage.distance_transform_edt(~good, return_indices=True)
    img[bad, :3] = img[iy[bad], ix[bad], :3]
    img[bad, 3] = 255
    # smooth the fill (the nearest-pixel copy streaks): inpaint it from the skin around it, so a closing lid
    # uncovers skin shaded like its surroundings, not a flat patch
    r = 5
    for sl in ndimage.find_objects(ndimage.label(bad)[0]):  # one small window per patch (each eye)
        if sl is None:
            continue
        y0, y1 = max(sl[0].start - r, 0), min(sl[0].stop + r, img.shape[0])
        x0, x1 = max(sl[1].start - r, 0), min(sl[1].stop + r, img.shape[1])
        win = np.ascontiguousarray(img[y0:y1, x0:x1, :3])
        unknown = (bad | ~good)[y0:y1, x0:x1].astype(np.uint8)
        filled = cv2.inpaint(win, unknown, r, cv2.INPAINT_TELEA)
        sub = bad[y0:y1, x0:x1]
        img[y0:y1, x0:x1, :3][sub] = filled[sub]


def _smooth_under_locks(img: NDArray[np.uint8], vis: NDArray[np.bool_], under: NDArray[np.bool_],
                        face_width: float) -> None:
    """Completed body/neck pixels under the hair in front (side locks, front hair) take a smooth fill of the
    visible pixels around them: stage 2's completion there streaks (hair-coloured bands, the lock's outline
    copied), which showed as blue streaks on the shirt whenever a lock swayed. The sources are median-filtered
    (thin outline strokes do not smear into the fill); a normalised Gaussian at two scales spans wide locks."""
    a = img[..., 3] > 200
    bad = under & ~vis & (img[..., 3] > ALPHA_VISIBLE)
    src = (a & vis).astype(np.float32)
    if not bad.any() or src.sum() < 16:
        return
    rgb = cv2.medianBlur(np.ascontiguousarray(img[..., :3]), 7).astype(np.float32)
    fill = np.zeros_like(rgb)
    weight = np.zeros(src.shape, np.float32)
    for sigma in (0.04 * face_width, 0.15 * face_width):  # local first, the wide one where it reaches nothing
        s = max(float(sigma), 1.0)
        w = cv2.GaussianBlur(src, (0, 0), s)
        c = cv2.GaussianBlur(rgb * src[..., None], (0, 0), s)
        take = (weight < 1e-3) & (w > 1e-4)
        fill[take] = c[take] / w[take, None]
        weight[take] = w[take]
    ok = bad & (weight > 0)
    # the picture's own antialiased rim of the lock's outline (body pixels just outside it, darker than the
    # fill) stayed behind as a faint lock-shaped line
    ring = cv2.dilate(under.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~under & a
    dark = fill.sum(axis=2) - img[..., :3].astype(np.float32).sum(axis=2) > 36.0
    ok |= ring & dark & (weight > 0)
    img[ok, :3] = np.clip(np.round(fill[ok]), 0, 255).astype(np.uint8)


def _seal_hair_gaps(out: dict[Part, Layer], owner: NDArray[np.int32], order: list[Part], size: tuple[int, int],
                    k: int) -> None:
    """Narrow gaps between the front and side hair layers where the back hair showed at rest: give them to the
    nearest of those layers, in the picture's colour there (the rest pose does not change), so a face sliding
    under the hair cannot shine through the gap."""
    from scipy import ndimage

    if Part.BACK_HAIR not in out:
        return
    hair = [p for p in (Part.FRONT_HAIR, Part.SIDE_HAIR_L, Part.SIDE_HAIR_R) if p in out]
    if len(hair) < 1:
        return
    W, H = size
    fulls = {p: out[p].full((W, H)) for p in hair}
    union = np.zeros((H, W), bool)
    for f in fulls.values():
        union |= f[..., 3] > 128
    closed = cv2.morphologyEx(union.astype(np.uint8), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))).astype(bool)
    gap = closed & ~union & (owner == order.index(Part.BACK_HAIR))
    if not gap.any():
        return
    back = out[Part.BACK_HAIR].full((W, H))
    dist = np.stack([ndimage.distance_transform_edt(~(fulls[p][..., 3] > 128)) for p in hair])
    nearest = np.argmin(dist, axis=0)
    for i, p in enumerate(hair):
        mine = gap & (nearest == i)
        if not mine.any():
            continue
        f = fulls[p]
        f[mine] = back[mine]
        ys, xs = np.nonzero(f[..., 3] > 0)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        lay = out[p]
        vis = np.zeros((H, W), bool)
        _paste(vis, lay.visible, lay.offset)
        out[p] = Layer(part=p, image=np.ascontiguousarray(f[y0:y1, x0:x1]), offset=(int(x0), int(y0)),
                       visible=np.ascontiguousarray(vis[y0:y1, x0:x1]))


def _paste(dst: NDArray[np.generic], src: NDArray[np.generic], offset: tuple[int, int]) -> None:
    """dst[y + oy, x + ox] = src[y, x] where both exist."""
    ox, oy = offset
    h, w = src.shape[:2]
    H, W = dst.shape[:2]
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + w, W), min(oy + h, H)
    if x1 > x0 and y1 > y0:
        dst[y0:y1, x0:x1] = src[y0 - oy:y1 - oy, x0 - ox:x1 - ox]


def _bleed(img: NDArray[np.uint8], allowed: NDArray[np.bool_], steps: int) -> NDArray[np.uint8]:
    """Grow the opaque part of ``img`` into ``allowed`` pixels by up to ``steps`` px. The new pixels take the
    colour of the nearest pixel a few px inside the part (its fill, not its outline)."""
    from scipy import ndimage

    out = img.copy()
    solid = out[..., 3] > 200
    # grow from the part's body only (thin strokes stage 1 left in a layer must not thicken), and fill the
    # holes the completion left inside it
    core = cv2.morphologyEx(solid.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)).astype(bool)
    grown = core.copy()
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(steps):
        ring = cv2.dilate(grown.astype(np.uint8), kernel).astype(bool) & ~grown & (allowed | solid)
        if not ring.any():
            break
        grown |= ring
    grown |= ndimage.binary_fill_holes(core) & allowed
    new = grown & ~solid
    if not new.any():
        return out
    inner = cv2.erode(solid.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    if not inner.any():
        inner = solid
    _, (iy, ix) = ndimage.distance_transform_edt(~inner, return_indices=True)
    out[new, :3] = img[iy[new], ix[new], :3]
    out[new, 3] = 255
    return out


# ----------------------------------------------------------------------------------------------------------
# Meshing
# ----------------------------------------------------------------------------------------------------------
def _loops(mask: NDArray[np.bool_], tolerance: float) -> tuple[list[NDArray[np.float64]], list[NDArray[np.float64]]]:
    """Simplified outline loops of ``mask`` (pixel-centre coordinates) and one point inside each hole."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    loops = []
    for c in contours:
        if len(c) < 3:
            # a 1- or 2-pixel blob: use its pixel squares' corners
            pts = c.reshape(-1, 2).astype(np.float64)
            x0, y0 = pts.min(axis=0) - 0.5
            x1, y1 = pts.max(axis=0) + 0.5
            loops.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) + 0.5)
            continue
        simple = cv2.approxPolyDP(c, tolerance, True).reshape(-1, 2).astype(np.float64)
        if len(simple) < 3:
            simple = c.reshape(-1, 2).astype(np.float64)
        loops.append(simple + 0.5)  # pixel index -> pixel centre
    # holes: background components not touching the border
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    holes = []
    h, w = mask.shape
    for k in range(1, n):
        x, y, bw, bh, _area = stats[k]
        if x == 0 or y == 0 or x + bw == w or y + bh == h:
            continue
        comp = (labels[y:y + bh, x:x + bw] == k).astype(np.uint8)
        dist = cv2.distanceTransform(np.pad(comp, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        iy, ix = np.unravel_index(int(np.argmax(dist)), dist.shape)
        holes.append(np.array([x + ix + 0.5, y + iy + 0.5]))
    return loops, holes


def _interior_points(mask: NDArray[np.bool_], spacing: float, dense: NDArray[np.bool_] | None,
                     rng: np.random.Generator) -> NDArray[np.float64]:
    """A jittered grid inside ``mask`` at ``spacing`` (half spacing inside ``dense``), away from the edge."""
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    pts = []
    for s, zone in ((spacing, None), (spacing / 2.0, dense)):
        if s < 1.5 or (zone is not None and not zone.any()):
            continue
        h, w = mask.shape
        gy, gx = np.mgrid[s / 2:h:s, s / 2:w:s]
        if zone is None and s == spacing:
            # offset every other row: a triangular lattice meshes better than a square one
            gx = gx + (np.arange(gx.shape[0])[:, None] % 2) * (s / 2)
        p = np.stack([gx.ravel(), gy.ravel()], axis=1)
        p = p + rng.uniform(-0.2, 0.2, p.shape) * s
        ix = np.clip(p[:, 0].astype(int), 0, w - 1)
        iy = np.clip(p[:, 1].astype(int), 0, h - 1)
        keep = dist[iy, ix] > max(0.6 * s, 1.5)
        if zone is not None:
            keep &= zone[iy, ix] & (((np.round(p[:, 0] / s) + np.round(p[:, 1] / s)) % 2) == 1)
        pts.append(p[keep] + 0.0)
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def _dense_zone(part: Part, mask: NDArray[np.bool_], seam_row: float | None) -> NDArray[np.bool_] | None:
    h, w = mask.shape
    rows = np.arange(h)[:, None] * np.ones((1, w))
    ys = np.nonzero(mask.any(axis=1))[0]
    if len(ys) == 0:
        return None
    top, bottom = ys.min(), ys.max()
    if part in (Part.FRONT_HAIR, Part.SIDE_HAIR_L, Part.SIDE_HAIR_R):
        return mask & (rows > top + 0.6 * (bottom - top))
    if part is Part.BACK_HAIR:
        return mask & (rows > top + 0.65 * (bottom - top))
    if part is Part.MOUTH and seam_row is not None:
        return mask & (np.abs(rows - seam_row) < max(2.0, 0.25 * (bottom - top)))
    return None


def _triangulate(loops: list[NDArray[np.float64]], holes: list[NDArray[np.float64]], interior: NDArray[np.float64],
                 seams: list[tuple[float, float, float]], quality: int = 25
                 ) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    verts: list[NDArray[np.float64]] = []
    segs: list[NDArray[np.int64]] = []
    base = 0
    for loop in loops:
        n = len(loop)
        verts.append(loop)
        idx = np.arange(n) + base
        segs.append(np.stack([idx, np.roll(idx, -1)], axis=1))
        base += n
    for x0, x1, y in seams:
        verts.append(np.array([[x0, y], [x1, y]]))
        segs.append(np.array([[base, base + 1]]))
        base += 2
    if len(interior):
        verts.append(interior)
    # Triangle crashes on duplicate input vertices (outlines that touch themselves or each other at a pixel):
    # merge them and drop the segments that become empty or repeated.
    all_v = np.concatenate(verts)
    _, first, inverse = np.unique(np.round(all_v, 6), axis=0, return_index=True, return_inverse=True)
    keep = np.sort(first)
    # map every vertex to its kept copy, numbered in the order they first appear
    rank = np.empty(len(all_v), np.int64)
    rank[keep] = np.arange(len(keep))
    remap = rank[first[inverse.ravel()]]
    s = remap[np.concatenate(segs)]
    s = s[s[:, 0] != s[:, 1]]
    s = np.unique(np.sort(s, axis=1), axis=0)
    data: dict[str, NDArray[np.float64] | NDArray[np.int64]] = {"vertices": all_v[keep], "segments": s}
    if holes:
        data["holes"] = np.array(holes)
    out = tr.triangulate(data, f"pq{quality}Q" if quality else "pQ")
    v = np.asarray(out["vertices"], np.float64)
    t = np.asarray(out.get("triangles", np.zeros((0, 3))), np.int64)
    # drop vertices no triangle uses (seam ends outside the shape, interior points lost to holes)
    used = np.zeros(len(v), bool)
    used[t.ravel()] = True
    remap = np.cumsum(used) - 1
    return v[used], remap[t].astype(np.int32)


def _orient(v: NDArray[np.float64], t: NDArray[np.int32]) -> NDArray[np.int32]:
    a, b, c = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    t = t.copy()
    neg = area < 0
    t[neg] = t[neg][:, [0, 2, 1]]
    keep = np.abs(area) > 1e-9
    return t[keep]


def _split_seam(v: NDArray[np.float64], t: NDArray[np.int32], seam_y: float
                ) -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.bool_]]:
    """Duplicate vertices on the seam line so triangles below it get their own copies."""
    centroid_y = v[t].mean(axis=1)[:, 1]
    below = centroid_y > seam_y
    on_seam = np.abs(v[:, 1] - seam_y) < 1e-6
    lower_tris = t[below]
    need = np.unique(lower_tris[on_seam[lower_tris]])
    new_index = {int(k): len(v) + i for i, k in enumerate(need)}
    v2 = np.concatenate([v, v[need]]) if len(need) else v
    t2 = t.copy()
    rows = np.nonzero(below)[0]
    for r in rows:
        for j in range(3):
            k = int(t2[r, j])
            if k in new_index:
                t2[r, j] = new_index[k]
    lower = np.zeros(len(v2), bool)
    lower[np.unique(t2[below])] = True
    return v2, t2, lower


def mesh_layer(layer: Layer, landmarks: FaceLandmarks | None = None, options: MeshOptions | None = None) -> PartMesh:
    """Mesh one layer (see the module docstring for the guarantees)."""
    opts = options or MeshOptions()
    alpha = layer.image[..., 3]
    mask = alpha > ALPHA_VISIBLE
    if not mask.any():
        raise ValueError(f"{layer.part.value}: the layer has no visible pixel (alpha > {ALPHA_VISIBLE})")
    pad = 2
    padded = np.pad(mask, pad)
    dil = cv2.dilate(padded.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    small = layer.part in SMALL_PARTS
    budget = SMALL_BUDGET if small else LARGE_BUDGET
    target = opts.small_target if small else opts.large_target
    if layer.part in (Part.NECK, Part.BODY):
        target = target * 2 // 3  # they barely bend
    ox, oy = layer.offset[0] - pad, layer.offset[1] - pad

    seam_row: float | None = None
    seams: list[tuple[float, float, float]] = []
    if layer.part is Part.MOUTH:
        ys = np.nonzero(padded.any(axis=1))[0]
        if landmarks is not None and ys[0] + 1 < landmarks.mouth[1] - oy < ys[-1]:
            seam_row = float(round(landmarks.mouth[1] - oy))
        else:
            weights = alpha.sum(axis=1).astype(np.float64)
            seam_row = float(round((np.arange(len(weights)) * weights).sum() / max(weights.sum(), 1.0))) + pad
        # one seam segment per run of the shape on the seam line, poking 1 px out of the outline on each
        # side (a dangling end encloses nothing; a segment across a gap would)
        row = dil[int(seam_row) - 1] & dil[int(seam_row)]
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        for c0, c1 in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
            seams.append((float(c0) - 0.5, float(c1) + 0.5, seam_row))  # between pixel rows

    area = float(mask.sum())
    tight = True
    loops, holes = _loops(dil, OUTLINE_TOLERANCE)
    n_boundary = sum(len(lp) for lp in loops)
    rng = np.random.default_rng(opts.seed)
    dense = _dense_zone(layer.part, padded, seam_row)
    if small and layer.part not in (Part.MOUTH, Part.MOUTH_INTERIOR):
        dense = padded  # lids bend everywhere
    spacing = max(2.5, math.sqrt(area / max(target - n_boundary, 8) * (1.6 if dense is not None else 1.0)))
    quality = 25
    closing = 0  # fallback for noisy alpha (specks, pinholes): close the mask before outlining
    for _ in range(24):
        interior = _interior_points(padded, spacing, dense, rng)
        v, t = _triangulate(loops, holes, interior, seams, quality)
        if len(v) <= budget * 0.92:
            break
        spacing *= 1.25
        outline = len(v) - len(interior)
        if spacing > 4 * math.sqrt(area) or outline > budget * 0.6:
            quality = max(0, quality - 10)  # Steiner points for angle quality cost too much here
            dense = None
        if outline > budget * 0.6 and quality == 0:
            closing = 5 if closing == 0 else closing * 2
            shape = cv2.morphologyEx(padded.astype(np.uint8), cv2.MORPH_CLOSE,
                                     cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (closing, closing)))
            tol = OUTLINE_TOLERANCE * (1.0 + closing / 8.0)
            grow = 3 + 2 * math.ceil(tol)  # the outline may cut tol px into the shape: grow it by that
            shape = cv2.dilate(shape, np.ones((grow, grow), np.uint8)).astype(bool) | dil
            loops, holes = _loops(shape, tol)
            tight = False
    t = _orient(v, t)
    lower = np.zeros(len(v), bool)
    seam_y = None
    if seam_row is not None and seams:
        v, t, lower = _split_seam(v, t, seam_row)
        seam_y = seam_row + oy
    verts = (v + np.array([ox, oy])).astype(np.float32)
    return PartMesh(part=layer.part, vertices=verts, triangles=t.astype(np.int32), lower=lower, seam_y=seam_y,
                    tight=tight)


def run(layers: Layers, options: MeshOptions | None = None) -> Meshes:
    """Stage 3: add parts the rig needs (mouth interior) and mesh every layer."""
    if not layers.layers:
        raise ValueError("stage 3 (mesh): expected at least one layer from stage 2, found none")
    layers = fit_to_picture(layers)
    layers, warnings = synthesize_missing(layers)
    meshes = {part: mesh_layer(layers.layers[part], layers.landmarks, options) for part in layers.depth_order}
    for part, m in meshes.items():
        budget = SMALL_BUDGET if part in SMALL_PARTS else LARGE_BUDGET
        if len(m.vertices) > budget:
            warnings += (f"{part.value}: {len(m.vertices)} vertices, over the budget of {budget}",)
    return Meshes(layers=layers, meshes=meshes, warnings=warnings)


def covered_pixels(vertices: NDArray[np.float32], triangles: NDArray[np.int32],
                   size: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> NDArray[np.bool_]:
    """(h, w) bool: pixel centres of the window at ``origin`` of ``size`` (w, h) covered by a triangle."""
    w, h = size
    out = np.zeros((h, w), bool)
    v = vertices.astype(np.float64) - np.array(origin, np.float64)
    for tri in v[triangles]:
        x0 = max(int(math.ceil(tri[:, 0].min() - 0.5)), 0)
        x1 = min(int(math.floor(tri[:, 0].max() - 0.5)), w - 1)
        y0 = max(int(math.ceil(tri[:, 1].min() - 0.5)), 0)
        y1 = min(int(math.floor(tri[:, 1].max() - 0.5)), h - 1)
        if x1 < x0 or y1 < y0:
            continue
        gy, gx = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        px, py = gx + 0.5, gy + 0.5
        a, b, c = tri
        e1, e2 = b - a, c - a
        det = e1[0] * e2[1] - e1[1] * e2[0]
        if abs(det) < 1e-12:
            continue
        dx, dy = px - a[0], py - a[1]
        l1 = (dx * e2[1] - dy * e2[0]) / det
        l2 = (e1[0] * dy - e1[1] * dx) / det
        inside = (l1 >= -1e-9) & (l2 >= -1e-9) & (l1 + l2 <= 1 + 1e-9)
        out[y0:y1 + 1, x0:x1 + 1] |= inside
    return out
