"""VTube Studio sink: drives the user's own Live2D model in VTube Studio (VTS) as a plugin.

A thin asyncio shell around the Sans-I/O client :class:`~avatar_plugin.live.vts_protocol.VTSClient`:
it opens the WebSocket (``ws://host:port``, default ``localhost:8001``; optional UDP discovery on 47779),
authenticates (token requested once, the user clicks *Allow*; stored in the user's config folder with
user-only permissions; a revoked token is requested again), creates our custom inputs (``AP...``), then sends
``InjectParameterDataRequest`` at ``rate_hz`` (default 30, up to 60) from the daemon's newest
:class:`~avatar_plugin.live.interfaces.AvatarParams`, changed values every tick and every value at least every
0.5 s (VTS drops an input not re-sent within 1 s). It never raises for VTS trouble: VTS not running, closing,
the API switched off, *Deny*, a revoked token, another plugin owning an input -- each becomes a status line
(``/health``, ``/studio``) that says what the user should do, and the sink reconnects with a short backoff
(capped at ``reconnect_max_s``, 1 s by default, so it is back within ~1 s after VTS returns).

Config: the ``[vtube_studio]`` section (:data:`VTS_SECTION`); the mapping is documented in
:mod:`avatar_plugin.live.vts_mapping` and ``docs/vtube-studio.md``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import io
import json
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avatar_plugin.errors import ConfigError, ProtocolError
from avatar_plugin.live.interfaces import (
    ApiMessageSpec,
    ApiSession,
    AvatarParams,
    ConfigKey,
    ConfigSection,
    LiveRegistry,
    SectionConfig,
    SetupContext,
    Sink,
    SinkContext,
)
from avatar_plugin.live.vts_mapping import VTSMapping, build_mapping
from avatar_plugin.live.vts_protocol import (
    APIStateReply,
    Authenticated,
    AuthenticationRejected,
    ConnState,
    DiscoveredVTS,
    ErrorID,
    HotkeyList,
    InjectionScheduler,
    ParameterCreated,
    PluginInfo,
    Reply,
    RequestFailed,
    RequestTimedOut,
    StateChanged,
    TokenDenied,
    TokenGranted,
    VTSClient,
    VTSEvent,
    parse_discovery,
)

__all__ = [
    "DISCOVERY_PORT",
    "VTS_SECTION",
    "TokenStore",
    "VTSOptions",
    "VTSSink",
    "VTSStats",
    "default_token_path",
    "discover_vts",
    "icon_from_image",
    "icon_from_puppet",
    "register_live",
]

log = logging.getLogger(__name__)

DISCOVERY_PORT = 47779
APP_NAME = "avatar-plugin"

VTS_SECTION = ConfigSection(
    "vtube_studio",
    "VTube Studio plugin: drive your own Live2D model in VTube Studio (see docs/vtube-studio.md).\n"
    "Turn on 'Allow Plugin API access' in VTS's settings; click Allow when VTS asks the first time.",
    (
        ConfigKey("enabled", bool, False, "send our parameters to VTube Studio"),
        ConfigKey("host", str, "localhost", "VTS API host (the PC running VTube Studio)"),
        ConfigKey("port", int, 8001, "VTS API port (VTS settings, next to 'Allow Plugin API access')",
                  min=1, max=65535),
        ConfigKey("discover", bool, False, "find VTS by its UDP broadcast (port 47779) instead of host/port"),
        ConfigKey("rate_hz", float, 30.0, "InjectParameterDataRequest rate", min=1.0, max=60.0),
        ConfigKey("token_file", str, "", "where the VTS token is kept; empty = the user's config folder"),
        ConfigKey("mode", str, "set", "'set' overrides VTS tracking, 'add' adds to it", choices=("set", "add")),
        ConfigKey("weight", float, 1.0, "default weight 0..1 of our values against VTS tracking (set mode)",
                  min=0.0, max=1.0),
        ConfigKey("mirror", bool, False, "swap left/right inputs and negate horizontal ones"),
        ConfigKey("face_found", str, "auto",
                  "tell VTS a face is found: auto = while tracking sees a face or TTS speaks; always",
                  choices=("auto", "always")),
        ConfigKey("plugin_name", str, APP_NAME, "plugin name shown in VTS (3..32 characters)"),
        ConfigKey("plugin_developer", str, "avatar-plugin developers",
                  "developer name shown in VTS (3..32 characters)"),
        ConfigKey("icon", str, "", "128x128 plugin icon source PNG; empty = made from the avatar preview"),
        ConfigKey("reconnect_max_s", float, 1.0, "longest wait between reconnect attempts",
                  min=0.1, max=60.0),
        ConfigKey("mapping", dict, {}, "per VTS input: our parameter(s) and ranges (docs/vtube-studio.md)"),
        ConfigKey("weights", dict, {}, "per VTS input weight 0..1 (set mode)"),
        ConfigKey("hotkeys", dict, {}, "expression name -> VTS hotkey name or id (for /api vts_hotkey)"),
    ),
)


# ---------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class VTSOptions:
    host: str = "localhost"
    port: int = 8001
    discover: bool = False
    rate_hz: float = 30.0
    token_file: Path | None = None
    mode: str = "set"
    face_found: str = "auto"
    plugin_name: str = APP_NAME
    plugin_developer: str = "avatar-plugin developers"
    mapping: VTSMapping = field(default_factory=build_mapping)
    hotkeys: Mapping[str, str] = field(default_factory=dict)
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 1.0
    denied_retry_s: float = 30.0
    keepalive_s: float = 0.5
    discovery_port: int = DISCOVERY_PORT
    always_full: bool = False  # send every input every tick (the benchmark's baseline; no change planning)

    def __post_init__(self) -> None:
        if not 1.0 <= self.rate_hz <= 60.0:
            raise ConfigError(f"[vtube_studio] rate_hz = {self.rate_hz}: expected 1..60 (VTS takes up to 60 Hz)")
        if self.mode not in ("set", "add"):
            raise ConfigError(f"[vtube_studio] mode = {self.mode!r}: expected 'set' or 'add'")

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @classmethod
    def from_config(cls, cfg: SectionConfig) -> VTSOptions:
        mapping = build_mapping(cfg["mapping"], cfg["weights"], default_weight=cfg["weight"],
                                mirror=cfg["mirror"])
        hotkeys = dict(cfg["hotkeys"])
        for k, v in hotkeys.items():
            if not isinstance(v, str) or not v:
                raise ConfigError(f"[vtube_studio.hotkeys] {k} = {v!r}: expected a VTS hotkey name or id")
        for what in ("plugin_name", "plugin_developer"):
            if not 3 <= len(cfg[what]) <= 32:
                raise ConfigError(f"[vtube_studio] {what} = {cfg[what]!r}: VTS needs 3..32 characters")
        return cls(host=cfg["host"], port=cfg["port"], discover=cfg["discover"], rate_hz=cfg["rate_hz"],
                   token_file=_token_path(cfg["token_file"]), mode=cfg["mode"], face_found=cfg["face_found"],
                   plugin_name=cfg["plugin_name"], plugin_developer=cfg["plugin_developer"], mapping=mapping,
                   hotkeys=hotkeys, reconnect_max_s=cfg["reconnect_max_s"])


def default_token_path() -> Path:
    """``<user config folder>/avatar-plugin/vtube_studio_token.json`` (platformdirs; never the cwd)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "vtube_studio_token.json"


def _token_path(value: str) -> Path:
    if not value:
        return default_token_path()
    p = Path(value).expanduser()
    return p if p.is_absolute() else default_token_path().parent / p


# ---------------------------------------------------------------------------------------------- token


class TokenStore:
    """The VTS token on disk: JSON ``{"plugin_name", "plugin_developer", "token"}``, user-only permissions
    (0600 on POSIX; on Windows the user's config folder is already private). A token saved for another
    plugin name/developer is ignored (VTS would refuse it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, plugin: PluginInfo) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("VTS token file %s unreadable (%s); a new token will be requested", self.path, exc)
            return None
        if not isinstance(data, dict) or (data.get("plugin_name"), data.get("plugin_developer")) != (
                plugin.name, plugin.developer):
            return None
        token = data.get("token")
        return token if isinstance(token, str) and 0 < len(token) <= 64 else None

    def save(self, plugin: PluginInfo, token: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.path.parent, 0o700) if self.path.parent.name == APP_NAME else None
        text = json.dumps({"plugin_name": plugin.name, "plugin_developer": plugin.developer, "token": token})
        fd, tmp = tempfile.mkstemp(prefix=".vts_token", dir=self.path.parent)  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            if sys.platform != "win32":
                os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


# ---------------------------------------------------------------------------------------------- icon


def icon_from_image(image: Any, face_box: tuple[float, float, float, float] | None = None) -> str:
    """A base64 PNG of exactly 128x128 (VTS rule) from a PIL image: a square around ``face_box`` (x, y, w, h)
    grown 1.6x, else the top square of a portrait (heads sit in the top half), else the centre square."""
    from PIL import Image

    img = image.convert("RGBA")
    w, h = img.size
    if face_box is not None:
        x, y, bw, bh = face_box
        side = max(bw, bh) * 1.6
        cx, cy = x + bw / 2, y + bh / 2
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    elif h > w:
        box = (0, 0, w, w)
    else:
        box = ((w - h) / 2, 0, (w + h) / 2, h)
    square = Image.new("RGBA", (max(1, round(box[2] - box[0])), max(1, round(box[3] - box[1]))), (0, 0, 0, 0))
    crop = img.crop((round(box[0]), round(box[1]), round(box[2]), round(box[3])))
    square.paste(crop, (0, 0))
    square = square.resize((128, 128), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    square.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def icon_from_puppet(puppet_dir: str | Path) -> str | None:
    """The plugin icon from the avatar: ``preview.png`` in the puppet folder if present, else a render of the
    puppet at its defaults, cropped around its face. None (no icon) when neither works."""
    from PIL import Image

    folder = Path(puppet_dir)
    try:
        from avatar_plugin.puppet.io import read_puppet

        puppet = read_puppet(folder)
        lm = puppet.meta.landmarks
        face = lm.face_box if lm is not None else None
    except Exception as exc:  # no puppet is fine: the icon is optional
        log.debug("no puppet for the VTS icon in %s: %s", folder, exc)
        puppet, face = None, None
    preview = folder / "preview.png"
    try:
        if preview.is_file():
            return icon_from_image(Image.open(preview), face)
        if puppet is not None:
            from avatar_plugin.puppet.raster import render

            return icon_from_image(Image.fromarray(render(puppet)), face)
    except Exception as exc:
        log.warning("could not make the VTS plugin icon from %s: %s", folder, exc)
    return None


# ---------------------------------------------------------------------------------------------- discovery


class _DiscoveryProtocol(asyncio.DatagramProtocol):
    def __init__(self, found: asyncio.Future[tuple[DiscoveredVTS, str]]) -> None:
        self.found = found

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            info = parse_discovery(data)
        except ProtocolError:
            return
        if not self.found.done():
            self.found.set_result((info, str(addr[0])))


async def discover_vts(timeout: float = 2.5, port: int = DISCOVERY_PORT) -> tuple[DiscoveredVTS, str] | None:
    """Listen for VTS's UDP broadcast (every 2 s, even with the API off). Returns (info, sender host) or None.
    Several programs may listen at once (SO_REUSEADDR / SO_REUSEPORT)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("", port))
    found: asyncio.Future[tuple[DiscoveredVTS, str]] = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(lambda: _DiscoveryProtocol(found), sock=sock)
    try:
        return await asyncio.wait_for(found, timeout)
    except TimeoutError:
        return None
    finally:
        transport.close()


# ---------------------------------------------------------------------------------------------- sink


@dataclass
class VTSStats:
    """Counters for tests, /health and the benchmark. ``send_s``: seconds per inject send (recent ones)."""

    connects: int = 0
    injects: int = 0
    values_sent: int = 0
    errors: collections.Counter[int] = field(default_factory=collections.Counter)
    send_s: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=10_000))
    last_vts_version: str = ""


class _Reconnect(Exception):
    """Close this connection and start over after ``delay`` seconds."""

    def __init__(self, delay: float | None = None) -> None:
        self.delay = delay


class VTSSink(Sink):
    """The VTube Studio sink (see the module docstring). ``status`` is the current human-readable line."""

    kind = "vtube_studio"

    def __init__(self, options: VTSOptions | None = None, *, icon_b64: str | None = None,
                 name: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name)
        self.options = options or VTSOptions()
        self.plugin = PluginInfo(self.options.plugin_name, self.options.plugin_developer, icon_b64)
        self.store = TokenStore(self.options.token_file or default_token_path())
        self.client = VTSClient(self.plugin, token=self.store.load(self.plugin))
        self.stats = VTSStats()
        self.status = "not started"
        self.connected = False
        self._clock = clock
        self._set_status: Callable[[str], None] = lambda detail: None
        self._ws: Any = None
        self._authenticated = asyncio.Event()
        self._created: dict[str, asyncio.Future[bool]] = {}
        self._problem: str | None = None  # a problem to show while injecting (cleared 2 s after the last)
        self._problem_t = 0.0
        self._creating: dict[str, str] = {}  # request id -> custom input name
        self._session_ok = False
        self._creation_problem = ""  # lasts for the session: shown beside the connected status
        self._recreate = False
        self._hotkey_waiters: dict[str, asyncio.Future[str]] = {}

    # -- status -------------------------------------------------------------------------------------

    def _status(self, text: str) -> None:
        if text != self.status:
            log.info("VTube Studio: %s", text)
        self.status = text
        self._set_status(text)

    # -- main loop ----------------------------------------------------------------------------------

    async def run(self, ctx: SinkContext) -> None:
        self._set_status = ctx.set_status
        await self.run_with(lambda: ctx.params.peek())

    async def run_with(self, latest: Callable[[], AvatarParams | None]) -> None:
        """Run forever, taking the newest frame from ``latest()`` at each tick (tests and benchmarks)."""
        failures = 0
        while True:
            delay: float
            try:
                await self._session(latest)
                delay = self.options.reconnect_min_s
            except _Reconnect as exc:
                delay = exc.delay if exc.delay is not None else self._backoff(failures)
            except (OSError, TimeoutError) as exc:
                where = self.options.url
                self._status(
                    f"VTube Studio not reachable at {where} ({_why(exc)}). Start VTube Studio and turn on "
                    "'Allow Plugin API access' (settings, gear icon) with the port shown there "
                    f"= [vtube_studio] port; retrying every {self.options.reconnect_max_s:g} s")
                delay = self._backoff(failures)
            except Exception as exc:  # websockets' own errors, a VTS that speaks nonsense
                from websockets.exceptions import WebSocketException

                if not isinstance(exc, WebSocketException | ProtocolError):
                    raise
                self._status(f"VTube Studio connection failed: {_why(exc)}; reconnecting")
                delay = self._backoff(failures)
            finally:
                self.connected = False
                self.client.connection_lost()
                self._authenticated.clear()
                futures: list[asyncio.Future[Any]] = [*self._created.values(), *self._hotkey_waiters.values()]
                for pending in futures:
                    if not pending.done():
                        pending.cancel()
                self._created.clear()
                self._creating.clear()
                self._hotkey_waiters.clear()
            failures = 0 if self._session_ok else failures + 1
            self._session_ok = False
            await asyncio.sleep(delay)

    def _backoff(self, failures: int) -> float:
        return min(self.options.reconnect_min_s * (2 ** failures), self.options.reconnect_max_s)

    async def _resolve(self) -> str:
        if not self.options.discover:
            return self.options.url
        found = await discover_vts(2.5, self.options.discovery_port)
        if found is None:
            self._status("looking for VTube Studio on the network (UDP 47779): nothing heard yet; is VTS "
                         f"running on this network? Falling back to {self.options.url}")
            return self.options.url
        info, host = found
        if not info.active:
            self._status(f"found VTube Studio '{info.window_title}' at {host}, but its plugin API is off: "
                         "turn on 'Allow Plugin API access' in VTS's settings")
            raise _Reconnect(self.options.reconnect_max_s)
        return f"ws://{host}:{info.port}"

    async def _session(self, latest: Callable[[], AvatarParams | None]) -> None:
        from websockets.asyncio.client import connect

        url = await self._resolve()
        if self.stats.connects == 0 or self.status.startswith("not started"):
            self._status(f"connecting to VTube Studio at {url}")
        async with connect(url, open_timeout=3, close_timeout=1, max_size=2**24,
                           compression=None) as ws:
            self._ws = ws
            self.stats.connects += 1
            self.connected = True
            self._problem = None
            self.client.connection_made(self._clock())
            await self._flush()
            if self.client.state is ConnState.REQUESTING_TOKEN:
                self._status_waiting_for_allow()
            reader = asyncio.create_task(self._read(ws), name="vts-read")
            writer = asyncio.create_task(self._write(latest), name="vts-write")
            try:
                done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # re-raises _Reconnect / errors
                raise _Reconnect()
            except asyncio.CancelledError:  # daemon shutdown: say goodbye properly (1000, not 1011)
                reader.cancel()
                writer.cancel()
                with contextlib.suppress(Exception):
                    await asyncio.shield(ws.close())
                raise
            finally:
                for task in (reader, writer):
                    task.cancel()
                for task in (reader, writer):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                self._ws = None

    def _status_waiting_for_allow(self) -> None:
        self._status(f"waiting for you to click 'Allow' in VTube Studio's popup for plugin "
                     f"'{self.plugin.name}' by '{self.plugin.developer}'")

    async def _flush(self) -> None:
        ws = self._ws
        for text in self.client.data_to_send():
            if ws is None:
                return
            await ws.send(text)

    async def _read(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for text in ws:
                events = self.client.receive_text(text, self._clock())
                for ev in events:
                    self._on_event(ev)
                await self._flush()
        except ConnectionClosed:
            pass
        self._status(f"VTube Studio closed the connection at {self.options.url}; reconnecting")
        raise _Reconnect()

    def _on_event(self, ev: VTSEvent) -> None:
        o = self.options
        if isinstance(ev, TokenGranted):
            self.store.save(self.plugin, ev.token)
            self._status(f"VTube Studio allowed the plugin; token saved to {self.store.path}")
        elif isinstance(ev, Authenticated):
            self._authenticated.set()
        elif isinstance(ev, StateChanged):
            if ev.new is not ConnState.AUTHENTICATED:
                self._authenticated.clear()  # e.g. access revoked: the writer waits for the new token
            if ev.old is ConnState.AUTHENTICATED:
                self._recreate = True  # a revocation deleted our custom inputs
            if ev.new is ConnState.REQUESTING_TOKEN:
                self._status_waiting_for_allow()
        elif isinstance(ev, AuthenticationRejected):
            self.store.clear()
            if ev.token_requested_again:
                self._status(f"VTube Studio refused the saved token ({ev.reason}); it was revoked or VTS's "
                             "config was reset. A new request is open: click 'Allow' in VTube Studio")
            else:
                raise _Reconnect(o.reconnect_min_s)
        elif isinstance(ev, TokenDenied):
            if ev.error_id == ErrorID.TOKEN_REQUEST_DENIED:
                self._status(f"VTube Studio denied access (you clicked 'Deny'). To allow it: restart the daemon "
                             f"or wait {o.denied_retry_s:g} s for a new popup and click 'Allow'")
            else:
                self._status(f"VTube Studio rejected the token request (error {ev.error_id}: {ev.message})")
            raise _Reconnect(o.denied_retry_s)
        elif isinstance(ev, RequestFailed):
            self._on_failure(ev)
        elif isinstance(ev, ParameterCreated):
            fut = self._created.get(ev.name)
            if fut is not None and not fut.done():
                fut.set_result(True)
        elif isinstance(ev, APIStateReply):
            self.stats.last_vts_version = ev.version
        elif isinstance(ev, HotkeyList):
            pass
        elif isinstance(ev, RequestTimedOut):
            log.debug("VTS did not answer %s %s", ev.request_type, ev.request_id)
        elif isinstance(ev, Reply) and ev.request_type == "HotkeyTriggerRequest":
            fut2 = self._hotkey_waiters.pop(ev.request_id, None)
            if fut2 is not None and not fut2.done():
                fut2.set_result(str(ev.data.get("hotkeyID", "")))

    def _on_failure(self, ev: RequestFailed) -> None:
        o = self.options
        self.stats.errors[ev.error_id] += 1
        eid = ev.error_id
        if eid == ErrorID.API_ACCESS_DEACTIVATED:
            self._status("VTube Studio's plugin API is switched off: in VTS open the settings (gear icon) and "
                         "turn on 'Allow Plugin API access'; retrying")
            raise _Reconnect(o.reconnect_max_s)
        if eid == ErrorID.TOKEN_REQUEST_DENIED:
            return  # access revoked: the client asks for a new token (AuthenticationRejected clears the store)
        if ev.request_type == "HotkeyTriggerRequest":
            fut = self._hotkey_waiters.pop(ev.request_id, None)
            if fut is not None and not fut.done():
                fut.set_exception(ProtocolError(f"VTS hotkey: error {eid}: {ev.message}"))
            return
        if ev.request_type == "ParameterCreationRequest":
            text = {
                ErrorID.CUSTOM_PARAM_ALREADY_CREATED_BY_OTHER_PLUGIN:
                    "another plugin already created this custom input; rename it in [vtube_studio.mapping]",
                ErrorID.CUSTOM_PARAM_LIMIT_PER_PLUGIN_EXCEEDED: "VTS allows 100 custom inputs per plugin",
                ErrorID.CUSTOM_PARAM_LIMIT_TOTAL_EXCEEDED:
                    "VTS allows 300 custom inputs in total; delete unused ones in VTS",
            }.get(eid, ev.message)  # type: ignore[call-overload]
            name = self._creating.pop(ev.request_id, "?")
            self._creation_problem = f"VTube Studio could not create the custom input {name} (error {eid}): {text}"
            self._set_problem(self._creation_problem)
            created = self._created.get(name)
            if created is not None and not created.done():
                created.set_result(False)
            return
        if ev.request_type == "InjectParameterDataRequest":
            if eid == ErrorID.INJECT_DATA_PARAM_CONTROLLED_BY_OTHER_PLUGIN:
                self._set_problem(
                    f"another VTS plugin already sets one of our inputs ({ev.message}). Close that plugin, "
                    "remove the input from [vtube_studio.mapping] (set it to false), or set "
                    "[vtube_studio] mode = \"add\"")
            elif eid == ErrorID.INJECT_DATA_PARAM_NAME_NOT_FOUND:
                self._set_problem(f"VTube Studio does not know one of our inputs ({ev.message}); recreating "
                                  "our custom inputs. If it stays, fix that name in [vtube_studio.mapping]")
                self._recreate = True
            else:
                self._set_problem(f"VTube Studio rejected our parameter data (error {eid}: {ev.message})")
            return
        if eid == ErrorID.REQUEST_REQUIRES_AUTHENTICATION:
            raise _Reconnect(o.reconnect_min_s)
        log.warning("VTube Studio: %s failed with error %s: %s", ev.request_type, eid, ev.message)

    def _set_problem(self, text: str) -> None:
        self._problem = text
        self._problem_t = self._clock()
        self._status(text)

    async def _create_parameters(self) -> None:
        params = self.options.mapping.custom_parameters()
        self._creation_problem = ""
        if not params:
            return
        loop = asyncio.get_running_loop()
        self._created = {p.name: loop.create_future() for p in params}
        for p in params:
            self._creating[self.client.create_parameter(p, now=self._clock())] = p.name
        await self._flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._created.values(), return_exceptions=True), 5.0)

    async def _write(self, latest: Callable[[], AvatarParams | None]) -> None:
        o = self.options
        await self._authenticated.wait()
        self.client.request_api_state(now=self._clock())
        await self._flush()
        await self._create_parameters()
        scheduler = InjectionScheduler(keepalive_s=o.keepalive_s)
        period = 1.0 / o.rate_hz
        n_inputs = len(o.mapping.entries)
        self._status(f"connected to VTube Studio at {o.url}: sending {n_inputs} inputs at {o.rate_hz:g} Hz "
                     f"(mode {o.mode})")
        ok_status = self.status
        if self._creation_problem:
            self._status(f"{self.status}; but {self._creation_problem}")
        self._session_ok = True
        next_t = self._clock()
        last_expire = next_t
        while True:
            if not self._authenticated.is_set():  # revoked and re-requested: wait, then recreate our inputs
                await self._authenticated.wait()
                self._recreate = True
                next_t = self._clock()
            now = self._clock()
            if self._recreate:
                self._recreate = False
                await self._create_parameters()
                scheduler.reset()
                if self._problem is None:
                    self._status(f"{ok_status}; but {self._creation_problem}" if self._creation_problem
                                 else ok_status)
            frame = latest()
            if frame is not None:
                values = o.mapping.values(frame.values)
                due = values if o.always_full else scheduler.due(values, now)
                if due:
                    face = True if o.face_found == "always" else bool(frame.face_found or frame.speaking)
                    self.client.inject(due, face_found=face, mode=o.mode, now=now)
                    t0 = time.perf_counter()
                    await self._flush()
                    self.stats.send_s.append(time.perf_counter() - t0)
                    self.stats.injects += 1
                    self.stats.values_sent += len(due)
            if now - last_expire > 1.0:
                last_expire = now
                self.client.expire(now, timeout=5.0)
                if self._problem is not None and now - self._problem_t > 2.0:
                    self._problem = None
                    self._status(ok_status)
            next_t += period
            delay = next_t - self._clock()
            if delay < -period:  # fell behind (slow VTS / loop): skip ticks, never queue
                next_t = self._clock()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    # -- hotkeys ------------------------------------------------------------------------------------

    async def trigger_hotkey(self, name: str, timeout: float = 2.0) -> str:
        """Trigger a VTS hotkey by expression name (``[vtube_studio.hotkeys]``) or by VTS hotkey name/id.
        Returns the hotkey id VTS ran. Raises ProtocolError when not connected or VTS refuses."""
        if self.client.state is not ConnState.AUTHENTICATED or self._ws is None:
            raise ProtocolError(f"VTS hotkey {name!r}: not connected to VTube Studio ({self.status})")
        hotkey = self.options.hotkeys.get(name, name)
        rid = self.client.trigger_hotkey(hotkey, now=self._clock())
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._hotkey_waiters[rid] = fut
        await self._flush()
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise ProtocolError(f"VTS hotkey {hotkey!r}: no answer from VTube Studio in {timeout:g} s") from None


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return text.splitlines()[0][:160]


# ---------------------------------------------------------------------------------------------- plug-in


@dataclass(frozen=True)
class VTSHotkeyMessage:
    """``{"type": "vts_hotkey", "hotkey": "<expression name or VTS hotkey name/id>"}``"""

    hotkey: str

    @staticmethod
    def parse(obj: Mapping[str, Any]) -> VTSHotkeyMessage:
        hotkey = obj.get("hotkey")
        if not isinstance(hotkey, str) or not hotkey:
            raise ProtocolError(f"vts_hotkey: 'hotkey' must be a non-empty string, got {hotkey!r}")
        return VTSHotkeyMessage(hotkey)

    def serialize(self) -> dict[str, Any]:
        return {"type": "vts_hotkey", "hotkey": self.hotkey}


def _setup(cfg: SectionConfig, ctx: SetupContext) -> None:
    if not cfg["enabled"]:
        return
    options = VTSOptions.from_config(cfg)
    icon: str | None = None
    if cfg["icon"]:
        from PIL import Image

        try:
            icon = icon_from_image(Image.open(Path(cfg["icon"]).expanduser()))
        except OSError as exc:
            raise ConfigError(f"[vtube_studio] icon = {cfg['icon']!r}: cannot read the image ({exc}); "
                              "give a PNG/JPG path or leave it empty") from None
    else:
        icon = icon_from_puppet(ctx.puppet_dir)
    sink = VTSSink(options, icon_b64=icon)
    ctx.add_sink(sink)

    async def handle(msg: VTSHotkeyMessage, session: ApiSession) -> Mapping[str, Any]:
        return {"hotkeyID": await sink.trigger_hotkey(msg.hotkey)}

    ctx.add_api_message(ApiMessageSpec("vts_hotkey", VTSHotkeyMessage.parse, handle,
                                       doc="trigger a VTube Studio hotkey by expression name or VTS name/id"))


def register_live(registry: LiveRegistry) -> None:
    registry.add_section(VTS_SECTION, _setup)
