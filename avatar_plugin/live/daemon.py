"""The live daemon: one asyncio process running sources -> engine -> sinks at a fixed tick, plus the server.

``Daemon(puppet_dir, config)``; ``await daemon.start()`` loads the puppet, runs every config section's setup
(plug-in sources, sinks and /api message types), starts the HTTP/WebSocket server
(:mod:`avatar_plugin.live.server`) and the tick; ``await daemon.stop()`` stops everything (well under 1 s).
``run_daemon(...)`` is the blocking entry point with SIGINT/SIGTERM handling (KeyboardInterrupt on Windows,
where asyncio has no ``add_signal_handler``).

Supervision: each source and sink runs in its own task. When ``run`` raises, the failure is logged and shown
in the status, and ``run`` is started again after a backoff of 0.5 s doubling to 30 s (reset once it ran for
10 s). A component whose ``run`` returns is ``stopped``. Nothing a component does can stop the tick or the
other components; a sink that cannot keep up skips frames (one-slot mailbox) and its status says so.

The tick is a ``loop.call_at`` callback (no task per tick): it takes every source's newest update, steps the
:class:`~avatar_plugin.live.engine.Engine`, and puts the :class:`AvatarParams` into every sink's mailbox and
every ``/ws`` client's mailbox. An ``/api`` ``set`` runs a tick at once (at most one early tick per 4 ms),
so control latency does not wait for the next tick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatar_plugin.errors import ConfigError
from avatar_plugin.live.config import LiveConfig, default_registry
from avatar_plugin.live.engine import Engine, EngineOptions, SourceSlot
from avatar_plugin.live.idle import IdleOptions
from avatar_plugin.live.interfaces import (
    ApiMessage,
    ApiMessageSpec,
    AvatarParams,
    BinaryHandler,
    ComponentStatus,
    LiveRegistry,
    Mailbox,
    SectionConfig,
    Sink,
    SinkContext,
    Source,
    SourceContext,
    SourceUpdate,
    monotonic_clock,
)
from avatar_plugin.puppet.io import PUPPET_FILE, read_puppet
from avatar_plugin.puppet.model import Puppet

__all__ = ["BACKOFF_MAX_S", "BACKOFF_START_S", "Daemon", "is_loopback", "run_daemon"]

log = logging.getLogger("avatar_plugin.live")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
BACKOFF_RESET_S = 10.0
EARLY_TICK_GAP_S = 0.004
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


@dataclass
class _Component:
    obj: Source | Sink
    kind: str  # "source" | "sink"
    status: ComponentStatus
    mailbox: Mailbox[Any]
    task: asyncio.Task[None] | None = None
    dropped_reported: int = 0


class _Setup:
    """The SetupContext handed to section setup functions."""

    def __init__(self, daemon: Daemon) -> None:
        self._d = daemon

    def add_source(self, source: Source) -> None:
        self._d.add_source(source)

    def add_sink(self, sink: Sink) -> None:
        self._d.add_sink(sink)

    def add_api_message(self, spec: ApiMessageSpec) -> None:
        self._d.add_api_message(spec)

    def add_binary_handler(self, handler: BinaryHandler) -> None:
        self._d.binary_handler = handler

    def broadcast_event(self, event: ApiMessage | Mapping[str, Any]) -> None:
        self._d.broadcast_event(event)

    def clock(self) -> float:
        return self._d.clock()

    @property
    def parameters(self) -> Mapping[str, tuple[float, float, float]]:
        return self._d.engine.axes

    @property
    def puppet_dir(self) -> str:
        return str(self._d.puppet_dir)


class Daemon:
    """See the module docstring. ``host``/``port``/``token`` override the config's ``[server]`` values."""

    def __init__(self, puppet_dir: str | Path, config: LiveConfig, registry: LiveRegistry | None = None, *,
                 host: str | None = None, port: int | None = None, token: str | None = None,
                 puppet: Puppet | None = None) -> None:
        self.puppet_dir = Path(puppet_dir)
        self.config = config
        self.registry = registry or default_registry()
        server = config["server"]
        self.host = host if host is not None else server["host"]
        self.port = port if port is not None else server["port"]
        self.token = token if token is not None else (server["token"] or os.environ.get("AVATAR_PLUGIN_TOKEN", ""))
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"[server] host = {self.host!r} is reachable from other machines, so a token is required: set "
                "[server] token = \"...\" or the AVATAR_PLUGIN_TOKEN environment variable (or bind 127.0.0.1)"
            )
        self.puppet = puppet if puppet is not None else read_puppet(self.puppet_dir)
        self.puppet_etag = self._etag()
        axes = self.puppet.axes()
        for name, values in config.presets.items():
            unknown = [k for k in values if k not in axes]
            if unknown:  # a typo would otherwise do nothing, silently
                log.warning("[expressions.%s] %s: not a parameter of this puppet (a typo? it moves nothing here; "
                            "the puppet has %s)", name, ", ".join(unknown), ", ".join(axes))
        self.clock = monotonic_clock()
        self.started_wall = time.time()
        seed = config["daemon"]["seed"]
        idle = config["idle"]
        mixer = config["mixer"]
        self.engine = Engine(self.puppet, EngineOptions(
            fade_in_s=mixer["fade_in_s"], fade_out_s=mixer["fade_out_s"], physics=mixer["physics"],
            seed=random.randrange(1 << 30) if seed < 0 else seed,
            idle=IdleOptions(enabled=idle["enabled"], blink_min_s=idle["blink_min_s"],
                             blink_max_s=idle["blink_max_s"], double_blink_chance=idle["double_blink_chance"],
                             breath_period_s=idle["breath_period_s"], sway=idle["sway"],
                             saccades=idle["saccades"]),
            presets=config.presets,
        ))
        self.tick_hz: float = config["daemon"]["tick_hz"]
        self.default_fade: float = config["expressions"]["default_fade_s"]
        self.components: dict[str, _Component] = {}
        self.api_specs: dict[str, ApiMessageSpec] = {}
        self.binary_handler: BinaryHandler | None = None
        self.latest: AvatarParams | None = None
        self.ws_clients: set[Mailbox[str]] = set()
        self.api_sessions: set[Any] = set()
        self.server: Any = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._next_tick = 0.0
        self._last_tick_wall = 0.0
        self._tick_times: list[float] = []
        self.tick_count = 0
        self.tick_seconds = 0.0  # CPU-ish time spent inside ticks (perf_counter)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._setup_done = False
        self._early_pending = False

    # --- registration ---------------------------------------------------------------------------------
    def _etag(self) -> str:
        h = hashlib.sha1()
        for name in [PUPPET_FILE, *(t.file for t in self.puppet.textures)]:
            p = self.puppet_dir / name
            try:
                st = p.stat()
                h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
            except OSError:
                h.update(name.encode())
        return h.hexdigest()[:16]

    def add_source(self, source: Source) -> None:
        if source.name in self.components:
            raise ConfigError(f"two sources or sinks are named {source.name!r}; give each a unique name")
        self.components[source.name] = _Component(source, "source", ComponentStatus(source.name, "source",
                                                                                    "starting"), Mailbox())
        self.engine.add_source(SourceSlot(source.name, source.kind, source.priority_for, source.stale_after_s))
        if self._loop is not None and self._setup_done:
            self._start_component(self.components[source.name])

    def add_sink(self, sink: Sink) -> None:
        if sink.name in self.components:
            raise ConfigError(f"two sources or sinks are named {sink.name!r}; give each a unique name")
        self.components[sink.name] = _Component(sink, "sink", ComponentStatus(sink.name, "sink", "starting"),
                                                Mailbox())
        if self._loop is not None and self._setup_done:
            self._start_component(self.components[sink.name])

    def add_api_message(self, spec: ApiMessageSpec) -> None:
        from avatar_plugin.live.api import BUILTIN_TYPES

        if spec.type in BUILTIN_TYPES or spec.type in self.api_specs:
            raise ValueError(f"/api message type {spec.type!r} registered twice")
        self.api_specs[spec.type] = spec

    def broadcast_event(self, event: ApiMessage | Mapping[str, Any]) -> None:
        for session in list(self.api_sessions):
            task = asyncio.ensure_future(session.send_event(event))
            task.add_done_callback(_log_task_error)

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        from avatar_plugin.live.server import Server

        self._loop = asyncio.get_running_loop()
        setup = _Setup(self)
        for name, (_section, fn) in self.registry.sections.items():
            if fn is not None:
                cfg: SectionConfig = self.config[name]
                fn(cfg, setup)
        self._setup_done = True
        self.server = Server(self)
        await self.server.start()
        for comp in self.components.values():
            self._start_component(comp)
        self._next_tick = self._loop.time()
        self._schedule_tick()
        # never the token: logs end up in journals and bug reports
        log.info("live: %s/studio on %s/%s (puppet %s, %d parameters, %.0f Hz)", self.base_url, self.base_url,
                 " (token required)" if self.token else "", self.puppet.meta.name or self.puppet_dir.name,
                 len(self.engine.axes), self.tick_hz)

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        tasks = [c.task for c in self.components.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=0.5)
            for task in pending:
                log.warning("live: a component did not stop within 0.5 s: %s", task.get_name())
        started = self.server is not None and self.server.started
        if self.server is not None:
            await self.server.stop()
        if started:  # a start that failed says why (one line), not "stopped" as well
            log.info("live: stopped")

    @property
    def base_url(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def obs_url(self) -> str:
        return f"{self.base_url}/" + (f"?token={self.token}" if self.token else "")

    @property
    def studio_url(self) -> str:
        return f"{self.base_url}/studio" + (f"?token={self.token}" if self.token else "")

    # --- supervision ----------------------------------------------------------------------------------
    def _start_component(self, comp: _Component) -> None:
        comp.task = asyncio.get_running_loop().create_task(self._supervise(comp), name=f"{comp.kind}:{comp.obj.name}")

    def _set_status(self, comp: _Component, **changes: Any) -> None:
        comp.status = dataclasses.replace(comp.status, **changes)

    def _context(self, comp: _Component) -> SourceContext | SinkContext:
        def set_detail(detail: str) -> None:
            self._set_status(comp, detail=str(detail)[:300])

        if comp.kind == "source":
            mailbox: Mailbox[SourceUpdate] = comp.mailbox
            return SourceContext(comp.obj.name, mailbox.put, set_detail, self.clock, self.engine.axes)
        return SinkContext(comp.obj.name, comp.mailbox, set_detail, self.clock, self.engine.axes)

    async def _supervise(self, comp: _Component) -> None:
        backoff = BACKOFF_START_S
        restarts = 0
        while True:
            self._set_status(comp, state="running", retry_in_s=None, restarts=restarts)
            started = time.monotonic()
            try:
                await comp.obj.run(self._context(comp))  # type: ignore[arg-type]
            except asyncio.CancelledError:
                self._set_status(comp, state="stopped")
                raise
            except Exception as exc:  # a plug-in's failure must never stop the daemon
                if time.monotonic() - started >= BACKOFF_RESET_S:
                    backoff = BACKOFF_START_S
                message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                log.warning("live: %s %s failed (%s); retrying in %.1f s", comp.kind, comp.obj.name, message,
                            backoff)
                self._set_status(comp, state="retrying", error=message, retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                restarts += 1
                continue
            self._set_status(comp, state="stopped")
            log.info("live: %s %s finished", comp.kind, comp.obj.name)
            return

    # --- the tick -------------------------------------------------------------------------------------
    def _schedule_tick(self) -> None:
        assert self._loop is not None
        period = 1.0 / self.tick_hz
        now = self._loop.time()
        self._next_tick += period
        if self._next_tick < now - period:  # fell behind (a long pause): skip ahead, don't burst
            self._next_tick = now + period
        self._tick_handle = self._loop.call_at(self._next_tick, self._on_tick)

    def _on_tick(self) -> None:
        if self._stopping:
            return
        try:
            self.tick()
        finally:
            self._schedule_tick()

    def tick_now(self) -> None:
        """Run a tick immediately (after an /api change), unless one ran less than 4 ms ago."""
        if self._loop is None or self._stopping:
            return
        since = time.perf_counter() - self._last_tick_wall
        if since >= EARLY_TICK_GAP_S:
            self.tick()
        elif not self._early_pending:  # a tick ran just now: run one more as soon as the gap allows
            self._early_pending = True
            self._loop.call_later(EARLY_TICK_GAP_S - since, self._early_tick)

    def _early_tick(self) -> None:
        self._early_pending = False
        if not self._stopping:
            self.tick()

    def tick(self) -> AvatarParams:
        started = time.perf_counter()
        self._last_tick_wall = started
        t = self.clock()
        updates = {name: c.mailbox.get_nowait() for name, c in self.components.items() if c.kind == "source"}
        params = self.engine.tick(t, updates)
        self.latest = params
        for comp in self.components.values():
            if comp.kind == "sink":
                comp.mailbox.put(params)
        if self.ws_clients:
            text = frame_json(params)
            for mailbox in self.ws_clients:
                mailbox.put(text)
        self.tick_count += 1
        self._tick_times.append(t)
        if len(self._tick_times) > 2 * self.tick_hz + 8:
            del self._tick_times[: len(self._tick_times) - int(self.tick_hz) - 4]
        self.tick_seconds += time.perf_counter() - started
        return params

    def achieved_hz(self) -> float:
        now = self.clock()
        recent = [x for x in self._tick_times if now - x <= 1.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(1e-6, recent[-1] - recent[0])

    # --- status ---------------------------------------------------------------------------------------
    def statuses(self) -> list[ComponentStatus]:
        out = []
        for comp in self.components.values():
            st = comp.status
            if comp.kind == "sink" and comp.mailbox.dropped and st.state == "running" and not st.detail:
                st = dataclasses.replace(st, detail=f"slow: skipped {comp.mailbox.dropped} frames")
            out.append(st)
        return out

    def health(self) -> dict[str, Any]:
        statuses = self.statuses()
        return {
            "status": "ok",
            "uptime_s": round(self.clock(), 3),
            "tick_hz": round(self.achieved_hz(), 2),
            "tick_hz_target": self.tick_hz,
            "ticks": self.tick_count,
            "sources": [s.to_json() for s in statuses if s.kind == "source"],
            "sinks": [s.to_json() for s in statuses if s.kind == "sink"],
            "clients": {"ws": len(self.ws_clients), "api": len(self.api_sessions)},
        }

    def status(self) -> dict[str, Any]:
        t = self.clock()
        out = self.health()
        out.update(
            puppet={"name": self.puppet.meta.name, "dir": str(self.puppet_dir), "etag": self.puppet_etag,
                    "parameters": {k: {"min": v[0], "max": v[1], "default": v[2]}
                                   for k, v in self.engine.axes.items()}},
            expressions=self.engine.expressions.names(),
            expression=self.engine.expressions.current(t),
            held=self.engine.held(),
            params=dict(self.latest.values) if self.latest else {},
            api_types=sorted(["set", "clear", "expression", "status", *self.api_specs]),
            urls={"obs": self.obs_url, "studio": self.studio_url},
        )
        return out


def frame_json(params: AvatarParams) -> str:
    """The /ws frame for ``params``: ``{"t": ..., "params": {...}, "face": bool, "speaking": bool}``."""
    body = ",".join(f'"{k}":{_num(v)}' for k, v in params.values.items())
    return (f'{{"t":{params.t:.4f},"params":{{{body}}},"face":{"true" if params.face_found else "false"},'
            f'"speaking":{"true" if params.speaking else "false"}}}')


def _num(v: float) -> str:
    text = f"{v:.5f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _log_task_error(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("live: sending an event failed: %s", task.exception())


async def _serve(daemon: Daemon, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, AttributeError):  # Windows: KeyboardInterrupt instead
            pass
    try:
        await daemon.start()
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await daemon.stop()


def run_daemon(daemon: Daemon, ready: Any = None) -> int:
    """Run until SIGINT/SIGTERM (or Ctrl+C on Windows). ``ready(daemon)`` is called once serving."""
    stop = asyncio.Event()

    async def main() -> None:
        task = asyncio.ensure_future(_serve(daemon, stop))
        while daemon.server is None or not daemon.server.started:
            if task.done():
                break
            await asyncio.sleep(0.01)
        if ready is not None and not task.done():
            ready(daemon)
        await task

    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # Windows fallback, and a second Ctrl+C
        print("live: stopped", file=sys.stderr)
    return 0
