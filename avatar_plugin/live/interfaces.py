"""The plug-in contract of the live daemon: what sources publish, what sinks receive, how modules plug in.

Other modules (microphone / TTS lip sync, webcam tracking, VTube Studio and VMC sinks) build against THIS
file. It only grows (additions only); nothing here is renamed or removed.

The pipeline, once per tick (default 60 Hz, ``[daemon] tick_hz``)::

    sources --SourceUpdate--> one-slot mailbox per source --> mixer (priorities + fades)
        --> expressions / API holds --> filters (clamp to the puppet's ranges) --> physics (hair)
        --> AvatarParams --> one-slot mailbox per sink --> sinks (renderer /ws, VTube Studio, VMC, ...)

1. Sources
----------
A :class:`Source` is a thin asyncio shell with ``async run(ctx: SourceContext)``. It runs until cancelled and
publishes :class:`SourceUpdate` objects with ``ctx.publish(update)`` whenever it has something new (any rate:
an audio block, a camera frame). Publishing never blocks: each source has a one-slot :class:`Mailbox`
("latest value wins"); the mixer reads the newest update at each tick.

- ``active=False`` means "I have nothing to say right now" (silence, face lost, speech finished): the mixer
  fades that source out over ``FADE_OUT_S`` (0.3 s) instead of snapping. A source that publishes nothing for
  ``stale_after_s`` seconds (default 0.5 s) is treated as inactive too.
- Returning from ``run`` means "done, do not restart". Raising means failure: the daemon logs it, shows it in
  ``/health`` and ``/api/status``, and restarts ``run`` after a backoff (0.5 s, doubling up to 30 s; reset
  after the source ran for 10 s). A failing source never stops the others. Cancellation (shutdown) must not be
  swallowed: let ``asyncio.CancelledError`` propagate and close devices in ``finally``.
- ``ctx.set_status("VTube Studio: waiting for you to click Allow")`` shows a human-readable detail.
- Blocking work (a device read, a model) goes to a thread: ``await asyncio.to_thread(...)`` or
  ``loop.run_in_executor``. Keep a tick's worth of work off the event loop.

2. Mixer priorities (per parameter)
-----------------------------------
For each parameter the mixer starts at the idle layer (puppet default + idle life: blinks, breathing, sway,
saccades) and applies the sources in increasing priority: ``value = lerp(value, source_value, envelope)``,
where ``envelope`` is 0..1 (fades in over ``FADE_IN_S`` = 0.1 s when a source becomes active, out over
``FADE_OUT_S`` = 0.3 s when it goes inactive or stale). So the highest active source wins, and when it
falls silent the next one shows through smoothly. :func:`priority` gives the numbers:

=================  =====  ============================================================================
source kind        prio   notes
=================  =====  ============================================================================
``idle``             0    built in (blink, breath, sway, saccades); never published by a plug-in
``webcam``          30    head angles, eyes, brows, body; its MOUTH parameters use 15 (below ``mic``)
``mic``             20    mouth (ParamMouthOpenY, ParamA/I/U/E/O, ...)
``expression``      35    built in: presets triggered through /api (happy, sad, ...)
``tts``             40    mouth while speaking: beats ``mic``
``api``             50    built in: ``set`` messages (with an optional hold time); beats everything
=================  =====  ============================================================================

A source's kind is ``Source.kind``; a source can override :meth:`Source.priority_for` for special cases.
Unknown kinds get ``DEFAULT_PRIORITY`` (25). Mouth parameters are :data:`MOUTH_PARAMS`.

3. Sinks
--------
A :class:`Sink` has ``async run(ctx: SinkContext)``; it loops ``params = await ctx.params.get()`` (a one-slot
mailbox: a slow sink skips frames, it never builds a queue) and sends :class:`AvatarParams` wherever it goes.
Failure, backoff, status and cancellation rules are those of sources. ``ctx.params.peek()`` gives the newest
frame without waiting (for a sink that must re-send at its own rate, e.g. VTube Studio's 1 s keep-alive).

4. Plugging a module in
-----------------------
The daemon imports every module of the ``avatar_plugin.live`` package whose name starts with one of
:data:`PLUGIN_PREFIXES` (``mic``, ``tts``, ``lipsync``, ``speech``, ``audio``, ``vts``, ``vmc``, ``webcam``,
``tracking``, ``face``) and calls its top-level ``register_live(registry: LiveRegistry)`` if it has one. Keep
heavy imports (mediapipe, onnxruntime) inside functions so that importing the module stays cheap. Example::

    # avatar_plugin/live/mic.py
    from avatar_plugin.live.interfaces import ConfigKey, ConfigSection, LiveRegistry, SetupContext, ...

    MIC_SECTION = ConfigSection("mic", "Microphone lip sync.", (
        ConfigKey("enabled", bool, False, "turn the microphone source on"),
        ConfigKey("device", str, "", "input device name or index; empty = system default"),
        ConfigKey("gain", float, 1.0, "input gain", min=0.0, max=100.0),
    ))

    def _setup(cfg: SectionConfig, ctx: SetupContext) -> None:
        if cfg["enabled"]:
            ctx.add_source(MicSource(device=cfg["device"], gain=cfg["gain"]))

    def register_live(registry: LiveRegistry) -> None:
        registry.add_section(MIC_SECTION, _setup)

The daemon validates the ``[mic]`` table of the user's TOML config against the declared keys (unknown keys and
bad types are :class:`~avatar_plugin.errors.ConfigError` naming the key, the value and the fix), fills the
defaults, and calls ``_setup`` once at start (also when the table is absent: then every key is its default).
``config.example.toml`` documents every key; ``avatar-plugin live --print-config`` prints the defaults of
every registered section, including yours.

5. Extra /api message types
---------------------------
``ctx.add_api_message(ApiMessageSpec(...))`` in ``_setup`` registers a message ``type`` (e.g. ``speak``,
``speech_start``, ``speech_end``, ``stop``, ``playback_started``). ``parse(obj)`` turns the JSON object
(the whole message, ``type`` included) into your frozen dataclass or raises
:class:`~avatar_plugin.errors.ProtocolError` naming the problem; ``handle(message, session)`` runs it and
returns extra reply fields (or ``None``). The reply is ``{"ok": true, "type": "<type>", ...fields}`` (plus
``"id"`` echoed when the request had one); any ``ProtocolError`` / ``InputError`` it raises becomes
``{"ok": false, "error": "..."}`` and the connection stays open. The same type is also served as
``POST /api/<type>`` with the same JSON body (unless ``http=False``); give ``parse_body`` to accept a
non-JSON body there (e.g. ``audio/wav``).

Binary WebSocket frames on ``/api`` go to ``session.binary_handler`` if a handler set one (e.g. after
``speech_start``: ``session.binary_handler = stream.feed``), else to the handler registered with
``ctx.add_binary_handler``; with neither, the client gets an error reply. Server -> client events
(``speech_started``, ``speech_finished``) are sent with ``await session.send_event(obj)`` where ``obj`` has
``serialize() -> dict`` with a ``"type"`` key (no ``"ok"`` key: that marks replies). Events to every /api
client: ``ctx.broadcast_event(obj)``. HTTP sessions cannot receive events (``session.can_send_events`` False).

Handlers run on the event loop and one connection's messages are handled in order: return promptly (start
an ``asyncio`` task for long work such as playing audio, and report its end with an event).
"""

from __future__ import annotations

import asyncio
import builtins
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from avatar_plugin.errors import ConfigError

__all__ = [
    "DEFAULT_PRIORITY",
    "FADE_IN_S",
    "FADE_OUT_S",
    "MOUTH_PARAMS",
    "PLUGIN_PREFIXES",
    "PRIORITIES",
    "ApiMessage",
    "ApiMessageSpec",
    "ApiSession",
    "AvatarParams",
    "BinaryHandler",
    "ComponentStatus",
    "ConfigKey",
    "ConfigSection",
    "LiveRegistry",
    "Mailbox",
    "SectionConfig",
    "SetupContext",
    "Sink",
    "SinkContext",
    "Source",
    "SourceContext",
    "SourceUpdate",
    "priority",
]

T = TypeVar("T")

FADE_IN_S = 0.1
FADE_OUT_S = 0.3
DEFAULT_PRIORITY = 25

PRIORITIES: Mapping[str, int] = MappingProxyType({
    "idle": 0,
    "mic": 20,
    "webcam": 30,
    "expression": 35,
    "tts": 40,
    "api": 50,
})
"""Priority of each source kind (higher wins). See the module docstring, section 2."""

_MOUTH_PRIORITY_OVERRIDES: Mapping[str, int] = MappingProxyType({"webcam": 15})

MOUTH_PARAMS: frozenset[str] = frozenset({
    "ParamMouthOpenY", "ParamA", "ParamI", "ParamU", "ParamE", "ParamO",
    # VTube Studio tracking names a source may publish as extras:
    "MouthOpen", "VoiceVolume", "VoiceFrequency", "VoiceA", "VoiceI", "VoiceU", "VoiceE", "VoiceO",
})
"""Parameters that count as "mouth" for the priority table (webcam mouth < mic < tts)."""

PLUGIN_PREFIXES: tuple[str, ...] = (
    "audio", "lipsync", "tts", "mic", "speech", "vts", "vmc", "webcam", "tracking", "face",
)
"""``avatar_plugin.live`` modules with these name prefixes are imported and their ``register_live`` called."""


def priority(kind: str, param: str) -> int:
    """The mixer priority of parameter ``param`` published by a source of kind ``kind`` (higher wins)."""
    if param in MOUTH_PARAMS and kind in _MOUTH_PRIORITY_OVERRIDES:
        return _MOUTH_PRIORITY_OVERRIDES[kind]
    return PRIORITIES.get(kind, DEFAULT_PRIORITY)


def _frozen_values(values: Mapping[str, float], what: str) -> Mapping[str, float]:
    out: dict[str, float] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{what}: parameter ids must be non-empty strings, found {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{what}: {key} must be a finite number, found {value!r}")
        out[key] = float(value)
    return MappingProxyType(out)


# ----------------------------------------------------------------------------------------------------------
# Events between layers
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceUpdate:
    """What a source publishes: parameter values at daemon time ``t`` (seconds, ``ctx.clock()``).

    ``values``: parameter id -> value (puppet axis ids such as ``ParamMouthOpenY``; extra ids, e.g. VTube
    Studio's ``VoiceVolume``, pass through the mixer to the sinks unclamped). ``active`` False: the source has
    nothing to say now; the mixer fades it out. ``face_found``: webcam tracking sets it (True/False); others
    leave it None. Values are copied into a read-only mapping and must be finite.
    """

    source: str
    t: float
    values: Mapping[str, float]
    active: bool = True
    face_found: bool | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.t):
            raise ValueError(f"SourceUpdate from {self.source!r}: t must be finite, found {self.t}")
        object.__setattr__(self, "values", _frozen_values(self.values, f"SourceUpdate from {self.source!r}"))


@dataclass(frozen=True)
class AvatarParams:
    """What sinks receive each tick: every puppet axis value (clamped to its range) plus extras.

    ``t``: daemon clock seconds. ``values``: parameter id -> value, including physics outputs (hair) and any
    extra ids sources published. ``face_found``: True while a tracking source sees a face. ``speaking``: True
    while a ``tts`` source is active (a sink may use it, e.g. for VTube Studio's voice parameters).
    """

    t: float
    values: Mapping[str, float]
    face_found: bool = False
    speaking: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen_values(self.values, "AvatarParams"))


@dataclass(frozen=True)
class ComponentStatus:
    """A source's or sink's state as shown in /health, /api/status and /studio.

    ``state``: ``starting`` | ``running`` | ``retrying`` (failed, restarting after ``retry_in_s``) |
    ``stopped`` (run returned) | ``disabled``. ``detail``: the component's own words (``set_status``).
    ``error``: the last failure, one line. ``restarts``: how many times it was restarted.
    """

    name: str
    kind: str  # "source" | "sink"
    state: str
    detail: str = ""
    error: str | None = None
    restarts: int = 0
    retry_in_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "state": self.state, "detail": self.detail,
                "error": self.error, "restarts": self.restarts, "retry_in_s": self.retry_in_s}


# ----------------------------------------------------------------------------------------------------------
# Mailbox
# ----------------------------------------------------------------------------------------------------------
class Mailbox(Generic[T]):
    """A one-slot "latest value wins" mailbox for one reader (asyncio; use from the event loop's thread).

    ``put`` never blocks and replaces an unread value. ``await get()`` returns the newest value not yet taken,
    waiting if there is none. ``peek()`` returns the newest value (taken or not) without waiting, or None.
    ``dropped`` counts values replaced before anyone took them. From another thread use
    ``loop.call_soon_threadsafe(mailbox.put, value)``.
    """

    def __init__(self) -> None:
        self._value: T | None = None
        self._fresh = False
        self._event = asyncio.Event()
        self.dropped = 0
        self.count = 0

    def put(self, value: T) -> None:
        if self._fresh:
            self.dropped += 1
        self._value = value
        self._fresh = True
        self.count += 1
        self._event.set()

    def peek(self) -> T | None:
        return self._value

    def get_nowait(self) -> T | None:
        """The newest untaken value, or None if there is none (marks it taken)."""
        if not self._fresh:
            return None
        self._fresh = False
        self._event.clear()
        return self._value

    async def get(self) -> T:
        while not self._fresh:
            self._event.clear()
            await self._event.wait()
        self._fresh = False
        self._event.clear()
        assert self._value is not None
        return self._value


# ----------------------------------------------------------------------------------------------------------
# Sources and sinks
# ----------------------------------------------------------------------------------------------------------
class _StatusReporter(Protocol):
    def __call__(self, detail: str) -> None: ...


@dataclass
class SourceContext:
    """Handed to :meth:`Source.run`. ``publish`` never blocks; ``clock()`` is the daemon clock (seconds)."""

    name: str
    publish: Callable[[SourceUpdate], None]
    set_status: _StatusReporter
    clock: Callable[[], float]
    parameters: Mapping[str, tuple[float, float, float]]  # the puppet's axes: id -> (min, max, default)

    def update(self, values: Mapping[str, float], active: bool = True,
               face_found: bool | None = None) -> None:
        """Shorthand: publish ``SourceUpdate(self.name, clock(), values, active, face_found)``."""
        self.publish(SourceUpdate(self.name, self.clock(), values, active, face_found))


@dataclass
class SinkContext:
    """Handed to :meth:`Sink.run`. ``params``: this sink's one-slot mailbox of :class:`AvatarParams`."""

    name: str
    params: Mailbox[AvatarParams]
    set_status: _StatusReporter
    clock: Callable[[], float]
    parameters: Mapping[str, tuple[float, float, float]]


class Source:
    """Base class of parameter sources. Subclasses set ``kind`` and ``name`` and implement :meth:`run`.

    ``kind`` selects the mixer priority (:data:`PRIORITIES`); ``name`` must be unique in a daemon (defaults to
    ``kind``). ``stale_after_s``: no update for this long counts as inactive.
    """

    kind: ClassVar[str] = "source"
    stale_after_s: float = 0.5

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.kind

    def priority_for(self, param: str) -> int:
        return priority(self.kind, param)

    async def run(self, ctx: SourceContext) -> None:
        raise NotImplementedError


class Sink:
    """Base class of parameter sinks. Subclasses set ``kind`` and implement :meth:`run`."""

    kind: ClassVar[str] = "sink"

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.kind

    async def run(self, ctx: SinkContext) -> None:
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------------------
# Config sections
# ----------------------------------------------------------------------------------------------------------
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list"}


@dataclass(frozen=True)
class ConfigKey:
    """One key of a config table: name, type (bool, int, float, str or list), default and a one-line doc.

    ``min``/``max`` bound numbers; ``choices`` restricts strings; ``item_type`` is the element type of lists.
    An int is accepted where a float is expected.
    """

    name: str
    type: type
    default: Any
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    item_type: builtins.type | None = None

    def check(self, section: str, value: Any) -> Any:
        """``value`` converted to the key's type, or ConfigError naming ``[section] name``, value, fix."""
        where = f"[{section}] {self.name}"
        want = _TYPE_NAMES.get(self.type, self.type.__name__)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        wrong = (not isinstance(value, bool)) if self.type is bool else (
            isinstance(value, bool) or not isinstance(value, self.type))
        if wrong:
            example = f"{self.name} = {_toml(self.default)}"
            raise ConfigError(f"{where} = {value!r}: expected {want}; write e.g. {example}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where} = {value!r}: expected a finite number")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                (self.min is not None and value < self.min) or (self.max is not None and value > self.max)):
            raise ConfigError(f"{where} = {value!r}: expected a value in {self.min}..{self.max}")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{where} = {value!r}: expected one of {list(self.choices)}")
        if isinstance(value, list):
            item = self.item_type
            if item is not None:
                for i, v in enumerate(value):
                    ok = isinstance(v, item) and not (isinstance(v, bool) and item is not bool)
                    if item is float and isinstance(v, int) and not isinstance(v, bool):
                        ok = True
                    if not ok:
                        item_name = _TYPE_NAMES.get(item, item.__name__)
                        raise ConfigError(f"{where}[{i}] = {v!r}: expected {item_name}")
            value = tuple(value)
        return value


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


@dataclass(frozen=True)
class ConfigSection:
    """A config table (``[name]``) with its keys and a one-paragraph doc (used for config.example.toml)."""

    name: str
    doc: str
    keys: tuple[ConfigKey, ...]
    allow_extra: bool = False  # True only for free-form tables (e.g. user expression presets)

    def key(self, name: str) -> ConfigKey:
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(name)

    def validate(self, table: Mapping[str, Any] | None) -> SectionConfig:
        """Check a parsed TOML table (None = absent) and fill defaults."""
        table = table or {}
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{self.name}]: expected a table, found {table!r}")
        known = {k.name: k for k in self.keys}
        values: dict[str, Any] = {}
        for name, value in table.items():
            if name not in known:
                if self.allow_extra:
                    values[name] = value
                    continue
                raise ConfigError(
                    f"[{self.name}] {name}: unknown key; known keys are "
                    f"{', '.join(sorted(known)) or '(none)'} (see config.example.toml)"
                )
            values[name] = known[name].check(self.name, value)
        for k in self.keys:
            if k.name not in values:
                values[k.name] = tuple(k.default) if isinstance(k.default, list) else k.default
        return SectionConfig(self.name, MappingProxyType(values))

    def example_toml(self) -> str:
        """The section as commented TOML with every key at its default (for config.example.toml)."""
        lines = [f"# {line}" for line in self.doc.splitlines()] + [f"[{self.name}]"]
        for k in self.keys:
            extra = ""
            if k.choices:
                extra = f" (one of {', '.join(k.choices)})"
            elif k.min is not None or k.max is not None:
                extra = f" ({k.min if k.min is not None else ''}..{k.max if k.max is not None else ''})"
            lines.append(f"# {k.doc}{extra}")
            lines.append(f"{k.name} = {_toml(k.default)}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SectionConfig:
    """A validated config table: ``cfg["key"]`` (every declared key present, defaults filled)."""

    section: str
    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(f"[{self.section}] has no key {key!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


# ----------------------------------------------------------------------------------------------------------
# /api extension
# ----------------------------------------------------------------------------------------------------------
@runtime_checkable
class ApiMessage(Protocol):
    """A typed /api message or event: a frozen dataclass with ``serialize() -> dict`` (JSON-ready)."""

    def serialize(self) -> dict[str, Any]: ...


BinaryHandler = Callable[[bytes, "ApiSession"], Awaitable[None]]


class ApiSession:
    """One /api client: a WebSocket connection, or a single HTTP request (``can_send_events`` False).

    ``state`` is a free dict for handlers to keep per-connection state (e.g. the current speech stream),
    keyed by their module name. ``binary_handler``: where this connection's binary frames go.
    """

    def __init__(self, peer: str, can_send_events: bool,
                 send: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> None:
        self.peer = peer
        self.can_send_events = can_send_events
        self._send = send
        self.state: dict[str, Any] = {}
        self.binary_handler: BinaryHandler | None = None
        self.closed = False

    async def send_event(self, event: ApiMessage | Mapping[str, Any]) -> bool:
        """Send a server -> client event (JSON text). Returns False if this session cannot (HTTP, closed)."""
        if not self.can_send_events or self.closed or self._send is None:
            return False
        payload = event.serialize() if isinstance(event, ApiMessage) else dict(event)
        if "type" not in payload:
            raise ValueError(f"event {payload!r}: expected a 'type' key")
        await self._send(payload)
        return True


@dataclass(frozen=True)
class ApiMessageSpec:
    """A /api message type a module adds (see the module docstring, section 5).

    ``parse(obj)``: the JSON object (with ``type``) -> your message, or raise ProtocolError.
    ``handle(msg, session)``: do it; return extra reply fields or None. ``http``: also serve
    ``POST /api/<type>``. ``parse_body(body, content_type, query)``: optional parser for a non-JSON HTTP
    body (``query`` is the raw URL query string, e.g. ``text=Hello&wait=true``).
    ``doc``: one line for /api/status's list of message types.
    """

    type: str
    parse: Callable[[Mapping[str, Any]], Any]
    handle: Callable[[Any, ApiSession], Awaitable[Mapping[str, Any] | None]]
    doc: str = ""
    http: bool = True
    parse_body: Callable[[bytes, str, str], Any] | None = None


# ----------------------------------------------------------------------------------------------------------
# Registry and setup
# ----------------------------------------------------------------------------------------------------------
class SetupContext(Protocol):
    """What a section's setup function can do (the daemon implements it)."""

    def add_source(self, source: Source) -> None: ...
    def add_sink(self, sink: Sink) -> None: ...
    def add_api_message(self, spec: ApiMessageSpec) -> None: ...
    def add_binary_handler(self, handler: BinaryHandler) -> None: ...
    def broadcast_event(self, event: ApiMessage | Mapping[str, Any]) -> None: ...
    def clock(self) -> float: ...
    @property
    def parameters(self) -> Mapping[str, tuple[float, float, float]]: ...
    @property
    def puppet_dir(self) -> str: ...


SetupFunction = Callable[[SectionConfig, SetupContext], None]


@dataclass
class LiveRegistry:
    """Config sections and their setup functions, collected from plug-in modules' ``register_live``."""

    sections: dict[str, tuple[ConfigSection, SetupFunction | None]] = field(default_factory=dict)

    def add_section(self, section: ConfigSection, setup: SetupFunction | None = None) -> None:
        if section.name in self.sections:
            raise ValueError(f"config section [{section.name}] registered twice")
        self.sections[section.name] = (section, setup)

    def section_names(self) -> Sequence[str]:
        return list(self.sections)


def monotonic_clock() -> Callable[[], float]:
    """A daemon clock: seconds since it was made (monotonic)."""
    start = time.monotonic()
    return lambda: time.monotonic() - start
