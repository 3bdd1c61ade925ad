"""VMC/OSC sink: pure message building, and a real OSC server on loopback receiving the bundles."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import AsyncIOOSCUDPServer
from scipy.spatial.transform import Rotation

from avatar_plugin.live.interfaces import AvatarParams, Mailbox, SinkContext
from avatar_plugin.live.vmc import VMC_SECTION, VMCOptions, VMCSink, head_quaternion, vmc_messages


def blends(msgs: list[tuple[str, tuple[Any, ...]]]) -> dict[str, float]:
    return {a[0]: a[1] for addr, a in msgs if addr == "/VMC/Ext/Blend/Val"}


def test_head_quaternion_is_unity_euler_order() -> None:
    for yaw, pitch, roll in [(20, 0, 0), (0, -15, 0), (0, 0, 30), (12, -7, 25)]:
        x, y, z, w = head_quaternion(yaw, pitch, roll)
        ref = Rotation.from_euler("zxy", [roll, pitch, yaw], degrees=True).as_quat()  # R = Ry Rx Rz
        assert np.allclose([x, y, z, w], ref, atol=1e-9) or np.allclose([x, y, z, w], -ref, atol=1e-9)
    assert head_quaternion(0, 0, 0) == (0.0, 0.0, 0.0, 1.0)


def test_messages_of_one_frame() -> None:
    p = AvatarParams(1.5, {"ParamMouthOpenY": 0.8, "ParamEyeLOpen": 0.25, "ParamEyeROpen": 1.0,
                           "ParamEyeBallX": 0.5, "ParamEyeBallY": -0.2, "ParamAngleX": 20.0, "ParamBreath": 0.3})
    msgs = vmc_messages(p)
    assert msgs[0] == ("/VMC/Ext/OK", (1,)) and msgs[1] == ("/VMC/Ext/T", (1.5,))
    assert msgs[-1] == ("/VMC/Ext/Blend/Apply", ())
    b = blends(msgs)
    assert b["A"] == 0.8 and b["I"] == 0.0  # no vowels in the frame: A follows the mouth opening
    assert b["Blink_L"] == 0.75 and b["Blink_R"] == 0.0
    assert b["LookLeft"] == 0.5 and b["LookRight"] == 0.0 and b["LookDown"] == 0.2 and b["LookUp"] == 0.0
    assert b["ParamBreath"] == 0.3 and b["ParamMouthOpenY"] == 0.8  # raw parameters too
    (head,) = [a for addr, a in msgs if addr == "/VMC/Ext/Bone/Pos"]
    assert head[0] == "Head" and head[1:4] == (0.0, 0.0, 0.0)
    assert head[4:] == head_quaternion(-20.0, 0.0, 0.0)  # AngleX + (screen right) is Unity yaw -
    # vowels win over the mouth opening when present; mirror swaps the sides
    b = blends(vmc_messages(AvatarParams(0, {"ParamA": 0.1, "ParamO": 0.9, "ParamMouthOpenY": 1.0,
                                             "ParamEyeLOpen": 0.0}), VMCOptions(mirror=True, raw_params=False)))
    assert b["A"] == 0.1 and b["O"] == 0.9 and b["Blink_R"] == 1.0 and b["Blink_L"] == 0.0
    assert "ParamA" not in b
    cfg = VMC_SECTION.validate({"enabled": True, "port": 39540})
    assert VMCOptions.from_config(cfg).port == 39540


def test_real_osc_server_receives_bundles() -> None:
    async def main() -> tuple[list[tuple[str, tuple[Any, ...]]], VMCSink]:
        got: list[tuple[str, tuple[Any, ...]]] = []
        disp = Dispatcher()
        disp.set_default_handler(lambda addr, *args: got.append((addr, args)))
        server = AsyncIOOSCUDPServer(("127.0.0.1", 0), disp, asyncio.get_running_loop())
        transport, _ = await server.create_serve_endpoint()
        port = transport.get_extra_info("sockname")[1]
        sink = VMCSink(VMCOptions(port=port, rate_hz=60))
        box: Mailbox[AvatarParams] = Mailbox()
        statuses: list[str] = []
        ctx = SinkContext("vmc", box, statuses.append, lambda: 0.0, {})
        task = asyncio.create_task(sink.run(ctx))
        for i in range(20):
            box.put(AvatarParams(i / 60, {"ParamMouthOpenY": i / 19, "ParamAngleZ": 10.0}))
            await asyncio.sleep(1 / 60)
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        transport.close()
        assert statuses and f":{port}" in statuses[0]
        return got, sink

    got, sink = asyncio.run(main())
    assert sink.sent >= 10 and sink.errors == 0
    applies = [m for m in got if m[0] == "/VMC/Ext/Blend/Apply"]
    assert len(applies) == sink.sent
    mouth = [a[1] for addr, a in got if addr == "/VMC/Ext/Blend/Val" and a[0] == "A"]
    assert mouth == sorted(mouth) and math.isclose(mouth[-1], 1.0, abs_tol=1e-6)
    heads = [a for addr, a in got if addr == "/VMC/Ext/Bone/Pos"]
    assert heads and heads[0][0] == "Head"
    assert np.allclose(heads[0][4:], head_quaternion(0.0, 0.0, -10.0), atol=1e-6)


def test_no_receiver_is_not_an_error() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> VMCSink:
        sink = VMCSink(VMCOptions(port=port, rate_hz=100))
        frames = iter(range(30))

        async def next_frame() -> AvatarParams:
            await asyncio.sleep(0.011)
            return AvatarParams(float(next(frames)), {"ParamMouthOpenY": 0.5})

        task = asyncio.create_task(sink.run_with(next_frame))
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return sink

    sink = asyncio.run(main())
    assert sink.sent + sink.errors >= 5
