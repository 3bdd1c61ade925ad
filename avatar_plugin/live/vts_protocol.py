"""VTube Studio public API: a Sans-I/O client (text in, events out; no sockets, no clock).

The asyncio shell (:mod:`avatar_plugin.live.vts`) moves the text; this module decides what the text means.
Facts come from the public API docs (DenchiSoft/VTubeStudio README, ``Files/ErrorID.cs``):

* every request is ``{"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "requestID", "messageType",
  "data"}``; we give each request a unique id (``ap<n>``, ASCII, <= 64 characters) and match each reply to its
  request by that id. Server events (``messageType`` ending in ``Event``) are kept apart from replies.
* authentication: ``AuthenticationTokenRequest`` once (the user clicks *Allow* in VTS; *Deny* is error 50),
  then ``AuthenticationRequest`` with the token on every connection. A token the user revoked gives
  ``authenticated: false`` (or error 50 on a later request): we forget it and ask for a new one, once per
  connection.
* ``InjectParameterDataRequest`` ``{faceFound, mode: "set"|"add", parameterValues: [{id, value, weight?}]}``;
  values within +-1,000,000, weight 0..1 (ignored in ``add`` mode). Each parameter must be re-sent at least
  once a second or VTS considers it lost: :class:`InjectionScheduler` plans that.
* custom parameters (``ParameterCreationRequest``): names alphanumeric, 4..32 characters, not a default
  parameter name; ours start with ``AP`` (:func:`custom_parameter_name`).

Connection states (:class:`ConnState`) move only along :data:`TRANSITIONS`; any other move raises
:class:`VTSStateError` naming the state and the event. Text that is not a VTS message raises
:class:`VTSMessageError`. Both derive from :class:`avatar_plugin.errors.ProtocolError`; nothing else escapes
:meth:`VTSClient.receive_text` (a Hypothesis test holds this).

Typical use (what the shell does)::

    client = VTSClient(PluginInfo("avatar-plugin", "avatar-plugin devs"), token=stored_token)
    client.connection_made()            # socket is open
    for text in client.data_to_send():  # AuthenticationRequest (or AuthenticationTokenRequest)
        await ws.send(text)
    events = client.receive_text(await ws.recv(), now=time.monotonic())
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from avatar_plugin.errors import ProtocolError

__all__ = [
    "API_NAME",
    "API_VERSION",
    "DEFAULT_INPUTS",
    "MAX_ABS_VALUE",
    "TRANSITIONS",
    "APIStateReply",
    "Authenticated",
    "AuthenticationRejected",
    "ConnState",
    "CustomParameter",
    "DiscoveredVTS",
    "ErrorID",
    "HotkeyInfo",
    "HotkeyList",
    "InjectionScheduler",
    "ParameterCreated",
    "ParameterValue",
    "PluginInfo",
    "Reply",
    "RequestFailed",
    "RequestTimedOut",
    "ServerEvent",
    "StateChanged",
    "TokenDenied",
    "TokenGranted",
    "UnmatchedReply",
    "VTSClient",
    "VTSEvent",
    "VTSMessageError",
    "VTSStateError",
    "custom_parameter_name",
    "parse_discovery",
]

API_NAME = "VTubeStudioPublicAPI"
API_VERSION = "1.0"
MAX_ABS_VALUE = 1_000_000.0

# Default tracking inputs that a plugin may inject (VTS "default parameters"), with (min, max) as VTS reports
# them in InputParameterListResponse. Anything else must be a custom parameter we create first.
DEFAULT_INPUTS: dict[str, tuple[float, float]] = {
    "FacePositionX": (-15, 15), "FacePositionY": (-15, 15), "FacePositionZ": (-10, 10),
    "FaceAngleX": (-30, 30), "FaceAngleY": (-30, 30), "FaceAngleZ": (-90, 90),
    "MouthSmile": (0, 1), "MouthOpen": (0, 1), "MouthX": (-1, 1),
    "Brows": (0, 1), "BrowLeftY": (0, 1), "BrowRightY": (0, 1),
    "TongueOut": (0, 1), "CheekPuff": (0, 1), "FaceAngry": (0, 1),
    "EyeOpenLeft": (0, 1), "EyeOpenRight": (0, 1),
    "EyeLeftX": (-1, 1), "EyeLeftY": (-1, 1), "EyeRightX": (-1, 1), "EyeRightY": (-1, 1),
    "MousePositionX": (-1, 1), "MousePositionY": (-1, 1),
    "VoiceVolume": (0, 1), "VoiceFrequency": (0, 1),
    "VoiceVolumePlusMouthOpen": (0, 1), "VoiceFrequencyPlusMouthSmile": (0, 1),
}

_REQUEST_ID_RE = re.compile(r"^[\x20-\x7e]{1,64}$")
_CUSTOM_NAME_RE = re.compile(r"^[A-Za-z0-9]{4,32}$")


class ErrorID(enum.IntEnum):
    """The error ids of ``Files/ErrorID.cs`` that this client reacts to (others pass through as numbers)."""

    INTERNAL_SERVER_ERROR = 0
    API_ACCESS_DEACTIVATED = 1
    JSON_INVALID = 2
    REQUEST_REQUIRES_AUTHENTICATION = 8
    TOKEN_REQUEST_DENIED = 50
    TOKEN_REQUEST_CURRENTLY_ONGOING = 51
    TOKEN_REQUEST_PLUGIN_NAME_INVALID = 52
    TOKEN_REQUEST_DEVELOPER_NAME_INVALID = 53
    TOKEN_REQUEST_PLUGIN_ICON_INVALID = 54
    AUTHENTICATION_TOKEN_MISSING = 100
    HOTKEY_QUEUE_FULL = 200
    HOTKEY_ID_NOT_FOUND_IN_MODEL = 202
    CUSTOM_PARAM_NAME_INVALID = 350
    CUSTOM_PARAM_VALUES_INVALID = 351
    CUSTOM_PARAM_ALREADY_CREATED_BY_OTHER_PLUGIN = 352
    CUSTOM_PARAM_EXPLANATION_TOO_LONG = 353
    CUSTOM_PARAM_DEFAULT_PARAM_NAME_NOT_ALLOWED = 354
    CUSTOM_PARAM_LIMIT_PER_PLUGIN_EXCEEDED = 355
    CUSTOM_PARAM_LIMIT_TOTAL_EXCEEDED = 356
    INJECT_DATA_NO_DATA_PROVIDED = 450
    INJECT_DATA_VALUE_INVALID = 451
    INJECT_DATA_WEIGHT_INVALID = 452
    INJECT_DATA_PARAM_NAME_NOT_FOUND = 453
    INJECT_DATA_PARAM_CONTROLLED_BY_OTHER_PLUGIN = 454
    INJECT_DATA_MODE_UNKNOWN = 455


# ---------------------------------------------------------------------------------------------- errors


class VTSMessageError(ProtocolError):
    """Text from VTube Studio that is not a well-formed API message.

    Attributes:
        text: the offending text (cut to 200 characters).
        reason: what was wrong with it.
    """

    def __init__(self, text: str, reason: str) -> None:
        self.text = text[:200]
        self.reason = reason
        super().__init__(
            f"VTube Studio sent a message we cannot read: {reason} (message starts {self.text[:80]!r}); "
            "expected a JSON object with apiName 'VTubeStudioPublicAPI', messageType and data. "
            "Is something else listening on the VTube Studio port? Check [vtube_studio] host and port."
        )


class VTSStateError(ProtocolError):
    """A move the connection state machine does not allow (see :data:`TRANSITIONS`).

    Attributes:
        state: the state the connection was in.
        event: the event that was not allowed there.
    """

    def __init__(self, state: ConnState, event: str, detail: str = "") -> None:
        self.state = state
        self.event = event
        allowed = sorted(e for (s, e) in TRANSITIONS if s is state)
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"VTube Studio connection: event {event!r} is not allowed in state {state.name}{extra}; "
            f"allowed there: {allowed or 'none'}"
        )


# ---------------------------------------------------------------------------------------------- states


class ConnState(enum.Enum):
    """Where one connection to VTube Studio stands."""

    DISCONNECTED = "disconnected"  # no socket
    CONNECTED = "connected"  # socket open, not authenticated, nothing in flight
    REQUESTING_TOKEN = "requesting_token"  # AuthenticationTokenRequest sent; VTS shows the Allow popup
    AUTHENTICATING = "authenticating"  # AuthenticationRequest sent
    AUTHENTICATED = "authenticated"  # may inject
    DENIED = "denied"  # the user clicked Deny (error 50); only a new connection leaves this state


S = ConnState
#: (state, event) -> next state. Events are the names below; anything not listed raises VTSStateError.
TRANSITIONS: dict[tuple[ConnState, str], ConnState] = {
    (S.DISCONNECTED, "connection_made"): S.CONNECTED,
    (S.CONNECTED, "send_token_request"): S.REQUESTING_TOKEN,
    (S.CONNECTED, "send_authentication"): S.AUTHENTICATING,
    (S.REQUESTING_TOKEN, "token_granted"): S.CONNECTED,
    (S.REQUESTING_TOKEN, "token_denied"): S.DENIED,
    (S.AUTHENTICATING, "authenticated"): S.AUTHENTICATED,
    (S.AUTHENTICATING, "authentication_rejected"): S.CONNECTED,
    (S.AUTHENTICATED, "access_revoked"): S.CONNECTED,
    (S.AUTHENTICATED, "send_request"): S.AUTHENTICATED,
}
for _s in ConnState:
    if _s is not S.DISCONNECTED:
        TRANSITIONS[(_s, "connection_lost")] = S.DISCONNECTED
    # Requests allowed before authentication (APIStateRequest) keep the state.
    if _s not in (S.DISCONNECTED, S.AUTHENTICATED):
        TRANSITIONS[(_s, "send_unauthenticated_request")] = _s
del _s

# Requests that VTS answers without authentication.
_UNAUTHENTICATED_REQUESTS = frozenset(
    {"APIStateRequest", "AuthenticationTokenRequest", "AuthenticationRequest"})


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PluginInfo:
    """Who we are to VTS. ``name`` and ``developer``: 3..32 characters; ``icon_b64``: a base64 PNG/JPG of
    exactly 128x128 pixels, or None (the shell makes it from the avatar preview)."""

    name: str
    developer: str
    icon_b64: str | None = None

    def __post_init__(self) -> None:
        for what, value in (("plugin name", self.name), ("plugin developer", self.developer)):
            if not 3 <= len(value) <= 32:
                raise ValueError(
                    f"VTS {what} {value!r}: must be 3..32 characters (VTS rule), got {len(value)}")


@dataclass(frozen=True)
class ParameterValue:
    """One entry of ``parameterValues``: a VTS input id, its value and a weight 0..1 (1 = override)."""

    id: str
    value: float
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("VTS parameter id must not be empty")
        if not (math.isfinite(self.value) and abs(self.value) <= MAX_ABS_VALUE):
            raise ValueError(f"VTS parameter {self.id}: value {self.value} outside +-1e6 (VTS rule)")
        if not (math.isfinite(self.weight) and 0.0 <= self.weight <= 1.0):
            raise ValueError(f"VTS parameter {self.id}: weight {self.weight} outside 0..1 (VTS rule)")


@dataclass(frozen=True)
class CustomParameter:
    """A custom tracking input we create with ParameterCreationRequest."""

    name: str
    min: float
    max: float
    default: float
    explanation: str = ""

    def __post_init__(self) -> None:
        if not _CUSTOM_NAME_RE.match(self.name):
            raise ValueError(
                f"VTS custom parameter name {self.name!r}: must be 4..32 letters or digits (VTS rule)")
        if self.name in DEFAULT_INPUTS:
            raise ValueError(f"VTS custom parameter name {self.name!r} is a default VTS input; pick another")
        for what, v in (("min", self.min), ("max", self.max), ("default", self.default)):
            if not (math.isfinite(v) and abs(v) <= MAX_ABS_VALUE):
                raise ValueError(f"VTS custom parameter {self.name}: {what} {v} outside +-1e6 (VTS rule)")
        if len(self.explanation) >= 256:
            raise ValueError(f"VTS custom parameter {self.name}: explanation must be < 256 characters")


def custom_parameter_name(param_id: str) -> str:
    """Our custom VTS input name for a canonical parameter id: ``AP`` + the id without ``Param``.

    ``ParamBreath`` -> ``APBreath``; ``ParamA`` -> ``APVowelA`` (4..32 alphanumerics, VTS rule; the ``AP``
    prefix keeps clear of VTS's default names and of other plugins).
    """
    stem = re.sub(r"[^A-Za-z0-9]", "", param_id)
    if stem.startswith("Param"):
        stem = stem[len("Param"):]
    if stem in {"A", "I", "U", "E", "O"}:
        stem = "Vowel" + stem
    name = ("AP" + stem)[:32]
    if len(name) < 4:
        name = (name + "Param")[:32]
    return name


@dataclass(frozen=True)
class HotkeyInfo:
    name: str
    hotkey_id: str
    type: str


@dataclass(frozen=True)
class DiscoveredVTS:
    """One ``VTubeStudioAPIStateBroadcast`` datagram (UDP port 47779, every 2 s, even with the API off)."""

    active: bool
    port: int
    instance_id: str
    window_title: str


# ---------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class VTSEvent:
    """Base of everything :meth:`VTSClient.receive_text` returns."""


@dataclass(frozen=True)
class StateChanged(VTSEvent):
    old: ConnState
    new: ConnState


@dataclass(frozen=True)
class Reply(VTSEvent):
    """A successful reply to one of our requests (types without a dedicated event)."""

    request_id: str
    request_type: str
    message_type: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class RequestFailed(VTSEvent):
    """An ``APIError`` reply to one of our requests."""

    request_id: str
    request_type: str
    error_id: int
    message: str


@dataclass(frozen=True)
class RequestTimedOut(VTSEvent):
    request_id: str
    request_type: str


@dataclass(frozen=True)
class UnmatchedReply(VTSEvent):
    """A well-formed reply whose requestID we never sent (or already settled); harmless, reported."""

    request_id: str
    message_type: str


@dataclass(frozen=True)
class ServerEvent(VTSEvent):
    """A VTS event (``...Event`` message type), e.g. ``ModelLoadedEvent``."""

    event_type: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class TokenGranted(VTSEvent):
    """The user clicked Allow; store the token (the client authenticates with it right away)."""

    token: str


@dataclass(frozen=True)
class TokenDenied(VTSEvent):
    """The user clicked Deny (error 50) or the token request failed otherwise."""

    error_id: int
    message: str


@dataclass(frozen=True)
class Authenticated(VTSEvent):
    pass


@dataclass(frozen=True)
class AuthenticationRejected(VTSEvent):
    """The stored token was refused (revoked or unknown); the client asks for a new one if allowed."""

    reason: str
    token_requested_again: bool


@dataclass(frozen=True)
class ParameterCreated(VTSEvent):
    name: str


@dataclass(frozen=True)
class APIStateReply(VTSEvent):
    active: bool
    version: str
    authenticated: bool


@dataclass(frozen=True)
class HotkeyList(VTSEvent):
    model_loaded: bool
    hotkeys: tuple[HotkeyInfo, ...]


# ---------------------------------------------------------------------------------------------- parsing


def _parse_envelope(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VTSMessageError(repr(text[:200]), f"binary message is not UTF-8 ({exc.reason})") from None
    if not isinstance(text, str):
        raise VTSMessageError(repr(text), f"expected text, got {type(text).__name__}")
    try:
        msg = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise VTSMessageError(text, f"not JSON ({exc})") from None
    if not isinstance(msg, dict):
        raise VTSMessageError(text, f"top level is {type(msg).__name__}, not an object")
    if msg.get("apiName") != API_NAME:
        raise VTSMessageError(text, f"apiName is {msg.get('apiName')!r}, not {API_NAME!r}")
    mtype = msg.get("messageType")
    if not isinstance(mtype, str) or not mtype:
        raise VTSMessageError(text, f"messageType is {mtype!r}, not a non-empty string")
    data = msg.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise VTSMessageError(text, f"data is {type(data).__name__}, not an object")
    msg["data"] = data
    rid = msg.get("requestID")
    if rid is not None and not isinstance(rid, str):
        raise VTSMessageError(text, f"requestID is {type(rid).__name__}, not a string")
    return msg


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _field(text: str, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    ok = isinstance(value, kind) and not (kind in (int, float, (int, float)) and isinstance(value, bool))
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise VTSMessageError(text, f"data.{key} is {value!r}, expected {names}")
    return value


def parse_discovery(datagram: bytes) -> DiscoveredVTS:
    """Parse one UDP discovery broadcast; raises :class:`VTSMessageError` for anything else."""
    msg = _parse_envelope(datagram)
    text = datagram[:200].decode("utf-8", "replace")
    if msg["messageType"] != "VTubeStudioAPIStateBroadcast":
        raise VTSMessageError(text, f"messageType {msg['messageType']!r} is not VTubeStudioAPIStateBroadcast")
    data = msg["data"]
    port = _field(text, data, "port", int)
    if not 1 <= port <= 65535:
        raise VTSMessageError(text, f"data.port {port} is not a TCP port")
    return DiscoveredVTS(
        active=_field(text, data, "active", bool),
        port=port,
        instance_id=str(data.get("instanceID", "")),
        window_title=str(data.get("windowTitle", "")),
    )


# ---------------------------------------------------------------------------------------------- client


@dataclass
class _Pending:
    request_type: str
    sent_at: float


class VTSClient:
    """One VTS API session without I/O. Call the ``send_*``/``request_*`` methods, then send every string
    from :meth:`data_to_send`; feed every received text to :meth:`receive_text`.

    The token flow runs by itself: :meth:`connection_made` queues ``AuthenticationRequest`` when a token is
    known, else ``AuthenticationTokenRequest``; a granted token is authenticated at once; a rejected or
    revoked token is forgotten and a new one requested (once per successful authentication, so a VTS that
    refuses every token does not get popup after popup). ``token`` always holds the token to store (None
    after a revocation).
    """

    def __init__(self, plugin: PluginInfo, token: str | None = None, *, id_prefix: str = "ap") -> None:
        self.plugin = plugin
        self.token = token
        self.state = ConnState.DISCONNECTED
        self._id_prefix = id_prefix
        self._next_id = 0
        self._outbox: list[str] = []
        self._pending: dict[str, _Pending] = {}
        self._token_requested_this_connection = False
        self._now = 0.0

    # -- state machine ------------------------------------------------------------------------------

    def _move(self, event: str, events: list[VTSEvent] | None = None, detail: str = "") -> None:
        key = (self.state, event)
        if key not in TRANSITIONS:
            raise VTSStateError(self.state, event, detail)
        new = TRANSITIONS[key]
        if new is not self.state and events is not None:
            events.append(StateChanged(self.state, new))
        self.state = new

    # -- outgoing -----------------------------------------------------------------------------------

    def data_to_send(self) -> list[str]:
        """Texts to send, in order; the list is emptied."""
        out, self._outbox = self._outbox, []
        return out

    @property
    def pending(self) -> int:
        """How many requests await a reply."""
        return len(self._pending)

    def _request(self, message_type: str, data: Mapping[str, Any] | None = None,
                 now: float | None = None) -> str:
        self._next_id += 1
        rid = f"{self._id_prefix}{self._next_id}"
        assert _REQUEST_ID_RE.match(rid)
        msg = {"apiName": API_NAME, "apiVersion": API_VERSION, "requestID": rid,
               "messageType": message_type, "data": dict(data or {})}
        self._outbox.append(json.dumps(msg, separators=(",", ":"), allow_nan=False))
        self._pending[rid] = _Pending(message_type, self._now if now is None else now)
        return rid

    def connection_made(self, now: float = 0.0) -> None:
        """The socket is open: start authenticating (queues the first request)."""
        self._now = now
        self._move("connection_made")
        self._pending.clear()
        self._token_requested_this_connection = False
        self._start_auth()

    def connection_lost(self) -> None:
        """The socket closed; pending requests are dropped. Harmless when already disconnected."""
        if self.state is not ConnState.DISCONNECTED:
            self._move("connection_lost")
        self._pending.clear()
        self._outbox.clear()

    def _start_auth(self) -> None:
        if self.token:
            self._move("send_authentication")
            self._request("AuthenticationRequest", {
                "pluginName": self.plugin.name, "pluginDeveloper": self.plugin.developer,
                "authenticationToken": self.token})
        else:
            self._move("send_token_request")
            self._token_requested_this_connection = True
            data = {"pluginName": self.plugin.name, "pluginDeveloper": self.plugin.developer}
            if self.plugin.icon_b64:
                data["pluginIcon"] = self.plugin.icon_b64
            self._request("AuthenticationTokenRequest", data)

    def _authed_request(self, message_type: str, data: Mapping[str, Any] | None, now: float | None) -> str:
        self._move("send_request", detail=f"{message_type} needs an authenticated session")
        return self._request(message_type, data, now)

    def request_api_state(self, now: float | None = None) -> str:
        """APIStateRequest (allowed before authentication)."""
        if self.state is ConnState.AUTHENTICATED:
            self._move("send_request")
        else:
            self._move("send_unauthenticated_request")
        return self._request("APIStateRequest", None, now)

    def create_parameter(self, param: CustomParameter, now: float | None = None) -> str:
        """ParameterCreationRequest; re-creating our own parameter succeeds and updates min/max/default."""
        data: dict[str, Any] = {"parameterName": param.name, "min": float(param.min), "max": float(param.max),
                                "defaultValue": float(param.default)}
        if param.explanation:
            data["explanation"] = param.explanation
        return self._authed_request("ParameterCreationRequest", data, now)

    def inject(self, values: Sequence[ParameterValue], *, face_found: bool, mode: str = "set",
               now: float | None = None) -> str:
        """InjectParameterDataRequest. ``mode``: ``"set"`` (override; weights apply) or ``"add"`` (weights
        are not sent: VTS ignores them in add mode). ``values`` must not be empty (VTS error 450)."""
        if mode not in ("set", "add"):
            raise ValueError(f"VTS inject mode {mode!r}: expected 'set' or 'add'")
        if not values:
            raise ValueError("VTS inject: no parameter values (VTS answers error 450 to an empty list)")
        entries: list[dict[str, Any]] = []
        for v in values:
            entry: dict[str, Any] = {"id": v.id, "value": round(float(v.value), 6)}
            if mode == "set" and v.weight != 1.0:
                entry["weight"] = round(float(v.weight), 6)
            entries.append(entry)
        return self._authed_request("InjectParameterDataRequest",
                                    {"faceFound": bool(face_found), "mode": mode, "parameterValues": entries},
                                    now)

    def request_hotkeys(self, now: float | None = None) -> str:
        return self._authed_request("HotkeysInCurrentModelRequest", None, now)

    def trigger_hotkey(self, hotkey: str, now: float | None = None) -> str:
        """HotkeyTriggerRequest by hotkey id or (case-insensitive) name."""
        if not hotkey:
            raise ValueError("VTS hotkey name must not be empty")
        return self._authed_request("HotkeyTriggerRequest", {"hotkeyID": hotkey}, now)

    def request(self, message_type: str, data: Mapping[str, Any] | None = None,
                now: float | None = None) -> str:
        """Any other authenticated request; the reply comes back as :class:`Reply`/:class:`RequestFailed`."""
        if message_type in _UNAUTHENTICATED_REQUESTS:
            raise ValueError(f"{message_type} is sent by the client itself; use its own method")
        return self._authed_request(message_type, data, now)

    def expire(self, now: float, timeout: float) -> list[VTSEvent]:
        """Forget requests older than ``timeout`` seconds (VTS never answered); one event each. A token
        request never expires: VTS answers it only when the user clicks Allow or Deny, maybe minutes later."""
        old = [rid for rid, p in self._pending.items()
               if now - p.sent_at > timeout and p.request_type != "AuthenticationTokenRequest"]
        return [RequestTimedOut(rid, self._pending.pop(rid).request_type) for rid in old]

    # -- incoming -----------------------------------------------------------------------------------

    def receive_text(self, text: str | bytes, now: float = 0.0) -> list[VTSEvent]:
        """Digest one message from VTS. Returns events; may queue more text (see :meth:`data_to_send`).

        Raises:
            VTSMessageError: the text is not a well-formed VTS message (or a known reply lacks its fields).
            VTSStateError: a reply that makes no sense in the current state (e.g. an auth reply while
                disconnected).
        """
        self._now = now
        msg = _parse_envelope(text)
        raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
        mtype: str = msg["messageType"]
        data: dict[str, Any] = msg["data"]
        rid = msg.get("requestID")
        events: list[VTSEvent] = []
        pending = self._pending.pop(rid, None) if rid is not None else None
        if pending is None:
            if mtype.endswith("Event") and mtype != "APIError":
                events.append(ServerEvent(mtype, data))
            else:
                events.append(UnmatchedReply(rid or "", mtype))
            return events
        if self.state is ConnState.DISCONNECTED:
            raise VTSStateError(self.state, f"reply {mtype}", "a reply arrived with no connection")
        rtype = pending.request_type
        if mtype == "APIError":
            error_id = _field(raw, data, "errorID", int)
            message = str(data.get("message", ""))
            self._on_error(rid or "", rtype, error_id, message, events)
            return events
        expected = rtype[: -len("Request")] + "Response" if rtype.endswith("Request") else None
        if expected is not None and mtype != expected:
            raise VTSMessageError(raw, f"reply to {rtype} has messageType {mtype!r}, expected {expected!r}")
        self._on_reply(rid or "", rtype, mtype, data, raw, events)
        return events

    def _on_error(self, rid: str, rtype: str, error_id: int, message: str, events: list[VTSEvent]) -> None:
        if rtype == "AuthenticationTokenRequest":
            if self.state is ConnState.REQUESTING_TOKEN:
                self._move("token_denied", events)
            events.append(TokenDenied(error_id, message))
            return
        if rtype == "AuthenticationRequest":
            if self.state is ConnState.AUTHENTICATING:
                self._reject_token(f"error {error_id}: {message}", events)
            events.append(RequestFailed(rid, rtype, error_id, message))
            return
        if error_id in (ErrorID.TOKEN_REQUEST_DENIED, ErrorID.REQUEST_REQUIRES_AUTHENTICATION) \
                and self.state is ConnState.AUTHENTICATED:
            # Access revoked while we were connected: forget the token, ask again (once per connection).
            self._move("access_revoked", events)
            self._reject_token(f"error {error_id}: {message}", events, already_moved=True)
        events.append(RequestFailed(rid, rtype, error_id, message))

    def _reject_token(self, reason: str, events: list[VTSEvent], already_moved: bool = False) -> None:
        if not already_moved:
            self._move("authentication_rejected", events)
        self.token = None
        again = not self._token_requested_this_connection
        if again:
            self._pending = {k: v for k, v in self._pending.items()
                             if v.request_type in _UNAUTHENTICATED_REQUESTS}
            old = self.state
            self._start_auth()
            events.append(StateChanged(old, self.state))
        events.append(AuthenticationRejected(reason, again))

    def _on_reply(self, rid: str, rtype: str, mtype: str, data: dict[str, Any], raw: str,
                  events: list[VTSEvent]) -> None:
        if rtype == "AuthenticationTokenRequest":
            token = _field(raw, data, "authenticationToken", str)
            if not token or len(token) > 64:
                raise VTSMessageError(raw, f"authenticationToken has {len(token)} characters, expected 1..64")
            if self.state is not ConnState.REQUESTING_TOKEN:
                raise VTSStateError(self.state, "token_granted", "a token arrived that we did not wait for")
            self._move("token_granted", events)
            self.token = token
            events.append(TokenGranted(token))
            self._start_auth()
            events.append(StateChanged(ConnState.CONNECTED, self.state))
        elif rtype == "AuthenticationRequest":
            ok = _field(raw, data, "authenticated", bool)
            if self.state is not ConnState.AUTHENTICATING:
                raise VTSStateError(self.state, "authenticated" if ok else "authentication_rejected",
                                    "an authentication reply arrived that we did not wait for")
            if ok:
                self._move("authenticated", events)
                self._token_requested_this_connection = False  # a later revocation may ask again
                events.append(Authenticated())
            else:
                self._reject_token(str(data.get("reason", "token refused")), events)
        elif rtype == "APIStateRequest":
            events.append(APIStateReply(
                active=_field(raw, data, "active", bool),
                version=str(data.get("vTubeStudioVersion", "")),
                authenticated=_field(raw, data, "currentSessionAuthenticated", bool)))
        elif rtype == "ParameterCreationRequest":
            events.append(ParameterCreated(_field(raw, data, "parameterName", str)))
        elif rtype == "HotkeysInCurrentModelRequest":
            items = data.get("availableHotkeys", [])
            if not isinstance(items, list):
                raise VTSMessageError(raw, "data.availableHotkeys is not a list")
            hotkeys = []
            for item in items:
                if not isinstance(item, dict):
                    raise VTSMessageError(raw, "an availableHotkeys entry is not an object")
                hotkeys.append(HotkeyInfo(str(item.get("name", "")), _field(raw, item, "hotkeyID", str),
                                          str(item.get("type", ""))))
            events.append(HotkeyList(bool(data.get("modelLoaded", False)), tuple(hotkeys)))
        else:
            events.append(Reply(rid, rtype, mtype, data))


# ---------------------------------------------------------------------------------------------- keep-alive


@dataclass
class InjectionScheduler:
    """Plans which parameters go into each inject: changed ones every tick, unchanged ones at least every
    ``keepalive_s`` seconds (VTS drops a parameter not re-sent within 1 s, so keep this well under 1).

    Pure bookkeeping; time is an argument. ``epsilon``: a change smaller than this counts as unchanged.
    """

    keepalive_s: float = 0.5
    epsilon: float = 1e-4
    _last: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # id -> (value, weight, t)

    def __post_init__(self) -> None:
        if not 0.0 < self.keepalive_s < 1.0:
            raise ValueError(f"keepalive_s {self.keepalive_s}: must be in (0, 1) s (VTS drops after 1 s)")

    def due(self, values: Iterable[ParameterValue], now: float) -> list[ParameterValue]:
        """The entries of ``values`` to send at ``now`` (and marks them sent)."""
        out = []
        for v in values:
            last = self._last.get(v.id)
            if (last is None or now - last[2] >= self.keepalive_s or abs(v.value - last[0]) > self.epsilon
                    or abs(v.weight - last[1]) > self.epsilon):
                out.append(v)
                self._last[v.id] = (v.value, v.weight, now)
        return out

    def reset(self) -> None:
        """Forget what was sent (new connection: everything is due)."""
        self._last.clear()
