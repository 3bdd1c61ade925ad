"""The VTube Studio sink's asyncio shell against the fake VTS server (real WebSocket on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
import math
import os
import socket
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from fake_vts import FakeVTS  # tests/ is on sys.path (pytest rootdir conftest)
from PIL import Image

from avatar_plugin.errors import ConfigError, ProtocolError
from avatar_plugin.live.interfaces import AvatarParams
from avatar_plugin.live.vts import (
    VTS_SECTION,
    TokenStore,
    VTSOptions,
    VTSSink,
    default_token_path,
    discover_vts,
    icon_from_image,
    icon_from_puppet,
)
from avatar_plugin.live.vts_mapping import DEFAULT_MAPPING, build_mapping
from avatar_plugin.live.vts_protocol import DEFAULT_INPUTS

FRAME = AvatarParams(0.0, {"ParamAngleX": 12.0, "ParamAngleY": -40.0, "ParamMouthOpenY": 0.5,
                           "ParamMouthForm": 0.0, "ParamEyeLOpen": 1.0, "ParamEyeROpen": 0.2,
                           "ParamEyeBallX": 0.3, "ParamBrowLY": -1.0, "ParamBrowRY": 1.0, "ParamBreath": 0.4,
                           "ParamA": 0.7}, face_found=True)


def async_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop, 60 s at most (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60))

    return wrapper


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - t0


def options(fake: FakeVTS, tmp_path: Path, **kw: object) -> VTSOptions:
    base: dict[str, object] = {"host": "127.0.0.1", "port": fake.port, "token_file": tmp_path / "token.json",
                               "reconnect_max_s": 0.5}
    base.update(kw)
    return VTSOptions(**base)  # type: ignore[arg-type]


async def running(sink: VTSSink, body: Callable[[], Awaitable[None]],
                  latest: Callable[[], AvatarParams | None] = lambda: FRAME) -> None:
    task = asyncio.create_task(sink.run_with(latest))
    try:
        await body()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def png_icon() -> str:
    return icon_from_image(Image.new("RGBA", (300, 500), (200, 100, 50, 255)))


@async_test
async def test_first_run_token_flow_then_reuse_with_custom_params_and_ranges(tmp_path: Path) -> None:
    async with FakeVTS() as fake:
        sink = VTSSink(options(fake, tmp_path), icon_b64=png_icon())

        async def first() -> None:
            await wait_for(lambda: len(fake.injections) >= 2, what="injections")

        await running(sink, first)
        assert len(fake.token_requests) == 1 and len(fake.icons) == 1
        assert fake.token_requests[0]["pluginName"] == "avatar-plugin"
        token_file = tmp_path / "token.json"
        saved = json.loads(token_file.read_text())
        assert saved["token"] in fake.tokens
        if sys.platform != "win32":
            assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        # custom parameters: created once, named by VTS's rules
        for e in DEFAULT_MAPPING:
            if e.is_custom:
                assert e.target in fake.custom and e.target.startswith("AP")
        # values: only parameters present in the frame, mapped and clamped into the VTS ranges
        inj = fake.injections[0]
        assert inj.face_found and inj.mode == "set"
        assert inj.values["FaceAngleX"] == 12.0 and inj.values["FaceAngleY"] == -30.0  # clamped
        assert inj.values["MouthSmile"] == 0.5 and inj.values["BrowLeftY"] == 0.0 and inj.values["Brows"] == 0.5
        assert inj.values["EyeLeftX"] == inj.values["EyeRightX"] == pytest.approx(0.3)
        assert inj.values["APVowelA"] == pytest.approx(0.7) and "FaceAngleZ" not in inj.values
        for i in fake.injections:
            for k, v in i.values.items():
                lo, hi = DEFAULT_INPUTS.get(k) or (fake.custom[k]["min"], fake.custom[k]["max"])
                assert lo <= v <= hi, (k, v)
        # request ids are unique
        assert len(set(fake.request_ids)) == len(fake.request_ids)

        # a later run reuses the stored token: no new popup
        sink2 = VTSSink(options(fake, tmp_path), icon_b64=png_icon())
        n = len(fake.injections)
        await running(sink2, lambda: wait_for(lambda: len(fake.injections) >= n + 1, what="injections"))
        assert len(fake.token_requests) == 1
        assert fake.auth_requests[-1]["authenticationToken"] == saved["token"]


@async_test
async def test_rate_and_keepalive_timing(tmp_path: Path) -> None:
    async with FakeVTS() as fake:
        sink = VTSSink(options(fake, tmp_path, rate_hz=30.0))
        t_start = time.monotonic()

        def moving() -> AvatarParams:
            t = time.monotonic() - t_start
            return AvatarParams(t, {"ParamMouthOpenY": 0.5 + 0.5 * math.sin(t * 7), "ParamAngleX": 5.0},
                                face_found=False)

        async def body() -> None:
            await wait_for(lambda: len(fake.injections) > 0, what="first injection")
            await asyncio.sleep(2.5)

        await running(sink, body, moving)
        t0 = fake.injections[0].t
        span = fake.injections[-1].t - t0
        rate = (len(fake.injections) - 1) / span
        assert 25 <= rate <= 33, rate  # MouthOpen changes every tick -> every tick sends
        # FaceAngleX never changes: only the keep-alive re-sends it, well within VTS's 1 s
        assert fake.max_gap("FaceAngleX", since=t0) < 0.7
        assert fake.max_gap("FaceAngleX", since=t0) >= 0.4  # but not every tick
        assert fake.lost == []
        assert not any(i.face_found for i in fake.injections)
        assert sink.stats.injects == len(fake.injections)


@async_test
async def test_reconnects_within_two_seconds_after_vts_restarts(tmp_path: Path) -> None:
    fake = await FakeVTS().start()
    sink = VTSSink(options(fake, tmp_path, reconnect_max_s=1.0))

    async def body() -> None:
        await wait_for(lambda: len(fake.injections) > 3, what="injections")
        await fake.stop()
        await wait_for(lambda: "not reachable" in sink.status, what="status after VTS quit")
        await asyncio.sleep(1.5)
        n = len(fake.injections)
        await fake.start()  # same port, VTS's token store kept
        back = await wait_for(lambda: len(fake.injections) > n, what="injections after restart")
        assert back <= 2.0, back
        assert sink.connected and "connected" in sink.status

    try:
        await running(sink, body)
    finally:
        await fake.stop()
    assert len(fake.token_requests) == 1 and fake.connections >= 2


@async_test
async def test_vts_not_running_at_start_then_appears(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = FakeVTS(port=port)
    sink = VTSSink(options(fake, tmp_path, reconnect_max_s=1.0))

    async def body() -> None:
        await wait_for(lambda: "not reachable" in sink.status, what="not reachable status")
        assert "Allow Plugin API access" in sink.status and str(port) in sink.status
        await fake.start()
        assert await wait_for(lambda: len(fake.injections) > 0, what="injections") <= 2.0

    try:
        await running(sink, body)
    finally:
        await fake.stop()


@async_test
async def test_deny_revoke_api_off_and_other_plugin_show_what_to_do(tmp_path: Path) -> None:
    # Deny: status says so, nothing is injected, no token stored
    async with FakeVTS(grant=False) as fake:
        sink = VTSSink(options(fake, tmp_path))
        await running(sink, lambda: wait_for(lambda: "Deny" in sink.status, what="deny status"))
        assert fake.injections == [] and not (tmp_path / "token.json").exists()

    # Revoked while running: a new token is requested and injecting resumes
    async with FakeVTS() as fake:
        sink = VTSSink(options(fake, tmp_path))

        async def revoke() -> None:
            await wait_for(lambda: len(fake.injections) > 2, what="injections")
            old = json.loads((tmp_path / "token.json").read_text())["token"]
            fake.revoke(old)  # also deletes our custom parameters
            n = len(fake.injections)
            await wait_for(lambda: len(fake.token_requests) == 2, what="second token request")
            await wait_for(lambda: len(fake.injections) > n + 3, what="injections after re-allow")
            assert json.loads((tmp_path / "token.json").read_text())["token"] != old
            assert "APBreath" in fake.custom  # recreated after the revocation deleted it
            await asyncio.sleep(0.3)
            assert len(fake.token_requests) == 2 and fake.connections == 1  # same connection, one new popup
            assert 8 not in dict(fake.errors_sent).values()
            assert sink.status.startswith("connected to VTube Studio")

        await running(sink, revoke)

    # API switched off
    async with FakeVTS(api_active=False) as fake:
        sink = VTSSink(options(fake, tmp_path))
        await running(sink, lambda: wait_for(lambda: "switched off" in sink.status, what="api-off status"))
        assert "Allow Plugin API access" in sink.status

    # Another plugin already sets FaceAngleX: status tells the fix; mode "add" avoids the conflict
    async with FakeVTS(other_plugin_params={"FaceAngleX"}) as fake:
        sink = VTSSink(options(fake, tmp_path))
        await running(sink, lambda: wait_for(lambda: "another VTS plugin" in sink.status, what="454 status"))
        assert 'mode = "add"' in sink.status and sink.stats.errors[454] > 0
        sink = VTSSink(options(fake, tmp_path, mode="add"))
        n = len(fake.injections)
        await running(sink, lambda: wait_for(lambda: len(fake.injections) > n + 3, what="add-mode injections"))
        assert fake.injections[-1].mode == "add"


@async_test
async def test_deleted_custom_parameter_is_recreated(tmp_path: Path) -> None:
    async with FakeVTS() as fake:
        sink = VTSSink(options(fake, tmp_path))

        async def body() -> None:
            await wait_for(lambda: len(fake.injections) > 2, what="injections")
            fake.custom.clear()  # e.g. the user deleted them in VTS
            await wait_for(lambda: 453 in dict(fake.errors_sent).values(), what="error 453")
            await wait_for(lambda: "APBreath" in fake.custom, what="recreated custom parameter")
            n = len(fake.injections)
            await wait_for(lambda: len(fake.injections) > n + 2, what="injections again")

        await running(sink, body)


@async_test
async def test_custom_input_owned_by_another_plugin_is_reported(tmp_path: Path) -> None:
    async with FakeVTS() as fake:
        fake.custom["APBreath"] = {"plugin": "Other Plugin", "min": 0, "max": 1, "default": 0, "explanation": ""}
        sink = VTSSink(options(fake, tmp_path))
        await running(sink, lambda: wait_for(lambda: "APBreath" in sink.status, what="352 status"))
        assert "another plugin already created" in sink.status and sink.stats.errors[352] == 1
        assert fake.custom["APBreath"]["plugin"] == "Other Plugin"


@async_test
async def test_hotkey_bridge(tmp_path: Path) -> None:
    async with FakeVTS() as fake:
        sink = VTSSink(options(fake, tmp_path, hotkeys={"happy": "Smile"}))

        async def body() -> None:
            with pytest.raises(ProtocolError, match="not connected"):
                await sink.trigger_hotkey("happy")
            await wait_for(lambda: len(fake.injections) > 0, what="injections")
            assert await sink.trigger_hotkey("happy") == "hk-smile"
            assert await sink.trigger_hotkey("hk-angry") == "hk-angry"
            with pytest.raises(ProtocolError, match="202"):
                await sink.trigger_hotkey("nope")

        await running(sink, body)
        assert fake.hotkeys_triggered == ["hk-smile", "hk-angry"]


@async_test
async def test_udp_discovery_finds_the_broadcast() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    msg = json.dumps({"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "timestamp": 1,
                      "messageType": "VTubeStudioAPIStateBroadcast", "requestID": "VTubeStudioAPIStateBroadcast",
                      "data": {"active": True, "port": 8123, "instanceID": "abc", "windowTitle": "VTube Studio"}})

    async def broadcaster() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            for _ in range(20):
                out.sendto(b"not json", ("127.0.0.1", port))
                out.sendto(msg.encode(), ("127.0.0.1", port))
                await asyncio.sleep(0.05)

    task = asyncio.create_task(broadcaster())
    found = await discover_vts(timeout=2.0, port=port)
    await task
    assert found is not None
    info, host = found
    assert (info.active, info.port, info.window_title, host) == (True, 8123, "VTube Studio", "127.0.0.1")


def test_token_store_and_default_path(tmp_path: Path) -> None:
    from avatar_plugin.live.vts_protocol import PluginInfo

    p = default_token_path()
    assert p.is_absolute() and p.parent != Path.cwd() and p.name == "vtube_studio_token.json"
    store = TokenStore(tmp_path / "sub" / "t.json")
    me = PluginInfo("avatar-plugin", "devs")
    assert store.load(me) is None
    store.save(me, "abc")
    assert store.load(me) == "abc"
    assert store.load(PluginInfo("other-plugin", "devs")) is None  # token of another identity: ignored
    (tmp_path / "sub" / "t.json").write_text("{broken")
    assert store.load(me) is None
    store.clear()
    store.clear()


def test_icons_are_exactly_128_png(tmp_path: Path) -> None:
    for size in [(300, 500), (500, 300), (64, 64)]:
        raw = base64.b64decode(icon_from_image(Image.new("RGB", size, (1, 2, 3))))
        img = Image.open(io.BytesIO(raw))
        assert img.format == "PNG" and img.size == (128, 128)
    from avatar_plugin.puppet.io import write_puppet
    from avatar_plugin.puppet.sample import build_sample_puppet

    write_puppet(build_sample_puppet(), tmp_path / "pup")
    icon = icon_from_puppet(tmp_path / "pup")
    assert icon is not None
    img = Image.open(io.BytesIO(base64.b64decode(icon)))
    assert img.size == (128, 128) and img.getextrema()[3][1] > 0  # not empty
    assert icon_from_puppet(tmp_path / "nothing-here") is None


def test_config_section_and_mapping_options() -> None:
    cfg = VTS_SECTION.validate({"enabled": True, "port": 8002, "rate_hz": 60, "mode": "add",
                                "mapping": {"FaceAngleZ": False,
                                            "MouthSmile": {"from": "ParamMouthForm", "in": [-1, 1], "out": [0, 1]},
                                            "APTongue": {"from": "ParamTongue", "in": [0, 1]}},
                                "weights": {"FaceAngleX": 0.5}})
    o = VTSOptions.from_config(cfg)
    assert (o.port, o.rate_hz, o.mode) == (8002, 60.0, "add")
    targets = o.mapping.targets()
    assert "FaceAngleZ" not in targets and "APTongue" in targets
    assert {e.target: e.weight for e in o.mapping.entries}["FaceAngleX"] == 0.5
    assert o.token_file is not None and o.token_file.is_absolute()
    with pytest.raises(ConfigError, match="rate_hz"):
        VTSOptions.from_config(VTS_SECTION.validate({"rate_hz": 120}))
    with pytest.raises(ConfigError, match=r"mapping\.Bad Name"):
        build_mapping({"Bad Name": "ParamAngleX"})
    with pytest.raises(ConfigError, match="give its range"):
        build_mapping({"APTongue": "ParamTongue"})
    with pytest.raises(ConfigError, match=r"weights\.Nope"):
        build_mapping(None, {"Nope": 0.5})
    with pytest.raises(ConfigError, match=r"0\.\.1"):
        build_mapping(None, {"FaceAngleX": 2})


def test_mapping_rescales_and_mirrors() -> None:
    m = build_mapping()
    vals = {v.id: v.value for v in m.values({"ParamMouthForm": 1.0, "ParamEyeLOpen": 0.0, "ParamAngleX": 10,
                                             "ParamBrowLY": 0.0, "ParamBrowRY": 1.0})}
    assert vals["MouthSmile"] == 1.0 and vals["EyeOpenLeft"] == 0.0 and vals["FaceAngleX"] == 10
    assert vals["Brows"] == 0.75 and "EyeOpenRight" not in vals
    mm = build_mapping(mirror=True)
    vals = {v.id: v.value for v in mm.values({"ParamEyeLOpen": 0.0, "ParamEyeROpen": 1.0, "ParamAngleX": 10,
                                              "ParamEyeBallX": 0.5, "ParamAngleY": 5})}
    assert vals["EyeOpenRight"] == 0.0 and vals["EyeOpenLeft"] == 1.0
    assert vals["FaceAngleX"] == -10 and vals["EyeLeftX"] == -0.5 and vals["FaceAngleY"] == 5
    # every custom parameter of the default table is valid by VTS's rules and defaults lie in its range
    for p in m.custom_parameters():
        assert p.min <= p.default <= p.max
