"""Face landmarks: face box, eye and mouth centres, chin, skin and hair colours.

Order of attempts (the first that finds a face wins; every attempt is reported in the error when all fail):

1. the user's landmarks (``--landmarks FILE.json``) and/or face box (``--face-box X,Y,W,H``);
2. ``animeface`` (the AnimeFace detector) at native scale, then downscaled / upscaled copies. Its C extension
   reads Pillow's private image struct and silently returns nothing with Pillow >= 12 (we pin pillow<12);
   :func:`animeface_self_check` detects that case on a drawn test face, and the failure is named in the
   error instead of being silent;
3. a skin-colour + symmetry heuristic: the largest skin-coloured blob in the upper part of the foreground.

The boxes of every detector are then refined to precise eye centres (the iris: the darkest coloured blob in
the grown eye box) and mouth centre (the dark non-skin pixels in the grown mouth box).

``eye_l`` is the CHARACTER's left eye = the one on the IMAGE's RIGHT (animeface's ``left_eye`` is the same).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import ImageInputError
from avatar_plugin.generator.types import FaceLandmarks, SourceImage

__all__ = [
    "DetectedFace",
    "LandmarkOptions",
    "animeface_self_check",
    "detect_faces",
    "find_landmarks",
    "parse_face_box",
    "read_landmarks_file",
]

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class LandmarkOptions:
    """User overrides. ``face_box`` is (x, y, w, h) in pixels; ``landmarks_file`` a JSON file (see
    :func:`read_landmarks_file`)."""

    face_box: tuple[float, float, float, float] | None = None
    landmarks_file: str | None = None
    allow_several: bool = False  # pick the most likely face when several characters are found


@dataclass(frozen=True)
class DetectedFace:
    """One face from a detector, with the colours it measured (RGB)."""

    landmarks: FaceLandmarks
    likelihood: float
    skin: tuple[int, int, int] | None = None
    hair: tuple[int, int, int] | None = None


def parse_face_box(text: str) -> tuple[float, float, float, float]:
    """Parse ``X,Y,W,H`` (pixels) into a tuple; raise ImageInputError naming the value otherwise."""
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4 or vals[2] <= 0 or vals[3] <= 0:
        raise ImageInputError(f"--face-box {text!r}: expected X,Y,W,H in pixels with W and H > 0, e.g. 200,120,180,180")
    return (vals[0], vals[1], vals[2], vals[3])


def read_landmarks_file(path: str | Path) -> dict[str, tuple[float, ...]]:
    """Read user landmarks: ``{"eye_l": [x, y], "eye_r": [x, y], "mouth": [x, y], "face_box": [x, y, w, h]}``.

    ``eye_l`` is the character's left eye (on the image's right). ``face_box`` is optional; ``chin`` [x, y]
    too. Raises ImageInputError naming the file and key on any problem.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImageInputError(f"{path}: cannot read the landmarks file ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ImageInputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ImageInputError(f"{path}: expected a JSON object with eye_l, eye_r, mouth, found {type(data).__name__}")
    out: dict[str, tuple[float, ...]] = {}
    sizes = {"eye_l": 2, "eye_r": 2, "mouth": 2, "chin": 2, "face_box": 4}
    for key in data:
        if key not in sizes:
            raise ImageInputError(f"{path}: unknown key {key!r}; expected {', '.join(sizes)}")
    for key in ("eye_l", "eye_r", "mouth"):
        if key not in data:
            raise ImageInputError(f"{path}: missing {key!r}; expected [x, y] pixels for eye_l, eye_r and mouth")
    for key, n in sizes.items():
        if key not in data:
            continue
        v = data[key]
        ok = isinstance(v, list) and len(v) == n and all(isinstance(x, (int, float)) for x in v)
        if not ok:
            raise ImageInputError(f"{path}: {key!r} is {v!r}; expected a list of {n} numbers (pixels)")
        out[key] = tuple(float(x) for x in v)
    if out["eye_l"][0] < out["eye_r"][0]:
        raise ImageInputError(
            f"{path}: eye_l x={out['eye_l'][0]:g} is left of eye_r x={out['eye_r'][0]:g}; eye_l is the "
            "CHARACTER's left eye, on the image's right: swap them"
        )
    return out


# ----------------------------------------------------------------------------------------------- animeface


def _animeface_detect(rgb: NDArray[np.uint8]) -> list[DetectedFace]:
    import animeface
    from PIL import Image

    faces = animeface.detect(Image.fromarray(rgb))
    out = []
    for f in faces:

        def box(pos: object) -> Box:
            x, y, w, h = pos.x, pos.y, pos.width, pos.height  # type: ignore[attr-defined]
            return (float(x), float(y), float(x + w), float(y + h))

        def centre(b: Box) -> tuple[float, float]:
            return ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)

        fb = box(f.face.pos)
        le, re_, mb = box(f.left_eye.pos), box(f.right_eye.pos), box(f.mouth.pos)
        lm = FaceLandmarks(
            face_box=fb,
            eye_l=centre(le),
            eye_r=centre(re_),
            mouth=centre(mb),
            eye_l_box=le,
            eye_r_box=re_,
            mouth_box=mb,
            chin=(float(f.chin.pos.x), float(f.chin.pos.y)),
            source="animeface",
        )
        skin = tuple(int(c) for c in (f.skin.color.r, f.skin.color.g, f.skin.color.b))
        hair = tuple(int(c) for c in (f.hair.color.r, f.hair.color.g, f.hair.color.b))
        out.append(DetectedFace(lm, float(f.likelihood), skin, hair))  # type: ignore[arg-type]
    return out


@lru_cache(maxsize=1)
def animeface_self_check() -> str | None:
    """Run animeface on a drawn test face; return None when it works, else why it does not.

    Catches the Pillow >= 12 trap (animeface returns no faces and no error) and a missing install.
    """
    try:
        import animeface  # noqa: F401
        import PIL
    except ImportError as exc:
        return f"animeface is not installed ({exc})"
    from avatar_plugin.generator.synth import CharacterSpec, make_character

    probe = make_character(CharacterSpec(size=256, background="plain", hair_style="bob", side_locks=False))
    try:
        found = _animeface_detect(np.ascontiguousarray(probe.rgba[..., :3]))
    except Exception as exc:  # the C extension can fail in many ways; report, do not hide
        return f"animeface failed on its self-test picture ({type(exc).__name__}: {exc})"
    if not found:
        return (
            f"animeface found no face in its self-test picture (Pillow {PIL.__version__}; animeface needs "
            "Pillow < 12: pip install 'pillow<12')"
        )
    return None


def detect_faces(rgb: NDArray[np.uint8]) -> list[DetectedFace]:
    """animeface at native scale, then at 0.5x (large faces) and 2x (small pictures); coordinates in ``rgb``."""
    h, w = rgb.shape[:2]
    scales = [1.0]
    if max(h, w) > 300:
        scales.append(0.5)
    if max(h, w) < 700:
        scales.append(2.0)
    for s in scales:
        img = rgb if s == 1.0 else cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        faces = _animeface_detect(np.ascontiguousarray(img))
        if s != 1.0:
            faces = [replace(f, landmarks=_scale_landmarks(f.landmarks, 1.0 / s)) for f in faces]
            faces = [f for f in faces if f.likelihood >= 0.6]
        if faces:
            return sorted(faces, key=lambda f: -f.likelihood)
    return []


def _scale_landmarks(lm: FaceLandmarks, k: float) -> FaceLandmarks:
    def sb(b: Box | None) -> Box | None:
        return None if b is None else (b[0] * k, b[1] * k, b[2] * k, b[3] * k)

    def sp(p: tuple[float, float] | None) -> tuple[float, float] | None:
        return None if p is None else (p[0] * k, p[1] * k)

    return replace(
        lm,
        face_box=sb(lm.face_box),  # type: ignore[arg-type]
        eye_l=sp(lm.eye_l),  # type: ignore[arg-type]
        eye_r=sp(lm.eye_r),  # type: ignore[arg-type]
        mouth=sp(lm.mouth),  # type: ignore[arg-type]
        eye_l_box=sb(lm.eye_l_box),
        eye_r_box=sb(lm.eye_r_box),
        mouth_box=sb(lm.mouth_box),
        chin=sp(lm.chin),
    )


# ------------------------------------------------------------------------------------------ skin heuristic


def _skin_heuristic(image: SourceImage) -> DetectedFace | None:
    """The largest skin-coloured blob in the top 60% of the foreground, taken as the face."""
    rgb = image.rgba[..., :3]
    fg = image.rgba[..., 3] > 10
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    skin = fg & (y > 110) & (cr >= 133) & (cr <= 175) & (cb >= 77) & (cb <= 130)
    ys = np.nonzero(fg.any(axis=1))[0]
    if len(ys) == 0:
        return None
    top, bot = ys[0], ys[-1]
    skin[int(top + 0.6 * (bot - top)) :] = False
    k = max(3, int(min(rgb.shape[:2]) / 100) | 1)
    skin = cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_OPEN, np.ones((k, k), np.uint8))  # type: ignore[assignment]
    n, _labels, stats, _cents = cv2.connectedComponentsWithStats(skin, connectivity=8)  # type: ignore[arg-type]
    if n <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y0, bw, bh, area = stats[best]
    if area < 0.004 * fg.size:
        return None
    # the face is roughly as tall as wide; a long blob includes the neck: cut it
    bh = min(bh, int(1.15 * bw))
    fb = (float(x), float(y0), float(x + bw), float(y0 + bh))
    cx = x + bw / 2
    lm = FaceLandmarks(
        face_box=fb,
        eye_l=(cx + 0.2 * bw, y0 + 0.5 * bh),
        eye_r=(cx - 0.2 * bw, y0 + 0.5 * bh),
        mouth=(cx, y0 + 0.8 * bh),
        chin=(cx, y0 + bh),
        source="skin-heuristic",
    )
    return DetectedFace(lm, 0.3)


# ------------------------------------------------------------------------------------------------ refine


def _grow(b: Box, left: float, up: float, right: float, down: float, shape: tuple[int, ...]) -> tuple[int, ...]:
    w, h = b[2] - b[0], b[3] - b[1]
    x0 = max(0, int(b[0] - left * w))
    y0 = max(0, int(b[1] - up * h))
    x1 = min(shape[1], int(math.ceil(b[2] + right * w)))
    y1 = min(shape[0], int(math.ceil(b[3] + down * h)))
    return x0, y0, x1, y1


def _eye_box(lm: FaceLandmarks, side: str) -> Box:
    b = lm.eye_l_box if side == "l" else lm.eye_r_box
    if b is not None:
        return b
    c = lm.eye_l if side == "l" else lm.eye_r
    fw = lm.face_width
    return (c[0] - 0.12 * fw, c[1] - 0.08 * fw, c[0] + 0.12 * fw, c[1] + 0.08 * fw)


def refine_eye(lab: NDArray[np.float32], lm: FaceLandmarks, side: str, skin_lab: NDArray[np.float32],
               hair_lab: NDArray[np.float32] | None = None):
    """Precise eye centre: centroid of the iris (coloured, non-skin, not white, not the near-black lash) in the
    grown eye box, weighted to the blob nearest the box centre. Returns (x, y) or None.

    With ``hair_lab`` (the hair colour), hair-coloured pixels are tried without first: a strand of bangs or a
    side lock next to the eye is coloured and non-skin too, and must not pull the centre off the iris."""
    b = _eye_box(lm, side)
    fw = lm.face_width
    x0, y0, x1, y1 = _grow(b, 0.3, 0.4, 0.3, 0.4, lab.shape)
    crop = lab[y0:y1, x0:x1]
    if crop.size == 0:
        return None
    d_skin = np.linalg.norm(crop - skin_lab, axis=2)
    L = crop[..., 0] * (100 / 255)
    chroma = np.hypot(crop[..., 1] - 128, crop[..., 2] - 128)
    white = (L > 80) & (chroma < 14)
    lash = (L < 35) & (chroma < 12)
    bc = np.array([(b[0] + b[2]) / 2 - x0, (b[1] + b[3]) / 2 - y0])
    min_area = max(4.0, (0.03 * fw) ** 2)
    max_area = (0.3 * fw) ** 2
    cands = [(d_skin > 20) & ~white & ~lash, (d_skin > 20) & ~white]
    if hair_lab is not None:
        d_hair = np.linalg.norm(crop - hair_lab, axis=2)
        cands.insert(0, cands[0] & (d_hair > 24))
    for cand in cands:
        cand_u8 = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        n, labels, stats, cents = cv2.connectedComponentsWithStats(cand_u8, connectivity=8)
        best, best_score = -1, -1.0
        for i in range(1, n):
            area = stats[i, cv2.CC_STAT_AREA]
            bw_, bh_ = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
            if area < min_area or area > max_area or bh_ < 0.3 * bw_:
                continue  # too small, too big (hair) or a thin stroke (lash, brow)
            d = np.linalg.norm(cents[i] - bc) / max(fw, 1.0)
            if d > 0.15:
                continue
            score = area / (1.0 + (d / 0.06) ** 2)
            if score > best_score:
                best, best_score = i, score
        if best < 0:
            continue
        blob = (labels == best).astype(np.uint8)
        from scipy import ndimage

        blob = ndimage.binary_fill_holes(blob)
        # the iris is roughly round: keep the columns where the blob is tallest (lash wings are thin)
        col_h = blob.sum(axis=0)
        cols = col_h >= 0.5 * col_h.max()
        core = blob & cols[None, :]
        ys, xs = np.nonzero(core)
        return (float(xs.mean() + x0), float(ys.mean() + y0))
    return None


def refine_mouth(lab: NDArray[np.float32], lm: FaceLandmarks, skin_lab: NDArray[np.float32]):
    """Precise mouth centre: centroid of the dark / reddish non-skin pixels in the grown mouth box."""
    fw = lm.face_width
    mx, my = lm.mouth
    b = lm.mouth_box or (mx - 0.08 * fw, my - 0.05 * fw, mx + 0.08 * fw, my + 0.05 * fw)
    bw, bh = b[2] - b[0], b[3] - b[1]
    grow_x = max(0.5, 0.1 * fw / max(bw, 1))
    grow_y = max(0.8, 0.08 * fw / max(bh, 1))
    x0, y0, x1, y1 = _grow(b, grow_x, grow_y, grow_x, grow_y, lab.shape)
    crop = lab[y0:y1, x0:x1]
    if crop.size == 0:
        return None
    dL = skin_lab[0] - crop[..., 0]
    d_skin = np.linalg.norm(crop - skin_lab, axis=2)
    cand = ((dL > 25) | ((d_skin > 28) & (crop[..., 1] > skin_lab[1] + 8))).astype(np.uint8)
    n, labels, stats, cents = cv2.connectedComponentsWithStats(cand, connectivity=8)
    if n <= 1:
        return None
    bc = np.array([mx - x0, my - y0])
    keep = []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < max(3, (0.01 * fw) ** 2):
            continue
        if np.linalg.norm(cents[i] - bc) < 0.12 * fw:
            keep.append(i)
    if not keep:
        return None
    m = np.isin(labels, keep)
    ys, xs = np.nonzero(m)
    return (float((xs.min() + xs.max()) / 2 + x0), float(ys.mean() + y0))


# --------------------------------------------------------------------------------------------- entry point


def _from_user(image: SourceImage, options: LandmarkOptions) -> FaceLandmarks | None:
    pts = read_landmarks_file(options.landmarks_file) if options.landmarks_file else None
    fb: Box | None = None
    if options.face_box is not None:
        x, y, w, h = options.face_box
        fb = (x, y, x + w, y + h)
    elif pts is not None and "face_box" in pts:
        x, y, w, h = pts["face_box"]
        fb = (x, y, x + w, y + h)
    if pts is None and fb is None:
        return None
    if pts is not None:
        el, er, m = pts["eye_l"], pts["eye_r"], pts["mouth"]
        if fb is None:  # face box from the eye and mouth geometry
            d = el[0] - er[0]
            fw = max(d / 0.41, 1.0)
            cx = (el[0] + er[0]) / 2
            ey = (el[1] + er[1]) / 2
            fb = (cx - fw / 2, ey - 0.6 * fw, cx + fw / 2, ey + 0.56 * fw)
        chin = pts.get("chin")
        return FaceLandmarks(
            face_box=fb,
            eye_l=(el[0], el[1]),
            eye_r=(er[0], er[1]),
            mouth=(m[0], m[1]),
            chin=(chin[0], chin[1]) if chin else None,
            source="user",
        )
    assert fb is not None
    fw = fb[2] - fb[0]
    fh = fb[3] - fb[1]
    cx = (fb[0] + fb[2]) / 2
    return FaceLandmarks(
        face_box=fb,
        eye_l=(cx + 0.2 * fw, fb[1] + 0.5 * fh),
        eye_r=(cx - 0.2 * fw, fb[1] + 0.5 * fh),
        mouth=(cx, fb[1] + 0.82 * fh),
        chin=(cx, fb[3]),
        source="user-face-box",
    )


def find_landmarks(
    image: SourceImage, options: LandmarkOptions | None = None
) -> tuple[FaceLandmarks, dict[str, tuple[int, int, int]], tuple[str, ...]]:
    """Landmarks, the colours the detector measured ("skin", "hair") and warnings.

    Raises ImageInputError when no face is found or several characters are, naming what was tried and how to
    pass the face by hand.
    """
    options = options or LandmarkOptions()
    warnings: list[str] = []
    colors: dict[str, tuple[int, int, int]] = {}
    rgb = np.ascontiguousarray(image.rgba[..., :3])
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    user = _from_user(image, options)
    tried: list[str] = []
    if user is not None:
        lm = user
        refine = user.source == "user-face-box"
    else:
        problem = animeface_self_check()
        faces: list[DetectedFace] = []
        if problem is None:
            faces = detect_faces(_on_white(image.rgba))
            tried.append("animeface")
        else:
            warnings.append(problem)
            log.warning("%s", problem)
            tried.append(f"animeface (unusable: {problem})")
        strong = [f for f in faces if f.likelihood >= 0.9]
        if len(strong) >= 2 and not options.allow_several:
            big = max(f.landmarks.face_width for f in strong)
            similar = [f for f in strong if f.landmarks.face_width >= 0.6 * big]
            if len(similar) >= 2:
                boxes = [f.landmarks.face_box for f in similar]
                where = "; ".join(f"x={b[0]:.0f},y={b[1]:.0f},w={b[2] - b[0]:.0f},h={b[3] - b[1]:.0f}" for b in boxes)
                raise ImageInputError(
                    f"{image.path}: found {len(similar)} faces ({where}); the generator makes one puppet from one "
                    "character: crop the picture to one character, or pass --face-box X,Y,W,H to choose one"
                )
        face = faces[0] if faces else None
        if face is None:
            face = _skin_heuristic(image)
            tried.append("the skin-colour heuristic")
            if face is not None:
                warnings.append(
                    f"{image.path}: animeface found no face; guessed one from skin colour at "
                    f"{tuple(round(v) for v in face.landmarks.face_box)}: check segmentation.png and pass "
                    "--face-box X,Y,W,H or --landmarks FILE.json if it is wrong"
                )
        if face is None:
            raise ImageInputError(
                f"{image.path}: no face found (tried {', '.join(tried)}); pass --face-box X,Y,W,H (the face in "
                "pixels) or --landmarks FILE.json with eye_l, eye_r and mouth [x, y] (eye_l = character's left "
                "eye, on the image's right)"
            )
        if face.likelihood < 0.6:
            warnings.append(f"{image.path}: face found with low confidence ({face.likelihood:.2f})")
        if face.skin:
            colors["skin"] = face.skin
        if face.hair:
            colors["hair"] = face.hair
        lm = face.landmarks
        refine = True
    if refine:
        skin_lab = _skin_lab(lab, lm, colors.get("skin"))
        hair_lab = _hair_lab(lab, lm, skin_lab)
        new_l = refine_eye(lab, lm, "l", skin_lab, hair_lab)
        new_r = refine_eye(lab, lm, "r", skin_lab, hair_lab)
        new_m = refine_mouth(lab, lm, skin_lab)
        fw = lm.face_width
        changes: dict[str, object] = {}
        for key, old, new in (("eye_l", lm.eye_l, new_l), ("eye_r", lm.eye_r, new_r), ("mouth", lm.mouth, new_m)):
            if new is not None and math.dist(old, new) < 0.15 * fw:
                changes[key] = new
        lm = replace(lm, **changes)  # type: ignore[arg-type]
    if lm.eye_l[0] < lm.eye_r[0]:
        lm = replace(lm, eye_l=lm.eye_r, eye_r=lm.eye_l, eye_l_box=lm.eye_r_box, eye_r_box=lm.eye_l_box)
    return lm, colors, tuple(warnings)


def _on_white(rgba: NDArray[np.uint8]) -> NDArray[np.uint8]:
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return np.ascontiguousarray((rgba[..., :3] * a + 255 * (1 - a)).astype(np.uint8))


def _skin_lab(lab: NDArray[np.float32], lm: FaceLandmarks, skin_rgb: tuple[int, int, int] | None):
    """Skin colour in (OpenCV 8-bit) Lab: median of the cheeks below the eyes, or the detector's colour."""
    fw = lm.face_width
    ey = (lm.eye_l[1] + lm.eye_r[1]) / 2
    my = lm.mouth[1]
    y0, y1 = int(ey + 0.25 * (my - ey)), int(ey + 0.75 * (my - ey))
    pts = []
    for ex in (lm.eye_l[0], lm.eye_r[0]):
        x0, x1 = int(ex - 0.06 * fw), int(ex + 0.06 * fw)
        patch = lab[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)].reshape(-1, 3)
        if len(patch):
            pts.append(patch)
    if pts:
        allp = np.concatenate(pts)
        bright = allp[allp[:, 0] >= np.percentile(allp[:, 0], 30)]
        return np.median(bright, axis=0).astype(np.float32)
    if skin_rgb is not None:
        px = np.array([[skin_rgb]], np.uint8)
        return cv2.cvtColor(px, cv2.COLOR_RGB2LAB).astype(np.float32)[0, 0]
    return np.array([235, 135, 140], np.float32)


def _hair_lab(lab: NDArray[np.float32], lm: FaceLandmarks, skin_lab: NDArray[np.float32]):
    """Hair colour in (OpenCV 8-bit) Lab: median of the non-skin, non-line pixels in a band above the eyes
    (the bangs / crown), or None when the band shows too little hair."""
    fw = lm.face_width
    ey = (lm.eye_l[1] + lm.eye_r[1]) / 2
    cx = (lm.eye_l[0] + lm.eye_r[0]) / 2
    y0, y1 = int(max(0, ey - 0.75 * fw)), int(max(0, ey - 0.35 * fw))
    x0, x1 = int(max(0, cx - 0.4 * fw)), int(max(0, cx + 0.4 * fw))
    pts = lab[y0:y1, x0:x1].reshape(-1, 3)
    if len(pts) < 20:
        return None
    pts = pts[(np.linalg.norm(pts - skin_lab, axis=1) > 20) & (pts[:, 0] > 50)]
    if len(pts) < 20:
        return None
    return np.median(pts, axis=0).astype(np.float32)
