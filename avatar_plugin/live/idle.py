"""Idle life: what the avatar does when nothing else drives a parameter (pure; time is an argument).

``IdleLife(options, seed).update(t) -> dict`` gives, at daemon time ``t`` seconds (call with increasing t):

- blinks at random intervals of ``blink_min_s``..``blink_max_s`` (default 2-6 s), sometimes a double blink
  (``double_blink_chance``); a blink closes in 60 ms, stays shut 40 ms and opens in 120 ms
  (``ParamEyeLOpen``/``ParamEyeROpen`` 1 -> 0 -> 1);
- breathing: ``ParamBreath`` = 0.5 - 0.5 cos(2 pi t / ``breath_period_s``);
- slow, small head and body sway: sums of two incommensurate sines per axis (a few degrees, times ``sway``);
- eye saccades: every 0.6-3 s the gaze jumps to a new point near the centre (``ParamEyeBallX``/``Y``),
  reached in ~40 ms (exponential approach).

Randomness comes from ``random.Random(seed)``: the same seed and the same call times give the same motion.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["IdleLife", "IdleOptions", "blink_closure"]

_CLOSE_S, _SHUT_S, _OPEN_S = 0.06, 0.04, 0.12
_BLINK_S = _CLOSE_S + _SHUT_S + _OPEN_S


@dataclass(frozen=True)
class IdleOptions:
    enabled: bool = True
    blink_min_s: float = 2.0
    blink_max_s: float = 6.0
    double_blink_chance: float = 0.15
    breath_period_s: float = 3.6
    sway: float = 1.0
    saccades: bool = True

    def __post_init__(self) -> None:
        if not 0.2 <= self.blink_min_s <= self.blink_max_s:
            raise ValueError(f"idle: expected 0.2 <= blink_min_s <= blink_max_s, found {self.blink_min_s}, "
                             f"{self.blink_max_s}")
        if not 0.0 <= self.double_blink_chance <= 1.0:
            raise ValueError(f"idle: double_blink_chance {self.double_blink_chance} outside 0..1")
        if self.breath_period_s <= 0:
            raise ValueError(f"idle: breath_period_s must be > 0, found {self.breath_period_s}")


def blink_closure(dt: float) -> float:
    """Eye closure 0..1 at ``dt`` seconds after a blink started (0 outside the blink)."""
    if dt < 0 or dt >= _BLINK_S:
        return 0.0
    if dt < _CLOSE_S:
        x = dt / _CLOSE_S
        return x * x * (3 - 2 * x)
    if dt < _CLOSE_S + _SHUT_S:
        return 1.0
    x = (dt - _CLOSE_S - _SHUT_S) / _OPEN_S
    return 1.0 - x * x * (3 - 2 * x)


# (amplitude, period s, phase) pairs per parameter; amplitudes in the parameter's units
_SWAY: dict[str, tuple[tuple[float, float, float], ...]] = {
    "ParamAngleX": ((3.0, 7.3, 0.0), (1.2, 3.1, 1.3)),
    "ParamAngleY": ((2.0, 5.9, 0.7), (0.8, 2.3, 2.1)),
    "ParamAngleZ": ((2.5, 9.7, 1.9), (0.7, 4.3, 0.4)),
    "ParamBodyAngleX": ((2.0, 11.3, 0.3), (0.6, 5.3, 1.1)),
    "ParamBodyAngleZ": ((1.5, 8.9, 2.6), (0.5, 3.7, 0.9)),
}


class IdleLife:
    """Blinks, breathing, sway and saccades as parameter values (see the module docstring)."""

    def __init__(self, options: IdleOptions | None = None, seed: int | None = 0) -> None:
        self.options = options or IdleOptions()
        self._rng = random.Random(seed)
        self._blinks: list[float] = []  # start times of scheduled blinks
        self._next_blink: float | None = None
        self._gaze = (0.0, 0.0)
        self._gaze_target = (0.0, 0.0)
        self._next_saccade: float | None = None
        self._last_t: float | None = None

    def _schedule_blinks(self, t: float) -> None:
        o = self.options
        if self._next_blink is None:
            self._next_blink = t + self._rng.uniform(0.5, o.blink_max_s)
        while t >= self._next_blink:
            start = self._next_blink
            self._blinks.append(start)
            if self._rng.random() < o.double_blink_chance:
                self._blinks.append(start + _BLINK_S + 0.08)
            self._next_blink = start + self._rng.uniform(o.blink_min_s, o.blink_max_s)
        self._blinks = [b for b in self._blinks if t - b < _BLINK_S]

    def update(self, t: float) -> dict[str, float]:
        """Idle values at time ``t`` (seconds). Empty when idle life is disabled."""
        o = self.options
        if not o.enabled:
            return {}
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        out: dict[str, float] = {}

        # 1. blinks
        self._schedule_blinks(t)
        closure = max((blink_closure(t - b) for b in self._blinks), default=0.0)
        out["ParamEyeLOpen"] = out["ParamEyeROpen"] = 1.0 - closure

        # 2. breathing
        out["ParamBreath"] = 0.5 - 0.5 * math.cos(2 * math.pi * t / o.breath_period_s)

        # 3. sway
        for pid, terms in _SWAY.items():
            out[pid] = o.sway * sum(a * math.sin(2 * math.pi * t / p + ph) for a, p, ph in terms)

        # 4. saccades
        if o.saccades:
            if self._next_saccade is None or t >= self._next_saccade:
                self._gaze_target = (self._rng.uniform(-0.35, 0.35), self._rng.uniform(-0.2, 0.2))
                if self._rng.random() < 0.35:
                    self._gaze_target = (0.0, 0.0)  # back to the viewer often
                self._next_saccade = t + self._rng.uniform(0.6, 3.0)
            k = 1.0 - math.exp(-dt / 0.04) if dt > 0 else 0.0
            gx, gy = self._gaze
            tx, ty = self._gaze_target
            self._gaze = (gx + (tx - gx) * k, gy + (ty - gy) * k)
            out["ParamEyeBallX"], out["ParamEyeBallY"] = self._gaze
        return out
