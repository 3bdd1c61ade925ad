"""Contact sheets of generator stages 1-2 on a folder of real pictures, for looking at (not scoring).

    python benchmarks/real_art_sheet.py PICTURES_DIR OUT_DIR [--poses] [--only d03,d05]

For each picture writes ``OUT_DIR/<name>_sheet.png``: the picture, the parts tinted and outlined, then every
complete layer on a checkerboard (hidden parts completed by stage 2 show as the area outside the red outline of
the visible pixels). With ``--poses`` also ``OUT_DIR/<name>_poses.png``: the rigged puppet (stages 3-5) at rest,
ParamAngleX -30 / +30, ParamAngleZ 20 and eyes closed, to see what the layers do under motion.
Prints one line per picture: the parts found and the time of stages 1-2. Never commit the pictures or outputs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from avatar_plugin.cli._segment_cmds import contact_sheet
from avatar_plugin.generator.stages12 import segment_and_complete_verbose
from avatar_plugin.generator.types import Layers, PartMasks

POSES: tuple[tuple[str, dict[str, float]], ...] = (
    ("rest", {}),
    ("AngleX -30", {"ParamAngleX": -30.0}),
    ("AngleX +30", {"ParamAngleX": 30.0}),
    ("AngleZ 20", {"ParamAngleZ": 20.0}),
    ("X30 Y-20", {"ParamAngleX": 30.0, "ParamAngleY": -20.0}),
    ("X30 Y30 Z20", {"ParamAngleX": 30.0, "ParamAngleY": 30.0, "ParamAngleZ": 20.0}),
    ("AngleY +30", {"ParamAngleY": 30.0}),
    ("BodyX +10", {"ParamBodyAngleX": 10.0}),
    ("BodyZ +10", {"ParamBodyAngleZ": 10.0}),
    ("eyes closed", {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 0.0}),
    ("closed smile", {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 0.0, "ParamEyeLSmile": 1.0, "ParamEyeRSmile": 1.0,
                      "ParamMouthForm": 1.0}),
    ("vowel A", {"ParamA": 1.0}),
    ("vowel O", {"ParamO": 1.0}),
)


def _checker(h: int, w: int, cell: int = 12) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    c = ((yy // cell + xx // cell) % 2).astype(np.float32)
    return np.dstack([170 + 60 * c] * 3)


def _over(rgba: np.ndarray, bg: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.float32) / 255
    return (rgba[..., :3] * a + bg * (1 - a)).astype(np.uint8)


def head_box(layers: Layers) -> tuple[int, int, int, int]:
    """A square around the head: 2.6 face widths, centred a little below the eyes."""
    W, H = layers.canvas_size
    lm = layers.landmarks
    fw = lm.face_width
    cx = (lm.eye_l[0] + lm.eye_r[0]) / 2
    cy = (lm.eye_l[1] + lm.eye_r[1]) / 2 + 0.15 * fw
    r = 1.3 * fw
    return (max(0, int(cx - r)), max(0, int(cy - r)), min(W, int(cx + r)), min(H, int(cy + r)))


def _crop(im: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    c = im[y0:y1, x0:x1]
    s = size / max(c.shape[:2])
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST
    return cv2.resize(c, (max(1, round(c.shape[1] * s)), max(1, round(c.shape[0] * s))), interpolation=interp)


def layer_tiles(layers: Layers, tile: int = 300, per_row: int = 6) -> np.ndarray:
    """Every complete layer (cropped to the head) on a checkerboard, the visible pixels outlined in red."""
    W, H = layers.canvas_size
    box = head_box(layers)
    tiles = []
    for p in layers.depth_order:
        lay = layers.layers[p]
        im = _crop(lay.full((W, H)), box, tile)
        th, tw = im.shape[:2]
        t = _over(im, _checker(th, tw))
        vis = np.zeros((H, W), np.uint8)
        x, y = lay.offset
        h, w = lay.visible.shape
        vis[y : y + h, x : x + w] = lay.visible
        vs = cv2.resize(vis[box[1] : box[3], box[0] : box[2]], (tw, th), interpolation=cv2.INTER_NEAREST)
        edge = (vs > 0) & ~(cv2.erode(vs, np.ones((3, 3), np.uint8)) > 0)
        t[edge] = (255, 0, 0)
        img = Image.fromarray(t)
        ImageDraw.Draw(img).text((3, 3), p.value, fill=(0, 0, 0))
        tiles.append(np.asarray(img))
    rows = []
    for i in range(0, len(tiles), per_row):
        chunk = tiles[i : i + per_row]
        chunk += [np.full_like(tiles[0], 40)] * (per_row - len(chunk))
        rows.append(np.concatenate(chunk, axis=1))
    return np.concatenate(rows, axis=0)


def top_row(layers: Layers, masks: PartMasks | None, size: int = 400) -> np.ndarray:
    """Whole picture | head crop | head crop with the parts tinted and outlined (+ landmarks)."""
    W, H = layers.canvas_size
    sheet = contact_sheet(layers, masks, tile=max(W, H))  # full resolution: picture | tinted | legend
    pic, tinted = sheet[:H, :W], sheet[:H, W : 2 * W]
    box = head_box(layers)
    whole = _crop(pic, (0, 0, W, H), size)
    out = [whole, _crop(pic, box, size), _crop(tinted, box, size)]
    h = max(x.shape[0] for x in out)
    return np.concatenate([np.pad(x, ((0, h - x.shape[0]), (0, 0), (0, 0)), constant_values=40) for x in out], 1)


def pose_strip(layers: Layers, size: int = 360) -> np.ndarray:
    from avatar_plugin.generator.pipeline import GenerateOptions, generate_from_layers
    from avatar_plugin.puppet import read_puppet
    from avatar_plugin.puppet.raster import fit_view, render

    with tempfile.TemporaryDirectory() as d:
        generate_from_layers(layers, d, GenerateOptions(progress=False))
        puppet = read_puppet(Path(d) / "puppet.json")
        view = fit_view(layers.canvas_size, layers.canvas_size)
        box = head_box(layers)
        out = []
        for name, values in POSES:
            im = _crop(render(puppet, values, view, background=(90, 150, 90, 255)), box, size)
            img = Image.fromarray(np.ascontiguousarray(im[..., :3]))
            ImageDraw.Draw(img).text((3, 3), name, fill=(255, 255, 255))
            out.append(np.asarray(img))
    return np.concatenate(out, axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pictures", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--poses", action="store_true", help="also rig the layers and render poses")
    ap.add_argument("--only", default="", help="comma-separated picture stems")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    only = {s for s in a.only.split(",") if s}
    files = sorted(p for p in a.pictures.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    for path in files:
        if only and path.stem not in only:
            continue
        t0 = time.perf_counter()
        try:
            res = segment_and_complete_verbose(path)
        except Exception as exc:  # a look-at tool: report and go on
            print(f"{path.name}: FAILED {type(exc).__name__}: {exc}")
            continue
        dt = time.perf_counter() - t0
        sheet = top_row(res.layers, res.masks)
        tiles = layer_tiles(res.layers)
        w = max(sheet.shape[1], tiles.shape[1])
        pad = [np.pad(x, ((0, 0), (0, w - x.shape[1]), (0, 0)), constant_values=40) for x in (sheet, tiles)]
        Image.fromarray(np.concatenate(pad, axis=0)).save(a.out / f"{path.stem}_sheet.png")
        if a.poses:
            Image.fromarray(pose_strip(res.layers)).save(a.out / f"{path.stem}_poses.png")
        parts = " ".join(p.value for p in res.layers.depth_order)
        print(f"{path.name}: {dt:.2f} s  {parts}  {'; '.join(res.layers.warnings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
