"""VMC/OSC sink: the avatar's face as VMC protocol messages over UDP, for Inochi Session, VSeeFace-style
receivers, VNyan, Warudo and other tools that follow a VMC performer.

One OSC bundle per frame (``rate_hz``, default 60) to ``host:port`` (default 127.0.0.1:39539, the port VMC
receivers listen on by default)::

    /VMC/Ext/OK 1                                    model loaded
    /VMC/Ext/T <seconds>                             daemon time
    /VMC/Ext/Bone/Pos "Head" 0 0 0 qx qy qz qw       head rotation (Unity: left-handed, Y up, avatar faces +Z)
    /VMC/Ext/Blend/Val <name> <value>                one per blendshape (below)
    /VMC/Ext/Blend/Apply                             apply the blendshapes of this frame

Blendshapes (VRM 0.x preset names, values 0..1):

=============  ===========================================================================================
A I U E O      ParamA/I/U/E/O; with no vowel parameters in the frame, A = ParamMouthOpenY
Blink_L        1 - ParamEyeLOpen (the character's left eye); Blink_R: 1 - ParamEyeROpen
LookUp/Down    ParamEyeBallY > 0 / < 0 (magnitude)
LookLeft/Right the character's own left / right: ParamEyeBallX > 0 (toward the screen's right) is LookLeft
=============  ===========================================================================================

With ``raw_params = true`` (default) every parameter of the frame is also sent under its own id
(``/VMC/Ext/Blend/Val "ParamMouthOpenY" 0.42``), unclamped, so a receiver like Inochi Session can bind our
Live2D-standard parameters directly.

Head bone: yaw = -ParamAngleX, pitch = -ParamAngleY, roll = -ParamAngleZ (degrees, Unity ``Quaternion.Euler``
order Z, X, Y). The minus signs turn Live2D's screen-relative signs (AngleX + faces the screen's right) into
Unity's rotations for an avatar facing the camera (+Z). ``mirror = true`` negates yaw and roll and swaps the
left/right blendshapes. The signs are derived from the two conventions, not yet checked against every receiver.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from avatar_plugin.live.interfaces import (
    AvatarParams,
    ConfigKey,
    ConfigSection,
    LiveRegistry,
    SectionConfig,
    SetupContext,
    Sink,
    SinkContext,
)

__all__ = ["VMC_SECTION", "VMCOptions", "VMCSink", "encode_bundle", "head_quaternion", "register_live",
           "vmc_messages"]

VMC_SECTION = ConfigSection(
    "vmc",
    "VMC protocol over OSC/UDP: send the avatar's blendshapes and head rotation to Inochi Session, VSeeFace,\n"
    "VNyan, Warudo, ... (see avatar_plugin/live/vmc.py for the names).",
    (
        ConfigKey("enabled", bool, False, "send VMC/OSC messages"),
        ConfigKey("host", str, "127.0.0.1", "receiver host"),
        ConfigKey("port", int, 39539, "receiver UDP port (VMC's default is 39539)", min=1, max=65535),
        ConfigKey("rate_hz", float, 60.0, "bundles per second", min=1.0, max=120.0),
        ConfigKey("raw_params", bool, True, "also send every parameter under its own id (e.g. ParamMouthOpenY)"),
        ConfigKey("mirror", bool, False, "negate yaw/roll and swap left/right blendshapes"),
    ),
)

Message = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class VMCOptions:
    host: str = "127.0.0.1"
    port: int = 39539
    rate_hz: float = 60.0
    raw_params: bool = True
    mirror: bool = False

    @classmethod
    def from_config(cls, cfg: SectionConfig) -> VMCOptions:
        return cls(cfg["host"], cfg["port"], cfg["rate_hz"], cfg["raw_params"], cfg["mirror"])


def head_quaternion(yaw_deg: float, pitch_deg: float, roll_deg: float) -> tuple[float, float, float, float]:
    """Unity's ``Quaternion.Euler(pitch, yaw, roll)`` (rotations about X, Y, Z; applied Z, then X, then Y) as
    (x, y, z, w)."""
    hx, hy, hz = (math.radians(a) / 2 for a in (pitch_deg, yaw_deg, roll_deg))
    cx, sx, cy, sy, cz, sz = math.cos(hx), math.sin(hx), math.cos(hy), math.sin(hy), math.cos(hz), math.sin(hz)
    # q = qy * qx * qz
    w = cy * cx * cz + sy * sx * sz
    x = cy * sx * cz + sy * cx * sz
    y = sy * cx * cz - cy * sx * sz
    z = cy * cx * sz - sy * sx * cz
    return (x, y, z, w)


def _clamp01(v: float) -> float:
    return 0.0 if v < 0.0 else 1.0 if v > 1.0 else v


def vmc_messages(params: AvatarParams, options: VMCOptions = VMCOptions()) -> list[Message]:
    """The OSC messages of one frame (pure; see the module docstring for names and signs)."""
    v: Mapping[str, float] = params.values
    g = v.get
    blend: dict[str, float] = {}
    vowels = ("ParamA", "ParamI", "ParamU", "ParamE", "ParamO")
    if any(p in v for p in vowels):
        for p in vowels:
            blend[p[-1]] = _clamp01(g(p, 0.0))
    else:
        blend["A"] = _clamp01(g("ParamMouthOpenY", 0.0))
        for name in "IUEO":
            blend[name] = 0.0
    left, right = "L", "R"
    if options.mirror:
        left, right = right, left
    blend[f"Blink_{left}"] = _clamp01(1.0 - g("ParamEyeLOpen", 1.0))
    blend[f"Blink_{right}"] = _clamp01(1.0 - g("ParamEyeROpen", 1.0))
    ex, ey = g("ParamEyeBallX", 0.0), g("ParamEyeBallY", 0.0)
    if options.mirror:
        ex = -ex
    blend["LookUp"], blend["LookDown"] = _clamp01(ey), _clamp01(-ey)
    blend["LookLeft"], blend["LookRight"] = _clamp01(ex), _clamp01(-ex)
    sign = 1.0 if options.mirror else -1.0
    q = head_quaternion(sign * g("ParamAngleX", 0.0), -g("ParamAngleY", 0.0), sign * g("ParamAngleZ", 0.0))
    msgs: list[Message] = [
        ("/VMC/Ext/OK", (1,)),
        ("/VMC/Ext/T", (float(params.t),)),
        ("/VMC/Ext/Bone/Pos", ("Head", 0.0, 0.0, 0.0, *q)),
    ]
    msgs += [("/VMC/Ext/Blend/Val", (name, float(val))) for name, val in blend.items()]
    if options.raw_params:
        msgs += [("/VMC/Ext/Blend/Val", (pid, float(val))) for pid, val in sorted(v.items()) if pid not in blend]
    msgs.append(("/VMC/Ext/Blend/Apply", ()))
    return msgs


def encode_bundle(messages: list[Message]) -> bytes:
    """One OSC bundle (time tag "immediately") holding ``messages``."""
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    bundle = OscBundleBuilder(IMMEDIATELY)
    for address, args in messages:
        mb = OscMessageBuilder(address=address)
        for a in args:
            if isinstance(a, bool):
                mb.add_arg(int(a), "i")
            elif isinstance(a, int):
                mb.add_arg(a, "i")
            elif isinstance(a, float):
                mb.add_arg(a, "f")
            else:
                mb.add_arg(str(a), "s")
        bundle.add_content(mb.build())
    return bundle.build().dgram


class VMCSink(Sink):
    """Sends each frame (at most ``rate_hz``) as one OSC bundle over UDP. UDP has no connection: a missing
    receiver is not an error (its ICMP "port unreachable" is ignored); ``status`` counts what was sent."""

    kind = "vmc"

    def __init__(self, options: VMCOptions | None = None, name: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name)
        self.options = options or VMCOptions()
        self.sent = 0
        self.errors = 0
        self.status = "not started"
        self._clock = clock

    async def run(self, ctx: SinkContext) -> None:
        await self.run_with(ctx.params.get, ctx.set_status)

    async def run_with(self, next_frame: Callable[[], Any],
                       set_status: Callable[[str], None] = lambda s: None) -> None:
        """Send frames from ``await next_frame()`` until cancelled (tests, benchmarks)."""
        o = self.options
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(o.host, o.port, type=socket.SOCK_DGRAM)
        family, _, _, _, addr = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        period = 1.0 / o.rate_hz
        last = -math.inf
        self.status = f"sending VMC/OSC to {o.host}:{o.port} at up to {o.rate_hz:g} Hz"
        set_status(self.status)
        try:
            while True:
                frame = await next_frame()
                now = self._clock()
                if now - last < period * 0.9:
                    continue
                last = now
                data = encode_bundle(vmc_messages(frame, o))
                try:
                    sock.sendto(data, addr)
                    self.sent += 1
                except (BlockingIOError, ConnectionRefusedError):
                    self.errors += 1  # receiver absent or socket buffer full: drop this frame
                except OSError as exc:
                    self.errors += 1
                    self.status = f"VMC/OSC send to {o.host}:{o.port} failed: {exc}; check [vmc] host/port"
                    set_status(self.status)
        finally:
            sock.close()


def _setup(cfg: SectionConfig, ctx: SetupContext) -> None:
    if cfg["enabled"]:
        ctx.add_sink(VMCSink(VMCOptions.from_config(cfg)))


def register_live(registry: LiveRegistry) -> None:
    registry.add_section(VMC_SECTION, _setup)
