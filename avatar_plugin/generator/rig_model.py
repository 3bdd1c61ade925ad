"""Geometry the rig is built on: the head model (faux 3D), lid and lip curves, body fields.

Everything here is a pure function of canvas positions, so parts that touch move together (no tearing).

Head model: an analytic dome fitted to the face box (centre between the eyes, radius = half the face width).
Depth of the face surface at a canvas point ``z_s = R (ZB + ZA max(0, 1 - u^2 - w^2))`` with
``u = (x - cx) / Rx``, ``w = (y - cy) / Ry``; every part gets a depth relative to it (features on the surface,
bangs in front, back hair behind). A head turn rotates each point by yaw then pitch about the head centre and
projects orthographically. The dome's slope stays below ``2 ZA Rx / Rx`` so no triangle folds at the
angles used (``cos(yaw) - 2 ZA sin(yaw) > 0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.generator.types import FaceLandmarks

__all__ = ["HeadModel", "fit_curve", "head_model"]

ZB = 0.25  # depth of the face's rim, in head radii
ZA = 0.60  # extra depth at the face centre
BACK_RIM = 0.08  # back hair around the face lags the face's rim by this depth (radii): a little parallax
R_OUT = 1.8  # where the rim depth has fallen to 0 (face radii): about the hair's outline


@dataclass(frozen=True)
class HeadModel:
    cx: float
    cy: float
    rx: float  # half the face width (the head radius R)
    ry: float
    chin_y: float
    neck: tuple[float, float]  # pivot of the head on the neck

    def r2(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        """Squared normalised distance from the head centre (1 on the face ellipse)."""
        u = (x - self.cx) / self.rx
        w = (y - self.cy) / self.ry
        return np.asarray(u * u + w * w, np.float64)

    def surface(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        """Depth of the face surface (px, + toward the viewer): the dome inside the face ellipse, the rim depth
        ``ZB`` falling smoothly to 0 at ``R_OUT`` face radii (the head's outline: a turning head's silhouette
        barely moves, so the hair around the face does not slide off the body)."""
        r2 = self.r2(x, y)
        r = np.sqrt(r2)
        t = np.clip((r - 1.0) / (R_OUT - 1.0), 0.0, 1.0)
        fall = 1.0 - t * t * (3.0 - 2.0 * t)
        return self.rx * (ZB * fall + ZA * np.maximum(0.0, 1.0 - r2))

    def hair_depth(self, x: NDArray[np.float64], y: NDArray[np.float64], front: float, back: float
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(front, back) hair depth fields: one smooth field for every hair layer, so pieces that touch move
        together. Front/side hair sits ``front`` radii above the surface over the face (bangs parallax) and
        on it at the head's outline; back hair sits ``back`` radii below it behind the face's middle and
        ``BACK_RIM`` below it around the face (a little parallax), on it again at the head's outline."""
        r2 = self.r2(x, y)
        r = np.sqrt(r2)
        t = np.clip((r - 0.85) / 0.45, 0.0, 1.0)
        inner = 1.0 - t * t * (3.0 - 2.0 * t)
        t = np.clip((r - 1.0) / (R_OUT - 1.0), 0.0, 1.0)
        fall = 1.0 - t * t * (3.0 - 2.0 * t)
        s = self.surface(x, y)
        back_z = s - back * self.rx * np.maximum(0.0, 1.0 - r2) - BACK_RIM * self.rx * fall
        return s + front * self.rx * inner, back_z

    def turn(self, x: NDArray[np.float64], y: NDArray[np.float64], z: NDArray[np.float64],
             yaw_deg: float, pitch_deg: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Displacement (dx, dy) of points at depth ``z`` for a head yaw (+ = toward screen right) and pitch
        (+ = looking up)."""
        t, p = math.radians(yaw_deg), math.radians(pitch_deg)
        X, Y = x - self.cx, y - self.cy
        x1 = X * math.cos(t) + z * math.sin(t)
        z1 = -X * math.sin(t) + z * math.cos(t)
        y2 = Y * math.cos(p) - z1 * math.sin(p)
        # rest projection of (X, Y, z) is (X, Y)
        return x1 - X, y2 - Y

    def turn_affine(self, x: float, y: float, z_offset: float, yaw: float, pitch: float
                    ) -> tuple[float, float, float, float]:
        """The turn near a point on the surface (+ ``z_offset``) as (dx, dy, scale_x, scale_y)."""
        h = max(1.0, self.rx * 0.05)
        xs = np.array([x, x - h, x + h, x, x], np.float64)
        ys = np.array([y, y, y, y - h, y + h], np.float64)
        z = self.surface(xs, ys) + z_offset
        dx, dy = self.turn(xs, ys, z, yaw, pitch)
        sx = 1.0 + (dx[2] - dx[1]) / (2 * h)
        sy = 1.0 + (dy[4] - dy[3]) / (2 * h)
        return float(dx[0]), float(dy[0]), float(sx), float(sy)


def head_model(lm: FaceLandmarks) -> HeadModel:
    x0, y0, x1, y1 = lm.face_box
    fw, fh = x1 - x0, y1 - y0
    cx = (lm.eye_l[0] + lm.eye_r[0]) / 2.0
    eye_y = (lm.eye_l[1] + lm.eye_r[1]) / 2.0
    chin_y = lm.chin[1] if lm.chin is not None else y1
    cy = eye_y - 0.10 * fh
    neck_y = chin_y - 0.08 * fh
    return HeadModel(cx=cx, cy=cy, rx=fw / 2.0, ry=max(fh * 0.62, fw * 0.5), chin_y=chin_y, neck=(cx, neck_y))


def fit_curve(xs: NDArray[np.float64], ys: NDArray[np.float64], weights: NDArray[np.float64] | None = None,
              degree: int = 2) -> NDArray[np.float64]:
    """Least-squares polynomial coefficients (highest first); a flat line when there are too few points."""
    if len(xs) < degree + 2:
        return np.array([*([0.0] * degree), float(np.mean(ys)) if len(ys) else 0.0])
    return np.polyfit(xs, ys, degree, w=weights)
