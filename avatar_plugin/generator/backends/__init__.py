"""Inpainting backends for stage 2, behind one interface (:class:`Inpainter`).

- ``classical`` (default, no weights): push-pull pyramid fill from the layer's own pixels; flat anime colours
  come out flat, no colour from other parts or the background leaks in (see segmentation-techniques.md §4a).
- ``lama``: a LaMa-style ONNX file (inputs ``image`` (1, 3, H, W) float 0..1 and ``mask`` (1, 1, H, W),
  output (1, 3, H, W) 0..1) run with onnxruntime; :mod:`.lama`.
- ``sd``: Stable Diffusion inpainting through diffusers (GPU when present); :mod:`.diffusion`.

Shapes of hidden regions always come from stage 2's shape priors; a backend only paints colour into them.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import ConfigError

__all__ = ["ClassicalInpainter", "Inpainter", "make_inpainter", "push_pull_fill"]


class Inpainter(Protocol):
    """Paint ``hole`` pixels of ``rgb`` from the ``source`` pixels only.

    ``rgb``: (H, W, 3) uint8; ``hole``, ``source``: (H, W) bool. Returns (H, W, 3) uint8, equal to ``rgb``
    outside ``hole``.
    """

    name: str

    def inpaint(
        self, rgb: NDArray[np.uint8], hole: NDArray[np.bool_], source: NDArray[np.bool_]
    ) -> NDArray[np.uint8]: ...


def push_pull_fill(rgb: NDArray[np.uint8], source: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """Every pixel gets a smooth extrapolation of the nearby ``source`` colours (premultiplied pyramid)."""
    if not source.any():
        return rgb.copy()
    a = source.astype(np.float32)
    c = rgb.astype(np.float32) * a[..., None]
    pyr = [(c, a)]
    while max(pyr[-1][1].shape) > 1:
        pc, pa = pyr[-1]
        size = (max(1, (pc.shape[1] + 1) // 2), max(1, (pc.shape[0] + 1) // 2))
        pyr.append(
            (cv2.resize(pc, size, interpolation=cv2.INTER_AREA), cv2.resize(pa, size, interpolation=cv2.INTER_AREA))  # type: ignore[arg-type]
        )
    pc, pa = pyr[-1]
    cur = (pc.reshape(1, 1, 3) / max(float(pa.reshape(-1)[0]), 1e-6)).astype(np.float32)
    for pc, pa in reversed(pyr[:-1]):
        pc = pc.reshape(pa.shape[0], pa.shape[1], 3)
        up = cv2.resize(cur, (pa.shape[1], pa.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(pc.shape)
        wgt = np.clip(pa, 0.0, 1.0)[..., None]
        colour = pc / np.maximum(pa[..., None], 1e-6)
        cur = (colour * wgt + up * (1.0 - wgt)).astype(np.float32)
    return np.clip(cur, 0, 255).astype(np.uint8)


def _nearest_fill(rgb: NDArray[np.uint8], hole: NDArray[np.bool_], source: NDArray[np.bool_]) -> NDArray[np.uint8]:
    from scipy import ndimage

    out = rgb.copy()
    if not source.any() or not hole.any():
        return out
    _, (iy, ix) = ndimage.distance_transform_edt(~source, return_indices=True)
    out[hole] = rgb[iy[hole], ix[hole]]
    return out


class ClassicalInpainter:
    """Nearest-source-pixel fill smoothed by push-pull: flat colours stay flat, no leaks from other parts."""

    name = "classical"

    def inpaint(self, rgb: NDArray[np.uint8], hole: NDArray[np.bool_], source: NDArray[np.bool_]) -> NDArray[np.uint8]:
        if not hole.any() or not source.any():
            return rgb.copy()
        near = _nearest_fill(rgb, hole, source)
        smooth = push_pull_fill(rgb, source)
        mix = (0.5 * near.astype(np.float32) + 0.5 * smooth.astype(np.float32)).astype(np.uint8)
        out = rgb.copy()
        out[hole] = mix[hole]
        return out


def make_inpainter(name: str = "classical", model_path: str | None = None, device: str | None = None) -> Inpainter:
    """The inpainter named ``name`` ("classical", "lama" or "sd")."""
    if name == "classical":
        return ClassicalInpainter()
    if name == "lama":
        if not model_path:
            raise ConfigError("inpainter 'lama' needs model_path: the path of a LaMa ONNX file (e.g. lama_fp32.onnx)")
        from avatar_plugin.generator.backends.lama import LamaOnnxInpainter

        return LamaOnnxInpainter(model_path)
    if name == "sd":
        if not model_path:
            raise ConfigError(
                "inpainter 'sd' needs model_path: a local Stable Diffusion inpainting folder (diffusers format)"
            )
        from avatar_plugin.generator.backends.diffusion import DiffusersInpainter

        return DiffusersInpainter(model_path, device=device)
    raise ConfigError(f"unknown inpainter {name!r}; expected 'classical', 'lama' or 'sd'")
