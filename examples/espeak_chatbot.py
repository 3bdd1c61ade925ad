"""Type a line; espeak-ng says it; the avatar speaks it with exact mouth shapes (espeak-ng's phoneme timings).

    avatar-plugin live my_avatar          # in another terminal
    python examples/espeak_chatbot.py [--url ws://127.0.0.1:8765/api] [--voice en+f3] [--play]

Without --play this script plays nothing itself: the daemon moves the mouth on its own clock (or add --play
to let the daemon play the audio on [tts] output_device). Needs espeak-ng (Debian: apt install espeak-ng).
"""

from __future__ import annotations

import argparse

from avatar_plugin.client import AvatarClient
from avatar_plugin.errors import AvatarPluginError
from avatar_plugin.live.audio import encode_wav
from avatar_plugin.live.espeak import synthesize
from avatar_plugin.live.lipsync_timings import serialize_timings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="ws://127.0.0.1:8765/api")
    ap.add_argument("--voice", default="en")
    ap.add_argument("--play", action="store_true", help="the daemon plays the audio")
    args = ap.parse_args()
    with AvatarClient.connect_sync(args.url) as avatar:
        print("type a line (empty line or Ctrl+D to quit)")
        while True:
            try:
                line = input("> ").strip()
            except EOFError:
                break
            if not line:
                break
            speech = synthesize(line, voice=args.voice)
            wav = encode_wav(speech.samples, speech.sample_rate)
            timings = serialize_timings(speech.phonemes)["timings"]
            avatar.speak(wav, text=line, timings=timings, play=args.play, interrupt=True, wait=True)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except AvatarPluginError as exc:  # e.g. the daemon is not running: one line, not a traceback
        raise SystemExit(f"error: {exc}") from None
