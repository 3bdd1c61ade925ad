"""The daemon's tick, without I/O: sources' latest updates + idle + expressions + API holds -> AvatarParams.

``Engine.tick(t, updates)`` is a pure step of state by time (tests call it in a loop with made-up times):

1. base: the puppet's defaults, then idle life (blinks, breathing, sway, saccades) at priority 0;
2. layers, per parameter, in increasing priority (see :mod:`avatar_plugin.live.interfaces`, section 2):
   each source with an envelope 0..1 (fade in ``fade_in_s``, out ``fade_out_s`` when it goes inactive or
   stale, holding its last values while it fades), the expression layer (35), the API holds (50);
   ``value = lerp(value, layer_value, weight)`` (eye openness in expressions multiplies instead);
3. filters: puppet axes are clamped to their ranges (extras pass through);
4. physics: the puppet's pendulum chains step by the tick's dt and write their output parameters (hair);
5. the result is an :class:`AvatarParams` with ``face_found`` (a fresh tracking update saw a face) and
   ``speaking`` (a ``tts`` source is active).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from avatar_plugin.live.expressions import ExpressionLayer
from avatar_plugin.live.idle import IdleLife, IdleOptions
from avatar_plugin.live.interfaces import FADE_IN_S, FADE_OUT_S, PRIORITIES, AvatarParams, SourceUpdate
from avatar_plugin.puppet.model import Puppet
from avatar_plugin.puppet.physics import PhysicsState

__all__ = ["Engine", "EngineOptions", "SourceSlot"]


@dataclass(frozen=True)
class EngineOptions:
    fade_in_s: float = FADE_IN_S
    fade_out_s: float = FADE_OUT_S
    idle: IdleOptions = field(default_factory=IdleOptions)
    physics: bool = True
    seed: int | None = 0
    presets: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


@dataclass
class SourceSlot:
    """The engine's view of one source: its priority function, staleness limit and fade envelope."""

    name: str
    kind: str
    priority_for: Callable[[str], int]
    stale_after_s: float = 0.5
    envelope: float = 0.0
    last: SourceUpdate | None = None
    live: bool = False


@dataclass
class _Hold:
    value: float
    until: float | None  # None = until cleared


class Engine:
    """Mixer + idle + expressions + API holds + clamp + physics (see the module docstring)."""

    def __init__(self, puppet: Puppet, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.axes = {a: (ax.min, ax.max, ax.default) for a, ax in puppet.axes().items()}
        self.defaults = puppet.defaults()
        self.idle = IdleLife(self.options.idle, self.options.seed)
        self.expressions = ExpressionLayer(self.options.presets)
        self.physics = PhysicsState(puppet) if self.options.physics and puppet.physics else None
        self.physics_outputs = {o.param for c in puppet.physics for o in c.outputs} if self.physics else set()
        self.slots: dict[str, SourceSlot] = {}
        self._holds: dict[str, _Hold] = {}
        self._released: dict[str, tuple[float, float]] = {}  # param -> (value, release time) while fading
        self._last_t: float | None = None
        self._api_priority = PRIORITIES["api"]
        self._expr_priority = PRIORITIES["expression"]

    # --- inputs ---------------------------------------------------------------------------------------
    def add_source(self, slot: SourceSlot) -> None:
        if slot.name in self.slots:
            raise ValueError(f"source name {slot.name!r} used twice; give each source a unique name")
        self.slots[slot.name] = slot

    def set_params(self, values: Mapping[str, float], t: float, hold: float | None = None) -> None:
        """Hold ``values`` from ``t`` for ``hold`` seconds (None: until :meth:`clear`), then fade out."""
        until = None if hold is None else t + hold
        for pid, v in values.items():
            self._holds[pid] = _Hold(float(v), until)
            self._released.pop(pid, None)

    def clear(self, t: float, params: list[str] | None = None) -> None:
        """Release held parameters (all when ``params`` is None); they fade out from ``t``."""
        for pid in list(self._holds) if params is None else params:
            h = self._holds.pop(pid, None)
            if h is not None:
                self._released[pid] = (h.value, t)

    def held(self) -> dict[str, float]:
        return {p: h.value for p, h in self._holds.items()}

    # --- the tick -------------------------------------------------------------------------------------
    def tick(self, t: float, updates: Mapping[str, SourceUpdate | None]) -> AvatarParams:
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        o = self.options

        # 1. base and idle
        values: dict[str, float] = dict(self.defaults)
        values.update(self.idle.update(t))

        # 2. layers: (priority, order, param, weight, value, multiply)
        layers: list[tuple[int, int, str, float, float, bool]] = []
        face_found = False
        speaking = False
        order = 0
        for name, slot in self.slots.items():
            upd = updates.get(name)
            if upd is not None:
                slot.last = upd
            last = slot.last
            slot.live = last is not None and last.active and t - last.t <= slot.stale_after_s
            if slot.live:
                slot.envelope = 1.0 if o.fade_in_s <= 0 else min(1.0, slot.envelope + dt / o.fade_in_s)
            else:
                slot.envelope = 0.0 if o.fade_out_s <= 0 else max(0.0, slot.envelope - dt / o.fade_out_s)
            if last is None:
                continue
            if slot.live and last.face_found:
                face_found = True
            if slot.live and slot.kind == "tts":
                speaking = True
            if slot.envelope <= 0.0:
                continue
            for pid, v in last.values.items():
                layers.append((slot.priority_for(pid), order, pid, slot.envelope, v, False))
                order += 1
        for pid, w, v, mul in self.expressions.entries(t):
            layers.append((self._expr_priority, order, pid, w, v, mul))
            order += 1
        for pid, h in list(self._holds.items()):
            if h.until is not None and t >= h.until:
                del self._holds[pid]
                self._released[pid] = (h.value, h.until)
                continue
            layers.append((self._api_priority, order, pid, 1.0, h.value, False))
            order += 1
        for pid, (v, since) in list(self._released.items()):
            w = 0.0 if o.fade_out_s <= 0 else 1.0 - (t - since) / o.fade_out_s
            if w <= 0:
                del self._released[pid]
                continue
            layers.append((self._api_priority, order, pid, min(1.0, w), v, False))
            order += 1
        layers.sort()
        for _, _, pid, w, v, multiply in layers:
            below = values.get(pid, v)
            if multiply:
                values[pid] = below * (1.0 + (v - 1.0) * w)
            else:
                values[pid] = below + (v - below) * w

        # 3. filters: clamp puppet axes
        for pid, (lo, hi, _) in self.axes.items():
            v = values[pid]
            values[pid] = lo if v < lo else hi if v > hi else v
        for pid, v in values.items():
            if not math.isfinite(v):
                values[pid] = self.axes[pid][2] if pid in self.axes else 0.0

        # 4. physics (outputs win unless the API holds that parameter)
        if self.physics is not None:
            out = self.physics.step(values, dt)
            for pid, v in out.items():
                if pid not in self._holds:
                    values[pid] = v

        # 5. result
        return AvatarParams(t=t, values=values, face_found=face_found, speaking=speaking)
