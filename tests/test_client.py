"""The Python client (plain sync API) against the real daemon running in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest

from avatar_plugin.client import AvatarClient
from avatar_plugin.errors import DeviceError, ProtocolError
from avatar_plugin.live.audio import encode_wav
from avatar_plugin.live.config import default_registry, parse_config
from avatar_plugin.live.daemon import Daemon
from avatar_plugin.live.espeak import synthesize


@pytest.fixture
def daemon_port(sample_dir: Path):
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    loops: list[asyncio.AbstractEventLoop] = []
    box: dict[str, int] = {}

    def run() -> None:
        async def main() -> None:
            d = Daemon(sample_dir, parse_config({}, default_registry()), host="127.0.0.1", port=0)
            await d.start()
            box["port"] = d.port
            ev = asyncio.Event()
            stop.append(ev)
            loops.append(asyncio.get_running_loop())
            ready.set()
            try:
                await ev.wait()
            finally:
                await d.stop()

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(20)
    yield box["port"]
    loops[0].call_soon_threadsafe(stop[0].set)
    thread.join(10)
    assert not thread.is_alive()


def test_three_line_chatbot(daemon_port: int) -> None:
    sp = synthesize("Nice to meet you.")
    wav = encode_wav(sp.samples, sp.sample_rate)
    started = time.monotonic()
    with AvatarClient.connect_sync(f"ws://127.0.0.1:{daemon_port}/api") as avatar:
        uid = avatar.speak(wav, text="Nice to meet you.", wait=True)
        assert uid.startswith("u")
        assert time.monotonic() - started >= sp.duration  # wait=True returned after the speech
        assert avatar.status()["ok"]
        with pytest.raises(ProtocolError, match="unknown message type"):
            avatar.request({"type": "dance"})
        assert avatar.stop() == 0


def test_no_daemon_is_a_device_error_with_the_fix() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeviceError, match="avatar-plugin live"):
        AvatarClient.connect_sync(f"ws://127.0.0.1:{port}/api", timeout=2)
