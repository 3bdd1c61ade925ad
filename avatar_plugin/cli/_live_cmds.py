"""``live`` (run the daemon) and ``service install|uninstall`` (a systemd user unit)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from avatar_plugin.errors import InputError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "live", help="run the live daemon: renderer for OBS, studio page, control API",
        description="Run the live daemon for PUPPET_DIR: idle life, expressions, plug-in sources (microphone, "
                    "webcam, TTS) and sinks (VTube Studio, VMC), the WebGL renderer at / (an OBS browser "
                    "source), the studio page at /studio, /ws, /api and /health on one port. "
                    "Stop with Ctrl+C (SIGINT) or SIGTERM.",
        epilog="example: avatar-plugin live my_avatar --config avatar.toml  (then open the printed /studio URL)",
    )
    p.add_argument("puppet", metavar="PUPPET_DIR", nargs="?", help="puppet folder (holding puppet.json)")
    p.add_argument("--config", metavar="FILE", help="TOML config (see config.example.toml); default: defaults")
    p.add_argument("--host", help="address to bind (overrides [server] host; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (overrides [server] port; default 8765; 0 = any free)")
    p.add_argument("--mic-file", metavar="WAV",
                   help="play this WAV through the microphone lip-sync pipeline in real time, looped (testing "
                        "without a microphone; same as [mic] enabled = true, file = WAV)")
    p.add_argument("--print-config", action="store_true",
                   help="print every config table and key at its default (including plug-ins') and exit")
    p.set_defaults(func=cmd_live)

    s = subparsers.add_parser("service", help="install or remove the daemon as a background service (systemd)",
                              description="Run `avatar-plugin live` as a systemd user service (Linux). macOS "
                                          "and Windows: see docs/service.md.",
                              epilog="example: avatar-plugin service install my_avatar --config avatar.toml")
    sub = s.add_subparsers(dest="service_command", metavar="ACTION")
    i = sub.add_parser("install", help="write a systemd user unit that runs `avatar-plugin live`",
                       description="Write ~/.config/systemd/user/avatar-plugin.service and print how to enable "
                                   "it. macOS and Windows: see docs/service.md.",
                       epilog="example: avatar-plugin service install my_avatar --config avatar.toml")
    i.add_argument("puppet", metavar="PUPPET_DIR", help="puppet folder the service runs")
    i.add_argument("--config", metavar="FILE", help="TOML config for the service")
    i.set_defaults(func=cmd_service_install)
    u = sub.add_parser("uninstall", help="remove the systemd user unit",
                       description="Remove ~/.config/systemd/user/avatar-plugin.service (stop the service "
                                   "first: systemctl --user disable --now avatar-plugin.service).",
                       epilog="example: avatar-plugin service uninstall")
    u.set_defaults(func=cmd_service_uninstall)
    s.set_defaults(func=lambda args: (s.print_help(), 0)[1])


def cmd_live(args: argparse.Namespace) -> int:
    from avatar_plugin.live.config import example_config, load_config
    from avatar_plugin.live.daemon import Daemon, run_daemon
    from avatar_plugin.live.service import use_journal_logging

    if args.print_config:
        sys.stdout.write(example_config())
        return 0
    if not args.puppet:
        raise InputError("live: give a PUPPET_DIR (a folder with puppet.json), e.g. avatar-plugin live my_avatar")
    if args.port is not None and not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: expected a TCP port 0..65535 (0 = any free port), e.g. --port 8765")
    overrides = {}
    if args.mic_file:
        if not Path(args.mic_file).is_file():
            raise InputError(f"--mic-file {args.mic_file}: no such file; give a WAV file (e.g. from espeak-ng -w)")
        from avatar_plugin.live.audio import read_wav

        read_wav(args.mic_file)  # not audio: fail now with the reason, not in the source's retry loop
        overrides["mic"] = {"enabled": True, "file": str(Path(args.mic_file).resolve())}
    config = load_config(args.config, overrides=overrides)
    level = config["daemon"]["log_level"].upper()
    logging.getLogger("avatar_plugin").setLevel(logging.DEBUG if args.verbose else getattr(logging, level))
    use_journal_logging()
    daemon = Daemon(args.puppet, config, host=args.host, port=args.port)

    def ready(d: Daemon) -> None:
        studio, obs = d.studio_url, d.obs_url
        if d.token and not sys.stdout.isatty():  # a service's stdout goes to the journal: keep the token out
            studio, obs = f"{d.base_url}/studio?token=<your token>", f"{d.base_url}/?token=<your token>"
        print(f"avatar-plugin live: studio  {studio}", flush=True)
        print(f"avatar-plugin live: OBS     {obs}  (browser source, transparent)", flush=True)
        print("avatar-plugin live: Ctrl+C to stop", flush=True)

    return run_daemon(daemon, ready=ready)


def cmd_service_install(args: argparse.Namespace) -> int:
    from avatar_plugin.live.config import load_config
    from avatar_plugin.live.service import UNIT_NAME, install_systemd
    from avatar_plugin.puppet.io import read_puppet

    read_puppet(args.puppet, load_textures=False)  # fail now, not at boot
    config = Path(args.config) if args.config else None
    if config is not None:
        load_config(config)
    if sys.platform != "linux":
        print("service install writes a systemd unit (Linux). On macOS and Windows see docs/service.md.",
              file=sys.stderr)
    path = install_systemd(Path(args.puppet), config)
    print(f"wrote {path}")
    print("enable and start it with:")
    print("  systemctl --user daemon-reload")
    print(f"  systemctl --user enable --now {UNIT_NAME}")
    print(f"logs: journalctl --user -u {UNIT_NAME} -f")
    return 0


def cmd_service_uninstall(args: argparse.Namespace) -> int:
    from avatar_plugin.live.service import UNIT_NAME, uninstall_systemd

    print(f"stop it first if it runs: systemctl --user disable --now {UNIT_NAME}")
    path = uninstall_systemd()
    print(f"removed {path}" if path else "no unit was installed")
    return 0
