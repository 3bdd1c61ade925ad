"""Layered test characters drawn with Pillow: a :class:`Layers` with known regions, for tests and benchmarks.

This stands in for stages 1-2 when a test needs exact ground truth (where the eyes, the mouth and the face
are). Every layer is complete (amodal): the face skin continues under the eyes, the bangs and the side hair;
the back hair continues behind the face; the neck continues up under the chin. ``_l`` = character's left =
image right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from avatar_plugin.generator.types import DEFAULT_DEPTH_ORDER, FaceLandmarks, Layer, Layers, Part

__all__ = ["CharacterStyle", "draw_character", "layers_from_full"]

_SS = 2  # supersampling factor (anti-aliased edges like real art)


@dataclass(frozen=True)
class CharacterStyle:
    """Knobs of the drawn character (all sizes relative to the canvas)."""

    size: int = 512
    skin: tuple[int, int, int] = (255, 224, 206)
    hair: tuple[int, int, int] = (96, 72, 168)
    iris: tuple[int, int, int] = (52, 140, 96)
    clothes: tuple[int, int, int] = (70, 110, 190)
    face_w: float = 0.40  # face width / canvas
    eye_w: float = 0.085  # eye width / canvas
    eye_h: float = 0.060
    long_hair: bool = True
    with_interior: bool = True


def _canvas(size: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGBA", (size * _SS, size * _SS), (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def _s(box: tuple[float, ...]) -> list[float]:
    return [v * _SS for v in box]


def _done(img: Image.Image, size: int) -> NDArray[np.uint8]:
    return np.asarray(img.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8).copy()


def draw_character(style: CharacterStyle | None = None) -> Layers:
    """A complete layered character on a ``style.size`` square canvas."""
    st = style or CharacterStyle()
    n = st.size
    cx = n / 2
    fw = st.face_w * n
    fh = fw * 1.12
    fy0 = n * 0.22
    fy1 = fy0 + fh
    dark = tuple(int(c * 0.62) for c in st.hair)
    line = (58, 36, 44, 255)
    full: dict[Part, NDArray[np.uint8]] = {}

    img, d = _canvas(n)  # back hair: behind the whole head, down to the shoulders
    bottom = n * (0.78 if st.long_hair else 0.56)
    d.rounded_rectangle(_s((cx - fw * 0.66, fy0 - fh * 0.22, cx + fw * 0.66, bottom)), radius=fw * 0.5 * _SS,
                        fill=(*dark, 255))
    full[Part.BACK_HAIR] = _done(img, n)

    img, d = _canvas(n)  # body / clothes
    by0 = fy1 + n * 0.06
    d.rounded_rectangle(_s((cx - fw * 0.85, by0, cx + fw * 0.85, n + fw)), radius=fw * 0.35 * _SS,
                        fill=(*st.clothes, 255))
    d.polygon(_s((cx - fw * 0.16, by0, cx + fw * 0.16, by0, cx, by0 + fw * 0.28)), fill=(245, 245, 250, 255))
    full[Part.BODY] = _done(img, n)

    img, d = _canvas(n)  # neck: continues up under the chin
    d.rectangle(_s((cx - fw * 0.14, fy1 - fh * 0.25, cx + fw * 0.14, by0 + fw * 0.12)),
                fill=tuple(int(c * 0.93) for c in st.skin) + (255,))
    full[Part.NECK] = _done(img, n)

    img, d = _canvas(n)  # face skin: complete (under eyes, brows, bangs)
    d.ellipse(_s((cx - fw / 2, fy0, cx + fw / 2, fy1)), fill=(*st.skin, 255))
    d.line(_s((cx, fy0 + fh * 0.60, cx - fw * 0.015, fy0 + fh * 0.66)), fill=(220, 170, 160, 255), width=2 * _SS)
    full[Part.FACE] = _done(img, n)

    ew, eh = st.eye_w * n, st.eye_h * n
    ey = fy0 + fh * 0.52
    eye_x = {"l": cx + fw * 0.22, "r": cx - fw * 0.22}  # character's left = image right
    for side, ex in eye_x.items():
        box = (ex - ew / 2, ey - eh / 2, ex + ew / 2, ey + eh / 2)
        img, d = _canvas(n)
        d.ellipse(_s(box), fill=(255, 255, 255, 255))
        full[Part(f"eye_white_{side}")] = _done(img, n)
        img, d = _canvas(n)
        iw = ew * 0.62
        d.ellipse(_s((ex - iw / 2, ey - eh * 0.55, ex + iw / 2, ey + eh * 0.55)), fill=(*st.iris, 255))
        d.ellipse(_s((ex - iw * 0.25, ey - eh * 0.25, ex + iw * 0.25, ey + eh * 0.3)), fill=(18, 40, 32, 255))
        d.ellipse(_s((ex - iw * 0.3, ey - eh * 0.4, ex - iw * 0.05, ey - eh * 0.12)), fill=(255, 255, 255, 255))
        full[Part(f"iris_{side}")] = _done(img, n)
        img, d = _canvas(n)  # upper lashes: a thick arc on the top of the eye, a flick at the outer corner
        d.arc(_s((ex - ew * 0.56, ey - eh * 0.58, ex + ew * 0.56, ey + eh * 0.7)), 190, 350, fill=line,
              width=int(max(2, eh * 0.14)) * _SS)
        outer = 1 if side == "l" else -1
        d.polygon(_s((ex + outer * ew * 0.42, ey - eh * 0.36, ex + outer * ew * 0.62, ey - eh * 0.5,
                      ex + outer * ew * 0.50, ey - eh * 0.18)), fill=line)
        full[Part(f"lashes_{side}")] = _done(img, n)
        img, d = _canvas(n)
        d.rounded_rectangle(_s((ex - ew * 0.5, ey - eh * 1.45, ex + ew * 0.5, ey - eh * 1.22)),
                            radius=eh * 0.1 * _SS, fill=(*dark, 255))
        full[Part(f"brow_{side}")] = _done(img, n)

    my = fy0 + fh * 0.78
    mw = fw * 0.16
    img, d = _canvas(n)  # a closed mouth: a short curved line
    d.arc(_s((cx - mw / 2, my - mw * 0.35, cx + mw / 2, my + mw * 0.1)), 20, 160, fill=(150, 50, 60, 255),
          width=3 * _SS)
    full[Part.MOUTH] = _done(img, n)
    if st.with_interior:
        img, d = _canvas(n)  # generated interior: dark red with a tongue hint, the open mouth's size
        d.ellipse(_s((cx - mw / 2, my - mw * 0.3, cx + mw / 2, my + mw * 0.45)), fill=(110, 30, 40, 255))
        d.ellipse(_s((cx - mw * 0.25, my + mw * 0.1, cx + mw * 0.25, my + mw * 0.42)), fill=(200, 90, 100, 255))
        full[Part.MOUTH_INTERIOR] = _done(img, n)

    for side, sgn in (("l", 1), ("r", -1)):  # side locks beside the cheeks
        img, d = _canvas(n)
        x0 = cx + sgn * fw * 0.5
        d.polygon(_s((x0 - sgn * fw * 0.12, fy0 + fh * 0.15, x0 + sgn * fw * 0.12, fy0 + fh * 0.2,
                      x0 + sgn * fw * 0.06, fy1 + fh * 0.15, x0 - sgn * fw * 0.02, fy1 + fh * 0.22)),
                  fill=(*st.hair, 255))
        full[Part(f"side_hair_{side}")] = _done(img, n)

    img, d = _canvas(n)  # bangs: a cap with pointed locks over the forehead
    d.pieslice(_s((cx - fw * 0.62, fy0 - fh * 0.22, cx + fw * 0.62, fy0 + fh * 0.55)), 180, 360,
               fill=(*st.hair, 255))
    k = 6
    for i in range(k):
        x0 = cx - fw * 0.6 + i * fw * 1.2 / k
        d.polygon(_s((x0, fy0 + fh * 0.16, x0 + fw * 1.2 / k, fy0 + fh * 0.16,
                      x0 + fw * 0.6 / k, fy0 + fh * (0.36 if i % 2 else 0.30))), fill=(*st.hair, 255))
    full[Part.FRONT_HAIR] = _done(img, n)

    landmarks = FaceLandmarks(
        face_box=(cx - fw / 2, fy0, cx + fw / 2, fy1),
        eye_l=(eye_x["l"], ey), eye_r=(eye_x["r"], ey), mouth=(cx, my),
        eye_l_box=(eye_x["l"] - ew / 2, ey - eh / 2, eye_x["l"] + ew / 2, ey + eh / 2),
        eye_r_box=(eye_x["r"] - ew / 2, ey - eh / 2, eye_x["r"] + ew / 2, ey + eh / 2),
        mouth_box=(cx - mw / 2, my - mw * 0.35, cx + mw / 2, my + mw * 0.1),
        chin=(cx, fy1), source="test-drawing",
    )
    return layers_from_full(full, landmarks, (n, n))


def layers_from_full(full: dict[Part, NDArray[np.uint8]], landmarks: FaceLandmarks,
                     canvas_size: tuple[int, int]) -> Layers:
    """Crop full-canvas RGBA layers to their alpha box; ``visible`` from the default depth order."""
    order = tuple(p for p in DEFAULT_DEPTH_ORDER if p in full)
    cover = np.zeros(full[order[0]].shape[:2], bool)
    visible: dict[Part, NDArray[np.bool_]] = {}
    for part in reversed(order):  # front to back
        a = full[part][..., 3] > 127
        visible[part] = a & ~cover
        cover |= a
    layers = {}
    for part in order:
        alpha = full[part][..., 3]
        ys, xs = np.nonzero(alpha)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        layers[part] = Layer(part=part, image=full[part][y0:y1, x0:x1].copy(), offset=(x0, y0),
                             visible=visible[part][y0:y1, x0:x1].copy())
    return Layers(canvas_size=canvas_size, layers=layers, depth_order=order, landmarks=landmarks,
                  source_path="<test drawing>")
