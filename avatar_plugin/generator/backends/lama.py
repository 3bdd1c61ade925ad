"""LaMa inpainting from an ONNX file, run with onnxruntime (CPU, or CUDA when onnxruntime-gpu is installed).

The model takes ``image`` (1, 3, S, S) float32 RGB in 0..1 and ``mask`` (1, 1, S, S) float32 (1 = hole) and
returns (1, 3, S, S) RGB in 0..1 (or 0..255; detected from the range). S is read from the model when fixed
(512 for the common export), else the crop is padded to a multiple of 8. Pixels outside ``source`` are
hidden from the model by filling them with the classical fill first, so no foreign colour leaks in.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import ConfigError

__all__ = ["LamaOnnxInpainter"]


class LamaOnnxInpainter:
    name = "lama"

    def __init__(self, model_path: str) -> None:
        p = Path(model_path)
        if not p.is_file():
            raise ConfigError(f"LaMa model {model_path!r}: no such file; point the config at a LaMa .onnx file")
        import onnxruntime as ort

        try:
            self._sess = ort.InferenceSession(str(p), providers=ort.get_available_providers())
        except Exception as exc:  # onnxruntime raises its own types
            raise ConfigError(f"LaMa model {model_path!r}: onnxruntime cannot load it ({exc})") from None
        inputs = {i.name: i for i in self._sess.get_inputs()}
        if set(inputs) != {"image", "mask"}:
            raise ConfigError(f"LaMa model {model_path!r}: inputs are {sorted(inputs)}; expected 'image' and 'mask'")
        shape = inputs["image"].shape
        self._size = shape[2] if isinstance(shape[2], int) and shape[2] == shape[3] else None

    def inpaint(self, rgb: NDArray[np.uint8], hole: NDArray[np.bool_], source: NDArray[np.bool_]) -> NDArray[np.uint8]:
        from avatar_plugin.generator.backends import ClassicalInpainter

        if not hole.any():
            return rgb.copy()
        pre = ClassicalInpainter().inpaint(rgb, ~source, source)  # hide foreign pixels
        ys, xs = np.nonzero(hole)
        pad = 16
        y0, y1 = max(0, ys.min() - pad), min(rgb.shape[0], ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(rgb.shape[1], xs.max() + pad + 1)
        crop = pre[y0:y1, x0:x1]
        m = hole[y0:y1, x0:x1]
        h, w = m.shape
        if self._size:
            S = self._size
            img = cv2.resize(crop, (S, S), interpolation=cv2.INTER_AREA)
            mk = cv2.resize(m.astype(np.uint8), (S, S), interpolation=cv2.INTER_NEAREST)
        else:
            H8, W8 = (h + 7) // 8 * 8, (w + 7) // 8 * 8
            img = cv2.copyMakeBorder(crop, 0, H8 - h, 0, W8 - w, cv2.BORDER_REFLECT)
            mk = cv2.copyMakeBorder(m.astype(np.uint8), 0, H8 - h, 0, W8 - w, cv2.BORDER_CONSTANT, value=0)  # type: ignore[call-overload]
        x = img.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
        mm = mk.astype(np.float32)[None, None]
        (y,) = self._sess.run(None, {"image": x, "mask": mm})
        y = np.asarray(y, np.float32)[0].transpose(1, 2, 0)
        if y.max() <= 1.5:
            y = y * 255.0
        y = np.clip(y, 0, 255).astype(np.uint8)
        y = cv2.resize(y, (w, h), interpolation=cv2.INTER_LINEAR) if self._size else y[:h, :w]
        out = rgb.copy()
        region = out[y0:y1, x0:x1]
        region[m] = y[m]
        return out
