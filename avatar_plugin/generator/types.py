"""Stage outputs of the generator: the contract between its stages (one frozen dataclass per stage).

Pipeline (each stage: ``run(previous, options) -> output``, one file each, importing no other stage)::

    SourceImage -> 1 segment -> PartMasks -> 2 complete -> Layers -> 3 mesh -> Meshes -> 4 rig -> Rig -> 5 export

Conventions:

- Pixels: origin top-left, +x right, +y down, in SOURCE-IMAGE pixels (the puppet canvas = the source picture).
- Left/right follow Live2D: ``_l`` is the CHARACTER's left, which is on the IMAGE's RIGHT (larger x).
- Images are ``(H, W, 4) uint8`` RGBA with straight alpha; masks are ``(H, W) bool``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_DEPTH_ORDER",
    "FaceLandmarks",
    "Layer",
    "Layers",
    "Part",
    "PartMasks",
    "SourceImage",
]


class Part(str, enum.Enum):
    """Every part the generator knows. ``_L`` = character's left (image right)."""

    BACK_HAIR = "back_hair"
    BODY = "body"  # body and clothes
    NECK = "neck"
    FACE = "face"  # face skin (incl. ears, nose line)
    EYE_WHITE_L = "eye_white_l"
    EYE_WHITE_R = "eye_white_r"
    IRIS_L = "iris_l"
    IRIS_R = "iris_r"
    LASHES_L = "lashes_l"  # upper lashes / upper lid line
    LASHES_R = "lashes_r"
    EYELID_L = "eyelid_l"  # generated: skin-coloured closed lid with a lash line (shown as the eye closes)
    EYELID_R = "eyelid_r"
    BROW_L = "brow_l"
    BROW_R = "brow_r"
    MOUTH = "mouth"  # lips / mouth line
    MOUTH_INTERIOR = "mouth_interior"  # generated or visible: dark interior, teeth/tongue hint
    SIDE_HAIR_L = "side_hair_l"
    SIDE_HAIR_R = "side_hair_r"
    FRONT_HAIR = "front_hair"  # bangs
    ACCESSORY = "accessory"  # glasses, hair clips ... when separable


# Back to front. Refined per picture (e.g. a side lock in front of the shoulder stays in front).
DEFAULT_DEPTH_ORDER: tuple[Part, ...] = (
    Part.BACK_HAIR,
    Part.BODY,
    Part.NECK,
    Part.FACE,
    Part.MOUTH_INTERIOR,
    Part.MOUTH,
    Part.EYE_WHITE_L,
    Part.EYE_WHITE_R,
    Part.IRIS_L,
    Part.IRIS_R,
    Part.EYELID_L,
    Part.EYELID_R,
    Part.LASHES_L,
    Part.LASHES_R,
    Part.BROW_L,
    Part.BROW_R,
    Part.SIDE_HAIR_L,
    Part.SIDE_HAIR_R,
    Part.FRONT_HAIR,
    Part.ACCESSORY,
)


@dataclass(frozen=True, eq=False)
class SourceImage:
    """The input picture, normalised: RGBA uint8 with the foreground in alpha. ``path`` for messages."""

    path: str
    rgba: NDArray[np.uint8]  # (H, W, 4)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgba.shape[1]), int(self.rgba.shape[0])


@dataclass(frozen=True)
class FaceLandmarks:
    """Face geometry in source pixels. Boxes are (x0, y0, x1, y1). ``eye_l`` = character's left (image right)."""

    face_box: tuple[float, float, float, float]
    eye_l: tuple[float, float]
    eye_r: tuple[float, float]
    mouth: tuple[float, float]
    eye_l_box: tuple[float, float, float, float] | None = None
    eye_r_box: tuple[float, float, float, float] | None = None
    mouth_box: tuple[float, float, float, float] | None = None
    chin: tuple[float, float] | None = None
    source: str = ""  # which detector or "user" produced them

    @property
    def face_width(self) -> float:
        return float(self.face_box[2] - self.face_box[0])


@dataclass(frozen=True, eq=False)
class PartMasks:
    """Stage 1 output: one visible-pixel mask per part found, a depth order and the landmarks."""

    image: SourceImage
    masks: Mapping[Part, NDArray[np.bool_]]  # (H, W) each, visible pixels only, disjoint
    depth_order: tuple[Part, ...]  # back to front, only parts present in ``masks``
    landmarks: FaceLandmarks
    colors: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)  # "skin", "hair", "iris_l", ...
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Layer:
    """One complete (amodal) part image, cropped: ``image`` sits at ``offset`` (x, y) on the canvas."""

    part: Part
    image: NDArray[np.uint8]  # (h, w, 4) RGBA straight alpha, complete incl. hidden regions
    offset: tuple[int, int]
    visible: NDArray[np.bool_]  # (h, w): pixels that were visible in the picture (the rest was completed)

    def full(self, canvas_size: tuple[int, int]) -> NDArray[np.uint8]:
        """The layer pasted on a transparent canvas of (width, height)."""
        w, h = canvas_size
        out = np.zeros((h, w, 4), np.uint8)
        x, y = self.offset
        ih, iw = self.image.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + iw, w), min(y + ih, h)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = self.image[y0 - y:y1 - y, x0 - x:x1 - x]
        return out


@dataclass(frozen=True, eq=False)
class Layers:
    """Stage 2 output: complete RGBA layers, back to front, plus what later stages need."""

    canvas_size: tuple[int, int]  # (width, height) = source picture size
    layers: Mapping[Part, Layer]
    depth_order: tuple[Part, ...]  # back to front, only parts present in ``layers``
    landmarks: FaceLandmarks
    source_path: str = ""
    warnings: tuple[str, ...] = ()
