"""``demo``: the README's main command, on the built-in example.

Generates the avatar from ``examples/character.png`` (once; again with ``--force``), then runs it live and
prints the studio and OBS URLs. ``--no-live`` stops after generating (useful on a machine without a browser).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from avatar_plugin.errors import InputError

__all__ = ["example_picture", "register"]

_REPO_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "character.png"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="generate the built-in example avatar and run it live",
        description="Generate the example avatar from examples/character.png into OUT_DIR (only the first "
                    "time), then run it live: open the printed studio URL in a browser, add the OBS URL as a "
                    "browser source. Ctrl+C stops.",
        epilog="example: avatar-plugin demo   (or: avatar-plugin demo --no-live -o my_demo)")
    p.add_argument("-o", "--output", default="avatar-demo", metavar="OUT_DIR",
                   help="where the example avatar goes (default: ./avatar-demo)")
    p.add_argument("--force", action="store_true", help="generate again even if OUT_DIR already has the avatar")
    p.add_argument("--no-live", action="store_true", help="only generate; do not start the live daemon")
    p.add_argument("--port", type=int, default=None,
                   help="TCP port of the live daemon (default: [server] port, 8765; 0 = any free)")
    p.add_argument("--config", default=None, metavar="FILE", help="live daemon config (TOML)")
    p.set_defaults(func=cmd_demo)


def example_picture(folder: Path) -> Path:
    """The example picture: the repository's ``examples/character.png``, or the same character drawn anew."""
    if _REPO_EXAMPLE.is_file():
        return _REPO_EXAMPLE
    from PIL import Image

    from avatar_plugin.generator.synth import example_character

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "character.png"
    Image.fromarray(example_character().rgba).save(path)
    return path


def cmd_demo(args: argparse.Namespace) -> int:
    from avatar_plugin.cli._generate_cmds import run_generate

    out = Path(args.output)
    avatar = out / "character"
    if args.force or not (avatar / "puppet.json").is_file():
        picture = example_picture(out)
        print(f"demo: generating the example avatar from {picture}")
        run_generate(picture, avatar, force=True)
    else:
        print(f"demo: using the example avatar already in {avatar}/ (--force to generate again)")
    print(f"demo: puppet   {avatar}/puppet.json\n"
          f"demo: preview  {avatar}/preview.gif\n"
          f"demo: Inochi2D {avatar}/character.inp   Cubism PSD {avatar}/character.psd")
    if args.no_live:
        print(f"demo: run it live with: avatar-plugin live {avatar}")
        return 0
    if args.port is not None and not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: expected 0..65535 (0 = any free port)")
    from avatar_plugin.cli import main

    live_args = ["live", str(avatar)]
    if args.port is not None:
        live_args += ["--port", str(args.port)]
    if args.config:
        live_args += ["--config", args.config]
    return main(live_args)
