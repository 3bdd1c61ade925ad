"""The daemon's HTTP + WebSocket server (aiohttp, one port).

Routes:

- ``GET /`` renderer page (OBS browser source), ``GET /studio`` studio page, ``GET /static/NAME`` their ES
  modules and styles (a fixed list of files from ``avatar_plugin/web``; nothing else is reachable);
- ``GET /puppet/NAME``: ``puppet.json`` and the texture files it names, nothing else (no path traversal);
- ``GET /ws``: parameter frames at the tick rate (docs/ws-stream.md);
- ``GET /api`` (WebSocket) and ``POST /api/TYPE``: the control API (docs/control-api.md);
  ``GET /api/status``;
- ``GET /health``: JSON status.

Security: requests whose ``Host`` is not the daemon's own name are refused (DNS rebinding); WebSocket
upgrades and POSTs carrying an ``Origin`` that is not one of the daemon's own origins or
``[server] allowed_origins`` are refused with 403; POST bodies must be ``application/json`` (so a cross-site
form cannot post); a configured token is required on /ws, /api and /puppet (``?token=``, or
``Authorization: Bearer``); message, body and connection limits come from ``[server]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import json
import logging
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from avatar_plugin.errors import InputError, ProtocolError
from avatar_plugin.live import api
from avatar_plugin.live.interfaces import ApiSession, Mailbox
from avatar_plugin.puppet.io import PUPPET_FILE

if TYPE_CHECKING:
    from avatar_plugin.live.daemon import Daemon

__all__ = ["Server", "web_dir"]

log = logging.getLogger("avatar_plugin.live.server")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TYPES = {".js": "text/javascript", ".html": "text/html", ".css": "text/css", ".svg": "image/svg+xml",
          ".png": "image/png", ".json": "application/json"}


def web_dir() -> Path:
    return Path(str(resources.files("avatar_plugin.web")))


class Server:
    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        server = daemon.config["server"]
        self.max_clients: int = server["max_clients"]
        self.max_message: int = server["max_message_bytes"]
        self.max_binary: int = server["max_binary_bytes"]
        self.extra_origins = set(server["allowed_origins"])
        self.started = False
        self.sockets: set[web.WebSocketResponse] = set()
        self.static = {p.name: p for p in web_dir().iterdir()
                       if p.is_file() and p.suffix in _TYPES and _NAME.match(p.name)}
        self.puppet_files = {PUPPET_FILE, *(t.file for t in daemon.puppet.textures)}
        self.app = web.Application(client_max_size=max(self.max_message, self.max_binary) + 4096,
                                   middlewares=[self._guard])
        self.app.add_routes([
            web.get("/", self._page("index.html")),
            web.get("/studio", self._page("studio.html")),
            web.get("/static/{name}", self._static),
            web.get("/puppet/{name}", self._puppet),
            web.get("/ws", self._ws),
            web.get("/api", self._api_ws),
            web.get("/api/status", self._api_status),
            web.post("/api/{type}", self._api_post),
            web.get("/health", self._health),
            web.get("/favicon.ico", self._favicon),
        ])
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=0.25)

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.d.host, self.d.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self.runner.cleanup()
            busy = exc.errno == errno.EADDRINUSE
            raise InputError(
                f"[server] {self.d.host}:{self.d.port}: cannot listen ({exc.strerror}); "
                + ("another program (a second `avatar-plugin live`?) uses the port: stop it or pick another "
                   "with --port N (0 = any free port)" if busy else
                   "check [server] host (an address of this machine, e.g. 127.0.0.1) and port")) from None
        server = site._server
        if server is not None and server.sockets:  # type: ignore[attr-defined]
            self.d.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.started = True

    async def stop(self) -> None:
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY, message=b"daemon stopping"), 0.2)
        await self.runner.cleanup()

    # --- guards ---------------------------------------------------------------------------------------
    def own_origins(self) -> set[str]:
        port = self.d.port
        hosts = {"127.0.0.1", "localhost", "[::1]", self.d.host}
        return {f"http://{h}:{port}" for h in hosts} | self.extra_origins

    def _host_ok(self, request: web.Request) -> bool:
        host = request.host or ""
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.startswith("["):
            name = name.split("]")[0] + "]"
        allowed = {"127.0.0.1", "localhost", "[::1]", "::1", self.d.host}
        if self.d.host in ("0.0.0.0", "::", ""):
            return True  # bound everywhere: a token guards it
        return name in allowed or name.startswith("127.")

    def origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is None or origin in self.own_origins()

    def token_ok(self, request: web.Request) -> bool:
        if not self.d.token:
            return True
        given = request.query.get("token", "")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = auth[7:]
        return hmac.compare_digest(given.encode(), self.d.token.encode())

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not self._host_ok(request):
            return _error(403, f"Host {request.host!r} is not this daemon's name; open {self.d.base_url}")
        response: web.StreamResponse = await handler(request)
        return response

    def _refuse(self, request: web.Request, token: bool = True) -> web.Response | None:
        if not self.origin_ok(request):
            return _error(403, f"Origin {request.headers.get('Origin')!r} is not allowed; add it to "
                               "[server] allowed_origins if you trust it")
        if token and not self.token_ok(request):
            return _error(401, "missing or wrong token; pass ?token=... or 'Authorization: Bearer ...'")
        return None

    # --- pages and files ------------------------------------------------------------------------------
    def _page(self, name: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return self._file(self.static[name])
        return handler

    def _file(self, path: Path) -> web.Response:
        return web.Response(body=path.read_bytes(), content_type=_TYPES[path.suffix],
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        path = self.static.get(request.match_info["name"])
        if path is None:
            return _error(404, f"no static file {request.match_info['name']!r}")
        return self._file(path)

    async def _puppet(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        name = request.match_info["name"]
        if name not in self.puppet_files or not _NAME.match(name):
            return _error(404, f"{name!r} is not a file of this puppet")
        root = self.d.puppet_dir.resolve()
        path = (root / name).resolve()
        if path.parent != root or not path.is_file():
            return _error(404, f"{name!r} is not a file of this puppet")
        ctype = "application/json" if name.endswith(".json") else "image/png"
        return web.Response(body=path.read_bytes(), content_type=ctype,
                            headers={"Cache-Control": "no-cache", "ETag": self.d.puppet_etag})

    async def _favicon(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.d.health())

    async def _api_status(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        return web.json_response(api.ok_reply("status", **self.d.status()))

    # --- /ws ------------------------------------------------------------------------------------------
    def _too_many(self) -> web.Response | None:
        if len(self.sockets) >= self.max_clients:
            return _error(503, f"too many WebSocket clients ({self.max_clients}); raise [server] max_clients")
        return None

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request) or self._too_many()
        if refused is not None:
            return refused
        ws = web.WebSocketResponse(max_msg_size=4096, heartbeat=None)
        await ws.prepare(request)
        self.sockets.add(ws)
        mailbox: Mailbox[str] = Mailbox()
        hello = {"type": "hello", "version": 1, "puppet": self.d.puppet_etag, "tick_hz": self.d.tick_hz}
        sender = asyncio.get_running_loop().create_task(self._send_frames(ws, mailbox))
        try:
            await ws.send_str(json.dumps(hello))
            self.d.ws_clients.add(mailbox)
            async for _msg in ws:
                pass  # the stream is one-way; client messages are ignored
        finally:
            self.d.ws_clients.discard(mailbox)
            self.sockets.discard(ws)
            sender.cancel()
        return ws

    async def _send_frames(self, ws: web.WebSocketResponse, mailbox: Mailbox[str]) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not ws.closed:
                await ws.send_str(await mailbox.get())

    # --- /api -----------------------------------------------------------------------------------------
    async def _api_ws(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request) or self._too_many()
        if refused is not None:
            return refused
        ws = web.WebSocketResponse(max_msg_size=max(self.max_message, self.max_binary) + 1024, heartbeat=None)
        await ws.prepare(request)
        self.sockets.add(ws)

        async def send(payload: dict[str, Any]) -> None:
            await ws.send_str(json.dumps(payload))

        session = ApiSession(peer=str(request.remote), can_send_events=True, send=send)
        self.d.api_sessions.add(session)
        try:
            async for msg in ws:
                reply: dict[str, Any] | None
                if msg.type is WSMsgType.TEXT:
                    reply = await self.handle_text(msg.data, session)
                elif msg.type is WSMsgType.BINARY:
                    reply = await self.handle_binary(msg.data, session)
                else:
                    break
                if reply is not None and not ws.closed:
                    await ws.send_str(json.dumps(reply))
        finally:
            session.closed = True
            self.d.api_sessions.discard(session)
            self.sockets.discard(ws)
        return ws

    async def handle_binary(self, data: bytes, session: ApiSession) -> dict[str, Any] | None:
        if len(data) > self.max_binary:
            return api.error_reply(f"binary frame of {len(data)} bytes is over the limit of {self.max_binary}")
        handler = session.binary_handler or self.d.binary_handler
        if handler is None:
            return api.error_reply("binary frame received, but nothing expects audio now; "
                                   "send a speech_start message first")
        try:
            await handler(data, session)
        except (ProtocolError, InputError) as exc:
            return api.error_reply(str(exc))
        except Exception as exc:
            log.exception("live: binary handler failed")
            return api.error_reply(f"internal error while handling a binary frame: {type(exc).__name__}: {exc}")
        return None

    async def handle_text(self, text: str | bytes, session: ApiSession,
                          forced_type: str | None = None) -> dict[str, Any]:
        rid: str | int | None = None
        type_: str | None = forced_type
        try:
            obj = api.decode_json(text, self.max_message)
            rid = api.request_id(obj)
            if forced_type is not None:
                if obj.get("type", forced_type) != forced_type:
                    raise ProtocolError(f"body type {obj.get('type')!r} does not match the URL /api/{forced_type}")
                obj["type"] = forced_type
            return await self.dispatch(obj, session, rid)
        except (ProtocolError, InputError) as exc:
            error = str(exc)
        except Exception as exc:  # a plug-in parser's bug must not close the connection
            log.exception("live: /api message failed")
            error = f"internal error: {type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            type_ = type_ or json.loads(text).get("type")
        return api.error_reply(error, type_ if isinstance(type_, str) else None, rid)

    async def dispatch(self, obj: dict[str, Any], session: ApiSession,
                       rid: str | int | None) -> dict[str, Any]:
        type_ = obj.get("type")
        known = sorted([*api.BUILTIN_TYPES, *self.d.api_specs])
        if not isinstance(type_, str):
            raise ProtocolError(f"message has no \"type\" string; known types: {', '.join(known)}")
        if type_ in api.BUILTIN_TYPES:
            return self._builtin(api.parse_builtin(obj), rid)
        spec = self.d.api_specs.get(type_)
        if spec is None:
            raise ProtocolError(f"unknown message type {type_!r}; known types: {', '.join(known)}")
        message = spec.parse(obj)
        try:
            extra = await spec.handle(message, session)
        except (ProtocolError, InputError):
            raise
        except Exception as exc:
            log.exception("live: /api handler for %s failed", type_)
            return api.error_reply(f"internal error in {type_}: {type(exc).__name__}: {exc}", type_, rid)
        return api.ok_reply(type_, rid, **dict(extra or {}))

    def _builtin(self, msg: Any, rid: str | int | None) -> dict[str, Any]:
        d = self.d
        t = d.clock()
        if isinstance(msg, api.SetMessage):
            unknown = sorted(p for p in msg.params if p not in d.engine.axes)
            d.engine.set_params(msg.params, t, msg.hold)
            d.tick_now()
            return api.ok_reply("set", rid, **({"ignored": unknown} if unknown else {}))
        if isinstance(msg, api.ClearMessage):
            d.engine.clear(t, list(msg.params) if msg.params is not None else None)
            d.tick_now()
            return api.ok_reply("clear", rid)
        if isinstance(msg, api.ExpressionMessage):
            if msg.name not in d.engine.expressions.presets:
                raise ProtocolError(f"expression {msg.name!r} is unknown; known: "
                                    f"{', '.join(d.engine.expressions.names())} (add more as [expressions.NAME])")
            fade = d.default_fade if msg.fade is None else msg.fade
            d.engine.expressions.trigger(msg.name, t, fade, msg.duration)
            d.tick_now()
            return api.ok_reply("expression", rid, name=msg.name)
        return api.ok_reply("status", rid, **d.status())

    async def _api_post(self, request: web.Request) -> web.StreamResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        type_ = request.match_info["type"]
        spec = self.d.api_specs.get(type_)
        if type_ not in api.BUILTIN_TYPES and (spec is None or not spec.http):
            known = sorted([*api.BUILTIN_TYPES, *(k for k, s in self.d.api_specs.items() if s.http)])
            return web.json_response(api.error_reply(f"unknown message type {type_!r}; known types: "
                                                     f"{', '.join(known)}", type_), status=404)
        session = ApiSession(peer=str(request.remote), can_send_events=False)
        ctype = request.content_type
        if ctype != "application/json":
            if spec is None or spec.parse_body is None:
                return web.json_response(api.error_reply(
                    f"Content-Type {ctype!r}: expected application/json", type_), status=415)
            body = await request.read()
            if len(body) > self.max_binary:
                return web.json_response(api.error_reply(f"body of {len(body)} bytes is over {self.max_binary}",
                                                         type_), status=413)
            try:
                message = spec.parse_body(body, ctype, request.query_string)
                extra = await spec.handle(message, session)
            except (ProtocolError, InputError) as exc:
                return web.json_response(api.error_reply(str(exc), type_), status=400)
            return web.json_response(api.ok_reply(type_, None, **dict(extra or {})))
        body = await request.read()
        reply = await self.handle_text(body or b"{}", session, forced_type=type_)
        return web.json_response(reply, status=200 if reply["ok"] else 400)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)
