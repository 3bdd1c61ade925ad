"""Expressions: named presets of parameter values that fade in and out (pure; time is an argument).

Built-in presets: ``happy``, ``sad``, ``angry``, ``surprised``, ``neutral`` (``neutral`` fades the current
expression out). Users add their own in the config as ``[expressions.NAME]`` tables of ``param = value``.

``ExpressionLayer.trigger(name, t, fade, duration)`` starts a preset at time ``t``: its weight rises 0 -> 1
over ``fade`` seconds, stays for ``duration`` seconds (None = until another expression or ``neutral``), then
falls back to 0 over ``fade``. A new expression cross-fades with the previous one. ``entries(t)`` gives
``(param, weight, value, multiply)``: eye-openness parameters multiply the value below (so idle blinks keep
working under a ``sad`` half-lidded look); all others override it with the given weight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["BUILTIN_PRESETS", "MULTIPLY_PARAMS", "Expression", "ExpressionLayer"]

MULTIPLY_PARAMS = frozenset({"ParamEyeLOpen", "ParamEyeROpen"})

BUILTIN_PRESETS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "neutral": MappingProxyType({}),
    "happy": MappingProxyType({"ParamMouthForm": 1.0, "ParamEyeLSmile": 0.7, "ParamEyeRSmile": 0.7,
                               "ParamCheek": 0.6, "ParamBrowLY": 0.3, "ParamBrowRY": 0.3}),
    "sad": MappingProxyType({"ParamMouthForm": -0.8, "ParamBrowLY": -0.6, "ParamBrowRY": -0.6,
                             "ParamEyeLOpen": 0.7, "ParamEyeROpen": 0.7, "ParamAngleY": -6.0}),
    "angry": MappingProxyType({"ParamMouthForm": -0.6, "ParamBrowLY": -1.0, "ParamBrowRY": -1.0,
                               "ParamEyeLOpen": 0.85, "ParamEyeROpen": 0.85, "ParamCheek": 0.3}),
    "surprised": MappingProxyType({"ParamBrowLY": 1.0, "ParamBrowRY": 1.0, "ParamMouthForm": 0.0,
                                   "ParamAngleY": 4.0}),
})


@dataclass(frozen=True)
class Expression:
    name: str
    start: float
    fade: float
    duration: float | None
    values: Mapping[str, float]
    stop: float | None = None  # when it started fading out (set when replaced)

    def weight(self, t: float) -> float:
        w_in = 1.0 if self.fade <= 0 else min(1.0, max(0.0, (t - self.start) / self.fade))
        end = self.stop
        if self.duration is not None:
            natural = self.start + self.fade + self.duration
            end = natural if end is None else min(end, natural)
        if end is None or t < end:
            return w_in
        w_at_end = 1.0 if self.fade <= 0 else min(1.0, max(0.0, (end - self.start) / self.fade))
        w_out = 0.0 if self.fade <= 0 else max(0.0, 1.0 - (t - end) / self.fade)
        return w_at_end * w_out


class ExpressionLayer:
    """The active expressions (at most a few while cross-fading)."""

    def __init__(self, presets: Mapping[str, Mapping[str, float]] | None = None) -> None:
        merged = dict(BUILTIN_PRESETS)
        merged.update(presets or {})
        self.presets: dict[str, Mapping[str, float]] = merged
        self._active: list[Expression] = []

    def names(self) -> list[str]:
        """Preset names: ``neutral`` first, then the built-ins, then the user's, alphabetically."""
        return sorted(self.presets, key=lambda n: (n != "neutral", n not in BUILTIN_PRESETS, n))

    def trigger(self, name: str, t: float, fade: float = 0.3, duration: float | None = None) -> Expression:
        """Start preset ``name`` (KeyError if unknown); the previous expressions fade out from ``t``."""
        values = self.presets[name]
        self._active = [e if e.stop is not None and e.stop <= t else
                        Expression(e.name, e.start, fade, e.duration, e.values, stop=t) for e in self._active]
        expr = Expression(name, t, max(0.0, fade), duration, values)
        if values:
            self._active.append(expr)
        return expr

    def current(self, t: float) -> str:
        """The name of the strongest expression at ``t`` ("neutral" when none)."""
        best, name = 0.0, "neutral"
        for e in self._active:
            w = e.weight(t)
            if w > best:
                best, name = w, e.name
        return name

    def entries(self, t: float) -> list[tuple[str, float, float, bool]]:
        """(param, weight, value, multiply) for every active preset value, oldest first."""
        self._active = [e for e in self._active if e.weight(t) > 0.0 or t < e.start + e.fade]
        out = []
        for e in self._active:
            w = e.weight(t)
            if w <= 0:
                continue
            for pid, v in e.values.items():
                out.append((pid, w, v, pid in MULTIPLY_PARAMS))
        return out
