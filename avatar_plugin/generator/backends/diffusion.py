"""Stable Diffusion inpainting through diffusers (optional; ``pip install avatar-plugin[ml]``, torch first).

Loads a local diffusers folder (``StableDiffusionInpaintPipeline.from_pretrained(path)``; nothing is
downloaded: ``local_files_only=True``), runs on CUDA when available. The prompt asks for flat anime colours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import ConfigError

__all__ = ["DiffusersInpainter"]

PROMPT = "anime illustration, flat cel shading, clean colours"


class DiffusersInpainter:
    name = "sd"

    def __init__(
        self, model_path: str | Path | None = None, device: str | None = None, pipe: Any = None, steps: int = 20
    ) -> None:
        try:
            import torch
        except ImportError:
            raise ConfigError(
                "inpainter 'sd' needs torch and diffusers: pip install torch, then pip install 'avatar-plugin[ml]'"
            ) from None
        self._device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._steps = steps
        if pipe is None:
            if model_path is None or not Path(model_path).is_dir():
                raise ConfigError(f"sd model {model_path!r}: expected a local diffusers inpainting folder")
            from diffusers import StableDiffusionInpaintPipeline

            pipe = StableDiffusionInpaintPipeline.from_pretrained(str(model_path), local_files_only=True)
        self._pipe = pipe.to(self._device)

    def inpaint(self, rgb: NDArray[np.uint8], hole: NDArray[np.bool_], source: NDArray[np.bool_]) -> NDArray[np.uint8]:
        import torch
        from PIL import Image

        from avatar_plugin.generator.backends import ClassicalInpainter

        if not hole.any():
            return rgb.copy()
        pre = ClassicalInpainter().inpaint(rgb, ~source, source)
        ys, xs = np.nonzero(hole)
        pad = 16
        y0, y1 = max(0, ys.min() - pad), min(rgb.shape[0], ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(rgb.shape[1], xs.max() + pad + 1)
        h, w = y1 - y0, x1 - x0
        S = 8 * max(1, round(max(h, w) / 8)) if max(h, w) <= 512 else 512
        img = Image.fromarray(pre[y0:y1, x0:x1]).resize((S, S))
        mask = Image.fromarray((hole[y0:y1, x0:x1] * 255).astype(np.uint8)).resize((S, S))
        gen = torch.Generator(device="cpu").manual_seed(0)
        res = self._pipe(
            prompt=PROMPT,
            image=img,
            mask_image=mask,
            height=S,
            width=S,
            num_inference_steps=self._steps,
            generator=gen,
            output_type="np",
        ).images[0]
        y = (np.clip(np.asarray(res, np.float32), 0, 1) * 255).astype(np.uint8)
        y = np.asarray(Image.fromarray(y).resize((w, h)))
        out = rgb.copy()
        region = out[y0:y1, x0:x1]
        m = hole[y0:y1, x0:x1]
        region[m] = y[m]
        return out
