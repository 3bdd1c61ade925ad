"""Procedural anime-style characters with ground truth, for tests, the benchmark and the example picture.

:func:`make_character` draws a head-and-shoulders character from a seed (or explicit :class:`CharacterSpec`)
as separate layers, each COMPLETE (amodal: the hair behind the face, the skin under the bangs, the full iris),
then composites them in depth order. It returns the picture and, per :class:`Part`, the complete layer and
the visible mask, plus the true landmarks. Everything is drawn with OpenCV polygons (anti-aliased alpha), flat
colours, a shade tone and a darker outline per part, like cel-shaded art.

Variety: hair styles (short / bob / long over the shoulders, with or without side locks), hair, eye, skin and
clothes colours, bangs over the brows or not, eye shapes, mouth open or closed, glasses, transparent / plain /
gradient / textured backgrounds, 256-2048 px.

Geometry is in units of the face width ``fw`` around the face centre; all coordinates are source pixels
(origin top-left, +y down). ``_l`` = the character's left = the image's right.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from avatar_plugin.generator.types import DEFAULT_DEPTH_ORDER, FaceLandmarks, Part

__all__ = ["CharacterSpec", "SynthCharacter", "example_character", "make_character", "random_spec"]

Color = tuple[int, int, int]
_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class CharacterSpec:
    """Everything that decides how a synthetic character looks."""

    size: int = 1024
    hair_style: str = "long"  # "short" | "bob" | "long"
    side_locks: bool = True
    locks_over_shoulders: bool = False
    bangs_over_brows: bool = False
    hair_color: Color = (70, 90, 170)
    eye_color: Color = (40, 140, 120)
    skin_color: Color = (252, 226, 208)
    clothes_color: Color = (240, 240, 245)
    accent_color: Color = (200, 60, 80)
    eye_shape: float = 1.0  # eye height multiplier (0.8 narrow .. 1.25 round)
    mouth_open: bool = False
    glasses: bool = False
    background: str = "transparent"  # "transparent" | "plain" | "gradient" | "textured"
    background_color: Color = (235, 240, 250)
    face_scale: float = 0.30  # face width as a share of the picture width
    face_center: tuple[float, float] = (0.5, 0.40)  # share of width / height
    n_bangs: int = 6
    seed: int = 0


@dataclass(frozen=True, eq=False)
class SynthCharacter:
    """A drawn character: the picture and its ground truth."""

    spec: CharacterSpec
    rgba: NDArray[np.uint8]  # (H, W, 4) the picture (alpha 0 outside the character when transparent)
    layers: dict[Part, NDArray[np.uint8]]  # complete (amodal) RGBA per part, full canvas
    visible: dict[Part, NDArray[np.bool_]]  # visible pixels per part (disjoint)
    landmarks: FaceLandmarks
    depth_order: tuple[Part, ...]
    foreground: NDArray[np.bool_] = field(repr=False)


def _shade(c: Color, f: float) -> Color:
    return (int(np.clip(c[0] * f, 0, 255)), int(np.clip(c[1] * f, 0, 255)), int(np.clip(c[2] * f, 0, 255)))


def _mix(a: Color, b: Color, t: float) -> Color:
    return (int(a[0] + (b[0] - a[0]) * t), int(a[1] + (b[1] - a[1]) * t), int(a[2] + (b[2] - a[2]) * t))


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (int(r * 255), int(g * 255), int(b * 255))


def random_spec(seed: int, size: int | None = None) -> CharacterSpec:
    """A varied character from a seed (same seed, same character)."""
    rng = np.random.default_rng(seed)
    hair_palette = [
        _hsv(rng.uniform(0, 1), rng.uniform(0.35, 0.75), rng.uniform(0.45, 0.85)),
        _hsv(rng.uniform(0.05, 0.11), rng.uniform(0.5, 0.8), rng.uniform(0.3, 0.6)),  # browns
        _hsv(rng.uniform(0.1, 0.15), rng.uniform(0.4, 0.7), rng.uniform(0.85, 0.98)),  # blonde
        _hsv(rng.uniform(0.6, 0.7), rng.uniform(0.2, 0.5), rng.uniform(0.2, 0.35)),  # near black
        _hsv(rng.uniform(0.9, 1.0), rng.uniform(0.3, 0.55), rng.uniform(0.8, 0.95)),  # pink
    ]
    hair = hair_palette[int(rng.integers(len(hair_palette)))]
    skins = [(252, 228, 210), (250, 218, 196), (238, 200, 170), (255, 236, 222), (214, 170, 138)]
    style = str(rng.choice(["short", "bob", "long", "long"]))
    if size is None:
        size = int(rng.choice([256, 384, 512, 768, 1024, 1024, 1536, 2048]))
    return CharacterSpec(
        size=size,
        hair_style=style,
        side_locks=bool(rng.random() < 0.75),
        locks_over_shoulders=bool(style == "long" and rng.random() < 0.5),
        bangs_over_brows=bool(rng.random() < 0.4),
        hair_color=hair,
        eye_color=_hsv(rng.uniform(0, 1), rng.uniform(0.5, 0.9), rng.uniform(0.45, 0.8)),
        skin_color=skins[int(rng.integers(len(skins)))],
        clothes_color=_hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.7), rng.uniform(0.3, 0.95)),
        accent_color=_hsv(rng.uniform(0, 1), rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9)),
        eye_shape=float(rng.uniform(0.8, 1.25)),
        mouth_open=bool(rng.random() < 0.4),
        glasses=bool(rng.random() < 0.2),
        background=str(rng.choice(["transparent", "plain", "gradient", "textured"])),
        background_color=_hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.3), rng.uniform(0.85, 1.0)),
        face_scale=float(rng.uniform(0.24, 0.34)),
        face_center=(float(rng.uniform(0.45, 0.55)), float(rng.uniform(0.34, 0.42))),
        n_bangs=int(rng.integers(4, 8)),
        seed=seed,
    )


def example_character() -> SynthCharacter:
    """The project's demo character (``examples/character.png``)."""
    spec = CharacterSpec(
        size=1024,
        hair_style="long",
        side_locks=True,
        locks_over_shoulders=True,
        bangs_over_brows=False,
        hair_color=(92, 108, 196),
        eye_color=(36, 150, 140),
        skin_color=(253, 230, 214),
        clothes_color=(246, 246, 250),
        accent_color=(214, 66, 96),
        eye_shape=1.1,
        mouth_open=False,
        glasses=False,
        background="transparent",
        face_scale=0.30,
        face_center=(0.5, 0.36),
        n_bangs=7,
        seed=7,
    )
    return make_character(spec)


class _Layer:
    """A full-canvas RGB + alpha being drawn."""

    def __init__(self, h: int, w: int, color: Color) -> None:
        self.rgb = np.empty((h, w, 3), np.uint8)
        self.rgb[:] = color
        self.alpha = np.zeros((h, w), np.uint8)

    def fill(self, poly: NDArray[np.float64], color: Color | None = None, alpha: bool = True) -> None:
        pts = [np.round(poly * _ONE).astype(np.int32)]
        if color is not None:
            cv2.fillPoly(self.rgb, pts, color, cv2.LINE_AA, shift=_SHIFT)
        if alpha:
            cv2.fillPoly(self.alpha, pts, 255, cv2.LINE_AA, shift=_SHIFT)  # type: ignore[call-overload]

    def stroke(self, poly: NDArray[np.float64], color: Color, width: float, closed: bool, alpha: bool = True) -> None:
        pts = [np.round(poly * _ONE).astype(np.int32)]
        t = max(1, round(width))
        cv2.polylines(self.rgb, pts, closed, color, t, cv2.LINE_AA, shift=_SHIFT)
        if alpha:
            cv2.polylines(self.alpha, pts, closed, 255, t, cv2.LINE_AA, shift=_SHIFT)  # type: ignore[call-overload]

    def rgba(self) -> NDArray[np.uint8]:
        return np.dstack([self.rgb, self.alpha])


def _ellipse(cx: float, cy: float, rx: float, ry: float, a0: float = 0, a1: float = 360, n: int = 96):
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _smooth_closed(poly: NDArray[np.float64], iters: int = 2) -> NDArray[np.float64]:
    """Chaikin corner cutting: rounder shapes from few points."""
    p = poly
    for _ in range(iters):
        q = np.roll(p, -1, axis=0)
        p = np.concatenate([0.75 * p + 0.25 * q, 0.25 * p + 0.75 * q], axis=1).reshape(-1, 2)
    return p


def make_character(spec: CharacterSpec) -> SynthCharacter:
    """Draw one character (deterministic for a spec)."""
    rng = np.random.default_rng(spec.seed + 1000)
    S = spec.size
    H = W = S
    fw = spec.face_scale * W
    cx, cy = spec.face_center[0] * W, spec.face_center[1] * H
    lw = max(1.0, fw / 110.0)  # outline width
    hair = spec.hair_color
    hair_dark = _shade(hair, 0.72)
    hair_line = _shade(hair, 0.42)
    skin = spec.skin_color
    skin_shadow = _mix(skin, (200, 120, 120), 0.22)
    skin_line = _mix(_shade(skin, 0.55), (120, 50, 40), 0.3)
    L: dict[Part, _Layer] = {}

    # ---- geometry
    face_top = cy - 0.55 * fw
    chin_y = cy + 0.62 * fw
    eye_y = cy + 0.06 * fw
    eye_dx = 0.205 * fw
    eye_w = 0.27 * fw
    eye_h = 0.19 * fw * spec.eye_shape
    brow_y = eye_y - eye_h * 0.5 - 0.11 * fw
    mouth_y = cy + 0.37 * fw
    skull_cx, skull_cy, skull_rx, skull_ry = cx, cy - 0.12 * fw, 0.63 * fw, 0.68 * fw
    shoulder_y = chin_y + 0.3 * fw

    # ---- back hair
    back = _Layer(H, W, hair_dark)
    if spec.hair_style == "short":
        bottom = cy + 0.35 * fw
        spread = 0.66 * fw
    elif spec.hair_style == "bob":
        bottom = chin_y + 0.05 * fw
        spread = 0.74 * fw
    else:
        bottom = min(H + 0.1 * fw, chin_y + 1.9 * fw)
        spread = 0.92 * fw
    top_arc = _ellipse(skull_cx, skull_cy, skull_rx + 0.06 * fw, skull_ry + 0.04 * fw, 180, 360, 60)
    right_side = np.array([[skull_cx + spread, (skull_cy + bottom) / 2], [skull_cx + spread * 1.02, bottom]])
    tips = []
    n_tips = 5
    for i in range(n_tips + 1):
        x = skull_cx + spread - 2 * spread * i / n_tips
        tips.append([x, bottom - (0.12 * fw if i % 2 else 0)])
    left_side = np.array([[skull_cx - spread * 1.02, bottom], [skull_cx - spread, (skull_cy + bottom) / 2]])
    back_poly = _smooth_closed(np.concatenate([top_arc, right_side, np.array(tips), left_side]), 2)
    back.fill(back_poly)
    back.stroke(back_poly, hair_line, lw * 1.2, True)
    # strand lines
    for i in range(7):
        x0 = skull_cx + (i - 3) * spread / 3.6
        pts = np.array([[x0, skull_cy + 0.2 * fw], [x0 * 1.0 + (i - 3) * 0.05 * fw, bottom - 0.15 * fw]])
        back.stroke(pts, _shade(hair, 0.6), lw * 0.7, False, alpha=False)
    L[Part.BACK_HAIR] = back

    # ---- body and clothes
    body = _Layer(H, W, spec.clothes_color)
    bw = 1.05 * fw
    body_poly = _smooth_closed(
        np.array(
            [
                [cx - 0.22 * fw, shoulder_y - 0.12 * fw],
                [cx + 0.22 * fw, shoulder_y - 0.12 * fw],
                [cx + bw * 0.75, shoulder_y + 0.02 * fw],
                [cx + bw, shoulder_y + 0.3 * fw],
                [cx + bw * 1.08, H + 0.2 * fw],
                [cx - bw * 1.08, H + 0.2 * fw],
                [cx - bw, shoulder_y + 0.3 * fw],
                [cx - bw * 0.75, shoulder_y + 0.02 * fw],
            ]
        ),
        2,
    )
    body.fill(body_poly)
    cloth_line = _shade(spec.clothes_color, 0.45)
    body.stroke(body_poly, cloth_line, lw * 1.2, True)
    # shade on the sides and a ribbon
    for sgn in (-1, 1):
        fold = np.array([[cx + sgn * 0.55 * fw, shoulder_y + 0.25 * fw], [cx + sgn * 0.62 * fw, H]])
        body.stroke(fold, _shade(spec.clothes_color, 0.8), lw * 3, False, alpha=False)
    rib_y = shoulder_y + 0.05 * fw
    for sgn in (-1, 1):
        wing = np.array(
            [[cx, rib_y], [cx + sgn * 0.2 * fw, rib_y - 0.09 * fw], [cx + sgn * 0.2 * fw, rib_y + 0.1 * fw]]
        )
        body.fill(wing, spec.accent_color)
        body.stroke(wing, _shade(spec.accent_color, 0.5), lw, True)
    body.fill(_ellipse(cx, rib_y, 0.045 * fw, 0.05 * fw), _shade(spec.accent_color, 0.85))
    L[Part.BODY] = body

    # ---- neck (its bottom is the collar line: the neck sits in front of the body)
    neck = _Layer(H, W, skin)
    nx = 0.16 * fw
    collar_y = shoulder_y - 0.12 * fw
    neck_poly = np.concatenate(
        [
            np.array([[cx - nx, cy + 0.2 * fw], [cx + nx, cy + 0.2 * fw], [cx + nx * 1.1, collar_y]]),
            _ellipse(cx, collar_y, nx * 1.1, 0.12 * fw, 0, 180, 30),
        ]
    )
    neck.fill(neck_poly)
    neck.fill(_ellipse(cx, chin_y - 0.02 * fw, nx * 1.1, 0.09 * fw), skin_shadow, alpha=False)
    neck.stroke(neck_poly[[2]], skin_line, lw, False, alpha=False)
    for sgn in (-1, 1):
        side = np.array([[cx + sgn * nx, cy + 0.45 * fw], [cx + sgn * nx * 1.1, collar_y]])
        neck.stroke(side, skin_line, lw, False)
    L[Part.NECK] = neck

    # ---- face (skin, nose, blush, lower lid strokes)
    face = _Layer(H, W, skin)
    t = np.radians(np.linspace(0, 180, 50))
    lower = np.stack([cx + 0.5 * fw * np.cos(t) * (1 - 0.3 * np.sin(t) ** 2), cy + 0.62 * fw * np.sin(t) ** 1.3], 1)
    upper = _ellipse(cx, cy, 0.5 * fw, 0.55 * fw, 180, 360, 50)
    face_poly = np.concatenate([lower, upper])
    face.fill(face_poly)
    face.stroke(face_poly, skin_line, lw * 1.1, True)
    # ears
    for sgn in (-1, 1):
        ear = _ellipse(cx + sgn * 0.5 * fw, eye_y + 0.05 * fw, 0.06 * fw, 0.11 * fw)
        face.fill(ear)
        face.stroke(ear, skin_line, lw, True)
    face.fill(face_poly, skin)  # repaint skin over the ear outlines inside the face
    lower_line = np.stack(
        [cx + 0.5 * fw * np.cos(t) * (1 - 0.3 * np.sin(t) ** 2), cy + 0.62 * fw * np.sin(t) ** 1.3], 1
    )
    face.stroke(lower_line, skin_line, lw * 1.1, False)
    for sgn in (-1, 1):
        face.fill(
            _ellipse(cx + sgn * 0.27 * fw, cy + 0.27 * fw, 0.08 * fw, 0.035 * fw),
            _mix(skin, (255, 140, 150), 0.35),
            alpha=False,
        )
    face.stroke(np.array([[cx + 0.01 * fw, cy + 0.22 * fw], [cx - 0.008 * fw, cy + 0.245 * fw]]), skin_line, lw, False)
    L[Part.FACE] = face

    # ---- eyes
    eye_color = spec.eye_color
    centers = {"l": (cx + eye_dx, eye_y), "r": (cx - eye_dx, eye_y)}
    iris_centers: dict[str, tuple[float, float]] = {}
    for side, (ex, ey) in centers.items():  # type: ignore[assignment]
        out = 1.0 if side == "l" else -1.0  # outward direction in x
        inner_x, outer_x = ex - out * eye_w / 2, ex + out * eye_w / 2
        up = _ellipse(0, 0, 1, 1, 180, 360, 30)
        up_pts = np.stack([ex + up[:, 0] * eye_w / 2, ey - eye_h * 0.5 + (up[:, 1] + 1) * eye_h * 0.15 - 0.0], 1)
        up_pts[:, 1] = (
            ey - eye_h * 0.5 * np.sqrt(np.clip(1 - ((up_pts[:, 0] - ex) / (eye_w / 2)) ** 2, 0, 1)) - eye_h * 0.05
        )
        low = np.linspace(outer_x, inner_x, 30)
        low_pts = np.stack([low, ey + eye_h * 0.5 * np.sqrt(np.clip(1 - ((low - ex) / (eye_w / 2)) ** 2, 0, 1))], 1)
        white_poly = np.concatenate([up_pts, np.array(sorted(low_pts.tolist(), key=lambda p: -p[0]))])
        ew = _Layer(H, W, (250, 250, 255))
        ew.fill(white_poly)
        ew.fill(np.concatenate([up_pts, up_pts[::-1] + [0, eye_h * 0.18]]), (215, 220, 235), alpha=False)
        L[Part.EYE_WHITE_L if side == "l" else Part.EYE_WHITE_R] = ew
        # iris: full ellipse (clipped by the eye white when composited)
        ix, iy = ex - out * 0.01 * fw, ey + eye_h * 0.04
        irx, iry = 0.085 * fw, max(eye_h * 0.6, 0.09 * fw)
        iris = _Layer(H, W, eye_color)
        iris_poly = _ellipse(ix, iy, irx, iry)
        iris.fill(iris_poly)
        iris.fill(
            _ellipse(ix, iy - iry * 0.35, irx * 0.95, iry * 0.6, 180, 360, 30),
            _shade(eye_color, 0.6),
            alpha=False,
        )
        iris.fill(
            _ellipse(ix, iy + iry * 0.45, irx * 0.6, iry * 0.35),
            _mix(eye_color, (255, 255, 255), 0.35),
            alpha=False,
        )
        iris.fill(_ellipse(ix, iy, irx * 0.42, iry * 0.45), _shade(eye_color, 0.3), alpha=False)
        iris.fill(
            _ellipse(ix - out * irx * 0.35, iy - iry * 0.35, irx * 0.28, iry * 0.22),
            (255, 255, 255),
            alpha=False,
        )
        iris.stroke(iris_poly, _shade(eye_color, 0.35), lw, True)
        L[Part.IRIS_L if side == "l" else Part.IRIS_R] = iris
        iris_centers[side] = (ix, iy)  # type: ignore[index]
        # upper lashes: thick line along the top, a flick at the outer corner
        lash = _Layer(H, W, (45, 30, 40))
        lash_pts = up_pts.copy()
        lash.stroke(lash_pts, (45, 30, 40), max(2.0, eye_h * 0.17), False)
        o = lash_pts[0] if abs(lash_pts[0, 0] - outer_x) < abs(lash_pts[-1, 0] - outer_x) else lash_pts[-1]
        flick = np.array([o, o + [out * 0.05 * fw, -0.03 * fw]])
        lash.stroke(flick, (45, 30, 40), max(2.0, eye_h * 0.12), False)
        L[Part.LASHES_L if side == "l" else Part.LASHES_R] = lash
        # lower lid stroke belongs to the face
        face.stroke(low_pts[8:-8] + [0, eye_h * 0.08], skin_line, lw * 0.9, False, alpha=False)
        # brows
        brow = _Layer(H, W, _shade(hair, 0.55))
        bx = np.linspace(ex - out * eye_w * 0.45, ex + out * eye_w * 0.55, 20)
        by = brow_y - 0.03 * fw * np.sin(np.linspace(0.2, np.pi - 0.4, 20))
        brow.stroke(np.stack([bx, by], 1), _shade(hair, 0.55), max(2.0, 0.022 * fw), False)
        L[Part.BROW_L if side == "l" else Part.BROW_R] = brow

    # ---- mouth
    mouth_w = 0.13 * fw
    mouth = _Layer(H, W, skin_line)
    if spec.mouth_open:
        mh = 0.075 * fw
        interior = _Layer(H, W, (150, 50, 62))
        m_poly = np.concatenate(
            [
                np.array([[cx - mouth_w / 2, mouth_y - mh * 0.3], [cx + mouth_w / 2, mouth_y - mh * 0.3]]),
                _ellipse(cx, mouth_y - mh * 0.3, mouth_w / 2, mh, 0, 180, 30),
            ]
        )
        interior.fill(m_poly)
        interior.fill(_ellipse(cx, mouth_y + mh * 0.5, mouth_w * 0.28, mh * 0.3), (225, 110, 120), alpha=False)
        L[Part.MOUTH_INTERIOR] = interior
        mouth.stroke(m_poly, _shade(skin_line, 0.9), lw * 1.3, True)
        mouth_center = (cx, mouth_y + mh * 0.2)
    else:
        mx = np.linspace(cx - mouth_w / 2, cx + mouth_w / 2, 20)
        my = mouth_y + 0.018 * fw * np.sin(np.linspace(0, np.pi, 20))
        mouth.stroke(np.stack([mx, my], 1), _shade(skin_line, 0.9), max(1.5, lw * 1.5), False)
        mouth_center = (cx, mouth_y + 0.012 * fw)
    L[Part.MOUTH] = mouth

    # ---- side locks
    if spec.side_locks:
        lock_bottom = chin_y + (0.9 * fw if spec.locks_over_shoulders else 0.05 * fw)
        for side, sgn in (("l", 1.0), ("r", -1.0)):  # type: ignore[assignment]
            lock = _Layer(H, W, hair)
            x_top = cx + sgn * 0.47 * fw
            pts = np.array(
                [
                    [x_top - sgn * 0.09 * fw, cy - 0.3 * fw],
                    [x_top + sgn * 0.1 * fw, cy - 0.3 * fw],
                    [x_top + sgn * 0.14 * fw, cy + 0.4 * fw],
                    [x_top + sgn * 0.16 * fw, lock_bottom - 0.2 * fw],
                    [x_top + sgn * 0.06 * fw, lock_bottom],
                    [x_top + sgn * 0.02 * fw, lock_bottom - 0.25 * fw],
                    [x_top - sgn * 0.03 * fw, cy + 0.3 * fw],
                ]
            )
            poly = _smooth_closed(pts, 3)
            lock.fill(poly)
            lock.stroke(
                np.array(
                    [
                        [x_top + sgn * 0.03 * fw, cy - 0.2 * fw],
                        [x_top + sgn * 0.07 * fw, lock_bottom - 0.3 * fw],
                    ]
                ),
                hair_dark,
                lw * 2,
                False,
                alpha=False,
            )
            lock.stroke(poly, hair_line, lw * 1.1, True)
            L[Part.SIDE_HAIR_L if side == "l" else Part.SIDE_HAIR_R] = lock

    # ---- front hair: crown + bangs
    front = _Layer(H, W, hair)
    bang_bottom = brow_y + (0.06 * fw if spec.bangs_over_brows else -0.07 * fw)
    crown = _ellipse(skull_cx, skull_cy, skull_rx, skull_ry, 165, 375, 60)
    n = max(3, spec.n_bangs)
    half = 0.58 * fw
    gaps_x = np.linspace(cx + half, cx - half, n + 1)
    outline_pts: list[NDArray[np.float64]] = []
    tips: list[NDArray[np.float64]] = []  # type: ignore[no-redef]

    def _gap(x: float) -> NDArray[np.float64]:
        edge = abs(x - cx) / half
        return np.array([x, bang_bottom - 0.2 * fw + edge**2 * 0.16 * fw])

    def _bez(a: NDArray[np.float64], c: NDArray[np.float64], b: NDArray[np.float64], k: int = 12):
        tt = np.linspace(0, 1, k)[:, None]
        return (1 - tt) ** 2 * a + 2 * (1 - tt) * tt * c + tt**2 * b

    for i in range(n):
        g0, g1 = _gap(gaps_x[i]), _gap(gaps_x[i + 1])
        mid = (g0[0] + g1[0]) / 2
        edge = abs(mid - cx) / half
        sweep = -np.sign(mid - cx) * 0.05 * fw * edge  # tips sweep toward the face centre
        tip = np.array(
            [
                mid + sweep + rng.uniform(-0.015, 0.015) * fw,
                bang_bottom + edge**2 * 0.2 * fw + rng.uniform(-0.02, 0.02) * fw,
            ]
        )
        c0 = np.array([g0[0] + (tip[0] - g0[0]) * 0.15, g0[1] + (tip[1] - g0[1]) * 0.75])
        c1 = np.array([g1[0] + (tip[0] - g1[0]) * 0.15, g1[1] + (tip[1] - g1[1]) * 0.75])
        outline_pts.append(_bez(g0, c0, tip)[:-1])
        outline_pts.append(_bez(tip, c1, g1)[:-1])
        tips.append(tip)  # type: ignore[arg-type]
    outline_pts.append(_gap(gaps_x[-1])[None])
    zig_a = np.concatenate(outline_pts)
    front_poly = np.concatenate(
        [
            crown,
            np.array([[cx + 0.6 * fw, cy - 0.05 * fw]]),
            zig_a,
            np.array([[cx - 0.6 * fw, cy - 0.05 * fw]]),
        ]
    )
    front.fill(front_poly)
    # strand shading and an "angel ring" highlight
    for tip in tips:  # type: ignore[assignment]
        root = np.array([tip[0] * 0.55 + cx * 0.45, skull_cy - 0.35 * fw])
        ctrl = np.array([tip[0], (root[1] + tip[1]) / 2])
        front.stroke(_bez(root, ctrl, tip - [0, 0.07 * fw]), hair_dark, lw * 1.3, False, alpha=False)
    ring_c = _mix(hair, (255, 255, 255), 0.4)
    for a0 in range(205, 335, 22):
        arc_out = _ellipse(skull_cx, skull_cy + 0.02 * fw, skull_rx * 0.82, skull_ry * 0.62, a0, a0 + 14, 10)
        arc_in = _ellipse(skull_cx, skull_cy + 0.02 * fw, skull_rx * 0.78, skull_ry * 0.55, a0 + 14, a0, 10)
        front.fill(np.concatenate([arc_out, arc_in]), ring_c, alpha=False)
    front.stroke(front_poly, hair_line, lw * 1.2, True)
    L[Part.FRONT_HAIR] = front

    # ---- glasses
    if spec.glasses:
        acc = _Layer(H, W, (60, 40, 50))
        for ex, ey in centers.values():
            acc.stroke(
                _ellipse(ex, ey + 0.01 * fw, eye_w * 0.62, eye_h * 0.95),
                (60, 40, 50),
                max(2.0, lw * 1.6),
                True,
            )
        acc.stroke(
            np.array([[cx - eye_dx + eye_w * 0.62, eye_y], [cx + eye_dx - eye_w * 0.62, eye_y]]),
            (60, 40, 50),
            max(2.0, lw * 1.4),
            False,
        )
        L[Part.ACCESSORY] = acc

    # ---- composite
    order = tuple(p for p in DEFAULT_DEPTH_ORDER if p in L)
    layers = {p: L[p].rgba() for p in order}
    eff = {p: layers[p][..., 3].astype(np.float32) / 255.0 for p in order}
    eff[Part.IRIS_L] = eff[Part.IRIS_L] * eff[Part.EYE_WHITE_L]
    eff[Part.IRIS_R] = eff[Part.IRIS_R] * eff[Part.EYE_WHITE_R]
    color = np.zeros((H, W, 3), np.float32)
    alpha = np.zeros((H, W), np.float32)
    top = np.full((H, W), -1, np.int16)
    for k, p in enumerate(order):
        a = eff[p]
        color = color * (1 - a[..., None]) + layers[p][..., :3].astype(np.float32) * a[..., None]  # type: ignore[assignment]
        alpha = alpha + a * (1 - alpha)
        top[a >= 0.5] = k
    visible = {p: top == k for k, p in enumerate(order)}
    fg = alpha >= 0.5
    rgb = np.where(alpha[..., None] > 0, color / np.maximum(alpha[..., None], 1e-6), 0)
    bg = _background(spec, H, W)
    if bg is None:
        out = np.dstack([np.clip(rgb, 0, 255), alpha * 255]).round().astype(np.uint8)  # type: ignore[assignment]
    else:
        comp = rgb * alpha[..., None] + bg * (1 - alpha[..., None])
        out = np.dstack([np.clip(comp, 0, 255), np.full((H, W), 255.0)]).round().astype(np.uint8)  # type: ignore[assignment]
    fwp = fw
    lm = FaceLandmarks(
        face_box=(cx - fwp / 2, face_top, cx + fwp / 2, chin_y),
        eye_l=iris_centers["l"],
        eye_r=iris_centers["r"],
        mouth=mouth_center,
        eye_l_box=(
            centers["l"][0] - eye_w / 2,
            eye_y - eye_h / 2,
            centers["l"][0] + eye_w / 2,
            eye_y + eye_h / 2,
        ),
        eye_r_box=(
            centers["r"][0] - eye_w / 2,
            eye_y - eye_h / 2,
            centers["r"][0] + eye_w / 2,
            eye_y + eye_h / 2,
        ),
        mouth_box=(cx - mouth_w / 2, mouth_y - 0.04 * fw, cx + mouth_w / 2, mouth_y + 0.06 * fw),
        chin=(cx, chin_y),
        source="synthetic",
    )
    return SynthCharacter(
        spec=spec,
        rgba=out,  # type: ignore[arg-type]
        layers=layers,
        visible=visible,
        landmarks=lm,
        depth_order=order,
        foreground=fg,
    )




def _background(spec: CharacterSpec, h: int, w: int) -> NDArray[np.float32] | None:
    if spec.background == "transparent":
        return None
    c = np.array(spec.background_color, np.float32)
    if spec.background == "plain":
        return np.broadcast_to(c, (h, w, 3)).astype(np.float32)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    c2 = np.array(_mix(spec.background_color, (120, 150, 200), 0.5), np.float32)
    grad = c * (1 - yy) + c2 * yy
    grad = np.broadcast_to(grad, (h, w, 3)).astype(np.float32)
    if spec.background == "gradient":
        return grad  # type: ignore[return-value]
    rng = np.random.default_rng(spec.seed + 77)
    tex = grad.copy()
    for _ in range(12):  # soft blobs ("bokeh") and stripes
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.03, 0.12) * w
        col = tuple(float(v) for v in _hsv(rng.uniform(0, 1), 0.35, 0.95))
        cv2.circle(tex, (int(x), int(y)), int(r), col, -1, cv2.LINE_AA)  # type: ignore[arg-type]
    noise = rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    return np.clip(tex + noise, 0, 255)


def with_size(spec: CharacterSpec, size: int) -> CharacterSpec:
    """The same character at another picture size."""
    return replace(spec, size=size)
