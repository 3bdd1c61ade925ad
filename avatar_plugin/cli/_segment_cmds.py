"""``avatar-plugin segment PICTURE -o OUT``: stages 1-2 only, with debug output for users.

Writes ``OUT/layers/NN_<part>.png`` (each complete layer on the full canvas, back to front), ``OUT/segmentation.png``
(a contact sheet: the picture with every part outlined and tinted, the parts' legend, and the completed layers),
and ``OUT/landmarks.json`` (the face box, eye and mouth centres found; edit it and pass it back with
``--landmarks`` when a detector misses).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from avatar_plugin.cli._generate_cmds import add_model_options
from avatar_plugin.errors import InputError
from avatar_plugin.generator.landmarks import parse_face_box
from avatar_plugin.generator.stages12 import Stages12Options, segment_and_complete_verbose
from avatar_plugin.generator.types import Layers, Part, PartMasks

__all__ = ["contact_sheet", "register", "write_outputs"]

log = logging.getLogger(__name__)

PART_COLORS: dict[Part, tuple[int, int, int]] = {
    Part.BACK_HAIR: (200, 60, 60),
    Part.BODY: (90, 110, 220),
    Part.NECK: (240, 170, 40),
    Part.FACE: (60, 190, 120),
    Part.EYE_WHITE_L: (250, 250, 120),
    Part.EYE_WHITE_R: (250, 250, 120),
    Part.IRIS_L: (0, 220, 240),
    Part.IRIS_R: (0, 220, 240),
    Part.LASHES_L: (240, 60, 240),
    Part.LASHES_R: (240, 60, 240),
    Part.EYELID_L: (255, 200, 200),
    Part.EYELID_R: (255, 200, 200),
    Part.BROW_L: (150, 80, 30),
    Part.BROW_R: (150, 80, 30),
    Part.MOUTH: (255, 0, 80),
    Part.MOUTH_INTERIOR: (120, 0, 40),
    Part.SIDE_HAIR_L: (250, 130, 60),
    Part.SIDE_HAIR_R: (180, 240, 60),
    Part.FRONT_HAIR: (160, 90, 240),
    Part.ACCESSORY: (255, 255, 255),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "segment",
        help="split a picture into complete part layers (generator stages 1-2) and write debug images",
        description=(
            "Split one anime-style picture into parts (face, eyes, mouth, hair, body ...) with their hidden "
            "regions completed, and write layers/*.png, segmentation.png and landmarks.json to OUT_DIR."
        ),
        epilog="example: avatar-plugin segment my_character.png -o seg   (then look at seg/segmentation.png)",
    )
    p.add_argument("picture", metavar="PICTURE", help="PNG, JPEG or WebP picture (or a layered .psd)")
    p.add_argument("-o", "--output", "--out", dest="out", required=True, metavar="OUT_DIR",
                   help="output folder (created)")
    p.add_argument("--face-box", metavar="X,Y,W,H", help="the face in pixels, when the detector misses it")
    p.add_argument(
        "--landmarks",
        metavar="FILE",
        help='JSON with "eye_l", "eye_r", "mouth" [x, y] (eye_l = the character\'s left eye, on the image\'s right)',
    )
    add_model_options(p)
    p.add_argument("--force", action="store_true", help="write into OUT_DIR even when it is not empty")
    p.set_defaults(func=_cmd_segment)


def _cmd_segment(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from avatar_plugin.generator.complete import CompleteOptions
    from avatar_plugin.generator.load import LoadOptions

    face_box = parse_face_box(args.face_box) if args.face_box else None
    options = Stages12Options.with_user_landmarks(face_box, args.landmarks)
    options = replace(options, load=LoadOptions(foreground_model=args.foreground_model),
                      complete=CompleteOptions(inpainter=args.inpainter, model_path=args.inpainter_model))
    if args.foreground_model is not None and not Path(args.foreground_model).is_file():  # as `generate` does
        raise InputError(f"--foreground-model {args.foreground_model}: no such file; give the path of isnetis.onnx")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; pass a folder for -o")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise InputError(f"-o {out}: the folder is not empty; pick a new folder or add --force to overwrite")
    res = segment_and_complete_verbose(args.picture, options)
    write_outputs(out, res.layers, res.masks)
    for w in res.layers.warnings:
        log.warning("%s", w)
    t = ", ".join(f"{k} {v:.2f} s" for k, v in res.timings.items())
    print(f"{len(res.layers.layers)} layers -> {out}/layers, contact sheet {out}/segmentation.png ({t})")
    return 0


def write_outputs(out: Path, layers: Layers, masks: PartMasks | None) -> None:
    (out / "layers").mkdir(parents=True, exist_ok=True)
    for old in (out / "layers").glob("*.png"):
        old.unlink()
    for i, part in enumerate(layers.depth_order):
        Image.fromarray(layers.layers[part].full(layers.canvas_size)).save(out / "layers" / f"{i:02d}_{part.value}.png")
    lm = layers.landmarks
    fb = lm.face_box
    (out / "landmarks.json").write_text(
        json.dumps(
            {
                "face_box": [round(fb[0], 1), round(fb[1], 1), round(fb[2] - fb[0], 1), round(fb[3] - fb[1], 1)],
                "eye_l": [round(v, 1) for v in lm.eye_l],
                "eye_r": [round(v, 1) for v in lm.eye_r],
                "mouth": [round(v, 1) for v in lm.mouth],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    Image.fromarray(contact_sheet(layers, masks)).save(out / "segmentation.png")


def _checker(h: int, w: int, cell: int = 16) -> NDArray[np.float32]:
    yy, xx = np.mgrid[0:h, 0:w]
    c = ((yy // cell + xx // cell) % 2).astype(np.float32)
    return np.dstack([200 + 30 * c] * 3)


def _over(rgba: NDArray[np.uint8], bg: NDArray[np.float32]) -> NDArray[np.uint8]:
    a = rgba[..., 3:4].astype(np.float32) / 255
    return (rgba[..., :3] * a + bg * (1 - a)).astype(np.uint8)


def contact_sheet(layers: Layers, masks: PartMasks | None, tile: int = 512) -> NDArray[np.uint8]:
    """Picture with parts tinted and outlined | legend; below: every complete layer on a checkerboard."""
    W, H = layers.canvas_size
    s = tile / max(W, H)
    tw, th = max(1, round(W * s)), max(1, round(H * s))
    if masks is not None:
        src = masks.image.rgba
        part_masks = dict(masks.masks)
    else:
        comp = np.zeros((H, W, 4), np.uint8)
        part_masks = {}
        for p in layers.depth_order:
            im = layers.layers[p].full((W, H))
            a = im[..., 3:4].astype(np.float32) / 255
            comp[..., :3] = (im[..., :3] * a + comp[..., :3] * (1 - a)).astype(np.uint8)
            comp[..., 3] = np.maximum(comp[..., 3], im[..., 3])
            part_masks[p] = im[..., 3] > 127
        src = comp
    base = _over(cv2.resize(src, (tw, th), interpolation=cv2.INTER_AREA), _checker(th, tw))  # type: ignore[arg-type]
    tinted = base.astype(np.float32).copy()
    outline = np.zeros((th, tw, 3), np.uint8)
    edge_mask = np.zeros((th, tw), bool)
    for p, m in part_masks.items():
        ms = cv2.resize(m.astype(np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST) > 0
        col = np.array(PART_COLORS.get(p, (255, 255, 255)), np.float32)
        tinted[ms] = 0.55 * tinted[ms] + 0.45 * col
        edge = ms & ~(cv2.erode(ms.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        outline[edge] = col
        edge_mask |= edge
    tinted[edge_mask] = outline[edge_mask]
    lmk = layers.landmarks
    top = np.concatenate([base, tinted.astype(np.uint8)], axis=1)
    img = Image.fromarray(top)
    d = ImageDraw.Draw(img)
    for (x, y), c in ((lmk.eye_l, (0, 255, 0)), (lmk.eye_r, (255, 0, 0)), (lmk.mouth, (255, 255, 0))):
        X, Y = tw + x * s, y * s
        d.line([(X - 5, Y), (X + 5, Y)], fill=c, width=2)
        d.line([(X, Y - 5), (X, Y + 5)], fill=c, width=2)
    fb = lmk.face_box
    d.rectangle([tw + fb[0] * s, fb[1] * s, tw + fb[2] * s, fb[3] * s], outline=(255, 255, 255))
    # legend
    legend = Image.new("RGB", (200, th), (40, 40, 40))
    dl = ImageDraw.Draw(legend)
    y = 6
    for p in layers.depth_order[::-1]:
        dl.rectangle([6, y, 20, y + 12], fill=PART_COLORS.get(p, (255, 255, 255)))
        dl.text((26, y), p.value, fill=(230, 230, 230))
        y += 17
    dl.text((6, th - 30), f"landmarks: {lmk.source}", fill=(200, 200, 200))
    row1 = np.concatenate([np.asarray(img), np.asarray(legend)], axis=1)
    # layer tiles
    small = 160
    ss = small / max(W, H)
    sw, sh = max(1, round(W * ss)), max(1, round(H * ss))
    tiles = []
    for p in layers.depth_order:
        im = cv2.resize(layers.layers[p].full((W, H)), (sw, sh), interpolation=cv2.INTER_AREA)  # type: ignore[assignment]
        t = Image.fromarray(_over(im, _checker(sh, sw, 8)))
        ImageDraw.Draw(t).text((3, 3), p.value, fill=(0, 0, 0))
        tiles.append(np.asarray(t))
    per_row = max(1, row1.shape[1] // sw)
    rows = []
    for i in range(0, len(tiles), per_row):
        chunk = tiles[i : i + per_row]
        r = np.concatenate(chunk, axis=1)
        pad = row1.shape[1] - r.shape[1]
        rows.append(np.pad(r, ((0, 0), (0, pad), (0, 0)), constant_values=40))
    return np.concatenate([row1, *rows], axis=0) if rows else row1
