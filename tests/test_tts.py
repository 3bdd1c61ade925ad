"""TTS and microphone lip sync in the real daemon (real sockets on 127.0.0.1), and the Sans-I/O speech queue."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from daemon_helpers import run_with_daemon

from avatar_plugin.client import AvatarClient
from avatar_plugin.errors import ProtocolError
from avatar_plugin.live.audio import encode_wav
from avatar_plugin.live.daemon import Daemon
from avatar_plugin.live.espeak import synthesize
from avatar_plugin.live.lipsync_timings import serialize_timings
from avatar_plugin.live.speech import (
    PlaybackStartedMessage,
    SpeakMessage,
    SpeechQueue,
    SpeechStartMessage,
    State,
    parse_speak_body,
)


@pytest.fixture(scope="module")
def hello():
    sp = synthesize("Hello, how are you?", voice="en")
    return sp, encode_wav(sp.samples, sp.sample_rate)




async def _mouth(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[float]:
    """ParamMouthOpenY of every /ws frame for ``seconds``."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        msg = json.loads((await ws.receive(timeout=5)).data)
        if "params" in msg:
            out.append(msg["params"]["ParamMouthOpenY"])
    return out


async def _ws(http: aiohttp.ClientSession, daemon: Daemon) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"http://127.0.0.1:{daemon.port}/ws")
    assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
    return ws


def _status(daemon: Daemon, name: str) -> dict[str, Any]:
    return next(s for s in daemon.health()["sources"] if s["name"] == name)


# ------------------------------------------------------------------------------------------ the real daemon
def test_speak_over_websocket_moves_the_mouth_and_reports_events(sample_dir: Path, hello) -> None:
    sp, wav = hello

    async def body(daemon: Daemon) -> None:
        async with aiohttp.ClientSession() as http, AvatarClient(f"ws://127.0.0.1:{daemon.port}/api") as bot:
            ws = await _ws(http, daemon)
            uid = await bot.speak(wav, utterance="greeting")
            assert uid == "greeting"
            mouth = await _mouth(ws, sp.duration + 0.3)
            assert max(mouth) > 0.4 and mouth[-1] < 0.05
            finished = await bot.wait_finished(uid, timeout=5)
            assert finished["reason"] == "done"
            assert (await bot.events())["type"] == "speech_started"
            with pytest.raises(ProtocolError, match="not valid base64"):
                await bot.request({"type": "speak", "audio": "%%%"})
            with pytest.raises(ProtocolError, match=r"truncated|no 'data'|not a readable"):
                await bot.request({"type": "speak", "audio": base64.b64encode(wav[:40]).decode()})
            with pytest.raises(ProtocolError, match="unknown field"):
                await bot.request({"type": "speak", "audio": "UklGRg==", "volume": 3})
            await ws.close()

    run_with_daemon(sample_dir, {}, body)


def test_speak_while_speaking_queues_and_interrupt_stops(sample_dir: Path, hello) -> None:
    sp, wav = hello

    async def body(daemon: Daemon) -> None:
        async with AvatarClient(f"ws://127.0.0.1:{daemon.port}/api") as bot:
            first = await bot.speak(wav)
            reply = await bot.request({"type": "speak", "audio": base64.b64encode(wav).decode()})
            second = reply["utterance"]
            assert reply["queued"] == 1
            done1 = await bot.wait_finished(first, timeout=5)
            t_first = time.monotonic()
            assert done1["reason"] == "done"
            third = await bot.speak(wav, interrupt=True)  # the bot is interrupted: second stops
            assert (await bot.wait_finished(second, timeout=5))["reason"] == "stopped"
            assert time.monotonic() - t_first < sp.duration  # second did not play to its end
            await asyncio.sleep(0.2)
            assert await bot.stop() == 1
            assert (await bot.wait_finished(third, timeout=5))["reason"] == "stopped"
            assert await bot.cancel("nope") is False

    run_with_daemon(sample_dir, {}, body)


def test_http_post_speak_with_a_wav_body(sample_dir: Path, hello) -> None:
    sp, wav = hello

    async def body(daemon: Daemon) -> None:
        base = f"http://127.0.0.1:{daemon.port}"
        async with aiohttp.ClientSession() as http:
            ws = await _ws(http, daemon)
            async with http.post(f"{base}/api/speak", data=wav, headers={"Content-Type": "audio/wav"}) as r:
                reply = await r.json()
            assert r.status == 200 and reply["ok"] and reply["utterance"]
            assert max(await _mouth(ws, sp.duration)) > 0.4
            async with http.post(f"{base}/api/speak", data=b"RIFF....WAVEjunk",
                                 headers={"Content-Type": "audio/wav"}) as r:
                bad = await r.json()
            assert r.status == 400 and not bad["ok"] and "WAV" in bad["error"]
            async with http.post(f"{base}/api/speak?text=hello%20there&utterance=u-42&wait=false", data=wav,
                                 headers={"Content-Type": "audio/wav"}) as r:
                named = await r.json()
            assert r.status == 200 and named["utterance"] == "u-42"
            async with http.post(f"{base}/api/speak?volume=11", data=wav, headers={"Content-Type": "audio/wav"}) as r:
                unknown = await r.json()
            assert r.status == 400 and "volume" in unknown["error"]
            body_json = {"type": "speak", "audio": base64.b64encode(wav).decode(),
                         "timings": serialize_timings(sp.phonemes)["timings"]}
            async with http.post(f"{base}/api/speak", json=body_json) as r:
                assert (await r.json())["ok"]
            await ws.close()

    run_with_daemon(sample_dir, {"server": {"max_message_bytes": 4 * 1024 * 1024}}, body)


def test_streaming_speech_chunks(sample_dir: Path, hello) -> None:
    sp, _ = hello
    pcm = (sp.samples * 32767).astype("<i2").tobytes()

    async def body(daemon: Daemon) -> None:
        async with aiohttp.ClientSession() as http, AvatarClient(f"ws://127.0.0.1:{daemon.port}/api") as bot:
            ws = await _ws(http, daemon)
            stream = await bot.stream(sp.sample_rate, "s16le")
            chunk = int(sp.sample_rate * 0.05) * 2
            watcher = asyncio.ensure_future(_mouth(ws, sp.duration + 0.2))
            for i in range(0, len(pcm), chunk):  # a TTS engine streaming in real time
                await stream.send(pcm[i:i + chunk])
                await asyncio.sleep(0.05)
            end = await stream.end()
            mouth = await watcher
            assert end["duration"] == pytest.approx(sp.duration, abs=0.01)
            assert (await bot.wait_finished(stream.utterance, timeout=5))["reason"] == "done"
            assert max(mouth) > 0.3
            with pytest.raises(ProtocolError, match="speech_end without"):
                await bot.request({"type": "speech_end"})
            await ws.close()

    run_with_daemon(sample_dir, {}, body)


def test_playback_started_aligns_the_mouth_to_the_callers_clock(sample_dir: Path, hello) -> None:
    sp, wav = hello

    async def body(daemon: Daemon) -> None:
        async with aiohttp.ClientSession() as http, AvatarClient(f"ws://127.0.0.1:{daemon.port}/api") as bot:
            ws = await _ws(http, daemon)
            uid = await bot.speak(wav, wait=True)
            assert max(await _mouth(ws, 0.4)) < 0.05  # waiting for the caller's playback
            await bot.playback_started(uid)
            assert max(await _mouth(ws, sp.duration)) > 0.4
            assert (await bot.wait_finished(uid, timeout=5))["reason"] == "done"
            with pytest.raises(ProtocolError, match="nothing is queued"):
                await bot.playback_started()
            await ws.close()

    run_with_daemon(sample_dir, {}, body)


def test_mic_file_plays_through_the_pipeline_in_real_time(sample_dir: Path, tmp_path: Path, hello) -> None:
    sp, wav = hello
    path = tmp_path / "speech.wav"
    path.write_bytes(wav)

    async def body(daemon: Daemon) -> None:
        async with aiohttp.ClientSession() as http:
            ws = await _ws(http, daemon)
            started = time.monotonic()
            mouth = await _mouth(ws, sp.duration + 0.2)
            assert max(mouth) > 0.4
            assert time.monotonic() - started >= sp.duration  # real time, not faster
            status = _status(daemon, "mic")
            assert status["state"] == "running" and "speech.wav" in status["detail"]
            await ws.close()

    run_with_daemon(sample_dir, {"mic": {"file": str(path), "loop": True}}, body)


def test_missing_microphone_is_marked_down_and_retried_while_the_daemon_runs(sample_dir: Path) -> None:
    async def body(daemon: Daemon) -> None:
        deadline = time.monotonic() + 10
        while _status(daemon, "mic")["state"] != "retrying" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        status = _status(daemon, "mic")
        assert status["state"] == "retrying"
        assert "DeviceError" in status["error"] and ("no-such-microphone" in status["error"]
                                                     or "PortAudio" in status["error"])
        async with aiohttp.ClientSession() as http:  # everything else keeps working
            ws = await _ws(http, daemon)
            assert "params" in json.loads((await ws.receive(timeout=5)).data)
            await ws.close()

    run_with_daemon(sample_dir, {"mic": {"enabled": True, "device": "no-such-microphone"}}, body)


def test_play_without_an_output_device_finishes_with_an_error_event(sample_dir: Path, hello) -> None:
    _, wav = hello

    async def body(daemon: Daemon) -> None:
        async with AvatarClient(f"ws://127.0.0.1:{daemon.port}/api") as bot:
            uid = await bot.speak(wav, play=True)
            finished = await bot.wait_finished(uid, timeout=5)
            assert finished["reason"] == "error" and finished["error"]  # the caller learns why

    run_with_daemon(sample_dir, {"tts": {"output_device": "no-such-speaker"}}, body)


# -------------------------------------------------------------------------------------------- Sans-I/O queue
def _speak(wav: bytes, **fields: Any) -> SpeakMessage:
    return SpeakMessage.parse({"type": "speak", "audio": base64.b64encode(wav).decode(), **fields})


def test_queue_timeline_is_a_pure_function_of_time(hello) -> None:
    sp, wav = hello
    q = SpeechQueue()
    a = q.speak(_speak(wav, utterance="a"), t=10.0)
    b = q.speak(_speak(wav, utterance="b"), t=10.1)
    assert a.state is State.PLAYING and b.state is State.QUEUED
    assert [e.type for e in q.events] == ["speech_started"]
    opens = [q.poll(10.0 + k / 100).open for k in range(int(sp.duration * 100))]  # type: ignore[union-attr]
    assert max(opens) > 0.4
    q.poll(10.0 + sp.duration + 0.2)  # a ends, b starts at once
    assert a.state is State.FINISHED and b.state is State.PLAYING
    assert [(e.type, e.utterance, e.reason) for e in q.events] == [
        ("speech_started", "a", None), ("speech_finished", "a", "done"), ("speech_started", "b", None)]
    with pytest.raises(ProtocolError, match="already queued"):
        q.speak(_speak(wav, utterance="b"), t=11.0)
    assert q.stop(11.0) == 1 and q.poll(11.1) is None


def test_illegal_moves_raise_with_state_and_event(hello) -> None:
    _, wav = hello
    q = SpeechQueue()
    u = q.speak(_speak(wav, wait=True), t=0.0)
    assert u.state is State.WAITING
    q.playback_started(u.id, 0.5)
    with pytest.raises(ProtocolError, match="is playing; cannot start"):
        u.move("start")
    with pytest.raises(ProtocolError, match=r"speech_start|after speech_end"):
        u.feed(b"\x00\x00")


def test_message_parsing() -> None:
    with pytest.raises(ProtocolError, match="missing"):
        SpeakMessage.parse({"type": "speak"})
    with pytest.raises(ProtocolError, match="format"):
        SpeechStartMessage.parse({"type": "speech_start", "format": "mp3", "sample_rate": 16000})
    with pytest.raises(ProtocolError, match="sample_rate"):
        SpeechStartMessage.parse({"type": "speech_start", "sample_rate": 12.5})
    with pytest.raises(ProtocolError, match="at = "):
        PlaybackStartedMessage.parse({"type": "playback_started", "at": "now"})
    wav = encode_wav(np.zeros(1600, np.float32), 16000)
    m = parse_speak_body(wav, "audio/wav", "text=hi&play=false")
    assert m.options.text == "hi" and m.options.play is False
    with pytest.raises(ProtocolError, match="unknown query"):
        parse_speak_body(wav, "audio/wav", "volume=3")
    with pytest.raises(ProtocolError, match="Content-Type"):
        parse_speak_body(wav, "text/plain")
    assert SpeakMessage.parse(_speak(wav, text="x").serialize()).options.text == "x"
