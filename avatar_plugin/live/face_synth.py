"""Synthetic face videos with known motion, made from a real photo that ships with scikit-image.

The tracking tests and ``benchmarks/bench_webcam.py`` need faces without a camera. scikit-image's
``astronaut`` picture (public domain, NASA; bundled in the wheel, no download) is a real, frontal face. From it
:func:`face_frame` makes 640x480 BGR frames with a known roll (rotation about the face centre), shift, scale,
left-right flip, eyes painted shut (a blink) or no face at all (a blank frame). A turn (yaw) is faked by
wrapping the flat photo around a vertical cylinder through the face: MediaPipe reads the right SIGN from it,
but only about a third of the angle (a photo has no parallax), so only roll has exact truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

__all__ = ["FACE_CENTRE", "FramePlan", "astronaut_bgr", "face_frame", "render_plan"]

# Centre of the face in the 512x512 astronaut picture (between the eyes and the mouth), pixels.
FACE_CENTRE = (225.0, 115.0)
# Eye regions in the astronaut picture: centre (x, y), half width, half height (pixels).
_EYES = (((204.0, 102.0), 13, 7), ((246.0, 104.0), 13, 7))


@lru_cache(maxsize=1)
def astronaut_bgr() -> NDArray[np.uint8]:
    """scikit-image's astronaut photo as a BGR ``uint8 (512, 512, 3)`` array (read-only)."""
    from skimage import data

    img = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    img.setflags(write=False)
    return img


@dataclass(frozen=True)
class FramePlan:
    """What one synthetic frame shows. ``roll`` degrees (+ = head top toward the image's right), ``yaw``
    degrees of cylinder turn (+ = face toward the image's right), ``scale`` relative to the 512-pixel photo,
    ``dx``/``dy`` pixels, ``eyes`` 1 open .. 0 painted shut, ``flip`` mirrors the frame left-right,
    ``blank`` shows no face (a grey frame)."""

    roll: float = 0.0
    yaw: float = 0.0
    scale: float = 2.2
    dx: float = 0.0
    dy: float = 0.0
    eyes: float = 1.0
    flip: bool = False
    blank: bool = False


def face_frame(plan: FramePlan, size: tuple[int, int] = (640, 480)) -> NDArray[np.uint8]:
    """A BGR ``uint8 (H, W, 3)`` frame (``size`` = (W, H)) showing the astronaut as ``plan`` says."""
    import cv2

    w, h = size
    if plan.blank:
        return np.full((h, w, 3), 128, np.uint8)
    img = astronaut_bgr().copy()
    if plan.eyes < 1.0:
        shut = 1.0 - float(np.clip(plan.eyes, 0.0, 1.0))
        for (cx, cy), hw, hh in _EYES:
            skin = [int(v) for v in img[int(cy + 14), int(cx)]]
            # Skin grows over the eye from the top (the upper lid coming down), plus a lash line when shut.
            cv2.ellipse(img, (int(cx), int(cy - hh * (1 - shut))), (int(hw * 1.3), int(hh * 1.6 * shut) + 1),
                        0, 0, 360, skin, -1)
            if shut > 0.8:
                cv2.line(img, (int(cx - hw), int(cy + 2)), (int(cx + hw), int(cy + 2)), (40, 30, 30), 2)
    if plan.yaw:
        img = _turn(img, plan.yaw)
    m = cv2.getRotationMatrix2D(FACE_CENTRE, -plan.roll, plan.scale)
    m[0, 2] += w / 2 - FACE_CENTRE[0] + plan.dx
    m[1, 2] += h * 0.45 - FACE_CENTRE[1] + plan.dy
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if plan.flip:
        out = np.ascontiguousarray(out[:, ::-1])
    return np.asarray(out, dtype=np.uint8)


def _turn(img: NDArray[np.uint8], yaw_deg: float, radius: float = 75.0) -> NDArray[np.uint8]:
    """Wrap the photo around a vertical cylinder (axis through the face centre) turned by ``yaw_deg``."""
    import cv2

    h, w = img.shape[:2]
    cx = FACE_CENTRE[0]
    xs = np.arange(w, dtype=np.float64)
    u = (xs - cx) / radius
    phi = np.arcsin(np.clip(u, -1.0, 1.0)) - np.radians(yaw_deg)
    inside = (np.abs(u) < 1.0) & (np.abs(phi) < np.pi / 2)
    src = np.where(inside, cx + radius * np.sin(phi), xs)
    map_x = np.tile(src.astype(np.float32), (h, 1))
    map_y = np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w))
    return np.asarray(cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
                      dtype=np.uint8)


def render_plan(plans: list[FramePlan], size: tuple[int, int] = (640, 480)) -> list[NDArray[np.uint8]]:
    return [face_frame(p, size) for p in plans]
