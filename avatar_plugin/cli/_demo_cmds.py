"""``demo``: the README's main command, on the built-in example.

Today: write the code-built sample puppet and render its preview GIF. Later stages extend it to
generate the avatar from ``examples/character.png`` and run it live.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from avatar_plugin.puppet.io import write_puppet
from avatar_plugin.puppet.raster import render
from avatar_plugin.puppet.sample import build_sample_puppet

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="build the built-in example avatar and show where it went",
                              description="Build the built-in example avatar into OUT_DIR and render previews.")
    p.add_argument("-o", "--output", default="avatar-demo", metavar="OUT_DIR",
                   help="where to write the example (default: ./avatar-demo)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from avatar_plugin.cli._puppet_cmds import _render_frames, write_gif

    out = Path(args.output)
    puppet_dir = out / "sample"
    puppet = build_sample_puppet()
    write_puppet(puppet, puppet_dir)
    Image.fromarray(render(puppet)).save(out / "preview.png")
    frames = _render_frames(puppet, 20.0, None, (236, 236, 240, 255))
    write_gif(frames, out / "preview.gif", 20.0)
    print(f"sample puppet: {puppet_dir}/puppet.json\npreview: {out / 'preview.png'}, {out / 'preview.gif'}\n"
          f"try: avatar-plugin preview {puppet_dir} --set ParamMouthOpenY=1 --set ParamAngleX=20 -o open.png")
    return 0
