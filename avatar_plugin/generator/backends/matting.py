"""Optional foreground matting with an ISNet-style ONNX model (``isnetis.onnx`` from skytnt/anime-seg).

Input (1, 3, S, S) float32 RGB in 0..1 (S from the model, 1024 for isnetis), output (1, 1, S, S) mask in
0..1; foreground = mask > 0.5. Only used when the user points the config at the file.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import ConfigError

__all__ = ["isnet_foreground"]


def isnet_foreground(rgb: NDArray[np.uint8], model_path: str) -> NDArray[np.bool_]:
    if not Path(model_path).is_file():
        raise ConfigError(f"foreground model {model_path!r}: no such file; point the config at isnetis.onnx")
    import onnxruntime as ort

    sess = ort.InferenceSession(model_path, providers=ort.get_available_providers())
    inp = sess.get_inputs()[0]
    shape = inp.shape
    S = shape[2] if isinstance(shape[2], int) else 1024
    h, w = rgb.shape[:2]
    s = S / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    canvas = np.zeros((S, S, 3), np.float32)
    y0, x0 = (S - nh) // 2, (S - nw) // 2
    canvas[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA) / 255.0
    (out,) = sess.run(None, {inp.name: canvas.transpose(2, 0, 1)[None]})
    m = np.asarray(out, np.float32).reshape(S, S)[y0 : y0 + nh, x0 : x0 + nw]
    return np.asarray(cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5, dtype=bool)
