"""The daemon on real sockets (127.0.0.1, free port): /ws, /api, /health, security, limits, supervision."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import yarl

from avatar_plugin.errors import ConfigError, ProtocolError
from avatar_plugin.live.config import default_registry, parse_config
from avatar_plugin.live.daemon import Daemon
from avatar_plugin.live.interfaces import ApiMessageSpec, ApiSession, ConfigKey, ConfigSection, Sink, Source
from avatar_plugin.live.service import JournalFormatter, systemd_unit


def make_daemon(folder, registry=None, config=None, **kw) -> Daemon:
    registry = registry or default_registry(discover=False)
    cfg = parse_config(config or {"daemon": {"seed": 1}}, registry)
    return Daemon(folder, cfg, registry, port=0, **kw)


def serve(folder, body, **kw):
    """Run ``body(daemon, session)`` against a started daemon; stop it afterwards."""
    async def main():
        d = make_daemon(folder, **kw)
        await d.start()
        try:
            async with aiohttp.ClientSession() as s:
                return await body(d, s)
        finally:
            await d.stop()
    return asyncio.run(asyncio.wait_for(main(), 30))


async def next_frame(ws, pred=lambda f: True, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = await ws.receive(timeout=timeout)
        frame = json.loads(msg.data)
        if "params" in frame and pred(frame):
            return frame
    raise AssertionError("no matching frame")


def test_set_via_api_arrives_on_ws(sample_dir):
    async def body(d, s):
        base = d.base_url
        h = await (await s.get(f"{base}/health")).json()
        assert h["status"] == "ok"
        async with s.ws_connect(f"{base}/ws") as ws:
            hello = json.loads((await ws.receive(timeout=3)).data)
            assert hello["type"] == "hello" and hello["puppet"] == d.puppet_etag
            frame = await next_frame(ws)
            assert set(frame) >= {"t", "params"} and "ParamMouthOpenY" in frame["params"]
            # WebSocket /api
            async with s.ws_connect(f"{base}/api") as api_ws:
                await api_ws.send_json({"type": "set", "params": {"ParamAngleZ": 17.5}, "hold": 5, "id": "a1"})
                reply = await api_ws.receive_json(timeout=3)
                assert reply == {"ok": True, "type": "set", "id": "a1"}
                await next_frame(ws, lambda f: abs(f["params"]["ParamAngleZ"] - 17.5) < 1e-3)
                # malformed and unknown messages get an error reply; the connection stays open
                await api_ws.send_str("{not json")
                assert (await api_ws.receive_json(timeout=3))["ok"] is False
                await api_ws.send_json({"type": "dance"})
                r = await api_ws.receive_json(timeout=3)
                assert r["ok"] is False and "unknown message type 'dance'" in r["error"] and "set" in r["error"]
                await api_ws.send_json({"type": "expression", "name": "smug"})
                r = await api_ws.receive_json(timeout=3)
                assert r["ok"] is False and "happy" in r["error"]
                await api_ws.send_bytes(b"\x00\x01")
                assert "binary" in (await api_ws.receive_json(timeout=3))["error"]
                await api_ws.send_json({"type": "expression", "name": "happy", "fade": 0.0, "duration": 5})
                assert (await api_ws.receive_json(timeout=3))["ok"] is True
                await api_ws.send_json({"type": "status"})
                st = await api_ws.receive_json(timeout=3)
                assert st["ok"] and st["expression"] == "happy" and st["held"] == {"ParamAngleZ": 17.5}
            # HTTP POST, same JSON
            r = await s.post(f"{base}/api/set", json={"params": {"ParamAngleX": -12.0}, "hold": 2.0})
            assert r.status == 200 and (await r.json())["ok"]
            await next_frame(ws, lambda f: abs(f["params"]["ParamAngleX"] + 12.0) < 1e-3)
            r = await s.post(f"{base}/api/expression", json={"name": "sad", "fade": 0.3, "duration": 3.0})
            assert (await r.json()) == {"ok": True, "type": "expression", "name": "sad"}
            r = await s.post(f"{base}/api/set", json={"params": {"ParamAngleX": "left"}})
            assert r.status == 400 and "ParamAngleX" in (await r.json())["error"]
            r = await s.post(f"{base}/api/nope", json={})
            assert r.status == 404
            st = await (await s.get(f"{base}/api/status")).json()
            assert st["ok"] and "ParamAngleX" in st["puppet"]["parameters"] and st["clients"]["ws"] == 1
    serve(sample_dir, body)


def test_origin_checks_and_content_type(sample_dir):
    async def body(d, s):
        base = d.base_url
        evil = {"Origin": "http://evil.example"}
        for path in ("/ws", "/api"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(f"{base}{path}", headers=evil)
            assert err.value.status == 403
        async with s.ws_connect(f"{base}/ws", headers={"Origin": base}) as ws:
            assert json.loads((await ws.receive(timeout=3)).data)["type"] == "hello"
        async with s.ws_connect(f"{base}/ws", headers={"Origin": "http://localhost:3000"}):
            pass  # listed in allowed_origins
        r = await s.post(f"{base}/api/set", json={"params": {"ParamAngleX": 1}}, headers=evil)
        assert r.status == 403
        # a cross-site form post (text/plain) is refused without running
        r = await s.post(f"{base}/api/set", data='{"params": {"ParamAngleX": 1}}',
                         headers={"Content-Type": "text/plain"})
        assert r.status == 415
        # DNS rebinding: a foreign Host name is refused
        r = await s.get(f"{base}/health", headers={"Host": f"evil.example:{d.port}"})
        assert r.status == 403
    serve(sample_dir, body, config={"server": {"allowed_origins": ["http://localhost:3000"]}})


def test_token_required_beyond_loopback_and_checked(sample_dir):
    with pytest.raises(ConfigError, match="token is required"):
        make_daemon(sample_dir, host="0.0.0.0", token="")

    async def body(d, s):
        base = d.base_url
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await s.ws_connect(f"{base}/ws")
        assert err.value.status == 401
        assert (await s.get(f"{base}/puppet/puppet.json")).status == 401
        assert (await s.post(f"{base}/api/status", json={})).status == 401
        async with s.ws_connect(f"{base}/ws?token=s3cret"):
            pass
        r = await s.post(f"{base}/api/set", json={"params": {"ParamAngleX": 1}},
                         headers={"Authorization": "Bearer s3cret"})
        assert r.status == 200
        assert (await s.get(f"{base}/health")).status == 200  # health is public
        assert "token=s3cret" in d.obs_url
    serve(sample_dir, body, token="s3cret")


def test_files_limits_and_traversal(sample_dir):
    async def body(d, s):
        base = d.base_url
        r = await s.get(f"{base}/")
        assert r.status == 200 and "avatar.js" in await r.text()
        assert (await s.get(f"{base}/studio")).status == 200
        r = await s.get(f"{base}/static/puppet-eval.js")
        assert r.status == 200 and r.content_type == "text/javascript"
        assert (await s.get(f"{base}/puppet/puppet.json")).status == 200
        assert (await s.get(f"{base}/puppet/atlas0.png")).content_type == "image/png"
        (d.puppet_dir / "secret.txt").write_text("TOPSECRET")
        for bad in ("secret.txt", "..%2F..%2Fetc%2Fpasswd", "%2E%2E", ".hidden", "..\\puppet.json"):
            r = await s.get(yarl.URL(f"{base}/puppet/{bad}", encoded=True))
            assert r.status == 404 and "TOPSECRET" not in await r.text(), bad
        for bad in ("../live/daemon.py", "..%2F__init__.py", "__init__.py"):
            r = await s.get(yarl.URL(f"{base}/static/{bad}", encoded=True))
            assert r.status == 404 and "import" not in await r.text(), bad
        # message size limit: error reply, connection stays open
        async with s.ws_connect(f"{base}/api") as ws:
            await ws.send_json({"type": "set", "params": {"ParamAngleX": 1}, "pad": "x" * 3000})
            r = await ws.receive_json(timeout=3)
            assert r["ok"] is False and "over the limit" in r["error"]
            await ws.send_json({"type": "status"})
            assert (await ws.receive_json(timeout=3))["ok"]
        r = await s.post(f"{base}/api/set", data=b"{" + b" " * 5000 + b"}",
                         headers={"Content-Type": "application/json"})
        assert r.status == 400
        # connection limit
        socks = [await s.ws_connect(f"{base}/ws") for _ in range(2)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await s.ws_connect(f"{base}/ws")
        assert err.value.status == 503
        for w in socks:
            await w.close()
    serve(sample_dir, body, config={"server": {"max_message_bytes": 2048, "max_clients": 2}})


# --- plug-ins: supervision, failure isolation, /api extension ----------------------------------------------
class Flaky(Source):
    kind = "mic"

    def __init__(self) -> None:
        super().__init__("flaky")
        self.runs = 0

    async def run(self, ctx):
        self.runs += 1
        ctx.set_status(f"attempt {self.runs}")
        raise OSError("no such device")


class Talker(Source):
    kind = "tts"

    async def run(self, ctx):
        while True:
            ctx.update({"ParamMouthOpenY": 0.8})
            await asyncio.sleep(0.01)


class Stuck(Sink):
    kind = "slow"

    async def run(self, ctx):
        await ctx.params.get()
        ctx.set_status("stuck on purpose")
        await asyncio.Event().wait()


class Recorder(Sink):
    kind = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Any] = []

    async def run(self, ctx):
        while True:
            self.frames.append(await ctx.params.get())


@dataclass(frozen=True)
class Speak:
    text: str

    @classmethod
    def parse(cls, obj):
        if not isinstance(obj.get("text"), str):
            raise ProtocolError("speak: text must be a string")
        return cls(obj["text"])


def test_plugins_failures_are_isolated_and_api_extends(sample_dir):
    registry = default_registry(discover=False)
    flaky, recorder = Flaky(), Recorder()
    got: list[bytes] = []

    async def handle_speak(msg: Speak, session: ApiSession):
        async def feed(data: bytes, sess: ApiSession) -> None:
            got.append(data)
            await sess.send_event({"type": "speech_started", "bytes": len(data)})
        session.binary_handler = feed
        return {"accepted": msg.text}

    def setup(cfg, ctx):
        if cfg["enabled"]:
            ctx.add_source(flaky)
            ctx.add_source(Talker())
            ctx.add_sink(Stuck())
            ctx.add_sink(recorder)
            ctx.add_api_message(ApiMessageSpec("speak", Speak.parse, handle_speak, doc="say something"))

    registry.add_section(ConfigSection("testplug", "test", (ConfigKey("enabled", bool, False, "on"),)), setup)

    async def body(d, s):
        base = d.base_url
        await asyncio.sleep(1.2)
        h = await (await s.get(f"{base}/health")).json()
        states = {c["name"]: c for c in h["sources"] + h["sinks"]}
        assert states["flaky"]["state"] == "retrying" and "no such device" in states["flaky"]["error"]
        assert states["flaky"]["restarts"] >= 1 and flaky.runs in (2, 3)  # 0.5 s, then 1 s backoff
        assert states["slow"]["state"] == "running"
        assert h["tick_hz"] > 40, "a failing source and a stuck sink must not slow the tick"
        assert len(recorder.frames) > 40
        assert recorder.frames[-1].speaking and recorder.frames[-1].values["ParamMouthOpenY"] == pytest.approx(0.8)
        async with s.ws_connect(f"{base}/api") as ws:
            await ws.send_json({"type": "speak", "text": "hi", "id": 7})
            assert await ws.receive_json(timeout=3) == {"ok": True, "type": "speak", "id": 7, "accepted": "hi"}
            await ws.send_bytes(b"\x01\x02\x03")
            assert await ws.receive_json(timeout=3) == {"type": "speech_started", "bytes": 3}
            await ws.send_json({"type": "speak", "text": 5})
            assert "text must be a string" in (await ws.receive_json(timeout=3))["error"]
        r = await s.post(f"{base}/api/speak", json={"text": "hello"})
        assert (await r.json())["accepted"] == "hello"
        assert got == [b"\x01\x02\x03"]
        st = await (await s.get(f"{base}/api/status")).json()
        assert "speak" in st["api_types"]

    serve(sample_dir, body, registry=registry, config={"testplug": {"enabled": True}})


# --- process-level: SIGTERM / SIGINT stop within 1 s; service unit; journald format ---------------------
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals; Windows uses the KeyboardInterrupt path")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_within_a_second(sample_dir, sig):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "avatar_plugin", "live", str(sample_dir), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while "studio" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line
        t0 = time.monotonic()
        proc.send_signal(sig)
        rc = proc.wait(timeout=5)
        assert time.monotonic() - t0 < 1.0
        assert rc == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_service_unit_and_journal_format(tmp_path, sample_dir):
    unit = systemd_unit(sample_dir, tmp_path / "c.toml", python="/usr/bin/python3")
    assert "ExecStart=/usr/bin/python3 -m avatar_plugin live" in unit and "--config" in unit
    assert "Restart=on-failure" in unit and "WantedBy=default.target" in unit
    import logging

    rec = logging.LogRecord("avatar_plugin.live", logging.WARNING, __file__, 1, "mic failed", None, None)
    assert JournalFormatter().format(rec) == "<4>avatar_plugin.live: mic failed"


def test_service_install_uninstall_cli(tmp_path, sample_dir, monkeypatch):
    from avatar_plugin.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert main(["service", "install", str(sample_dir)]) == 0
    unit = tmp_path / "cfg" / "systemd" / "user" / "avatar-plugin.service"
    assert str(sample_dir.resolve()) in unit.read_text()
    assert main(["service", "uninstall"]) == 0
    assert not unit.exists()
