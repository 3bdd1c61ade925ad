"""The control API's wire types (Sans-I/O): JSON text in, typed messages out; replies and events out.

Every message is a JSON object with a ``type``; an optional ``id`` (string or integer, <= 64 chars) is
echoed in the reply so a client can match replies to requests. Built-in types (docs/control-api.md):

- ``set``: ``{"type": "set", "params": {"ParamAngleX": 10.0}, "hold": 2.0}``; ``hold`` seconds (optional;
  absent = until ``clear``), then the value fades back over the mixer's fade-out time.
- ``clear``: ``{"type": "clear", "params": ["ParamAngleX"]}`` (``params`` optional: all).
- ``expression``: ``{"type": "expression", "name": "happy", "fade": 0.3, "duration": 3.0}``
  (``fade`` optional: ``[expressions] default_fade_s``; ``duration`` optional: until the next expression).
- ``status``: ``{"type": "status"}``.

Replies: ``{"ok": true, "type": ..., ...}`` or ``{"ok": false, "error": "..."}``. Plug-in modules add types
with :class:`~avatar_plugin.live.interfaces.ApiMessageSpec`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from avatar_plugin.errors import ProtocolError

__all__ = [
    "BUILTIN_TYPES",
    "ClearMessage",
    "ExpressionMessage",
    "SetMessage",
    "StatusMessage",
    "check_fields",
    "decode_json",
    "error_reply",
    "ok_reply",
    "parse_builtin",
    "request_id",
]

MAX_PARAMS = 256


def decode_json(text: str | bytes, max_bytes: int) -> dict[str, Any]:
    """Parse one message: a JSON object of at most ``max_bytes``; ProtocolError otherwise."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > max_bytes:
        raise ProtocolError(f"message of {size} bytes is over the limit of {max_bytes} bytes; send less")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"message is not valid JSON ({exc}); send one JSON object per message") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"message is a JSON {type(obj).__name__}, expected an object with a \"type\"")
    return obj


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")


def request_id(obj: Mapping[str, Any]) -> str | int | None:
    rid = obj.get("id")
    if rid is None:
        return None
    if isinstance(rid, bool) or not isinstance(rid, (str, int)) or len(str(rid)) > 64:
        raise ProtocolError(f"id {rid!r}: expected a string or integer of at most 64 characters")
    return rid


def ok_reply(type_: str, rid: str | int | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": True, "type": type_}
    if rid is not None:
        out["id"] = rid
    out.update(fields)
    return out


def error_reply(error: str, type_: str | None = None, rid: str | int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": False, "error": error}
    if type_ is not None:
        out["type"] = type_
    if rid is not None:
        out["id"] = rid
    return out


def check_fields(obj: Mapping[str, Any], type_: str, required: set[str], optional: set[str]) -> None:
    """ProtocolError for a missing required field or an unknown one (``type`` and ``id`` always allowed)."""
    allowed = required | optional | {"type", "id"}
    for key in obj:
        if key not in allowed:
            raise ProtocolError(f"{type_}: unknown field {key!r}; allowed fields are {', '.join(sorted(allowed))}")
    for key in sorted(required):
        if key not in obj:
            raise ProtocolError(f"{type_}: missing field {key!r}")


def _number(value: Any, where: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"{where} = {value!r}: expected a finite number")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ProtocolError(f"{where} = {value!r}: expected a number in {lo}..{hi}")
    return float(value)


@dataclass(frozen=True)
class SetMessage:
    type = "set"
    params: Mapping[str, float]
    hold: float | None = None

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> SetMessage:
        check_fields(obj, cls.type, {"params"}, {"hold"})
        params = obj["params"]
        if not isinstance(params, dict) or not params:
            raise ProtocolError(f"set: params = {params!r}: expected a non-empty object of id -> number")
        if len(params) > MAX_PARAMS:
            raise ProtocolError(f"set: {len(params)} params, at most {MAX_PARAMS} per message")
        values = {str(k): _number(v, f"set: params.{k}") for k, v in params.items()}
        hold = obj.get("hold")
        return cls(MappingProxyType(values), None if hold is None else _number(hold, "set: hold", 0.0, 86400.0))

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "params": dict(self.params)}
        if self.hold is not None:
            out["hold"] = self.hold
        return out


@dataclass(frozen=True)
class ClearMessage:
    type = "clear"
    params: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> ClearMessage:
        check_fields(obj, cls.type, set(), {"params"})
        params = obj.get("params")
        if params is None:
            return cls(None)
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise ProtocolError(f"clear: params = {params!r}: expected a list of parameter ids")
        return cls(tuple(params))

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.params is not None:
            out["params"] = list(self.params)
        return out


@dataclass(frozen=True)
class ExpressionMessage:
    type = "expression"
    name: str
    fade: float | None = None
    duration: float | None = None

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> ExpressionMessage:
        check_fields(obj, cls.type, {"name"}, {"fade", "duration"})
        name = obj["name"]
        if not isinstance(name, str) or not name or len(name) > 64:
            raise ProtocolError(f"expression: name = {name!r}: expected an expression name such as \"happy\"")
        fade, duration = obj.get("fade"), obj.get("duration")
        return cls(name, None if fade is None else _number(fade, "expression: fade", 0.0, 60.0),
                   None if duration is None else _number(duration, "expression: duration", 0.0, 86400.0))

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        if self.fade is not None:
            out["fade"] = self.fade
        if self.duration is not None:
            out["duration"] = self.duration
        return out


@dataclass(frozen=True)
class StatusMessage:
    type = "status"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> StatusMessage:
        check_fields(obj, cls.type, set(), set())
        return cls()

    def serialize(self) -> dict[str, Any]:
        return {"type": self.type}


BUILTIN_TYPES: Mapping[str, Any] = MappingProxyType({
    "set": SetMessage, "clear": ClearMessage, "expression": ExpressionMessage, "status": StatusMessage,
})


def parse_builtin(obj: Mapping[str, Any]) -> SetMessage | ClearMessage | ExpressionMessage | StatusMessage:
    cls = BUILTIN_TYPES[obj["type"]]
    return cls.parse(obj)
