"""Layered PSD input: an artist's (or See-through's) layers skip stages 1-2.

Layer names map to parts by keyword, in English, Japanese or See-through tags (case-insensitive; the first
matching rule wins; group names are prefixed to the layer name, so a layer "L" in a group "eye white" works).
Side: a name containing left / _l / -l / 左 is the CHARACTER's left; right / _r / -r / 右 the right; when a
layer has no side, the side follows its centre (image right = character's left). Several layers that map
to one part are merged in PSD order. Unmapped and hidden layers are reported in ``Layers.warnings``.
Landmarks come from the eye / mouth / face layers (centres of their pixels).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import ImageInputError
from avatar_plugin.generator.types import DEFAULT_DEPTH_ORDER, FaceLandmarks, Layer, Layers, Part

__all__ = ["map_layer_name", "read_layered_psd"]

# (regex, part or sided base). Sided bases end with "_" and get "l" / "r" appended.
_RULES: list[tuple[str, str]] = [
    (r"eye ?white|white ?of|sclera|eyewhite|白目", "eye_white_"),
    (r"iris|irides|pupil|瞳|黒目", "iris_"),
    (r"eyelid|瞼|まぶた", "eyelid_"),
    (r"lash|eyelash|まつ毛|まつげ|睫毛|eyeline|アイライン", "lashes_"),
    (r"brow|眉", "brow_"),
    (r"mouth ?(in|inner|interior)|口内|口の中|inside", "mouth_interior"),
    (r"mouth|lip|口|唇", "mouth"),
    (r"side ?hair|side ?lock|hair ?side|横髪|もみあげ|sidehair", "side_hair_"),
    (r"front ?hair|bang|fringe|前髪|hairf\b|hair_f", "front_hair"),
    (r"back ?hair|後ろ髪|後髪|hairb\b|hair_b", "back_hair"),
    (r"neck|首", "neck"),
    (r"face|skin|head|顔|輪郭|肌|ear|耳|nose|鼻", "face"),
    (r"body|cloth|shirt|torso|arm|hand|体|服|胴|腕|手", "body"),
    (r"hair|髪", "back_hair"),
    (r"glass|accessor|ribbon|hat|clip|headwear|眼鏡|メガネ|リボン|帽子|アクセ", "accessory"),
]


def _side(name: str) -> str | None:
    n = name.lower()
    if re.search(r"(^|[\s_\-.(])(l|left)([\s_\-.)]|$)|left|左", n):
        return "l"
    if re.search(r"(^|[\s_\-.(])(r|right)([\s_\-.)]|$)|right|右", n):
        return "r"
    return None


def map_layer_name(name: str, center_x: float | None = None, canvas_w: float | None = None) -> Part | None:
    """The part a layer name means, or None. ``center_x`` decides the side of unsided eye parts."""
    n = name.lower()
    for pattern, target in _RULES:
        if re.search(pattern, n):
            if target.endswith("_"):
                side = _side(name)
                if side is None and center_x is not None and canvas_w is not None:
                    side = "l" if center_x >= canvas_w / 2 else "r"
                if side is None:
                    side = "l"
                return Part(target + side)
            return Part(target)
    return None


def read_layered_psd(path: str | Path) -> Layers:
    """Read a layered PSD into :class:`Layers` (visible = the layer's own pixels)."""
    from psd_tools import PSDImage

    name = str(path)
    try:
        psd = PSDImage.open(path)
    except FileNotFoundError:
        raise ImageInputError(f"{name}: no such file") from None
    except Exception as exc:  # psd-tools raises many types on corrupt files
        raise ImageInputError(f"{name}: not a readable PSD ({type(exc).__name__}: {exc}); save it again as .psd from "
                              "your editor, or pass a flat PNG") from None
    W, H = psd.width, psd.height
    canvases: dict[Part, NDArray[np.uint8]] = {}
    warnings: list[str] = []
    for layer in psd.descendants():
        if layer.is_group():
            continue
        full_name = "/".join([p.name for p in _parents(layer)] + [layer.name])
        if not layer.is_visible():
            warnings.append(f"{name}: hidden layer {full_name!r} skipped")
            continue
        img = layer.topil()
        if img is None:
            continue
        arr = np.asarray(img.convert("RGBA"), dtype=np.uint8)
        left, top = layer.left, layer.top
        cxl = left + arr.shape[1] / 2
        part = map_layer_name(full_name, cxl, W)
        if part is None:
            warnings.append(f"{name}: layer {full_name!r} matches no part; left out (rename it, e.g. 'front hair')")
            continue
        canvas = canvases.setdefault(part, np.zeros((H, W, 4), np.uint8))
        _paste_over(canvas, arr, left, top)
    if Part.FACE not in canvases:
        raise ImageInputError(
            f"{name}: no layer maps to the face (found {sorted(p.value for p in canvases) or 'none'}); name the "
            "face skin layer 'face' or '顔'"
        )
    layers: dict[Part, Layer] = {}
    for part, canvas in canvases.items():
        a = canvas[..., 3] > 0
        ys, xs = np.nonzero(a)
        if len(ys) == 0:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        layers[part] = Layer(part, np.ascontiguousarray(canvas[y0:y1, x0:x1]), (int(x0), int(y0)), a[y0:y1, x0:x1])
    lm = _landmarks(layers, (W, H))
    order = tuple(p for p in DEFAULT_DEPTH_ORDER if p in layers)
    return Layers(
        canvas_size=(W, H), layers=layers, depth_order=order, landmarks=lm, source_path=name, warnings=tuple(warnings)
    )


def _parents(layer: object) -> list:
    out = []  # type: ignore[var-annotated]
    p = getattr(layer, "parent", None)
    while p is not None and getattr(p, "kind", "") == "group":
        out.insert(0, p)
        p = getattr(p, "parent", None)
    return out


def _paste_over(canvas: NDArray[np.uint8], arr: NDArray[np.uint8], left: int, top: int) -> None:
    H, W = canvas.shape[:2]
    h, w = arr.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + w, W), min(top + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    src = arr[y0 - top : y1 - top, x0 - left : x1 - left].astype(np.float32)
    dst = canvas[y0:y1, x0:x1].astype(np.float32)
    a = src[..., 3:4] / 255
    b = dst[..., 3:4] / 255
    out_a = a + b * (1 - a)
    rgb = (src[..., :3] * a + dst[..., :3] * b * (1 - a)) / np.maximum(out_a, 1e-6)
    canvas[y0:y1, x0:x1] = np.dstack([rgb, out_a * 255]).round().clip(0, 255).astype(np.uint8)


def _centre(layer: Layer) -> tuple[float, float]:
    ys, xs = np.nonzero(layer.image[..., 3] > 0)
    return (float(xs.mean() + layer.offset[0]), float(ys.mean() + layer.offset[1]))


def _landmarks(layers: dict[Part, Layer], size: tuple[int, int]) -> FaceLandmarks:
    face = layers[Part.FACE]
    fh, fw_ = face.image.shape[:2]
    fb = (float(face.offset[0]), float(face.offset[1]), float(face.offset[0] + fw_), float(face.offset[1] + fh))
    cx = (fb[0] + fb[2]) / 2

    def pick(*parts: Part) -> tuple[float, float] | None:
        for p in parts:
            if p in layers:
                return _centre(layers[p])
        return None

    eye_l = pick(Part.IRIS_L, Part.EYE_WHITE_L, Part.LASHES_L) or (cx + 0.2 * fw_, fb[1] + 0.5 * fh)
    eye_r = pick(Part.IRIS_R, Part.EYE_WHITE_R, Part.LASHES_R) or (cx - 0.2 * fw_, fb[1] + 0.5 * fh)
    mouth = pick(Part.MOUTH, Part.MOUTH_INTERIOR) or (cx, fb[1] + 0.8 * fh)
    return FaceLandmarks(face_box=fb, eye_l=eye_l, eye_r=eye_r, mouth=mouth, chin=(cx, fb[3]), source="psd")
