"""``validate``, ``info`` and ``preview``: commands on an existing puppet folder."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from avatar_plugin.errors import InputError
from avatar_plugin.puppet.animate import animate, script_duration
from avatar_plugin.puppet.io import read_puppet
from avatar_plugin.puppet.model import NodeKind, Puppet
from avatar_plugin.puppet.raster import View, fit_view, render

__all__ = ["parse_assignment", "parse_color", "parse_size", "register", "write_gif"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("validate", help="check a puppet folder against the format",
                              description="Check PUPPET_DIR/puppet.json and its textures. Exit 0 when valid, "
                                          "1 with the problem (file, JSON path, expected, found) otherwise.",
                              epilog="example: avatar-plugin validate my_avatar")
    p.add_argument("puppet", metavar="PUPPET_DIR", help="puppet folder (holding puppet.json)")
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser("info", help="list a puppet's parameters, parts and mesh sizes",
                              description="List PUPPET_DIR's canvas, landmarks, parameters (range, default, "
                                          "keypoints, bindings), physics outputs, parts (vertices, triangles, "
                                          "draw order, clipping) and textures.",
                              epilog="example: avatar-plugin info my_avatar")
    p.add_argument("puppet", metavar="PUPPET_DIR", help="puppet folder (holding puppet.json)")
    p.set_defaults(func=cmd_info)

    p = subparsers.add_parser(
        "preview", help="render a puppet to a PNG (or an animated GIF with --animate)",
        description="Render PUPPET_DIR at given parameter values with the software renderer. By default the "
                    "image has the puppet's canvas size and framing (for a generated puppet: the source "
                    "picture's), so pixels line up with the picture.",
        epilog="example: avatar-plugin preview my_avatar --set ParamMouthOpenY=1 --set ParamAngleX=20 -o out.png "
               "(or --animate -o preview.gif)",
    )
    p.add_argument("puppet", metavar="PUPPET_DIR", help="puppet folder (holding puppet.json)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output .png (or .gif with --animate)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PARAM=VALUE",
                   help="parameter value, e.g. ParamAngleX=20 (repeatable); values are clamped to the range")
    p.add_argument("--size", metavar="WxH", help="output size; the canvas is fitted and centred (default: canvas)")
    p.add_argument("--background", metavar="COLOR",
                   help="background colour: #rrggbb, #rrggbbaa or a name like white (default: transparent PNG, "
                        "light grey GIF)")
    p.add_argument("--animate", action="store_true",
                   help="write an animated GIF of a scripted sequence that exercises every parameter")
    p.add_argument("--fps", type=float, default=20.0, help="GIF frame rate (default 20)")
    p.set_defaults(func=cmd_preview)


def cmd_validate(args: argparse.Namespace) -> int:
    puppet = read_puppet(args.puppet)
    parts = puppet.parts()
    print(f"{args.puppet}: valid (format version 1, {len(puppet.parameters)} parameters, {len(parts)} parts, "
          f"{len(puppet.bindings)} bindings, {len(puppet.physics)} physics chains)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    puppet = read_puppet(args.puppet)
    m = puppet.meta
    print(f"name: {m.name}\ncanvas: {m.canvas_size[0]} x {m.canvas_size[1]} px\ngenerator: {m.generator or '-'}")
    if m.landmarks is not None:
        lm = m.landmarks
        def pts(values: tuple[float, ...]) -> str:
            return "[" + ", ".join(f"{v:.1f}" for v in values) + "]"

        print(f"landmarks: face_box (x0, y0, x1, y1) {pts(lm.face_box)}, eye_l {pts(lm.eye_l)}, eye_r {pts(lm.eye_r)}, "
              f"mouth {pts(lm.mouth)}")
    print(f"\nparameters ({sum(len(p.axes) for p in puppet.parameters)} axes):")
    driven: dict[str, int] = {}
    for b in puppet.bindings:
        driven[b.param] = driven.get(b.param, 0) + 1
    for p in puppet.parameters:
        grid = f"  [2-D grid {p.id}]" if len(p.axes) == 2 else ""
        for a in p.axes:
            keys = ", ".join(f"{k:g}" for k in a.keypoints)
            print(f"  {a.id:<18} {a.min:>6g} .. {a.max:<6g} default {a.default:<5g} keypoints [{keys}]"
                  f"  {driven.get(p.id, 0)} bindings{grid}")
    outputs = {o.param: c.id for c in puppet.physics for o in c.outputs}
    if outputs:
        print("  physics outputs: " + ", ".join(f"{k} <- {v}" for k, v in outputs.items()))
    print(f"\nparts ({len(puppet.parts())}), back to front:")
    total_v = total_t = 0
    for n in sorted(puppet.parts(), key=lambda n: n.draw_order):
        assert n.mesh is not None
        nv, nt = len(n.mesh.vertices), len(n.mesh.triangles)
        total_v, total_t = total_v + nv, total_t + nt
        extra = f" clipped by {', '.join(n.clip)}" if n.clip else ""
        extra += f" blend {n.blend_mode.value}" if n.blend_mode.value != "normal" else ""
        print(f"  {n.id:<22} {nv:>5} vertices {nt:>5} triangles  order {n.draw_order:g}{extra}")
    groups = [n.id for n in puppet.nodes if n.kind is NodeKind.GROUP]
    print(f"total: {total_v} vertices, {total_t} triangles; {len(groups)} groups; "
          f"textures: {', '.join(f'{t.file} {t.size[0]}x{t.size[1]}' for t in puppet.textures)}")
    return 0


def parse_assignment(text: str, puppet: Puppet) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    axes = puppet.axes()
    if not sep:
        raise InputError(f"--set {text!r}: expected PARAM=VALUE, e.g. ParamAngleX=20")
    name = name.strip()
    if name not in axes:
        raise InputError(f"--set {text!r}: this puppet has no parameter {name!r}; it has: {', '.join(axes)}")
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"--set {text!r}: value {value!r} is not a number") from None
    if not math.isfinite(number):
        raise InputError(f"--set {text!r}: value must be finite")
    return name, number


def parse_size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h)) if sep else (int(w), int(w))
    except ValueError:
        raise InputError(f"--size {text!r}: expected WIDTHxHEIGHT such as 512x512") from None
    if not (8 <= size[0] <= 8192 and 8 <= size[1] <= 8192):
        raise InputError(f"--size {text!r}: each side must be 8..8192 pixels")
    return size


def parse_color(text: str) -> tuple[int, int, int, int]:
    from PIL import ImageColor

    try:
        rgba = ImageColor.getcolor(text, "RGBA")
    except ValueError:
        raise InputError(f"--background {text!r}: expected #rrggbb, #rrggbbaa or a colour name like white") from None
    assert isinstance(rgba, tuple)
    return rgba  # type: ignore[return-value]


def write_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """Save opaque RGBA frames as a looping GIF (shared palette per frame, no dithering artefacts)."""
    images = [Image.fromarray(f[..., :3]).quantize(colors=255, method=Image.Quantize.MEDIANCUT,
                                         dither=Image.Dither.NONE)
              for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0,
                   optimize=False, disposal=1)


def cmd_preview(args: argparse.Namespace) -> int:
    out = Path(args.output)
    suffix = out.suffix.lower()
    if args.animate and suffix != ".gif":
        raise InputError(f"-o {out}: --animate writes a GIF; name the output *.gif")
    if not args.animate and suffix != ".png":
        raise InputError(f"-o {out}: a still preview is a PNG; name the output *.png (or add --animate for a GIF)")
    if not out.parent.exists():
        raise InputError(f"-o {out}: folder {out.parent} does not exist")
    puppet = read_puppet(args.puppet)
    values = dict(parse_assignment(s, puppet) for s in args.sets)
    view: View | None = fit_view(puppet.meta.canvas_size, parse_size(args.size)) if args.size else None
    background = parse_color(args.background) if args.background else None
    if not args.animate:
        image = render(puppet, values, view, background)
        Image.fromarray(image).save(out)
        print(f"wrote {out} ({image.shape[1]}x{image.shape[0]})")
        return 0
    if args.sets:
        raise InputError("--set and --animate do not mix: the animation drives every parameter itself")
    if not 1 <= args.fps <= 60:
        raise InputError(f"--fps {args.fps}: expected 1..60")
    if view is None and max(puppet.meta.canvas_size) > 512:
        view = fit_view(puppet.meta.canvas_size, _fit_within(puppet.meta.canvas_size, 512))
    background = background or (236, 236, 240, 255)
    frames = _render_frames(puppet, args.fps, view, background)
    write_gif(frames, out, args.fps)
    print(f"wrote {out} ({len(frames)} frames, {script_duration(puppet):.1f} s)")
    return 0


def _fit_within(size: tuple[int, int], longest: int) -> tuple[int, int]:
    scale = longest / max(size)
    return max(8, round(size[0] * scale)), max(8, round(size[1] * scale))


def _render_frames(puppet: Puppet, fps: float, view: View | None,
                   background: tuple[int, int, int, int]) -> list[np.ndarray]:
    from tqdm import tqdm

    bar = tqdm(total=int(round(script_duration(puppet) * fps)), desc="rendering", unit="frame",
               disable=not sys.stderr.isatty(), leave=False)
    frames = []
    for frame in animate(puppet, fps=fps, view=view, background=background):
        frames.append(frame)
        bar.update(1)
    bar.close()
    return frames
