"""A fake VTube Studio API server for tests: real WebSocket on 127.0.0.1, documented messages and errors.

It follows the public API docs (DenchiSoft/VTubeStudio README, ``Files/ErrorID.cs``): the token flow (the
"user" allows or denies: error 50), per-session authentication, requests before authentication (error 8),
``ParameterCreationRequest`` with VTS's naming rules (350, 352, 354, ...), ``InjectParameterDataRequest`` with
its checks (450 no data, 451 value, 452 weight, 453 unknown parameter, 454 set by another plugin, 455 mode),
hotkeys, the API switched off (error 1, then the socket closes), token revocation (error 50 on the next
request, custom parameters deleted) and the 1 s "parameter lost" rule (recorded in :attr:`lost`).

Everything the plugin did is recorded for assertions (``injections``, ``token_requests``, ``auth_requests``,
``custom``, ``icons``). ``tokens`` and ``custom`` survive :meth:`stop`/:meth:`start`, like VTS's config files.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from avatar_plugin.live.vts_protocol import DEFAULT_INPUTS

_NAME_RE = re.compile(r"^[A-Za-z0-9]{4,32}$")


@dataclass
class Injection:
    t: float  # time.monotonic() on arrival
    plugin: str
    face_found: bool
    mode: str
    values: dict[str, float]
    weights: dict[str, float]


@dataclass(eq=False)
class _Session:
    conn: ServerConnection
    plugin: tuple[str, str] | None = None  # (name, developer) once authenticated
    token: str | None = None


@dataclass
class FakeVTS:
    """``grant``: what the "user" clicks on a token request (True = Allow). ``api_active`` False: every
    request gets error 1 and the socket closes. ``other_plugin_params``: inputs another plugin already sets
    (our ``set`` injects of them get error 454). ``reply_delay_s``: VTS's think time per message."""

    grant: bool = True
    api_active: bool = True
    other_plugin_params: set[str] = field(default_factory=set)
    hotkeys: dict[str, str] = field(default_factory=lambda: {"hk-smile": "Smile", "hk-angry": "Angry"})
    reply_delay_s: float = 0.0
    port: int = 0
    # records
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    auth_requests: list[dict[str, Any]] = field(default_factory=list)
    icons: list[str] = field(default_factory=list)
    injections: list[Injection] = field(default_factory=list)
    errors_sent: list[tuple[str, int]] = field(default_factory=list)
    hotkeys_triggered: list[str] = field(default_factory=list)
    lost: list[tuple[str, float]] = field(default_factory=list)  # (param, gap s) when a param went > 1 s
    connections: int = 0
    request_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: Server | None = None
        self._sessions: set[_Session] = set()
        self._last_set: dict[str, float] = {}

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> FakeVTS:
        self._server = await serve(self._handle, "127.0.0.1", self.port, max_size=2**22)
        self.port = self._server.sockets[0].getsockname()[1] if self.port == 0 else self.port
        return self

    async def stop(self) -> None:
        """Close the server and every connection (like quitting VTS)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._sessions.clear()
        self._last_set.clear()

    async def __aenter__(self) -> FakeVTS:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def revoke(self, token: str) -> None:
        """The user revokes the plugin's token in VTS: its custom parameters go, its sessions lose access."""
        plugin = self.tokens.pop(token, None)
        if plugin is None:
            return
        for name in [n for n, p in self.custom.items() if p["plugin"] == plugin[0]]:
            del self.custom[name]
        for s in self._sessions:
            if s.token == token:
                s.plugin = None
                s.token = "revoked"

    # -- serving ------------------------------------------------------------------------------------

    async def _handle(self, conn: ServerConnection) -> None:
        self.connections += 1
        session = _Session(conn)
        self._sessions.add(session)
        try:
            async for raw in conn:
                if self.reply_delay_s:
                    await asyncio.sleep(self.reply_delay_s)
                out, close = self._on_message(session, raw)
                await conn.send(json.dumps(out))
                if close:
                    await conn.close()
                    return
        except ConnectionClosed:
            pass
        finally:
            self._sessions.discard(session)

    def _reply(self, rid: str, mtype: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "timestamp": int(time.time() * 1000),
                "requestID": rid, "messageType": mtype, "data": data}

    def _error(self, rid: str, error_id: int, message: str) -> dict[str, Any]:
        self.errors_sent.append((rid, error_id))
        return self._reply(rid, "APIError", {"errorID": error_id, "message": message})

    def _on_message(self, s: _Session, raw: str | bytes) -> tuple[dict[str, Any], bool]:
        try:
            msg = json.loads(raw)
            assert isinstance(msg, dict)
        except (ValueError, AssertionError):
            return self._error(str(uuid.uuid4()), 2, "JSON invalid"), False
        rid = msg.get("requestID") or str(uuid.uuid4())
        self.request_ids.append(rid)
        if not isinstance(rid, str) or not 1 <= len(rid) <= 64 or not rid.isascii():
            return self._error(str(uuid.uuid4()), 5, "requestID invalid"), False
        if msg.get("apiName") != "VTubeStudioPublicAPI":
            return self._error(rid, 3, "apiName invalid"), False
        if msg.get("apiVersion") != "1.0":
            return self._error(rid, 4, "apiVersion invalid"), False
        if not self.api_active:
            return self._error(rid, 1, "API access is deactivated; enable 'Allow Plugin API access'"), True
        mtype = msg.get("messageType")
        data = msg.get("data") or {}
        if not mtype:
            return self._error(rid, 6, "messageType missing"), False
        handler = getattr(self, f"_on_{mtype}", None)
        if handler is None:
            return self._error(rid, 7, f"unknown request type {mtype}"), False
        if mtype not in ("APIStateRequest", "AuthenticationTokenRequest", "AuthenticationRequest"):
            if s.token == "revoked":
                return self._error(rid, 50, "User has denied API access for your plugin."), False
            if s.plugin is None:
                return self._error(rid, 8, "This request requires authentication."), False
        return handler(s, rid, data), False

    # -- requests -----------------------------------------------------------------------------------

    def _on_APIStateRequest(self, s: _Session, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._reply(rid, "APIStateResponse", {"active": True, "vTubeStudioVersion": "1.28.0",
                                                     "currentSessionAuthenticated": s.plugin is not None})

    def _on_AuthenticationTokenRequest(self, s: _Session, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        self.token_requests.append(data)
        name, dev = data.get("pluginName", ""), data.get("pluginDeveloper", "")
        if not (isinstance(name, str) and 3 <= len(name) <= 32):
            return self._error(rid, 52, "plugin name invalid")
        if not (isinstance(dev, str) and 3 <= len(dev) <= 32):
            return self._error(rid, 53, "plugin developer invalid")
        icon = data.get("pluginIcon")
        if icon is not None:
            if not _is_128_png_or_jpg(icon):
                return self._error(rid, 54, "plugin icon invalid: base64 PNG/JPG of exactly 128x128")
            self.icons.append(icon)
        if not self.grant:
            return self._error(rid, 50, "User has denied API access for your plugin.")
        token = uuid.uuid4().hex
        self.tokens[token] = (name, dev)
        return self._reply(rid, "AuthenticationTokenResponse", {"authenticationToken": token})

    def _on_AuthenticationRequest(self, s: _Session, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        self.auth_requests.append(data)
        token, name, dev = data.get("authenticationToken"), data.get("pluginName"), data.get("pluginDeveloper")
        if not token:
            return self._error(rid, 100, "token missing")
        if not name:
            return self._error(rid, 101, "plugin name missing")
        if not dev:
            return self._error(rid, 102, "plugin developer missing")
        ok = self.tokens.get(token) == (name, dev)
        if ok:
            s.plugin, s.token = (name, dev), token
        return self._reply(rid, "AuthenticationResponse", {
            "authenticated": ok,
            "reason": "Token valid. The plugin is authenticated for the duration of this session." if ok
            else "Token invalid or revoked."})

    def _on_ParameterCreationRequest(self, s: _Session, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        assert s.plugin is not None
        name = data.get("parameterName")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            return self._error(rid, 350, f"parameter name invalid: {name!r}")
        if name in DEFAULT_INPUTS:
            return self._error(rid, 354, f"{name} is a default parameter name")
        values = [data.get(k) for k in ("min", "max", "defaultValue")]
        if not all(isinstance(v, int | float) and abs(v) <= 1e6 for v in values):
            return self._error(rid, 351, "min/max/defaultValue invalid")
        if len(str(data.get("explanation", ""))) >= 256:
            return self._error(rid, 353, "explanation too long")
        owner = self.custom.get(name)
        if owner is not None and owner["plugin"] != s.plugin[0]:
            return self._error(rid, 352, f"{name} was created by another plugin")
        mine = sum(1 for p in self.custom.values() if p["plugin"] == s.plugin[0])
        if owner is None and mine >= 100:
            return self._error(rid, 355, "custom parameter limit per plugin exceeded")
        self.custom[name] = {"plugin": s.plugin[0], "min": values[0], "max": values[1], "default": values[2],
                             "explanation": data.get("explanation", "")}
        return self._reply(rid, "ParameterCreationResponse", {"parameterName": name})

    def _on_InjectParameterDataRequest(self, s: _Session, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        assert s.plugin is not None
        now = time.monotonic()
        mode = data.get("mode") or "set"
        if mode not in ("set", "add"):
            return self._error(rid, 455, f"mode {mode!r} unknown")
        items = data.get("parameterValues")
        if not isinstance(items, list) or not items:
            return self._error(rid, 450, "no data provided")
        values: dict[str, float] = {}
        weights: dict[str, float] = {}
        for item in items:
            pid, value, weight = item.get("id"), item.get("value"), item.get("weight", 1.0)
            if pid not in DEFAULT_INPUTS and pid not in self.custom:
                return self._error(rid, 453, f"parameter {pid!r} not found; you can't inject data directly for "
                                             "Live2D parameters, only for tracking parameters")
            if not isinstance(value, int | float) or isinstance(value, bool) or abs(value) > 1e6:
                return self._error(rid, 451, f"value for {pid} invalid: {value!r}")
            if not isinstance(weight, int | float) or not 0 <= weight <= 1:
                return self._error(rid, 452, f"weight for {pid} invalid: {weight!r}")
            if mode == "set" and pid in self.other_plugin_params:
                return self._error(rid, 454, f"parameter {pid} is currently controlled by another plugin")
            values[pid], weights[pid] = float(value), float(weight)
        for pid in values:
            last = self._last_set.get(pid)
            if last is not None and now - last > 1.0:
                self.lost.append((pid, now - last))
            self._last_set[pid] = now
        self.injections.append(Injection(now, s.plugin[0], bool(data.get("faceFound", False)), mode, values,
                                         weights))
        return self._reply(rid, "InjectParameterDataResponse", {})

    def _on_InputParameterListRequest(self, s: _Session, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._reply(rid, "InputParameterListResponse", {
            "modelLoaded": True, "modelName": "Fake", "modelID": "fake",
            "customParameters": [{"name": n, "addedBy": p["plugin"], "value": 0, "min": p["min"], "max": p["max"],
                                  "defaultValue": p["default"]} for n, p in self.custom.items()],
            "defaultParameters": [{"name": n, "addedBy": "VTube Studio", "value": 0, "min": lo, "max": hi,
                                   "defaultValue": 0} for n, (lo, hi) in DEFAULT_INPUTS.items()]})

    def _on_HotkeysInCurrentModelRequest(self, s: _Session, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._reply(rid, "HotkeysInCurrentModelResponse", {
            "modelLoaded": True, "modelName": "Fake", "modelID": "fake",
            "availableHotkeys": [{"name": n, "type": "ToggleExpression", "description": "", "file": f"{n}.exp3.json",
                                  "hotkeyID": i, "keyCombination": [], "onScreenButtonID": -1}
                                 for i, n in self.hotkeys.items()]})

    def _on_HotkeyTriggerRequest(self, s: _Session, rid: str, data: dict[str, Any]) -> dict[str, Any]:
        want = data.get("hotkeyID", "")
        for hid, name in self.hotkeys.items():
            if want == hid or (isinstance(want, str) and want.lower() == name.lower()):
                self.hotkeys_triggered.append(hid)
                return self._reply(rid, "HotkeyTriggerResponse", {"hotkeyID": hid})
        return self._error(rid, 202, f"hotkey {want!r} not found in model")

    # -- helpers for assertions ---------------------------------------------------------------------

    def max_gap(self, param: str, since: float = 0.0) -> float:
        """Longest time between two injects carrying ``param`` (after ``since``, monotonic)."""
        times = [i.t for i in self.injections if param in i.values and i.t >= since]
        return max((b - a for a, b in itertools.pairwise(times)), default=float("inf"))


def _is_128_png_or_jpg(b64: Any) -> bool:
    import base64
    import io

    from PIL import Image

    if not isinstance(b64, str):
        return False
    try:
        img = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
        return img.format in ("PNG", "JPEG") and img.size == (128, 128)
    except Exception:
        return False
