"""``lipsync`` (audio -> mouth motion, offline), ``lipsync-calibrate`` (per-user vowel templates) and
``devices`` (list audio devices)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lipsync", help="turn speech audio into mouth motion (track.json or Live2D .motion3.json)",
        description=(
            "Analyse AUDIO (WAV, FLAC or OGG) and write ParamMouthOpenY, ParamMouthForm and the vowel "
            "parameters ParamA/I/U/E/O as a track.json ({\"fps\": N, \"params\": {...}}) or a Live2D "
            "*.motion3.json. With --timings the mouth follows the phoneme/viseme timings exactly "
            "(format: docs/lipsync.md); with --text the text is aligned to the audio (espeak-ng) and blended "
            "with the audio analysis; otherwise the audio alone decides."),
        epilog='example: avatar-plugin lipsync reply.wav --text "Hello there" -o reply.motion3.json')
    p.add_argument("audio", metavar="AUDIO", help="the speech audio file")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="output file: *.motion3.json (Live2D motion) or *.json (track.json)")
    p.add_argument("--text", default=None, help="what the audio says (improves timing; needs espeak-ng)")
    p.add_argument("--voice", default="en", help="espeak-ng voice for --text alignment (default: en)")
    p.add_argument("--timings", default=None, metavar="FILE.json",
                   help="phoneme or viseme timings (docs/lipsync.md); overrides --text")
    p.add_argument("--fps", type=float, default=60.0, help="output frames per second (default 60)")
    p.add_argument("--lead", type=float, default=0.0, metavar="SECONDS",
                   help="open the mouth this much before the sound (e.g. 0.03); default 0")
    p.add_argument("--calibration", default=None, metavar="FILE",
                   help="vowel templates from lipsync-calibrate (default: your saved calibration if any)")
    p.set_defaults(func=cmd_lipsync)

    c = subparsers.add_parser(
        "lipsync-calibrate", help="fit the vowel detector to your voice from short recordings",
        description=("Record yourself saying each sound for about a second (a WAV each) and pass them here; "
                     "the templates are saved in your config folder and used by `lipsync` and the live mic "
                     "source. Sounds: A (ah) I (ee) U (oo) E (eh) O (oh), and optionally M (mmm) F (sss)."),
        epilog="example: avatar-plugin lipsync-calibrate --a ah.wav --i ee.wav --u oo.wav --e eh.wav --o oh.wav")
    for cls in ("A", "I", "U", "E", "O", "M", "F"):
        c.add_argument(f"--{cls.lower()}", metavar="WAV", help=f"recording of '{cls}'")
    c.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="where to save the templates (.json; default: your config folder)")
    c.set_defaults(func=cmd_calibrate)

    d = subparsers.add_parser("devices", help="list audio input and output devices",
                              description="List audio devices with the index/name to put in [mic] device "
                                          "or [tts] output_device.",
                              epilog="example: avatar-plugin devices --json")
    d.add_argument("--json", action="store_true", help="print JSON")
    d.set_defaults(func=cmd_devices)


def cmd_lipsync(args: argparse.Namespace) -> int:
    from avatar_plugin.errors import InputError
    from avatar_plugin.live.audio import read_wav
    from avatar_plugin.live.lipsync import LipSyncOptions, analyze, load_user_templates
    from avatar_plugin.live.lipsync_timings import parse_timings, timings_track
    from avatar_plugin.live.lipsync_track import write_track

    out = Path(args.output)
    if not out.name.lower().endswith(".json"):
        raise InputError(f"{out}: unknown output format; expected a name ending in .motion3.json "
                         "(Live2D motion) or .json (track.json)")
    if not 0 < args.fps <= 1000:
        raise InputError(f"--fps {args.fps}: expected frames per second in 0..1000, e.g. --fps 60")
    if not -1.0 <= args.lead <= 1.0:
        raise InputError(f"--lead {args.lead}: expected seconds in -1..1 (a few hundredths), e.g. --lead 0.03")
    t0 = time.perf_counter()
    x, sr = read_wav(args.audio)
    options = LipSyncOptions(templates=load_user_templates(args.calibration))
    if args.timings:
        tp = Path(args.timings)
        try:
            obj = json.loads(tp.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{tp}: no such timings file") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{tp}: not a JSON timings file ({exc}); see docs/lipsync.md") from None
        timings = parse_timings(obj, str(tp))
        track = timings_track(timings, len(x) / sr, fps=args.fps, lead_s=args.lead)
        how = f"{len(timings)} timings"
    elif args.text:
        from avatar_plugin.live.lipsync_align import text_track

        track = text_track(x, sr, args.text, fps=args.fps, voice=args.voice, options=options, lead_s=args.lead)
        how = "audio + text alignment"
    else:
        track = analyze(x, sr, fps=args.fps, options=options, lead_s=args.lead)
        how = "audio analysis"
    write_track(track, out)
    took = time.perf_counter() - t0
    print(f"{out}: {len(track)} frames at {track.fps:g} fps ({len(x) / sr:.2f} s of audio, {how}) "
          f"in {took:.2f} s")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from avatar_plugin.errors import InputError
    from avatar_plugin.live.audio import read_wav
    from avatar_plugin.live.lipsync import calibrate, user_templates_path

    recordings = {}
    for cls in ("A", "I", "U", "E", "O", "M", "F"):
        path = getattr(args, cls.lower())
        if path:
            recordings[cls] = read_wav(path)
    if not recordings:
        raise InputError("no recordings given; pass e.g. --a ah.wav --i ee.wav --u oo.wav --e eh.wav --o oh.wav")
    templates = calibrate(recordings)
    out = templates.save(args.output or user_templates_path())
    print(f"{out}: calibrated {', '.join(recordings)}; used by `lipsync` and the [mic] source")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from avatar_plugin.live.mic import list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps([d.to_json() for d in devices], indent=1))
        return 0
    if not devices:
        print("no audio devices found (none plugged in, or PortAudio sees none)", file=sys.stderr)
        return 0
    for d in devices:
        kinds = "/".join(k for k, n in (("in", d.inputs), ("out", d.outputs)) if n)
        default = " (default)" if d.default_input or d.default_output else ""
        print(f"{d.index}: {d.name} [{kinds}, {d.sample_rate:g} Hz, {d.host_api}]{default}")
    print("use the number or a part of the name as [mic] device / [tts] output_device")
    return 0
