"""Stage 2: amodal completion. :class:`PartMasks` -> complete RGBA :class:`Layers`.

Every layer keeps its visible pixels exactly (colour and alpha from the picture), and is completed where
motion can reveal it. Shapes come from priors around the landmarks; colours from the layer's OWN pixels
(line art excluded), through the inpainter (classical push-pull + nearest fill by default; LaMa or Stable
Diffusion behind the same interface, see :mod:`.backends`):

- back hair: the whole head silhouette down to the chin (and between the long-hair strands down to where
  both sides end), filled with the back hair's shadow tone;
- face: the forehead under the bangs, the temples under the side locks, the skin under the eyes, brows and
  mouth (for blinks and mouth motion);
- neck: up under the chin to mouth height; body: under the side locks;
- eye white: the whole eye opening; iris: the full ellipse (the eye white clips it in the rig);
- generated: an eyelid per eye (skin-coloured lid with the closed-eye lash line) and a mouth interior (dark
  red with a tongue hint, in the character's palette) when the picture does not show one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from avatar_plugin.errors import ImageInputError
from avatar_plugin.generator.backends import Inpainter, make_inpainter, push_pull_fill
from avatar_plugin.generator.types import DEFAULT_DEPTH_ORDER, Layer, Layers, Part, PartMasks

__all__ = ["CompleteOptions", "run"]

Mask = NDArray[np.bool_]
HAIR_PARTS = (Part.BACK_HAIR, Part.FRONT_HAIR, Part.SIDE_HAIR_L, Part.SIDE_HAIR_R)


@dataclass(frozen=True)
class CompleteOptions:
    """``inpainter``: "classical" (default), "lama" or "sd"; ``model_path`` for the last two."""

    inpainter: str = "classical"
    model_path: str | None = None
    device: str | None = None
    generate_eyelids: bool = True
    generate_mouth_interior: bool = True


def _check(pm: PartMasks) -> None:
    H, W = pm.image.rgba.shape[:2]
    if not pm.masks:
        raise ImageInputError(f"{pm.image.path}: stage 2 got no part masks")
    for part, m in pm.masks.items():
        if m.shape != (H, W) or m.dtype != np.bool_:
            raise ImageInputError(
                f"{pm.image.path}: mask of {part.value} is {m.dtype} {m.shape}; expected bool {(H, W)}"
            )
    if Part.FACE not in pm.masks:
        raise ImageInputError(f"{pm.image.path}: stage 2 needs a face mask (stage 1 found none)")


def _disk(r: float) -> NDArray[np.uint8]:
    k = max(1, int(round(r)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))  # type: ignore[return-value]


def _union(pm: PartMasks, parts: tuple[Part, ...]) -> Mask:
    H, W = pm.image.rgba.shape[:2]
    out = np.zeros((H, W), bool)
    for p in parts:
        if p in pm.masks:
            out |= pm.masks[p]
    return out


def _lines(rgb: NDArray[np.uint8], fw: float) -> Mask:
    L = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    blur = cv2.GaussianBlur(L, (0, 0), max(1.5, fw / 70.0))
    return np.asarray(blur - 12.0 > L, dtype=bool)


def _crop_layer(part: Part, rgba: NDArray[np.uint8], visible: Mask) -> Layer | None:
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    if len(ys) == 0:
        return None
    H, W = visible.shape
    y0, y1 = max(0, ys.min() - 2), min(H, ys.max() + 3)
    x0, x1 = max(0, xs.min() - 2), min(W, xs.max() + 3)
    return Layer(
        part=part,
        image=np.ascontiguousarray(rgba[y0:y1, x0:x1]),
        offset=(int(x0), int(y0)),
        visible=np.ascontiguousarray(visible[y0:y1, x0:x1]),
    )


def run(pm: PartMasks, options: CompleteOptions | None = None) -> Layers:
    """Complete every part of ``pm`` into an RGBA layer (see the module docstring)."""
    options = options or CompleteOptions()
    _check(pm)
    inpainter = make_inpainter(options.inpainter, options.model_path, options.device)
    rgba = pm.image.rgba
    H, W = rgba.shape[:2]
    rgb = np.ascontiguousarray(rgba[..., :3])
    lm = pm.landmarks
    fw = lm.face_width
    cx = (lm.eye_l[0] + lm.eye_r[0]) / 2
    eye_y = (lm.eye_l[1] + lm.eye_r[1]) / 2
    mouth_y = lm.mouth[1]
    chin_y = float(np.clip(lm.chin[1] if lm.chin else lm.face_box[3], mouth_y + 0.12 * fw, mouth_y + 0.4 * fw))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    lines = _lines(rgb, fw)
    fg = rgba[..., 3] > 10
    vis = {p: m for p, m in pm.masks.items()}
    hair_all = _union(pm, HAIR_PARTS)
    face_feats = _union(
        pm,
        (
            Part.EYE_WHITE_L,
            Part.EYE_WHITE_R,
            Part.IRIS_L,
            Part.IRIS_R,
            Part.LASHES_L,
            Part.LASHES_R,
            Part.BROW_L,
            Part.BROW_R,
            Part.MOUTH,
            Part.MOUTH_INTERIOR,
        ),
    )
    shapes: dict[Part, Mask] = {}
    eyelids: dict[Part, NDArray[np.uint8]] = {}
    fills: dict[Part, tuple[int, int, int] | None] = {}
    back_src: list[Mask | None] = [None]  # the back hair's fill source (hair tones without lines/highlights)
    back_dark: list[float] = [1.0]

    # ---- face: hull of the visible face + features, a jaw template and a forehead dome up to the hairline
    face_vis = vis[Part.FACE]
    face_core = face_vis | face_feats
    hull = np.zeros((H, W), np.uint8)
    pts = cv2.findNonZero(face_core.astype(np.uint8))
    if pts is not None:
        cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)  # type: ignore[call-overload]
    # the face half-width at the cheeks, measured on the visible skin (the template's 0.48 fw when unsure)
    band = face_core[int(max(0, eye_y)) : int(max(1, min(H, eye_y + 0.15 * fw)))]
    cols = np.nonzero(band.any(axis=0))[0] if band.size else np.zeros(0, int)
    half_w = 0.5 * fw
    if len(cols):
        half_w = float(np.clip(max(cx - cols.min(), cols.max() - cx), 0.5 * fw, 0.58 * fw))
    t = np.clip((yy - eye_y) / max(chin_y - eye_y, 1.0), 0, 1)
    half = half_w * (1 - 0.75 * t**2)
    lower = (np.abs(xx - cx) < half) & (yy >= eye_y) & (yy < chin_y)
    # forehead dome: skin continues up under the bangs to a rounded hairline (no straight cut)
    dome = ((xx - cx) / half_w) ** 2 + ((yy - eye_y) / (0.72 * fw)) ** 2 < 1.0
    dome &= yy < eye_y
    # ears: beside the face at eye height, only where hair hides them (the mask below)
    ears = np.zeros((H, W), bool)
    for sx in (-1.0, 1.0):
        ears |= ((xx - (cx + sx * (half_w - 0.02 * fw))) / (0.1 * fw)) ** 2 + (
            (yy - (eye_y + 0.04 * fw)) / (0.15 * fw)
        ) ** 2 < 1.0
    template = lower | dome | ears
    hair_front = _union(pm, (Part.FRONT_HAIR, Part.SIDE_HAIR_L, Part.SIDE_HAIR_R))
    head_sil = np.asarray(ndimage.binary_fill_holes(face_core | hair_all | face_feats), dtype=bool)
    face_shape = face_core | ((hull > 0) | template) & (head_sil | face_core) & (yy < chin_y + 0.02 * fw)
    # under the bangs the dome is skin even where the head silhouette is ragged
    face_shape |= (dome | ears) & hair_front
    face_shape &= ~(_union(pm, (Part.NECK,)) & (yy > chin_y - 0.05 * fw))
    face_shape = cv2.morphologyEx(face_shape.astype(np.uint8), cv2.MORPH_CLOSE, _disk(0.03 * fw)) > 0
    face_shape = np.asarray(ndimage.binary_fill_holes(face_shape), dtype=bool) | face_vis
    # never over what is seen at rest: the face only grows under the parts drawn in front of it
    in_front = DEFAULT_DEPTH_ORDER[DEFAULT_DEPTH_ORDER.index(Part.FACE) + 1 :]
    face_shape &= face_vis | _union(pm, in_front)
    shapes[Part.FACE] = face_shape

    # ---- neck: up under the chin to the mouth height, as wide as its top rows
    if Part.NECK in vis:
        nv = vis[Part.NECK]
        ys, xs = np.nonzero(nv)
        top = ys.min()
        top_rows = nv[top : top + max(2, int(0.08 * fw))]
        cols = np.nonzero(top_rows.any(axis=0))[0]
        ext = np.zeros((H, W), bool)
        if len(cols):
            ext[int(mouth_y) : top + 1, cols.min() : cols.max() + 1] = True
        shapes[Part.NECK] = nv | (ext & (head_sil | fg))

    # ---- back hair: one continuous hair mass behind the head (skull, face, jaw and nape), no holes
    skull = ((xx - cx) / (0.66 * fw)) ** 2 + ((yy - (eye_y - 0.18 * fw)) / (0.72 * fw)) ** 2 < 1.0
    face_grown = cv2.dilate(face_shape.astype(np.uint8), _disk(0.1 * fw)) > 0
    nape_y = chin_y + 0.12 * fw
    behind = (skull | face_grown) & (yy < nape_y)
    near_head = (np.abs(xx - cx) < 0.75 * fw) & (yy < nape_y)
    head_hair = hair_all & near_head
    mass = head_hair | behind
    closed = cv2.morphologyEx(mass.astype(np.uint8), cv2.MORPH_CLOSE, _disk(0.12 * fw)) > 0
    behind |= np.asarray(ndimage.binary_fill_holes(closed), dtype=bool) & near_head
    # the head part of the hair mass is convex: fill the notches between the hair and the face
    hp = cv2.findNonZero((behind | head_hair).astype(np.uint8))
    if hp is not None:
        hh = np.zeros((H, W), np.uint8)
        cv2.fillConvexPoly(hh, cv2.convexHull(hp), 1)  # type: ignore[call-overload]
        behind |= (hh > 0) & (yy < chin_y + 0.05 * fw)
    back_vis = vis.get(Part.BACK_HAIR, np.zeros((H, W), bool))
    # long hair: between the left and right strands, down to where both sides have back hair
    below = hair_all & (yy > chin_y)  # long strands (back hair or locks) on both sides
    if below.any():
        left = below & (xx < cx - 0.2 * fw)
        right = below & (xx > cx + 0.2 * fw)
        rows = np.nonzero(left.any(axis=1) & right.any(axis=1))[0]
        if len(rows):
            y_end = rows.max()
            lx = np.where(left.any(axis=1), np.argmax(left, axis=1), W)
            rx = np.where(right.any(axis=1), W - 1 - np.argmax(right[:, ::-1], axis=1), -1)
            band_l = (yy >= chin_y - 0.05 * fw) & (yy <= y_end) & (xx >= lx[:, None]) & (xx <= rx[:, None])
            behind |= band_l & (np.abs(xx - cx) < 0.8 * fw)
            # strands that end on the shoulders go on behind the body (revealed when the body sways)
            if y_end > chin_y + 0.2 * fw and y_end < H - 2:
                body_m = _union(pm, (Part.BODY,))
                ring = cv2.dilate(body_m.astype(np.uint8), _disk(0.03 * fw)) > 0
                if (ring & below)[max(0, y_end - int(0.1 * fw)) : y_end + 1].any():
                    x_l, x_r = max(lx[y_end], cx - 0.8 * fw), min(rx[y_end], cx + 0.8 * fw)
                    tail = (yy > y_end) & (yy < y_end + 1.2 * fw) & (xx >= x_l) & (xx <= x_r)
                    behind |= tail & body_m
    if back_vis.any() or hair_all.any():
        shape_b = back_vis | behind
        shape_b = cv2.morphologyEx(shape_b.astype(np.uint8), cv2.MORPH_CLOSE, _disk(0.04 * fw)) > 0
        # never over the background: what is seen at rest stays the same
        shapes[Part.BACK_HAIR] = (np.asarray(ndimage.binary_fill_holes(shape_b), dtype=bool) & fg) | back_vis
        src = back_vis if back_vis.sum() > (0.05 * fw) ** 2 else hair_all
        hair_src = _hair_source(rgb, src, lines, fw)
        fills[Part.BACK_HAIR] = None
        back_src[0] = hair_src
        if not back_vis.any():
            back_dark[0] = 0.78

    # ---- body under the side locks and hair on the chest
    if Part.BODY in vis:
        bv = vis[Part.BODY]
        over = _union(pm, (Part.SIDE_HAIR_L, Part.SIDE_HAIR_R, Part.FRONT_HAIR, Part.NECK)) & (yy > chin_y)
        has = bv.any(axis=1)
        bl = np.where(has, np.argmax(bv, axis=1), W)[:, None]
        br = np.where(has, W - 1 - np.argmax(bv[:, ::-1], axis=1), -1)[:, None]
        inside = (xx > bl) & (xx < br)
        # the body continues under the neck (and the neck's completed top under the chin, down from the chin),
        # and under the locks and strands lying on it: a head turn / tilt uncovers body, not background
        neck_all = shapes.get(Part.NECK, _union(pm, (Part.NECK,))) & (yy > chin_y - 0.02 * fw)
        under = (over & inside) | neck_all
        if neck_all.any():
            # between the neck and the shoulders: the neck's columns from the chin down to the body
            ys_n, xs_n = np.nonzero(neck_all)
            col = (xx >= xs_n.min()) & (xx <= xs_n.max()) & (yy >= ys_n.min())
            top_body = np.where(has, np.arange(H), H)
            y_body = int(top_body.min()) if has.any() else H
            under |= col & (yy <= max(y_body, ys_n.max()) + 0.05 * fw) & fg
        shapes[Part.BODY] = bv | (under & (fg | neck_all))

    # ---- eyes
    for side in ("l", "r"):
        white_p = Part.EYE_WHITE_L if side == "l" else Part.EYE_WHITE_R
        iris_p = Part.IRIS_L if side == "l" else Part.IRIS_R
        lash_p = Part.LASHES_L if side == "l" else Part.LASHES_R
        wv = vis.get(white_p)
        iv = vis.get(iris_p)
        lv = vis.get(lash_p)
        opening = np.zeros((H, W), bool)
        for m in (wv, iv):
            if m is not None:
                opening |= m
        if opening.any():
            hull_e = np.zeros((H, W), np.uint8)
            cv2.fillConvexPoly(hull_e, cv2.convexHull(cv2.findNonZero(opening.astype(np.uint8))), 1)  # type: ignore[call-overload]
            white_shape = (hull_e > 0) | opening
            if lv is not None:  # extend up under the lash line
                lash_grown = cv2.dilate(lv.astype(np.uint8), _disk(0.015 * fw)) > 0
                white_shape |= lash_grown & (cv2.dilate(white_shape.astype(np.uint8), _disk(0.02 * fw)) > 0)
            shapes[white_p] = white_shape
            if wv is not None and wv.any():
                c = np.median(rgb[wv], axis=0)
                fills[white_p] = (int(c[0]), int(c[1]), int(c[2]))
            else:
                fills[white_p] = (245, 245, 250)
        if iv is not None and iv.any():
            ys, xs = np.nonzero(iv)
            rx = max(1.0, (xs.max() - xs.min() + 1) / 2)  # type: ignore[arg-type]
            ry = max((ys.max() - ys.min() + 1) / 2, 1.15 * rx)
            icx = (xs.max() + xs.min()) / 2
            icy = ys.max() - ry + 0.5
            ell = ((xx - icx) / rx) ** 2 + ((yy - icy) / ry) ** 2 < 1.0
            shapes[iris_p] = iv | ell
        if options.generate_eyelids and (opening.any() or (lv is not None and lv.any())):
            _eyelid(pm, side, opening, lv, fw, shapes, eyelids)

    # ---- mouth interior (generated when not visible)
    if options.generate_mouth_interior and Part.MOUTH_INTERIOR not in vis and Part.MOUTH in vis:
        mv = vis[Part.MOUTH]
        ys, xs = np.nonzero(mv)
        mw = xs.max() - xs.min() + 1
        mcx, mcy = (xs.max() + xs.min()) / 2, ys.mean()
        rx, ry = max(2.0, 0.42 * mw), max(2.0, 0.28 * mw)  # type: ignore[arg-type]
        ell = ((xx - mcx) / rx) ** 2 + ((yy - mcy - 0.3 * ry) / ry) ** 2 < 1.0
        shapes[Part.MOUTH_INTERIOR] = ell
        fills[Part.MOUTH_INTERIOR] = None  # painted below

    # ---- paint the layers
    layers: dict[Part, Layer] = {}
    skin_rgb = np.array(pm.colors.get("skin", tuple(int(v) for v in np.median(rgb[face_vis], axis=0))), np.float32)
    skin_d = np.abs(rgb.astype(np.float32) - skin_rgb).max(axis=2)
    skin_src = face_vis & ~lines & (skin_d < 28)
    if skin_src.sum() < 16:
        skin_src = face_vis & ~lines
    for part in DEFAULT_DEPTH_ORDER:
        v = vis.get(part, np.zeros((H, W), bool))
        shape = shapes.get(part, v) | v
        if not shape.any():
            continue
        out = np.zeros((H, W, 4), np.uint8)
        hole = shape & ~v
        if part == Part.MOUTH_INTERIOR and not v.any():
            out[..., :3] = _mouth_interior_rgb(pm, shape, rgb, yy)
        elif part in (Part.EYELID_L, Part.EYELID_R):
            out = eyelids[part]
            layers_part = _crop_layer(part, out, v)
            if layers_part is not None:
                layers[part] = layers_part
            continue
        else:
            out[..., :3] = rgb
            if hole.any():
                fill = fills.get(part)
                if fill is not None:
                    out[..., :3][hole] = fill
                else:
                    src = v & ~lines
                    if part == Part.FACE:
                        src = skin_src
                    if part == Part.BACK_HAIR and back_src[0] is not None:
                        # smooth extension of the hair tones: no nearest-pixel streaks from edges/highlights
                        src = back_src[0]
                        painted = _paint_smooth(rgb, hole, src, back_dark[0])
                        out[..., :3][hole] = painted[hole]
                    else:
                        if src.sum() < 4:
                            src = v
                        painted = _paint(inpainter, rgb, hole, src)
                        out[..., :3][hole] = painted[hole]
        alpha = np.zeros((H, W), np.uint8)
        alpha[shape] = 255
        alpha[v] = rgba[..., 3][v]
        out[..., 3] = alpha
        layer = _crop_layer(part, out, v)
        if layer is not None:
            layers[part] = layer
    order = tuple(p for p in DEFAULT_DEPTH_ORDER if p in layers)
    return Layers(
        canvas_size=(W, H),
        layers=layers,
        depth_order=order,
        landmarks=lm,
        source_path=pm.image.path,
        warnings=pm.warnings,
    )


def _paint(inpainter: Inpainter, rgb: NDArray[np.uint8], hole: Mask, src: Mask) -> NDArray[np.uint8]:
    """Inpaint within the bounding box of hole+source (fast for small parts)."""
    both = hole | src
    ys, xs = np.nonzero(both)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    out = rgb.copy()
    out[y0:y1, x0:x1] = inpainter.inpaint(
        np.ascontiguousarray(rgb[y0:y1, x0:x1]), hole[y0:y1, x0:x1], src[y0:y1, x0:x1]
    )
    return out


def _hair_source(rgb: NDArray[np.uint8], src: Mask, lines: Mask, fw: float) -> Mask:
    """Hair pixels to extend: away from the edges, no line art, no highlights (the body tones of the hair)."""
    inner = cv2.erode(src.astype(np.uint8), _disk(max(1.0, 0.008 * fw))) > 0
    cand = inner & ~lines
    if cand.sum() < 16:
        cand = src & ~lines if (src & ~lines).sum() >= 16 else src
    lum = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[..., 0]
    vals = lum[cand]
    if len(vals) >= 16:
        lo, hi = np.percentile(vals, (10, 75))
        body = cand & (lum >= lo) & (lum <= hi)
        if body.sum() >= 16:
            cand = body
    return cand


def _paint_smooth(rgb: NDArray[np.uint8], hole: Mask, src: Mask, darken: float = 1.0) -> NDArray[np.uint8]:
    """Push-pull extension of ``src`` colours into ``hole`` (bounding box of both), optionally darkened."""
    both = hole | src
    ys, xs = np.nonzero(both)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    out = rgb.copy()
    fill = push_pull_fill(np.ascontiguousarray(rgb[y0:y1, x0:x1]), src[y0:y1, x0:x1]).astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(fill * darken, 0, 255).astype(np.uint8)
    return out


def _eyelid(
    pm: PartMasks,
    side: str,
    opening: Mask,
    lash: Mask | None,
    fw: float,
    shapes: dict[Part, Mask],
    eyelids: dict[Part, NDArray[np.uint8]],
) -> None:
    """A closed lid: skin over the eye opening with the lash line drawn as a gentle downward curve."""
    H, W = opening.shape
    region = opening.copy()
    if lash is not None:
        region |= lash
    ys, xs = np.nonzero(region)
    if len(xs) < 4:
        return
    x0, x1 = xs.min(), xs.max()
    y_top, y_bot = ys.min(), ys.max()
    lid = cv2.dilate(region.astype(np.uint8), _disk(0.01 * fw)) > 0
    hull = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(lid.astype(np.uint8))), 1)  # type: ignore[call-overload]
    lid = hull > 0
    skin = pm.colors.get("skin", (250, 225, 210))
    lash_c = pm.colors.get(f"lash_{side}", (50, 35, 40))
    out = np.zeros((H, W, 4), np.uint8)
    out[..., :3] = skin
    out[..., 3][lid] = 255
    # closed-eye line: from corner to corner, sagging a little at the middle, at 60 % of the opening height
    n = 24
    px = np.linspace(x0, x1, n)
    base = y_top + 0.6 * (y_bot - y_top)
    sag = 0.06 * fw * np.sin(np.linspace(0, np.pi, n))
    pts = np.stack([px, base + sag], 1)
    thick = max(2, int(round(0.022 * fw)))
    cv2.polylines(out, [np.round(pts * 16).astype(np.int32)], False, (*lash_c, 255), thick, cv2.LINE_AA, shift=4)
    part = Part.EYELID_L if side == "l" else Part.EYELID_R
    eyelids[part] = out
    shapes[part] = out[..., 3] > 0


def _mouth_interior_rgb(pm: PartMasks, shape: Mask, rgb, yy) -> NDArray[np.uint8]:
    """Dark red interior from the mouth line colour, with a lighter tongue in the lower third."""
    H, W = shape.shape
    line = pm.colors.get("mouth_line", (120, 60, 60))
    base = np.array(line, np.float32)
    dark = np.clip(base * 0.6 + np.array([60, 0, 10], np.float32), 0, 255)
    tongue = np.clip(dark * 0.5 + np.array([120, 60, 70], np.float32), 0, 255)
    out = np.zeros((H, W, 3), np.uint8)
    out[:] = dark.astype(np.uint8)
    ys = np.nonzero(shape.any(axis=1))[0]
    if len(ys):
        y_t = ys.min() + 0.62 * (ys.max() - ys.min())
        out[(yy > y_t) & shape] = tongue.astype(np.uint8)
    return out
