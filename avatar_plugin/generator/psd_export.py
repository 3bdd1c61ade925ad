"""A layered PSD of the generated parts, for an artist to continue in Cubism Editor (``write_psd``).

At the source resolution, one pixel layer per part with Cubism-friendly names, in groups (bottom to top)::

    Hair Back / Body (Body, Neck) / Face (Face, Cheek) / Mouth (Mouth Interior, Mouth) /
    Eye R, Eye L (Eye White, Iris, Eyelid, Lashes) / Brows (Brow R, Brow L) / Hair Side (R, L) / Hair Front /
    Accessory

Layers are complete (amodal: the hidden skin under the bangs is there), which is what a Live2D rig needs.
Generated helper layers (a mouth interior, an eyelid, the blush) are included; the blush starts hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from psd_tools import PSDImage
from psd_tools.constants import Compression

from avatar_plugin.generator.types import Layers, Part

__all__ = ["GROUPS", "LAYER_NAMES", "ExtraLayer", "write_psd"]

LAYER_NAMES: dict[Part, str] = {
    Part.BACK_HAIR: "Hair Back", Part.BODY: "Body", Part.NECK: "Neck", Part.FACE: "Face",
    Part.MOUTH_INTERIOR: "Mouth Interior", Part.MOUTH: "Mouth",
    Part.EYE_WHITE_L: "Eye White L", Part.EYE_WHITE_R: "Eye White R", Part.IRIS_L: "Iris L", Part.IRIS_R: "Iris R",
    Part.EYELID_L: "Eyelid L", Part.EYELID_R: "Eyelid R", Part.LASHES_L: "Lashes L", Part.LASHES_R: "Lashes R",
    Part.BROW_L: "Brow L", Part.BROW_R: "Brow R", Part.SIDE_HAIR_L: "Hair Side L", Part.SIDE_HAIR_R: "Hair Side R",
    Part.FRONT_HAIR: "Hair Front", Part.ACCESSORY: "Accessory",
}
GROUPS: tuple[tuple[str, tuple[Part | str, ...]], ...] = (
    ("Hair Back", (Part.BACK_HAIR,)),
    ("Body", (Part.BODY, Part.NECK)),
    ("Face", (Part.FACE, "Cheek")),
    ("Mouth", (Part.MOUTH_INTERIOR, Part.MOUTH)),
    ("Eye R", (Part.EYE_WHITE_R, Part.IRIS_R, Part.EYELID_R, Part.LASHES_R)),
    ("Eye L", (Part.EYE_WHITE_L, Part.IRIS_L, Part.EYELID_L, Part.LASHES_L)),
    ("Brows", (Part.BROW_R, Part.BROW_L)),
    ("Hair Side", (Part.SIDE_HAIR_R, Part.SIDE_HAIR_L)),
    ("Hair Front", (Part.FRONT_HAIR,)),
    ("Accessory", (Part.ACCESSORY,)),
)


@dataclass(frozen=True, eq=False)
class ExtraLayer:
    """A generated layer that is not a :class:`Part` (e.g. the blush), placed in the group naming it."""

    name: str
    image: NDArray[np.uint8]  # (h, w, 4) RGBA straight alpha
    offset: tuple[int, int]
    hidden: bool = False


def write_psd(layers: Layers, path: str | Path, extras: dict[str, ExtraLayer] | None = None) -> Path:
    """Write ``layers`` as a grouped PSD at the canvas size; returns the path."""
    extras = extras or {}
    w, h = layers.canvas_size
    psd = PSDImage.new("RGBA", (w, h))
    for group_name, members in GROUPS:
        made = []
        for m in members:
            if isinstance(m, Part):
                if m not in layers.layers:
                    continue
                layer = layers.layers[m]
                img, (x, y), name, hidden = layer.image, layer.offset, LAYER_NAMES[m], False
            else:
                if m not in extras:
                    continue
                e = extras[m]
                img, (x, y), name, hidden = e.image, e.offset, e.name, e.hidden
            clipped, x, y = _clip(img, x, y, w, h)
            if clipped is None:
                continue
            pixel = psd.create_pixel_layer(Image.fromarray(np.ascontiguousarray(clipped)), name=name,
                                           top=y, left=x, compression=Compression.ZIP)
            if hidden:
                pixel.visible = False
            made.append(pixel)
        if made:
            psd.create_group(made, name=group_name)
    path = Path(path)
    _fast_preview(psd, layers)
    psd.save(str(path))
    return path


def _fast_preview(psd: PSDImage, layers: Layers) -> None:
    """Give psd-tools our own merged image (its generic compositor takes seconds at 1024 px).

    Uses psd-tools internals (``_update_preview``, ``numpy_io.encode_image_data``); when they change, the
    library's own compositor runs instead.
    """
    try:
        from psd_tools.api import numpy_io

        w, h = layers.canvas_size
        color: NDArray[np.float32] = np.zeros((h, w, 3), np.float32)  # premultiplied while compositing
        alpha: NDArray[np.float32] = np.zeros((h, w, 1), np.float32)
        for part in layers.depth_order:
            rgba: Any = layers.layers[part].full((w, h)).astype(np.float32) / 255.0
            a_part = rgba[..., 3:4]
            color = rgba[..., :3] * a_part + color * (1.0 - a_part)
            alpha = a_part + alpha * (1.0 - a_part)
        straight = np.divide(color, alpha, out=np.zeros_like(color), where=alpha > 1e-6)
        record = psd._record

        def update() -> None:
            record.image_data.set_data(numpy_io.encode_image_data(psd, straight, alpha), record.header)

        psd._update_preview = update  # type: ignore[method-assign]
    except (ImportError, AttributeError):  # pragma: no cover - psd-tools changed: its compositor runs
        return


def _clip(img: NDArray[np.uint8], x: int, y: int, w: int, h: int) -> tuple[NDArray[np.uint8] | None, int, int]:
    """Crop a layer to the canvas (PSD layers may not start at negative offsets in every reader)."""
    ih, iw = img.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + iw, w), min(y + ih, h)
    if x1 <= x0 or y1 <= y0:
        return None, 0, 0
    return img[y0 - y:y1 - y, x0 - x:x1 - x], x0, y0
