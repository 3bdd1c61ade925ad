"""Picture loading and validation: any file in, a :class:`SourceImage` (RGBA, foreground in alpha) or a clear
:class:`ImageInputError` out.

What is accepted (documented behaviour, see docs/generator.md):

- PNG, JPEG, WebP, BMP, TIFF; one still frame; 8 bits per channel; RGB, RGBA, palette (P/PA) or RGBa.
- 128 px to 4096 px on the long side; at most 40 megapixels (checked from the header, before decoding, so a
  decompression bomb is refused without allocating it).
- Refused, each with a message naming the file, the value, what is expected and the fix: not an image,
  truncated or corrupt, animated, grayscale, CMYK, 16-bit (or 32-bit float) channels, too small, too large.

The foreground (what becomes the character) is the alpha channel when the picture has a real one (any alpha
> 10 is foreground, so soft edges of 250-254 count); otherwise it is cut out here: a flood fill from the
border over the background colour when the border is plain, else OpenCV GrabCut, or an ISNet-style ONNX
matting model when the caller passes one (``foreground_model``).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from avatar_plugin.errors import ImageInputError
from avatar_plugin.generator.types import SourceImage

__all__ = [
    "MAX_LONG_SIDE",
    "MAX_PIXELS",
    "MIN_SIDE",
    "LoadOptions",
    "cut_out_foreground",
    "load_picture",
    "source_from_array",
]

log = logging.getLogger(__name__)

MIN_SIDE = 128
MAX_LONG_SIDE = 4096
MAX_PIXELS = 40_000_000
ALPHA_FOREGROUND = 10  # alpha above this is foreground

_ACCEPTED_MODES = {"RGB", "RGBA", "P", "PA", "RGBa", "RGBX", "LA", "L"}


@dataclass(frozen=True)
class LoadOptions:
    """How to turn a file into a :class:`SourceImage`.

    ``foreground_model``: path to an ISNet-style ONNX model (``isnetis.onnx`` from skytnt/anime-seg) used
    instead of flood fill / GrabCut for pictures without transparency. ``None`` = classical cut-out.
    """

    foreground_model: str | None = None


def _err(path: str, what: str, fix: str) -> ImageInputError:
    return ImageInputError(f"{path}: {what}; {fix}")


def _png_bit_depth(path: Path) -> int | None:
    """Bit depth per channel from a PNG's IHDR chunk (None when the file is not a PNG)."""
    with open(path, "rb") as fh:
        head = fh.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 25:
        return None
    return head[24]


def load_picture(path: str | os.PathLike[str], options: LoadOptions | None = None) -> SourceImage:
    """Open, validate and normalise a picture; cut out the foreground when it has no transparency."""
    options = options or LoadOptions()
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise _err(name, "no such file", "check the path")
    if p.is_dir():
        raise _err(name, "is a folder, not a picture", "pass a PNG, JPEG or WebP file")
    if p.suffix.lower() == ".psd":
        raise _err(name, "is a layered PSD", "use avatar_plugin.generator.psd_input (the generate command does this)")
    depth = _png_bit_depth(p)
    if depth is not None and depth > 8:
        raise _err(
            name,
            f"has {depth}-bit channels",
            "expected 8 bits per channel; re-save it as an 8-bit PNG (e.g. in GIMP: Image > Precision > 8 bit)",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(p)
        except UnidentifiedImageError:
            raise _err(name, "is not an image Pillow can read", "pass a PNG, JPEG or WebP picture") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _err(
                name,
                "declares a huge size (decompression bomb guard)",
                f"expected at most {MAX_PIXELS // 1_000_000} megapixels; downscale the picture",
            ) from None
        except OSError as exc:
            raise _err(name, f"cannot be read ({exc})", "pass a PNG, JPEG or WebP picture") from None
    with im:
        w, h = im.size
        if w * h > MAX_PIXELS:
            raise _err(
                name,
                f"is {w}x{h} ({w * h / 1e6:.1f} megapixels)",
                f"expected at most {MAX_PIXELS // 1_000_000} megapixels and {MAX_LONG_SIDE} px on the long side; "
                "downscale it",
            )
        if max(w, h) > MAX_LONG_SIDE:
            raise _err(name, f"is {w}x{h}", f"expected at most {MAX_LONG_SIDE} px on the long side; downscale it")
        if min(w, h) < MIN_SIDE:
            raise _err(
                name,
                f"is only {w}x{h}",
                f"expected at least {MIN_SIDE} px on each side (256-4096 works best); use a larger picture",
            )
        if getattr(im, "is_animated", False) and getattr(im, "n_frames", 1) > 1:
            raise _err(
                name,
                f"is animated ({im.n_frames} frames)",  # type: ignore[attr-defined]
                "expected one still picture; export the frame you want as a PNG",
            )
        mode = im.mode
        if mode == "CMYK":
            raise _err(name, "is a CMYK picture", "expected RGB or RGBA; convert it to RGB (sRGB) and save as PNG")
        if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            raise _err(
                name,
                f"has 16/32-bit channels (mode {mode})",
                "expected 8 bits per channel; re-save it as 8-bit RGB",
            )
        if mode not in _ACCEPTED_MODES:
            raise _err(name, f"has an unsupported colour mode {mode!r}", "convert it to RGB or RGBA and save as PNG")
        try:
            im.load()
        except OSError as exc:
            raise _err(name, f"is truncated or corrupt ({exc})", "re-export or re-download the picture") from None
        if mode == "P" and "transparency" in im.info:
            im = im.convert("RGBA")  # type: ignore[assignment]
        if mode in ("L", "LA") or _is_grayscale(im):
            blank = _blank(im)
            raise _err(
                name,
                blank or "is a grayscale picture",
                "pass the picture with the character drawn in it" if blank else
                "the generator separates parts by colour; pass the coloured original (RGB or RGBA)",
            )
        has_alpha = im.mode in ("RGBA", "PA", "RGBa", "LA")
        rgba = np.array(im.convert("RGBA"), dtype=np.uint8)
    if not has_alpha:
        rgba[..., 3] = 255
    return source_from_array(rgba, name, options)


def _blank(im: Image.Image) -> str | None:
    """What is wrong when nothing is drawn: fully transparent, or one flat colour (else None)."""
    small = np.asarray(im.convert("RGBA").resize((64, 64), Image.Resampling.NEAREST), dtype=np.int16)
    seen = small[small[..., 3] > 10]
    if len(seen) == 0:
        return "is fully transparent (nothing is drawn)"
    if int((seen.max(axis=0) - seen.min(axis=0)).max()) <= 3:
        return "is one flat colour (nothing is drawn)"
    return None


def _is_grayscale(im: Image.Image) -> bool:
    if im.mode not in ("RGB", "RGBA", "P", "PA", "RGBX", "RGBa"):
        return False
    small = np.asarray(im.convert("RGB").resize((64, 64), Image.Resampling.NEAREST), dtype=np.int16)
    spread = small.max(axis=2) - small.min(axis=2)
    return bool(spread.max() <= 3)


def source_from_array(
    rgba: NDArray[np.uint8], path: str = "<array>", options: LoadOptions | None = None
) -> SourceImage:
    """Make a :class:`SourceImage` from an (H, W, 4) or (H, W, 3) uint8 array, cutting out the foreground when
    the alpha is missing or fully opaque."""
    options = options or LoadOptions()
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] not in (3, 4):
        raise _err(path, f"array of dtype {rgba.dtype} and shape {rgba.shape}", "expected (H, W, 3|4) uint8")
    if rgba.shape[2] == 3:
        rgba = np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)])
    rgba = np.ascontiguousarray(rgba).copy()
    alpha = rgba[..., 3]
    fg = alpha > ALPHA_FOREGROUND
    if fg.mean() > 0.985:  # no real transparency: cut the character out
        fg = cut_out_foreground(rgba[..., :3], path, options)
        rgba[..., 3] = np.where(fg, 255, 0).astype(np.uint8)
    else:
        rgba[..., 3] = np.where(fg, np.maximum(alpha, 0), 0).astype(np.uint8)
    if fg.sum() < 0.02 * fg.size:
        raise _err(
            path,
            f"has almost no foreground ({100 * fg.mean():.1f}% of the pixels)",
            "expected one character filling a good part of the picture; crop it or fix its transparency",
        )
    return SourceImage(path=path, rgba=rgba)


def cut_out_foreground(rgb: NDArray[np.uint8], path: str, options: LoadOptions) -> NDArray[np.bool_]:
    """Foreground mask of an opaque picture: ONNX model when given, else border flood fill or GrabCut."""
    if options.foreground_model:
        from avatar_plugin.generator.backends.matting import isnet_foreground

        return isnet_foreground(rgb, options.foreground_model)
    _h, _w = rgb.shape[:2]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    med = np.median(border, axis=0)
    dist_border = np.linalg.norm(border - med, axis=1)
    plain = float(np.mean(dist_border < 12.0)) > 0.9
    if plain:
        near = np.linalg.norm(lab - med, axis=2) < 14.0
        _n, labels = cv2.connectedComponents(near.astype(np.uint8), connectivity=4)
        # seeds: the top edge and the upper sides (a bust is cut by the bottom edge, often by the lower sides)
        upper = int(0.6 * labels.shape[0])
        touching = np.unique(np.concatenate([labels[0], labels[:upper, 0], labels[:upper, -1]]))
        touching = touching[touching > 0]
        bg = np.isin(labels, touching) & near
        fg = ~bg
    else:
        fg = _grabcut(rgb)
    fg = _clean_mask(fg)
    log.debug("%s: foreground by %s, %.1f%%", path, "flood fill" if plain else "GrabCut", 100 * fg.mean())
    return fg


def _grabcut(rgb: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """GrabCut, seeded by a person prior around the face when animeface finds one (else a centred box)."""
    from avatar_plugin.generator.landmarks import detect_faces

    h, w = rgb.shape[:2]
    scale = min(1.0, 384.0 / max(h, w))
    small = cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    faces = []
    try:
        faces = detect_faces(np.ascontiguousarray(rgb))
    except Exception as exc:  # a broken detector must not stop the cut-out; it is reported by landmarks
        log.debug("face detection for the cut-out failed: %s", exc)
    if faces:
        fb = [v * scale for v in faces[0].landmarks.face_box]
        fw = fb[2] - fb[0]
        cx, cy = (fb[0] + fb[2]) / 2, (fb[1] + fb[3]) / 2
        mask = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        head = ((xx - cx) / (1.1 * fw)) ** 2 + ((yy - cy + 0.2 * fw) / (1.0 * fw)) ** 2 < 1.0
        spread = 1.2 * fw + (yy - fb[3]).clip(0) * 0.5
        body = (yy > fb[3]) & (np.abs(xx - cx) < spread)
        mask[head | body] = cv2.GC_PR_FGD
        core = (np.abs(xx - cx) < 0.3 * fw) & (yy > fb[1] + 0.3 * fw) & (yy < fb[3])
        mask[core] = cv2.GC_FGD
        b = max(2, int(0.01 * max(sh, sw)))
        for sl in (np.s_[:b, :], np.s_[:, :b], np.s_[:, -b:]):
            mask[sl] = cv2.GC_BGD
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    else:
        mask = np.zeros((sh, sw), np.uint8)
        rect = (int(0.05 * sw), int(0.02 * sh), int(0.90 * sw), int(0.98 * sh) - 1)
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    fg_small = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    fg = cv2.resize(fg_small, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    return np.asarray(fg, dtype=bool)


def _clean_mask(fg: NDArray[np.bool_]) -> NDArray[np.bool_]:
    from scipy import ndimage

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    m = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, k)
    m = ndimage.binary_fill_holes(m)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.asarray(m, dtype=bool)
    keep_min = max(200, int(0.001 * fg.size))
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= keep_min]
    return np.isin(labels, keep)
