"""The ``avatar-plugin`` command line.

Each command lives in its own private module that exposes ``register(subparsers)``; this module only
collects them, parses the arguments and turns our errors (and OS errors: a file or port that cannot be used)
into a one-line message and exit status 1 (no traceback for user errors; ``-v`` keeps it for OS errors).
Add a command by adding a module to ``_COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from avatar_plugin._version import __version__
from avatar_plugin.errors import AvatarPluginError

__all__ = ["build_parser", "main"]

# Modules under avatar_plugin.cli, each with `register(subparsers) -> None`. Order = order in --help.
_COMMAND_MODULES = [
    "_demo_cmds",
    "_puppet_cmds",
    "_generate_cmds",
    "_segment_cmds",
    "_live_cmds",
    "_lipsync_cmds",
    "_track_cmds",
]


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line and exit status 1, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="avatar-plugin",
        description=(
            "Turn one anime-style picture into a rigged 2D puppet, and keep it alive with lip sync, "
            "webcam tracking and chatbot TTS (VTube Studio, OBS)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"avatar-plugin {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"avatar_plugin.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"avatar_plugin.cli.{name}":
                continue  # command group not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except AvatarPluginError as exc:
        print(f"avatar-plugin {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file or port the command could not use; -v keeps the traceback
        if args.verbose:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"avatar-plugin {args.command}: error: {where}{exc.strerror or exc}; check the path, its "
              "permissions and free space (-v for details)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
