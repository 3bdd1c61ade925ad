"""Where an LLM reply plugs in: text -> your TTS -> WAV bytes -> the avatar speaks it.

    avatar-plugin live my_avatar          # in another terminal
    python examples/tts_to_avatar.py "What is the weather like?"

Replace ``ask_llm`` with your chatbot and ``tts`` with your engine (Piper, VOICEVOX, a cloud TTS: anything
that gives WAV bytes; pass its phoneme or viseme timings too if it has them, see docs/lipsync.md). Here the
"LLM" echoes and the TTS is espeak-ng, so the example runs offline.
"""

from __future__ import annotations

import sys

from avatar_plugin.client import AvatarClient
from avatar_plugin.errors import AvatarPluginError
from avatar_plugin.live.audio import encode_wav


def ask_llm(prompt: str) -> str:
    """Your chatbot goes here (an OpenAI-compatible client, llama.cpp, ...)."""
    return f"You asked: {prompt} I am only an example, but my mouth moves!"


def tts(text: str) -> tuple[bytes, list[dict[str, object]] | None]:
    """Your TTS goes here: return WAV bytes and, if your engine gives them, timings (else None)."""
    from avatar_plugin.live.espeak import synthesize
    from avatar_plugin.live.lipsync_timings import serialize_timings

    speech = synthesize(text)
    return encode_wav(speech.samples, speech.sample_rate), serialize_timings(speech.phonemes)["timings"]


def main(argv: list[str]) -> int:
    prompt = " ".join(argv) or "Hello!"
    reply = ask_llm(prompt)
    wav, timings = tts(reply)
    with AvatarClient.connect_sync("ws://127.0.0.1:8765/api") as avatar:  # 1. connect
        avatar.speak(wav, text=reply, timings=timings, wait=True)        # 2. speak (returns when done)
    return 0                                                              # 3. closed by `with`


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except AvatarPluginError as exc:  # e.g. the daemon is not running: one line, not a traceback
        raise SystemExit(f"error: {exc}") from None
