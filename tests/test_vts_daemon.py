"""End to end: the real live daemon with its [vtube_studio] and [vmc] sinks against the fake VTS server and
a real OSC server, all on 127.0.0.1 with free ports."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from fake_vts import FakeVTS  # tests/ is on sys.path (pytest rootdir conftest)
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import AsyncIOOSCUDPServer

from avatar_plugin.live import vmc, vts
from avatar_plugin.live.config import default_registry, parse_config
from avatar_plugin.live.daemon import Daemon
from avatar_plugin.live.vts_protocol import DEFAULT_INPUTS


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - t0


def make_daemon(folder: Path, fake: FakeVTS, token_file: Path, vmc_port: int) -> Daemon:
    registry = default_registry(discover=False)
    vts.register_live(registry)
    vmc.register_live(registry)
    cfg = parse_config({
        "daemon": {"seed": 1},
        "vtube_studio": {"enabled": True, "host": "127.0.0.1", "port": fake.port, "token_file": str(token_file),
                         "rate_hz": 30, "reconnect_max_s": 1.0, "hotkeys": {"happy": "Smile"}},
        "vmc": {"enabled": True, "host": "127.0.0.1", "port": vmc_port},
    }, registry)
    return Daemon(folder, cfg, registry, port=0)


def vts_health(health: dict[str, Any]) -> dict[str, Any]:
    (sink,) = [s for s in health["sinks"] if s["name"] == "vtube_studio"]
    return sink


def test_daemon_drives_fake_vts_and_vmc(sample_dir: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "cfg" / "vts_token.json"

    async def main() -> None:
        got: list[tuple[str, tuple[Any, ...]]] = []
        disp = Dispatcher()
        disp.set_default_handler(lambda addr, *args: got.append((addr, args)))
        osc = AsyncIOOSCUDPServer(("127.0.0.1", 0), disp, asyncio.get_running_loop())
        transport, _ = await osc.create_serve_endpoint()
        vmc_port = transport.get_extra_info("sockname")[1]
        fake = await FakeVTS().start()
        try:
            # ---- first run: token requested once (with the avatar's icon), custom inputs created
            d = make_daemon(sample_dir, fake, token_file, vmc_port)
            await d.start()
            try:
                await wait_for(lambda: len(fake.injections) > 45, what="injections")
                assert len(fake.token_requests) == 1 and len(fake.icons) == 1
                assert json.loads(token_file.read_text())["token"] in fake.tokens
                assert {"APBreath", "APBodyAngleX", "APVowelA"} <= set(fake.custom)
                # rate: idle life changes values every tick, so every tick at 30 Hz sends
                inj = fake.injections
                rate = (len(inj) - 1) / (inj[-1].t - inj[0].t)
                assert 25 <= rate <= 33, rate
                # every input the daemon drives is re-sent well within VTS's 1 s, values inside ranges
                sent_ids = set().union(*(i.values for i in inj))
                assert {"FaceAngleX", "MouthOpen", "EyeOpenLeft", "MouthSmile"} <= sent_ids
                for pid in sent_ids:
                    assert fake.max_gap(pid, since=inj[0].t) < 0.7, pid
                    for i in inj:
                        if pid in i.values:
                            lo, hi = DEFAULT_INPUTS.get(pid) or (fake.custom[pid]["min"], fake.custom[pid]["max"])
                            assert lo <= i.values[pid] <= hi, (pid, i.values[pid])
                assert fake.lost == []
                async with aiohttp.ClientSession() as s:
                    health = await (await s.get(f"{d.base_url}/health")).json()
                    assert "connected to VTube Studio" in vts_health(health)["detail"]
                    r = await s.post(f"{d.base_url}/api/vts_hotkey", json={"hotkey": "happy"})
                    body = await r.json()
                    assert body["ok"] and body["hotkeyID"] == "hk-smile", body
                    assert fake.hotkeys_triggered == ["hk-smile"]

                    # ---- VTS quits and comes back: reconnect within 2 s, status says what happened
                    await fake.stop()
                    await wait_for(lambda: "not reachable" in vts_health(d.health())["detail"],
                                   what="not-reachable status")
                    health = await (await s.get(f"{d.base_url}/health")).json()
                    assert "Allow Plugin API access" in vts_health(health)["detail"]
                    await asyncio.sleep(1.2)
                    n = len(fake.injections)
                    await fake.start()
                    back = await wait_for(lambda: len(fake.injections) > n, what="injections after restart")
                    assert back <= 2.0, back
                    assert len(fake.token_requests) == 1  # the saved token was reused
                # the renderer side never stopped ticking
                assert d.achieved_hz() > 40
            finally:
                await d.stop()

            # ---- VMC received bundles from the same daemon
            assert sum(1 for a, _ in got if a == "/VMC/Ext/Blend/Apply") > 30
            assert any(a == "/VMC/Ext/Bone/Pos" and args[0] == "Head" for a, args in got)

            # ---- a later run reuses the stored token: no popup
            d2 = make_daemon(sample_dir, fake, token_file, vmc_port)
            n = len(fake.injections)
            await d2.start()
            try:
                await wait_for(lambda: len(fake.injections) > n + 5, what="second-run injections")
            finally:
                await d2.stop()
            assert len(fake.token_requests) == 1
            assert fake.auth_requests[-1]["authenticationToken"] == json.loads(token_file.read_text())["token"]
        finally:
            await fake.stop()
            transport.close()

    asyncio.run(asyncio.wait_for(main(), 60))
