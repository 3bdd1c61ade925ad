"""Stage 1: one picture -> visible part masks and a depth order (:class:`PartMasks`). No model weights.

Steps (``run``):

1. landmarks (``landmarks.find_landmarks``: user override, animeface, skin heuristic; refined centres);
2. work at a scale where the face is ~220 px wide; colour models in CIE Lab: skin from the cheeks, hair from the
   band above the face (k-means, 3 tones), a line map (pixels darker than their surroundings);
3. big parts: face skin (the skin region around the face centre, cut at the jaw), neck (skin in a strip under
   the chin), hair (hair-coloured regions connected to the head), body/clothes (the rest of the foreground);
4. face features in boxes around the landmarks, at full resolution: eye white / iris / upper lashes per eye
   (bright low-chroma / coloured / dark strokes on top), brows (elongated non-skin strokes above the eyes),
   mouth line and interior (dark or red non-skin pixels; the inside of a thick mouth is the interior);
5. hair split: front hair (crown and bangs: hair inside the skull ellipse above the eyes or over the face),
   side locks (hair below the eyes that lies over the face, neck or body), back hair (the rest);
6. line pixels go to the FRONT-most part they touch (an outline belongs to the part it outlines), the rest
   of the foreground to the nearest part;
7. depth order = the template (``DEFAULT_DEPTH_ORDER``) restricted to the parts found.

Every mask is (H, W) bool in source pixels; masks are disjoint and cover the foreground.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from avatar_plugin.errors import ImageInputError
from avatar_plugin.generator.landmarks import LandmarkOptions, find_landmarks
from avatar_plugin.generator.types import DEFAULT_DEPTH_ORDER, FaceLandmarks, Part, PartMasks, SourceImage

__all__ = ["SegmentOptions", "corner_mark", "run", "to_lab"]

log = logging.getLogger(__name__)

Mask = NDArray[np.bool_]
WORK_FACE_WIDTH = 220.0


@dataclass(frozen=True)
class SegmentOptions:
    """Options of stage 1. ``landmarks``: user overrides (face box, landmark file)."""

    landmarks: LandmarkOptions = field(default_factory=LandmarkOptions)
    work_face_width: float = WORK_FACE_WIDTH
    min_island: float = 0.001  # islands of a part smaller than this share of the picture join their surroundings


def to_lab(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """CIE Lab with L* in 0..100 and a*, b* around 0 (float32)."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return lab


def _de(lab: NDArray[np.float32], ref: NDArray[np.float32], l_weight: float = 0.5) -> NDArray[np.float32]:
    d = lab - ref
    return np.sqrt((l_weight * d[..., 0]) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)


def _disk(r: float) -> NDArray[np.uint8]:
    k = max(1, int(round(r)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))  # type: ignore[return-value]


def _fill(m: Mask) -> Mask:
    return np.asarray(ndimage.binary_fill_holes(m), dtype=bool)


def _largest(m: Mask) -> Mask:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n <= 1:
        return m & False
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _components_touching(m: Mask, seed: Mask, connectivity: int = 8) -> Mask:
    _n, labels = cv2.connectedComponents(m.astype(np.uint8), connectivity=connectivity)
    ids = np.unique(labels[seed & m])
    ids = ids[ids > 0]
    return np.isin(labels, ids)


def _check(image: SourceImage) -> None:
    a = image.rgba
    if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 4:
        raise ImageInputError(
            f"{image.path}: stage 1 expects an (H, W, 4) uint8 RGBA SourceImage, got "
            f"{getattr(a, 'dtype', type(a))} {getattr(a, 'shape', '')}; load it with generator.load.load_picture"
        )
    if not (a[..., 3] > 10).any():
        raise ImageInputError(f"{image.path}: the picture is fully transparent; expected a character")


@dataclass
class _Geo:
    """Face geometry at some scale."""

    cx: float
    fw: float
    eye_y: float
    eye_l: tuple[float, float]
    eye_r: tuple[float, float]
    mouth: tuple[float, float]
    chin_y: float
    face_top: float

    @staticmethod
    def of(lm: FaceLandmarks, k: float = 1.0) -> _Geo:
        fw = lm.face_width * k
        eye_y = (lm.eye_l[1] + lm.eye_r[1]) / 2 * k
        cx = (lm.eye_l[0] + lm.eye_r[0]) / 2 * k
        mouth_y = lm.mouth[1] * k
        chin_y = lm.chin[1] * k if lm.chin else lm.face_box[3] * k
        # anime chins sit ~0.25 fw below the mouth; trust the detector within reason
        chin_y = float(np.clip(chin_y, mouth_y + 0.12 * fw, mouth_y + 0.4 * fw))
        return _Geo(
            cx=cx,
            fw=fw,
            eye_y=eye_y,
            eye_l=(lm.eye_l[0] * k, lm.eye_l[1] * k),
            eye_r=(lm.eye_r[0] * k, lm.eye_r[1] * k),
            mouth=(lm.mouth[0] * k, mouth_y),
            chin_y=chin_y,
            face_top=eye_y - 0.6 * fw,
        )


def run(image: SourceImage, options: SegmentOptions | None = None) -> PartMasks:
    """Segment ``image`` into visible part masks (see the module docstring for the steps)."""
    options = options or SegmentOptions()
    _check(image)
    mark = corner_mark(image.rgba)
    mark_warning = []
    if mark is not None:
        x0, y0, x1, y1 = mark
        rgba = _remove_mark(image.rgba, mark)
        image = SourceImage(path=image.path, rgba=rgba)
        mark_warning.append(
            f"{image.path}: removed a corner mark (logo/watermark) at x={x0}..{x1}, y={y0}..{y1} from the "
            "character; pass a picture without it if that was part of the character"
        )
    # 1. landmarks
    lm, colors, warnings = find_landmarks(image, options.landmarks)
    H, W = image.rgba.shape[:2]
    fg_full = image.rgba[..., 3] > 10
    # 2. work scale
    k = min(1.0, options.work_face_width / max(lm.face_width, 1.0))
    if k < 1.0:
        wsize = (max(1, round(W * k)), max(1, round(H * k)))
        rgba_w = cv2.resize(image.rgba, wsize, interpolation=cv2.INTER_AREA)
    else:
        rgba_w = image.rgba
    g = _Geo.of(lm, k)
    lab_w = to_lab(rgba_w[..., :3])  # type: ignore[arg-type]
    fg_w = rgba_w[..., 3] > 10
    labels_w, skin_lab, hair_centres = _big_parts(lab_w, fg_w, g)
    # upsample the big-part labels
    labels = _upsample_labels(labels_w, (W, H)) if k < 1.0 else labels_w
    labels[~fg_full] = 0
    # 4. face features at full resolution
    lab = to_lab(image.rgba[..., :3])
    G = _Geo.of(lm)
    hair_l = float(hair_centres[0, 0]) if hair_centres is not None and len(hair_centres) else None
    feats, fcolors = _face_features(lab, fg_full, G, skin_lab, labels, hair_l)
    for part, m in feats.items():
        labels[m] = _ID[part]
    # refine eye / mouth centres from the found parts
    lm = _refine_landmarks(lm, feats)
    # 6. unassigned foreground (line art) -> front-most neighbour, then nearest
    labels = _assign_rest(labels, fg_full, G)
    # outline strokes belong to the part they outline (jaw line -> face, lock outlines -> the lock)
    labels = _outline_owner(labels, _line_map(lab, fg_full, G.fw), G)
    # 7. clean-up: small islands of one part inside another join the part around them
    # the upper lash stroke pieces labelled brow / iris / eye white / face / front hair go back to the lashes
    labels = _reclaim_lashes(labels, lab, fg_full, G.fw)
    labels = _clean_islands(labels, G, options.min_island)
    masks: dict[Part, Mask] = {}
    for part, pid in _ID.items():
        m = labels == pid
        if m.any():
            masks[part] = m
    if Part.FACE not in masks:
        raise ImageInputError(
            f"{image.path}: found no face skin around the face at {tuple(round(v) for v in lm.face_box)}; pass "
            "--face-box X,Y,W,H or --landmarks FILE.json"
        )
    colors = dict(colors)
    colors["skin"] = _lab_to_rgb(skin_lab)
    if hair_centres is not None and len(hair_centres):
        colors["hair"] = _lab_to_rgb(hair_centres[0])
        colors["hair_shadow"] = _lab_to_rgb(hair_centres[np.argmin(hair_centres[:, 0])])
    colors.update(fcolors)
    order = tuple(p for p in DEFAULT_DEPTH_ORDER if p in masks)
    return PartMasks(image=image, masks=masks, depth_order=order, landmarks=lm, colors=colors,
                     warnings=tuple(warnings) + tuple(mark_warning))


_ID: dict[Part, int] = {p: i + 1 for i, p in enumerate(DEFAULT_DEPTH_ORDER)}
_PART_OF: dict[int, Part] = {v: k for k, v in _ID.items()}


def corner_mark(rgba: NDArray[np.uint8]) -> tuple[int, int, int, int] | None:
    """A logo / watermark box in a bottom corner of the picture, (x0, y0, x1, y1), or None.

    A mark is a compact, saturated, nearly rectangular block of one colour (text cut into it in another)
    touching the bottom edge within the outer quarter of the width, 4-30% of the picture's short side: such
    a block is not drawn character (clothes there are shaded, cut by the frame on two sides at most along
    their outline, and not a filled axis-aligned rectangle).
    """
    H, W = rgba.shape[:2]
    side = min(H, W)
    fg = rgba[..., 3] > 10
    hsv = cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2HSV)
    for right in (False, True):
        cw, ch = int(0.3 * W), int(0.3 * H)
        xs = slice(W - cw, W) if right else slice(0, cw)
        win = hsv[H - ch :, xs]
        wfg = fg[H - ch :, xs]
        sat = wfg & (win[..., 1] > 110) & (win[..., 2] > 60)
        if sat.sum() < (0.04 * side) ** 2:
            continue
        hue = win[..., 0][sat].astype(np.int32)
        mode = int(np.argmax(np.bincount(hue, minlength=180)))
        dh = np.abs(win[..., 0].astype(np.int32) - mode)
        same = sat & (np.minimum(dh, 180 - dh) <= 8)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(same.astype(np.uint8), connectivity=8)
        for i in range(1, n):
            x, y, w, h, area = stats[i]
            if not (0.04 * side <= w <= 0.3 * side and 0.04 * side <= h <= 0.3 * side):
                continue
            if y + h < ch - 1:  # must touch the bottom edge
                continue
            if y <= 0 or (x <= 0 if right else x + w >= cw):
                continue  # runs on out of the corner window: part of something bigger
            box = comp[y : y + h, x : x + w] == i
            closed = cv2.morphologyEx(box.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
            hull = cv2.convexHull(cv2.findNonZero(closed))
            if cv2.contourArea(hull) < 0.88 * w * h or area < 0.45 * w * h:
                continue  # not a filled rectangle
            if _fill(closed > 0).mean() < 0.8:
                continue
            ox = W - cw if right else 0
            x0, y0 = ox + x, H - ch + y
            if (not right and x0 > 0.15 * W) or (right and x0 + w < 0.85 * W):
                continue  # not in the corner
            pad = 2
            return (max(0, x0 - pad), max(0, y0 - pad), min(W, x0 + w + pad), H)
    return None


def _remove_mark(rgba: NDArray[np.uint8], box: tuple[int, int, int, int]) -> NDArray[np.uint8]:
    """The picture without the corner mark: what it covered is filled from around it, per pixel.

    Alpha is inpainted from the ring around the box (so the mark becomes transparent where it sat on the
    background and character where the character runs under it); the colour is inpainted from the
    character's pixels around it.
    """
    x0, y0, x1, y1 = box
    H, W = rgba.shape[:2]
    out = rgba.copy()
    pad = max(4, (x1 - x0) // 4)
    ax0, ay0, ax1, ay1 = max(0, x0 - pad), max(0, y0 - pad), min(W, x1 + pad), min(H, y1 + pad)
    win = out[ay0:ay1, ax0:ax1]
    hole = np.zeros(win.shape[:2], np.uint8)
    hole[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0] = 1
    ring_fg = (win[..., 3] > 10) & (hole == 0)
    if ring_fg.sum() < 0.3 * max(1, (hole == 0).sum()):
        win[..., 3][hole > 0] = 0  # it sat on the background: transparent is right
        return out
    radius = max(3, pad)
    alpha = cv2.inpaint(np.ascontiguousarray(win[..., 3]), hole, radius, cv2.INPAINT_TELEA)
    # colour from the character only: background pixels around the box are replaced by their nearest fg pixel
    rgb = np.ascontiguousarray(win[..., :3]).copy()
    known = ring_fg
    if known.any():
        _, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
        rgb = rgb[iy, ix]
    rgb_f = cv2.inpaint(np.ascontiguousarray(rgb), hole, radius, cv2.INPAINT_TELEA)
    m = hole > 0
    win[..., :3][m] = rgb_f[m]
    win[..., 3][m] = np.where(alpha[m] > 127, 255, 0).astype(np.uint8)
    return out


def _lab_to_rgb(c: NDArray[np.float32]) -> tuple[int, int, int]:
    px = np.array([[[c[0] * 255 / 100, c[1] + 128, c[2] + 128]]], np.float32)
    rgb = cv2.cvtColor(np.clip(px, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)[0, 0]
    return (int(rgb[0]), int(rgb[1]), int(rgb[2]))


def _upsample_labels(labels: NDArray[np.int32], size: tuple[int, int]) -> NDArray[np.int32]:
    """Smooth upsampling of a label map: per label, bilinear resize of its indicator, arg-max."""
    W, H = size
    best = np.full((H, W), 0.25, np.float32)
    out = np.zeros((H, W), np.int32)
    for pid in np.unique(labels):
        if pid == 0:
            continue
        up = cv2.resize((labels == pid).astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
        win = up > best
        best[win] = up[win]
        out[win] = pid
    return out


# ------------------------------------------------------------------------------------------- big parts


def _line_map(lab: NDArray[np.float32], fg: Mask, fw: float) -> Mask:
    L = lab[..., 0]
    sigma = max(1.5, fw / 70.0)
    blur = cv2.GaussianBlur(L, (0, 0), sigma)
    line = (blur - 6.0 > L) | (L < 22.0)
    return line & fg


def _sample_hair(lab: NDArray[np.float32], fg: Mask, g: _Geo, skin_lab: NDArray[np.float32]):
    _H, W = fg.shape
    y0, y1 = int(max(0, g.face_top - 0.3 * g.fw)), int(max(0, g.eye_y - 0.3 * g.fw))
    x0, x1 = int(max(0, g.cx - 0.45 * g.fw)), int(min(W, g.cx + 0.45 * g.fw))
    band = lab[y0:y1, x0:x1].reshape(-1, 3)
    ok = fg[y0:y1, x0:x1].reshape(-1)
    pts = band[ok]
    if len(pts) < 20:
        return None
    pts = pts[_de(pts, skin_lab) > 10]
    pts = pts[pts[:, 0] > 15]  # drop outlines
    if len(pts) < 20:
        return None
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    kk = min(3, len(pts))
    cv2.setRNGSeed(1)
    _, lab_ids, centres = cv2.kmeans(pts.astype(np.float32), kk, None, crit, 2, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    counts = np.bincount(lab_ids.ravel(), minlength=kk)
    order = np.argsort(-counts)
    keep = [i for i in order if counts[i] >= 0.08 * len(pts)]
    return centres[keep].astype(np.float32)


def _maha(x: NDArray[np.float32], mu: NDArray[np.float64], cov: NDArray[np.float64]) -> NDArray[np.float64]:
    d = x - mu
    return np.sqrt(np.einsum("...i,ij,...j->...", d, np.linalg.inv(cov), d))


def _skin_hair_models(lab: NDArray[np.float32], fg: Mask, line: Mask, g: _Geo, skin_lab: NDArray[np.float32]):
    """Per-picture Gaussians of the face skin and the hair in Lab -> (skin-like, hair-like) masks or None.

    Skin samples: under each eye, the nose bridge and around the mouth (line art excluded), trimmed to the
    colours near their median; hair samples: the band above the face that is not skin-like. A pixel is
    skin-like when the skin density beats the hair density and it lies within 6 sigma of the skin model.
    """
    H, W = fg.shape
    fw = g.fw
    x0, x1 = int(max(0, g.cx - 0.6 * fw)), int(min(W, g.cx + 0.6 * fw))
    y0, y1 = int(max(0, g.eye_y - 0.2 * fw)), int(min(H, g.chin_y))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    zone = np.zeros(yy.shape, bool)
    for ex in (g.eye_l[0], g.eye_r[0]):
        zone |= (np.abs(xx - ex) < 0.08 * fw) & (yy > g.eye_y + 0.1 * fw) & (yy < g.mouth[1] - 0.03 * fw)
    zone |= (np.abs(xx - g.cx) < 0.06 * fw) & (yy > g.eye_y + 0.08 * fw) & (yy < g.mouth[1] - 0.04 * fw)
    mdx, mdy = np.abs(xx - g.mouth[0]), np.abs(yy - g.mouth[1])
    zone |= (mdx < 0.14 * fw) & (mdy < 0.09 * fw) & ~((mdx < 0.07 * fw) & (mdy < 0.04 * fw))
    lined = cv2.dilate(line[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    sp = lab[y0:y1, x0:x1][zone & fg[y0:y1, x0:x1] & ~lined]
    if len(sp) < 30:
        return None
    med = np.median(sp, axis=0)
    sp = sp[_de(sp, med.astype(np.float32), 0.35) < 25]
    if len(sp) < 30:
        return None
    reg = np.diag([4.0, 2.0, 2.0])
    mu_s, cov_s = sp.mean(axis=0).astype(np.float64), np.cov(sp.T) + reg
    hy0, hy1 = int(max(0, g.face_top - 0.3 * fw)), int(max(0, g.eye_y - 0.3 * fw))
    hx0, hx1 = int(max(0, g.cx - 0.45 * fw)), int(min(W, g.cx + 0.45 * fw))
    hp = lab[hy0:hy1, hx0:hx1][fg[hy0:hy1, hx0:hx1] & ~line[hy0:hy1, hx0:hx1]]
    if len(hp) < 30:
        return None
    hp = hp[_maha(hp, mu_s, cov_s) > 4.0]
    if len(hp) < 30:
        return None
    mu_h, cov_h = hp.mean(axis=0).astype(np.float64), np.cov(hp.T) + reg
    if _maha(mu_h.astype(np.float32), mu_s, cov_s) < 4.0:
        return None  # hair and skin not separable by colour: keep the distance rules
    ds, dh = _maha(lab, mu_s, cov_s), _maha(lab, mu_h, cov_h)
    ll_s = -0.5 * ds**2 - 0.5 * np.log(np.linalg.det(cov_s))
    ll_h = -0.5 * dh**2 - 0.5 * np.log(np.linalg.det(cov_h))
    skin_g = (ll_s > ll_h) & (ds < 6.0)
    hair_g = (ll_h > ll_s) & (dh < 4.0)
    return skin_g, hair_g


def _big_parts(lab: NDArray[np.float32], fg: Mask, g: _Geo):
    H, W = fg.shape
    fw = g.fw
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    line = _line_map(lab, fg, fw)
    # skin colour from the cheeks
    y0, y1 = int(g.eye_y + 0.1 * fw), int(g.mouth[1] - 0.02 * fw)
    samples = []
    for ex in (g.eye_l[0], g.eye_r[0]):
        xa, xb = int(ex - 0.07 * fw), int(ex + 0.07 * fw)
        p = lab[max(0, y0) : max(0, y1), max(0, xa) : max(0, xb)].reshape(-1, 3)
        f = fg[max(0, y0) : max(0, y1), max(0, xa) : max(0, xb)].reshape(-1)
        samples.append(p[f])
    sp = np.concatenate(samples) if samples else np.zeros((0, 3), np.float32)
    if len(sp) >= 10:
        sp = sp[sp[:, 0] >= np.percentile(sp[:, 0], 40)]
        skin_lab = np.median(sp, axis=0).astype(np.float32)
    else:
        skin_lab = np.array([90.0, 8.0, 12.0], np.float32)
    d_skin = _de(lab, skin_lab, 0.35)
    skin = fg & (d_skin < 11.0) & ~line
    hair_c = _sample_hair(lab, fg, g, skin_lab)
    if hair_c is not None:
        d_hair = np.min(np.stack([_de(lab, c, 0.5) for c in hair_c]), axis=0)
        hair_like = fg & (d_hair < 16.0) & (d_hair < d_skin)
    else:
        hair_like = np.zeros_like(fg)
    # the face's own skin model (a Gaussian of the skin around the eyes, nose and mouth, shading included)
    # against the hair's (a Gaussian of the band above the face): warm shaded skin next to orange hair has the
    # hair's hue but not its chroma/lightness spread; the two-class rule separates them where a distance to one
    # median colour cannot
    models = _skin_hair_models(lab, fg, line, g, skin_lab)
    if models is not None:
        skin_g, hair_g = models
        skin_like_g = fg & skin_g & ~line
        skin = (skin & ~hair_g) | skin_like_g
        hair_like = (hair_like & ~skin_like_g) | (fg & hair_g & ~skin_like_g)
    skin &= ~hair_like
    # --- face skin: the skin component at the face centre, cut at the jaw
    core = np.zeros_like(fg)
    cy0, cy1 = int(g.eye_y + 0.08 * fw), int(g.mouth[1])
    core[max(0, cy0) : max(0, cy1), int(max(0, g.eye_r[0])) : int(max(0, g.eye_l[0]))] = True
    roi = (np.abs(xx - g.cx) < 0.62 * fw) & (yy > g.face_top - 0.35 * fw) & (yy < g.chin_y + 0.1 * fw)
    skin_open = cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_OPEN, _disk(fw / 150)) > 0
    face = _components_touching(skin_open & roi, core)
    # skin-coloured hair (pink, blonde) connected to the face above the forehead is not face
    face &= (yy > g.eye_y) | (((xx - g.cx) / (0.56 * fw)) ** 2 + ((yy - g.eye_y) / (0.68 * fw)) ** 2 < 1.0)
    # jaw: a curve from the cheeks (at mouth height, +-0.5 fw) down to the chin
    rel = np.clip(np.abs(xx - g.cx) / (0.5 * fw), 0, 1.5)
    jaw_y = g.chin_y + 0.02 * fw - (g.chin_y - (g.mouth[1] - 0.1 * fw)) * rel**2
    face &= yy < jaw_y
    # the drawn jaw line decides where the chin ends: below the template curve, skin connected to the face
    # down to the first line pixel of its column (within 0.12 fw) is face; columns without a line keep the cut
    band = (yy >= jaw_y) & (yy < jaw_y + 0.12 * fw) & (np.abs(xx - g.cx) < 0.5 * fw)
    lb = line & band
    has = lb.any(axis=0)
    first = np.where(has, np.argmax(lb, axis=0), 0)
    above_line = band & has[None, :] & (yy < first[None, :])
    grow = skin_open & above_line & ~hair_like
    if grow.any():
        face |= _components_touching(face | grow, face) & grow
    # forehead skin between the bang tips and above the brows is face too
    # (within a forehead dome: skin-coloured hair higher up on the crown is not face)
    dome = ((xx - g.cx) / (0.5 * fw)) ** 2 + ((yy - g.eye_y) / (0.62 * fw)) ** 2 < 1.0
    face |= skin_open & roi & (yy < g.eye_y) & dome
    # close small gaps, fill the holes of features
    face = cv2.morphologyEx(face.astype(np.uint8), cv2.MORPH_CLOSE, _disk(fw / 80)) > 0
    face = _fill(face) & fg & ~hair_like
    # ears: skin pieces beside the face at eye-to-mouth height, cut off from it by the ear's outline only
    ear_zone = (np.abs(xx - g.cx) > 0.3 * fw) & (np.abs(xx - g.cx) < 0.8 * fw)
    ear_zone &= (yy > g.eye_y - 0.15 * fw) & (yy < g.mouth[1] + 0.05 * fw)
    ear_c = skin_open & ear_zone & ~face
    if ear_c.any():
        near_face = cv2.dilate(face.astype(np.uint8), _disk(max(1.5, fw / 40))) > 0
        _n_e, comp_e, st_e, _ = cv2.connectedComponentsWithStats(ear_c.astype(np.uint8), connectivity=8)
        for i in np.unique(comp_e[near_face & ear_c]):
            if i > 0 and st_e[i, cv2.CC_STAT_AREA] < (0.22 * fw) ** 2 and st_e[i, cv2.CC_STAT_HEIGHT] < 0.4 * fw:
                face |= comp_e == i
        face = _fill(cv2.morphologyEx(face.astype(np.uint8), cv2.MORPH_CLOSE, _disk(fw / 80)) > 0) & fg & ~hair_like
    # --- neck: skin in a strip under the chin
    strip = (np.abs(xx - g.cx) < 0.3 * fw) & (yy > g.mouth[1]) & (yy < g.chin_y + 0.55 * fw)
    neck_seed = strip & (yy > g.chin_y) & (yy < g.chin_y + 0.15 * fw)
    neck_skin = skin & ~face & ((_de(lab, skin_lab, 0.6) < 9.0) | (models is not None and models[0]))
    # the shadow the chin casts on the neck is often hair-coloured (warm skin, orange hair) but flat: hair
    # has strands and highlights (texture), a cast shadow has none; it is neck when it is bounded by line art
    # and connected to the neck skin under the chin
    L = lab[..., 0]
    tex = cv2.GaussianBlur(np.abs(L - cv2.GaussianBlur(L, (0, 0), max(1.0, fw / 160))), (0, 0), fw / 60)
    # measured on the head's hair (above the chin): hair-coloured shadows on the neck/clothes are flat too
    head_hair = hair_like & ~face & (yy < g.chin_y) & (np.abs(xx - g.cx) < 0.9 * fw)
    hair_tex = float(np.median(tex[head_hair])) if head_hair.sum() > 20 else 0.0
    if hair_tex > 2.0:  # only where the hair itself is textured (flat cel-shaded hair is as flat as a shadow)
        flat = fg & (tex < 1.2) & ~line & ~face & (yy > g.chin_y - 0.05 * fw)
        neck_skin |= flat & ~cv2.dilate(line.astype(np.uint8), _disk(fw / 150)).astype(bool)
    neck = _components_touching(neck_skin & strip, neck_seed)
    # the neck ends where the skin widens (a collar line, shoulders or chest)
    widths = neck.sum(axis=1)
    start = int(min(H - 1, max(0, g.chin_y)))
    for y in range(start, H):
        if widths[y] > 0.5 * fw:
            neck[y:] = False
            break
    # --- hair: hair-coloured regions connected to the head (thin outlines bridged)
    head = ((xx - g.cx) / (0.8 * fw)) ** 2 + ((yy - (g.eye_y - 0.2 * fw)) / (0.8 * fw)) ** 2 < 1.0
    hl = hair_like & ~face & ~neck
    hl &= ~_hair_coloured_clothes(hl, fg, line, g, xx, yy)
    bridged = cv2.morphologyEx(hl.astype(np.uint8), cv2.MORPH_CLOSE, _disk(fw / 70)) > 0
    hair = _components_touching(bridged, head & hl) & hl
    hair = cv2.morphologyEx(hair.astype(np.uint8), cv2.MORPH_OPEN, _disk(fw / 200)) > 0
    # dark strand lines inside hair regions are hair
    hair_closed = cv2.morphologyEx(hair.astype(np.uint8), cv2.MORPH_CLOSE, _disk(fw / 60)) > 0
    hair = (hair | (hair_closed & line & ~face & ~neck)) & fg
    # highlights and strand lines enclosed by hair are hair
    hair = (hair | (_fill(hair) & ~face & ~neck & ~skin & head)) & fg
    labels = np.zeros((H, W), np.int32)
    labels[fg] = _ID[Part.BODY]
    labels[neck] = _ID[Part.NECK]
    labels[face] = _ID[Part.FACE]
    # --- split hair
    front, side_l, side_r, back = _split_hair(hair, face, neck, fg, line, g, xx, yy, lab)
    labels[back] = _ID[Part.BACK_HAIR]
    labels[side_l] = _ID[Part.SIDE_HAIR_L]
    labels[side_r] = _ID[Part.SIDE_HAIR_R]
    labels[front] = _ID[Part.FRONT_HAIR]
    # line pixels not yet claimed by a colour region stay unassigned (-1) for step 6
    body_like = labels == _ID[Part.BODY]
    labels[body_like & line] = -1
    return labels, skin_lab, hair_c


def _hair_coloured_clothes(hl: Mask, fg: Mask, line: Mask, g: _Geo, xx, yy) -> Mask:
    """Clothes whose colour the hair model takes: the wide hair-coloured region on the chest.

    Below the chin, hair-coloured pixels (line art excluded, so outlines separate regions) that form a region
    touching the bottom of the picture's centre column and as wide there as a chest (> 0.7 fw) are clothes:
    long hair hangs in strands at the sides (narrow, reaching the bottom apart from each other), a chest is one
    wide region under the neck.
    """
    _H, W = fg.shape
    fw = g.fw
    below = yy > g.chin_y + 0.25 * fw
    cand = hl & below & ~line
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, _disk(max(1.0, fw / 120))) > 0
    rows = np.nonzero(fg.any(axis=1))[0]
    if not cand.any() or len(rows) == 0:
        return np.zeros_like(fg)
    y_bot = int(rows.max())
    if y_bot < g.chin_y + 0.6 * fw:
        return np.zeros_like(fg)
    seed = np.zeros_like(fg)
    ys0 = int(max(g.chin_y + 0.5 * fw, y_bot - 0.12 * fw))
    seed[ys0 : y_bot + 1, int(max(0, g.cx - 0.12 * fw)) : int(min(W, g.cx + 0.12 * fw)) + 1] = True
    _n, comp, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=4)
    out = np.zeros_like(fg)
    for i in np.unique(comp[seed & cand]):
        if i == 0:
            continue
        m = comp == i
        seg_rows = m[ys0 : y_bot + 1]
        width = (seg_rows.any(axis=0)).sum()
        # wide at the bottom and not reaching far up beside the head (a hair mass would)
        top = stats[i, cv2.CC_STAT_TOP]
        if width > 0.7 * fw and top > g.chin_y:
            out |= m
    if out.any():
        out = cv2.morphologyEx(out.astype(np.uint8), cv2.MORPH_CLOSE, _disk(max(1.0, fw / 100))) > 0
        out &= below
    return out


def _split_hair(hair: Mask, face: Mask, neck: Mask, fg: Mask, line: Mask, g: _Geo, xx, yy, lab=None):
    """Front hair (crown + bangs), side locks and back hair, split along the line art (a seeded watershed).

    Seeds: the crown and the bangs over the forehead (front); hair beside the cheeks below the brow line (a
    side lock candidate per side); hair far outside the skull (back). The watershed grows them over the hair
    mask on an elevation made of the line art and colour edges, so the boundaries follow the drawn strands
    instead of a straight cut. A side region is a lock (in front) when enough of it lies over the face outline,
    the neck or the body; otherwise it joins the back hair.
    """
    from skimage.segmentation import watershed

    fw = g.fw
    H, W = hair.shape
    brow_y = g.eye_y - 0.2 * fw
    dx = np.abs(xx - g.cx)
    skull = ((xx - g.cx) / (0.62 * fw)) ** 2 + ((yy - (g.eye_y - 0.18 * fw)) / (0.68 * fw)) ** 2 < 1.0
    wide_skull = ((xx - g.cx) / (0.8 * fw)) ** 2 + ((yy - (g.eye_y - 0.18 * fw)) / (0.86 * fw)) ** 2 < 1.0
    # amodal face: convex hull of the face skin + a template (widest at the cheeks, narrowing to the chin)
    hull = np.zeros_like(face)
    pts = cv2.findNonZero(face.astype(np.uint8))
    if pts is not None:
        cv2.fillConvexPoly(hull.view(np.uint8), cv2.convexHull(pts), 1)  # type: ignore[call-overload]
    t = np.clip((yy - g.eye_y) / max(g.chin_y - g.eye_y, 1), 0, 1)
    half = 0.48 * fw * (1 - 0.7 * t**2)
    template = (dx < half) & (yy > g.eye_y - 0.3 * fw) & (yy < g.chin_y)
    # seeds
    markers = np.zeros((H, W), np.int32)
    FRONT, SIDE_L, SIDE_R, BACK = 1, 2, 3, 4
    back_seed = hair & ~wide_skull & ((yy < g.eye_y - 0.3 * fw) | (dx > 0.8 * fw))
    back_seed |= hair & (dx > 0.85 * fw)
    markers[back_seed] = BACK
    face_ring = (cv2.dilate(face.astype(np.uint8), _disk(0.1 * fw)) > 0) & ~face
    side_zone = hair & (yy > g.eye_y - 0.05 * fw) & (yy < g.chin_y) & (dx > 0.3 * fw) & (dx < 0.7 * fw)
    side_zone &= face_ring | template
    markers[side_zone & (xx >= g.cx)] = SIDE_L
    markers[side_zone & (xx < g.cx)] = SIDE_R
    front_seed = hair & skull & (yy < brow_y - 0.1 * fw) & (dx < 0.5 * fw)
    front_seed |= hair & (dx < 0.22 * fw) & (yy < g.eye_y)  # bangs hanging over the forehead / between the eyes
    markers[front_seed] = FRONT
    if lab is not None:
        L = lab[..., 0]
        dark = np.clip(cv2.GaussianBlur(L, (0, 0), max(1.0, fw / 80)) - L, 0, None)
        gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3)
        grad = np.sqrt((gx**2 + gy**2).sum(axis=2))
        elev = dark * 4.0 + grad
    else:
        elev = line.astype(np.float32)
    elev = cv2.GaussianBlur(elev.astype(np.float32), (0, 0), 0.7)
    ws = watershed(elev, markers, mask=hair)
    front = hair & (ws == FRONT)
    # unreached hair (no seed in its piece): old geometric rule
    lost = hair & (ws == 0)
    front |= lost & skull & (yy < g.eye_y - 0.1 * fw)
    in_front_zone = hull | template | (neck | (dx < 0.2 * fw) & (yy > g.chin_y))
    body = fg & ~hair & ~face & ~neck
    cols = np.arange(W)[None, :]
    has_body = body.any(axis=1)
    bl = np.where(has_body, np.argmax(body, axis=1), W)[:, None]
    br = np.where(has_body, W - 1 - np.argmax(body[:, ::-1], axis=1), -1)[:, None]
    inside_body = (cols > bl) & (cols < br) & (yy > g.chin_y)
    over = in_front_zone | inside_body
    hull_ring = cv2.dilate(hull.view(np.uint8), _disk(0.06 * fw)) > 0
    side_l = np.zeros_like(hair)
    side_r = np.zeros_like(hair)
    for lab_id, out in ((SIDE_L, side_l), (SIDE_R, side_r)):
        reg = hair & (ws == lab_id)
        if not reg.any():
            continue
        # the lock is the part of the region connected to its seed; over the face/neck/body enough
        reg = _components_touching(reg, markers == lab_id)
        frac = (reg & over).sum() / max(1, reg.sum())
        near = (reg & hull_ring).sum() / max(1, reg.sum())
        if (frac >= 0.25 or near >= 0.15) and reg.sum() >= (0.03 * fw) ** 2:
            out |= reg
    # hair hanging over the face that the front did not reach is front hair
    back = hair & ~front & ~side_l & ~side_r
    return front, side_l, side_r, back


# ---------------------------------------------------------------------------------------- face features


def _face_features(lab: NDArray[np.float32], fg: Mask, g: _Geo, skin_lab, labels: NDArray[np.int32],
                   hair_l: float | None = None):
    """Eyes, brows and mouth at full resolution, each in a box around its landmark."""
    H, W = fg.shape
    fw = g.fw
    out: dict[Part, Mask] = {}
    colors: dict[str, tuple[int, int, int]] = {}
    for side, (ex, ey) in (("l", g.eye_l), ("r", g.eye_r)):
        x0, x1 = int(max(0, ex - 0.19 * fw)), int(min(W, ex + 0.19 * fw))
        y0, y1 = int(max(0, ey - 0.2 * fw)), int(min(H, ey + 0.15 * fw))
        if x1 <= x0 or y1 <= y0:
            continue
        crop = lab[y0:y1, x0:x1]
        res = _eye_parts(crop, fg[y0:y1, x0:x1], (ex - x0, ey - y0), fw, skin_lab)
        if res is None:
            continue
        white, iris, lash, _brow_unused = res
        for part, m in (
            (Part.EYE_WHITE_L if side == "l" else Part.EYE_WHITE_R, white),
            (Part.IRIS_L if side == "l" else Part.IRIS_R, iris),
            (Part.LASHES_L if side == "l" else Part.LASHES_R, lash),
        ):
            full = np.zeros((H, W), bool)
            full[y0:y1, x0:x1] = m
            if full.any():
                out[part] = full
        if iris.any():
            colors[f"iris_{side}"] = _lab_to_rgb(np.median(crop[iris], axis=0))
        if lash.any():
            colors[f"lash_{side}"] = _lab_to_rgb(np.median(crop[lash], axis=0))
        # brow: a dark, elongated stroke above the eye (between the eye top and the bangs; may touch them)
        bx0, bx1 = int(max(0, ex - 0.22 * fw)), int(min(W, ex + 0.22 * fw))
        by0 = int(max(0, ey - 0.45 * fw))
        top_eye = y0 + (np.nonzero((white | iris | lash).any(axis=1))[0].min() if (white | iris | lash).any() else 0)
        by1 = int(max(by0 + 1, min(top_eye - 0.01 * fw, ey - 0.08 * fw)))
        if by1 - by0 < 3 or bx1 - bx0 < 3:
            continue
        bcrop = lab[by0:by1, bx0:bx1]
        blab = labels[by0:by1, bx0:bx1]
        bz = fg[by0:by1, bx0:bx1] & np.isin(blab, (0, -1, _ID[Part.FACE], _ID[Part.FRONT_HAIR], _ID[Part.BODY]))
        bm = _brow(bcrop, bz, (ex - bx0, ey - 0.27 * fw - by0), fw, skin_lab, hair_l)
        if bm is not None:
            full = np.zeros((H, W), bool)
            full[by0:by1, bx0:bx1] = bm
            out[Part.BROW_L if side == "l" else Part.BROW_R] = full
    # mouth
    mx, my = g.mouth
    x0, x1 = int(max(0, mx - 0.15 * fw)), int(min(W, mx + 0.15 * fw))
    y0, y1 = int(max(0, my - 0.08 * fw)), int(min(H, my + 0.12 * fw))
    if x1 > x0 and y1 > y0:
        res_m = _mouth_parts(lab[y0:y1, x0:x1], (mx - x0, my - y0), fw, skin_lab)
        if res_m is not None:
            line_m, interior = res_m
            for part, m in ((Part.MOUTH, line_m), (Part.MOUTH_INTERIOR, interior)):
                full = np.zeros((H, W), bool)
                full[y0:y1, x0:x1] = m
                if full.any():
                    out[part] = full
            if interior.any():
                colors["mouth_interior"] = _lab_to_rgb(np.median(lab[y0:y1, x0:x1][interior], axis=0))
            if line_m.any():
                colors["mouth_line"] = _lab_to_rgb(np.median(lab[y0:y1, x0:x1][line_m], axis=0))
    for part in list(out):
        out[part] &= fg
    return out, colors


def _eye_parts(crop: NDArray[np.float32], fg: Mask, c: tuple[float, float], fw: float, skin_lab):
    h, w = crop.shape[:2]
    L = crop[..., 0]
    chroma = np.hypot(crop[..., 1], crop[..., 2])
    d_skin = _de(crop, skin_lab, 0.5)
    nonskin = (d_skin > 9.0) & fg
    # (very pale skin is as bright and grey as an eye white: the bright clause needs a colour step from skin)
    white_px = (L > 72) & (chroma < 16) & (crop[..., 2] < skin_lab[2] - 1) | ((L > 88) & (chroma < 10) & (d_skin > 6))
    nonskin |= white_px & fg
    m = cv2.morphologyEx(nonskin.astype(np.uint8), cv2.MORPH_CLOSE, _disk(fw / 200)) > 0
    n, comp, stats, cents = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    cc = np.array(c)
    best, best_s = -1, -1.0
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA]
        if area < (0.03 * fw) ** 2:
            continue
        inside = comp[int(np.clip(c[1], 0, h - 1)), int(np.clip(c[0], 0, w - 1))] == i
        d = np.linalg.norm(cents[i] - cc) / fw
        s = area * (4.0 if inside else 1.0) / (1 + (d / 0.08) ** 2)
        if s > best_s:
            best, best_s = i, s
    if best < 0:
        return None
    blob = comp == best
    # cut away what reaches far above the eye (bangs merged through the lashes)
    yy, xx = np.mgrid[0:h, 0:w]
    blob &= (((xx - c[0]) / (0.19 * fw)) ** 2 + ((yy - c[1]) / (0.14 * fw)) ** 2) < 1.0
    blob = _largest(blob)
    if not blob.any():
        return None
    white = blob & white_px
    dark = blob & (L < 42) & (chroma < 22)
    colored = blob & ~white & ~dark
    iris_region = np.zeros_like(blob)
    if colored.sum() > (0.04 * fw) ** 2:
        cl = cv2.morphologyEx(colored.astype(np.uint8), cv2.MORPH_CLOSE, _disk(fw / 60)) > 0
        iris_region = _fill(_largest(cl)) & blob
    if not iris_region.any():
        # dark irises: the dark part below a thin top band
        iris_region = dark.copy()
    # the lash: dark pixels above the first coloured/white pixel in each column, and dark pixels outside the iris
    first_iris = np.where(iris_region.any(axis=0), np.argmax(iris_region & ~dark | ~dark & white, axis=0), h)
    above = yy < first_iris[None, :]
    lash = dark & (above | ~iris_region)
    # the lash is the UPPER lid line: keep the dark component(s) touching the top of the eye
    top_rows = np.nonzero(blob.any(axis=1))[0]
    top_limit = top_rows[0] + 0.45 * (top_rows[-1] - top_rows[0] + 1)
    n2, comp2 = cv2.connectedComponents(lash.astype(np.uint8), connectivity=8)
    keep = np.zeros(n2, bool)
    for i in range(1, n2):
        ys = np.nonzero(comp2 == i)[0]
        keep[i] = ys.min() < top_limit
    lash = keep[comp2] & lash
    # the lash line is thin: inside the iris columns only the top band of dark pixels is lash, the dark
    # pixels below it (pupil, the dark top of the iris) belong to the iris (they must not blink with the lid)
    if iris_region.any() and lash.any():
        icols = np.nonzero(iris_region.any(axis=0))[0]
        lash_cols = lash.any(axis=0)
        top = np.where(lash_cols, np.argmax(lash, axis=0), h)
        t_max = max(2.0, 0.06 * fw)
        deep = yy > top[None, :] + t_max
        in_cols = np.zeros(w, bool)
        in_cols[icols.min() : icols.max() + 1] = True
        # only below the lash line at its own column, and inside the iris disc's columns
        moved = lash & deep & in_cols[None, :]
        if moved.any():
            iris_region = iris_region | moved
            lash = lash & ~moved
    iris = iris_region & ~lash & ~(white & ~_fill(iris_region & ~white))
    white = white & ~iris & ~lash
    rest = blob & ~iris & ~lash & ~white
    # leftover blob pixels go to the nearest of the three
    if rest.any():
        stack = [white, iris, lash]
        dist = [ndimage.distance_transform_edt(~s) if s.any() else np.full(blob.shape, 1e9) for s in stack]
        nearest = np.argmin(np.stack(dist), axis=0)
        white = white | (rest & (nearest == 0))
        iris = iris | (rest & (nearest == 1))
        lash = lash | (rest & (nearest == 2))
    return white, iris, lash, None


def _reclaim_lashes(labels: NDArray[np.int32], lab: NDArray[np.float32], fg: Mask, fw: float) -> NDArray[np.int32]:
    """Give the lashes back the pieces of the upper lash stroke that other parts took.

    Pixels as dark as the lash labelled brow, this eye's iris or eye white, face or front hair that are
    8-connected to the eye's lashes, inside the eye's columns (plus a small margin), above the eye's vertical
    middle and at most a little above the lash's top become lashes (a closed eye leaves no lash pieces behind).
    The iris keeps its disc: an iris pixel is taken only in a column without lash, in the thin top band of the
    dark stroke there (the dark top of the iris under the lash band stays iris, as in
    ``_eye_parts``).
    """
    W = labels.shape[1]
    t_max = max(2.0, 0.06 * fw)
    margin = max(1, int(round(0.02 * fw)))
    rise = max(2.0, 0.04 * fw)
    shared = [_ID[Part.BROW_L], _ID[Part.BROW_R], _ID[Part.FACE], _ID[Part.FRONT_HAIR]]
    for lash_p, iris_p, white_p in ((Part.LASHES_L, Part.IRIS_L, Part.EYE_WHITE_L),
                                    (Part.LASHES_R, Part.IRIS_R, Part.EYE_WHITE_R)):
        lid, iid, wid = _ID[lash_p], _ID[iris_p], _ID[white_p]
        lash = labels == lid
        if lash.sum() < 3:
            continue
        eye = lash | (labels == iid) | (labels == wid)
        ys, xs = np.nonzero(eye)
        ly = np.nonzero(lash.any(axis=1))[0]
        x0, x1 = max(0, xs.min() - margin), min(W, xs.max() + margin + 1)
        y0 = max(0, int(np.floor(ly[0] - rise)))
        y1 = int(np.ceil((ys.min() + ys.max()) / 2.0))
        if y1 <= y0 or x1 <= x0:
            continue
        sub_lab = labels[y0:y1, x0:x1]
        crop = lab[y0:y1, x0:x1]
        sub_lash = lash[y0:y1, x0:x1]
        ref = np.median(lab[lash], axis=0)
        # as dark as the lash (a lash stroke's hue varies along it: dark red at the ends, black in the middle)
        dark = (crop[..., 0] < min(ref[0] + 12.0, 45.0)) & fg[y0:y1, x0:x1]
        other = dark & np.isin(sub_lab, shared + [wid])
        iris_c = dark & (sub_lab == iid)
        if iris_c.any():
            # the thin lash band rule: where the lash already has its band, the dark pixels under it are iris;
            # elsewhere only the thin top band of the dark stroke goes to the lash
            lash_cols = lash.any(axis=0)
            stroke = other | iris_c
            top = np.where(stroke.any(axis=0), np.argmax(stroke, axis=0), y1 - y0)
            rows = np.arange(y1 - y0)[:, None]
            iris_c &= (rows <= top[None, :] + t_max) & ~lash_cols[None, x0:x1]
        cand = other | iris_c
        if not cand.any():
            continue
        take = _components_touching(cand | sub_lash, sub_lash) & cand
        if take.any():
            sub_lab[take] = lid
    return labels


def _brow(crop: NDArray[np.float32], zone: Mask, c: tuple[float, float], fw: float, skin_lab,
          hair_l: float | None = None):
    """The brow in a box above one eye: dark strokes (hair-coloured or darker), thin and elongated.

    The bulky bangs in the box are removed first (an opening wider than a brow is thick keeps only them),
    so a brow that touches the bangs or is partly covered is still found.
    """
    if crop.size == 0:
        return None
    lum = crop[..., 0]
    d_skin = _de(crop, skin_lab, 0.5)
    dark_lim = skin_lab[0] - 12.0
    if hair_l is not None:
        dark_lim = min(dark_lim, hair_l + 8.0)
    cand = (d_skin > 14.0) & (lum < dark_lim) & zone
    bulk = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, _disk(max(1.5, 0.03 * fw))) > 0
    bulk = cv2.dilate(bulk.astype(np.uint8), _disk(max(1.0, 0.006 * fw))) > 0
    thin = cand & ~bulk
    # brows run sideways: a horizontal opening drops the bang outlines and strand lines that touch them
    klen = max(3, int(round(0.05 * fw)))
    thin = cv2.morphologyEx(thin.astype(np.uint8), cv2.MORPH_OPEN, np.ones((1, klen), np.uint8)) > 0
    thin = cv2.morphologyEx(thin.astype(np.uint8), cv2.MORPH_CLOSE, _disk(max(1.0, 0.006 * fw))) > 0
    n, comp, stats, cents = cv2.connectedComponentsWithStats(thin.astype(np.uint8), connectivity=8)
    best, best_s = -1, -1.0
    for i in range(1, n):
        _x, _y, bw, bh, area = stats[i]
        if area < (0.015 * fw) ** 2 or bw < 0.07 * fw or bw < 1.8 * bh or bw > 0.36 * fw:
            continue
        d = abs(cents[i][1] - c[1]) / fw + 0.5 * abs(cents[i][0] - c[0]) / fw
        s = area * min(bw / max(bh, 1), 6.0) / (1 + (d / 0.08) ** 2)
        if s > best_s:
            best, best_s = i, s
    if best < 0:
        return None
    grown = cv2.dilate((comp == best).astype(np.uint8), _disk(max(1.0, 0.008 * fw))) > 0
    return grown & cand & ~bulk


def _mouth_parts(crop: NDArray[np.float32], c: tuple[float, float], fw: float, skin_lab):
    _h, _w = crop.shape[:2]
    dL = skin_lab[0] - crop[..., 0]
    d_skin = _de(crop, skin_lab, 0.5)
    cand = (dL > 14) | ((d_skin > 16) & (crop[..., 1] > skin_lab[1] + 6))
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_CLOSE, _disk(fw / 150)) > 0
    n, comp, stats, cents = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=8)
    keep = []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < max(3, (0.008 * fw) ** 2):
            continue
        _x, _y, bw, bh, _ = stats[i]
        if bw > 0.28 * fw:
            continue
        dx = max(0.0, abs(cents[i][0] - c[0]) - bw / 2)
        dy = max(0.0, abs(cents[i][1] - c[1]) - bh / 2)
        if np.hypot(dx, dy) < 0.05 * fw:
            keep.append(i)
    if not keep:
        return None
    blob = np.isin(comp, keep)
    filled = _fill(cv2.morphologyEx(blob.astype(np.uint8), cv2.MORPH_CLOSE, _disk(fw / 100)) > 0)
    thick = ndimage.distance_transform_edt(filled).max()
    lw = max(1.0, fw / 90.0)
    if thick > 2.2 * lw:  # an open mouth: the inside is the interior
        inner = cv2.erode(filled.astype(np.uint8), _disk(lw * 1.2)) > 0
        return filled & ~inner, inner
    return filled, np.zeros_like(filled)


# ------------------------------------------------------------------------------------- rest and landmarks


def _assign_rest(labels: NDArray[np.int32], fg: Mask, g: _Geo) -> NDArray[np.int32]:
    """Unassigned foreground (<= 0 inside fg): front-most part within one line width, then the nearest part."""
    todo = fg & (labels <= 0)
    labels = labels.copy()
    labels[~fg] = 0
    if not todo.any():
        return labels
    r = max(1.5, g.fw / 90.0)
    k = _disk(r)
    for part in reversed(DEFAULT_DEPTH_ORDER):
        if part in (Part.BODY, Part.BACK_HAIR):
            continue
        pid = _ID[part]
        m = labels == pid
        if not m.any():
            continue
        ys, xs = np.nonzero(m)
        pad = int(r) + 2
        y0, y1 = max(0, ys.min() - pad), min(labels.shape[0], ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(labels.shape[1], xs.max() + pad + 1)
        grown = cv2.dilate(m[y0:y1, x0:x1].astype(np.uint8), k) > 0
        claim = grown & todo[y0:y1, x0:x1]
        labels[y0:y1, x0:x1][claim] = pid
        todo[y0:y1, x0:x1][claim] = False
    if todo.any():
        known = labels > 0
        if known.any():
            _, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
            labels[todo] = labels[iy[todo], ix[todo]]
        else:
            labels[todo] = _ID[Part.BODY]
    return labels


# (front part, part behind it, rows): line pixels of the part behind, connected through line pixels to the front
# part within one stroke width, are the front part's outline. Rows "face" = below the eyes only, "chin" = below
# the mouth and near the face's middle (a lock's own outline elsewhere stays the lock's)
_OUTLINE_PAIRS: tuple[tuple[Part, Part, str], ...] = (
    (Part.SIDE_HAIR_L, Part.BACK_HAIR, "all"),
    (Part.SIDE_HAIR_R, Part.BACK_HAIR, "all"),
    (Part.SIDE_HAIR_L, Part.BODY, "all"),
    (Part.SIDE_HAIR_R, Part.BODY, "all"),
    (Part.FACE, Part.BODY, "face"),
    (Part.FACE, Part.NECK, "face"),
    (Part.FACE, Part.BACK_HAIR, "face"),
    (Part.FACE, Part.SIDE_HAIR_L, "chin"),
    (Part.FACE, Part.SIDE_HAIR_R, "chin"),
)


def _outline_owner(labels: NDArray[np.int32], line: Mask, g: _Geo) -> NDArray[np.int32]:
    """Line-art strokes between two parts go to the part they outline (the front one of the pair).

    A stroke pixel of the part behind moves to the front part when it is reachable from the front part through
    stroke pixels in at most ~one stroke width (0.035 fw): the jaw line goes with the face (no ghost jaw left
    on the body when the head turns), a side lock's outline goes with the lock (no U-shaped outline left in the
    back hair or on the body when the lock swings).
    """
    H, W = labels.shape
    out = labels.copy()
    steps = max(2, int(round(0.035 * g.fw)))
    k3 = np.ones((3, 3), np.uint8)
    yy = np.arange(H, dtype=np.float32)[:, None]
    xx = np.arange(W, dtype=np.float32)[None, :]
    for front, back, rows in _OUTLINE_PAIRS:
        fid, bid = _ID[front], _ID[back]
        fm = out == fid
        cand = line & (out == bid)
        if rows == "face":
            cand &= np.broadcast_to(yy > g.eye_y, cand.shape)
        elif rows == "chin":
            cand &= (yy > g.mouth[1]) & (np.abs(xx - g.cx) < 0.3 * g.fw)
        if not fm.any() or not cand.any():
            continue
        ys, xs = np.nonzero(cand)
        pad = steps + 2
        y0, y1 = max(0, ys.min() - pad), min(H, ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(W, xs.max() + pad + 1)
        c = cand[y0:y1, x0:x1]
        reach = fm[y0:y1, x0:x1].astype(np.uint8)
        got = np.zeros_like(c)
        for _ in range(steps):
            grown = (cv2.dilate(reach, k3) > 0) & c & ~got
            if not grown.any():
                break
            got |= grown
            reach = grown.astype(np.uint8)
        out[y0:y1, x0:x1][got] = fid
    return out


_BIG = (Part.BACK_HAIR, Part.BODY, Part.NECK, Part.FACE, Part.SIDE_HAIR_L, Part.SIDE_HAIR_R, Part.FRONT_HAIR)


def _clean_islands(labels: NDArray[np.int32], g: _Geo, min_share: float) -> NDArray[np.int32]:
    """Islands (connected pieces) of a part below ``min_share`` of the picture join the part that surrounds them.

    Big parts (hair, body, neck, face) keep their largest piece; every other piece under the threshold gets the
    most common label on a ring around it. Face features keep pieces of at least ~1% of a face width squared.
    Pieces that would float apart when the rig moves a part (a hair speck in the body, a skin speck in the hair)
    disappear this way; holes of one big part in another are filled by the same rule.
    """
    H, W = labels.shape
    big_min = max(16, int(min_share * H * W))
    feat_min = max(3, int((0.012 * g.fw) ** 2))
    out = labels.copy()
    for _round in range(2):
        changed = False
        for part, pid in _ID.items():
            m = out == pid
            if not m.any():
                continue
            n, comp, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
            if n <= 2 and part not in _BIG:
                continue
            areas = stats[1:, cv2.CC_STAT_AREA]
            biggest = 1 + int(np.argmax(areas))
            # skin seen between the bang tips is small but real face: only specks of face move
            limit = big_min if part in _BIG and part != Part.FACE else feat_min
            for i in np.nonzero(areas < limit)[0] + 1:
                if i == biggest:
                    continue
                label, _share = _relabel_to_surroundings(out, comp, stats[i], i, pid)
                changed = changed or label is not None
        if not changed:
            break
    # pieces of "body" in the head (above the chin, cut off from the main body) are hair or skin the colour
    # models missed (white/silver/pink hair, highlights): they join the part around them
    bid = _ID[Part.BODY]
    m = out == bid
    n, comp, stats, cents = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n > 2:
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        for i in range(1, n):
            if i == biggest or cents[i][1] > g.chin_y or stats[i, cv2.CC_STAT_AREA] > 0.1 * H * W:
                continue
            _relabel_to_surroundings(out, comp, stats[i], i, bid, min_share=0.5)
    return out


def _relabel_to_surroundings(out: NDArray[np.int32], comp: NDArray[np.int32], stat: NDArray[np.int32], i: int,
                             own: int, min_share: float = 0.0) -> tuple[int | None, float]:
    """Give component ``i`` of ``comp`` the most common other part label on a 2-px ring around it, in place.

    Background (0) and ``own`` do not count; nothing changes unless those other labels cover at least
    ``min_share`` of the ring. Returns (the new label or None, the share of the ring they cover)."""
    H, W = out.shape
    x, y, w, h, _a = stat
    x0, y0, x1, y1 = max(0, x - 2), max(0, y - 2), min(W, x + w + 2), min(H, y + h + 2)
    piece = comp[y0:y1, x0:x1] == i
    ring = (cv2.dilate(piece.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2) > 0) & ~piece
    around = out[y0:y1, x0:x1][ring]
    around = around[(around > 0) & (around != own)]
    share = len(around) / max(1, int(ring.sum()))
    if len(around) == 0 or share < min_share:
        return None, share
    vals, cnt = np.unique(around, return_counts=True)
    label = int(vals[np.argmax(cnt)])
    out[y0:y1, x0:x1][piece] = label
    return label, share


def _refine_landmarks(lm: FaceLandmarks, feats: dict[Part, Mask]) -> FaceLandmarks:
    from dataclasses import replace

    changes: dict[str, object] = {}
    fw = lm.face_width
    for key, parts in (
        ("eye_l", (Part.IRIS_L,)),
        ("eye_r", (Part.IRIS_R,)),
        ("mouth", (Part.MOUTH, Part.MOUTH_INTERIOR)),
    ):
        ms = [feats[p] for p in parts if p in feats]
        if not ms:
            continue
        m = np.logical_or.reduce(ms)
        ys, xs = np.nonzero(m)
        if key == "mouth":
            c = ((xs.min() + xs.max()) / 2.0, float(ys.mean()))
        else:
            # iris: centre of its horizontal extent; vertically from the top of the eye opening to the iris
            # bottom. The iris top under the lid is dark (shading, pupil) and goes to the lash band, so the
            # visible iris starts too low: the top of the lash band over the middle of the iris (at most
            # 0.08 fw above the iris) stands in for the top of the opening.
            top, bot = int(ys.min()), int(ys.max())
            lash = feats.get(Part.LASHES_L if key == "eye_l" else Part.LASHES_R)
            if lash is not None:
                xa, xb = int(xs.min()), int(xs.max())
                q = (xa + xb) // 2, max(1, (xb - xa) // 4)
                y_lo = max(0, int(top - 0.08 * fw))
                band = lash[y_lo : top + 1, q[0] - q[1] : q[0] + q[1] + 1]
                rows = np.nonzero(band.any(axis=1))[0]
                if len(rows):
                    top = y_lo + int(rows[0])
            c = ((xs.min() + xs.max()) / 2.0, (top + bot) / 2.0)
        old = getattr(lm, key)
        if np.hypot(c[0] - old[0], c[1] - old[1]) < 0.12 * fw:
            changes[key] = (float(c[0]), float(c[1]))
    return replace(lm, **changes)  # type: ignore[arg-type]
