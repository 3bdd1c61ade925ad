"""Pendulum-chain physics (runtime state, apart from the frozen definition).

``PhysicsState(puppet).step(values, dt)`` advances every chain by ``dt`` seconds and returns the output
parameter values (e.g. ``ParamHairFront``) to merge into ``values`` before :func:`evaluate`.

Model (one chain): ``segments`` point masses hang from an anchor by rigid links of ``length / segments``
pixels, integrated with Verlet in fixed sub-steps of at most 1/120 s:

- inputs move the anchor: ``kind="x"`` (``"y"``) shifts it by ``weight * n`` pixels, ``kind="angle"`` tilts
  gravity by ``weight * n`` degrees, where ``n`` is the input value normalised to -1..1 over its range
  (the range's middle maps to 0);
- velocity decays as ``exp(-12 * damping * t)`` (0.5 is a lively default, 1.0 near critical);
  ``stiffness`` pulls each mass toward its hanging rest place;
- output: the angle of the anchor -> tip line from straight down, degrees, + when the tip swings toward the
  screen's right; ``value = weight * angle / angle_range``, clamped to the output axis range.

This mirrors Cubism physics3 / Inochi2D SimplePhysics in spirit (inputs -> pendulum -> output parameter),
simplified to what a generated rig needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.puppet.model import Axis, PhysicsChain, Puppet

__all__ = ["MAX_SUBSTEP", "PhysicsState"]

MAX_SUBSTEP = 1.0 / 120.0
_CONSTRAINT_ITERATIONS = 4


def _normalised(axis: Axis, value: float) -> float:
    mid, half = (axis.min + axis.max) / 2.0, (axis.max - axis.min) / 2.0
    return (min(axis.max, max(axis.min, value)) - mid) / half


class _ChainState:
    def __init__(self, chain: PhysicsChain) -> None:
        self.chain = chain
        self.link = chain.length / chain.segments
        rest = np.zeros((chain.segments + 1, 2))
        rest[:, 1] = np.arange(chain.segments + 1) * self.link
        self.rest_offsets = rest  # relative to the anchor, hanging straight down
        self.pos: NDArray[np.float64] = rest.copy()
        self.prev: NDArray[np.float64] = rest.copy()

    def reset(self) -> None:
        self.pos = self.rest_offsets.copy()
        self.prev = self.rest_offsets.copy()

    def substep(self, anchor: NDArray[np.float64], tilt_deg: float, h: float) -> None:
        c = self.chain
        tilt = math.radians(tilt_deg)
        gravity = np.array([math.sin(tilt), math.cos(tilt)]) * c.gravity
        rest = anchor + self.rest_offsets
        velocity = (self.pos - self.prev) * math.exp(-12.0 * c.damping * h)
        accel = gravity + (rest - self.pos) * (c.stiffness * 60.0)
        new = self.pos + velocity + accel * (h * h)
        new[0] = anchor
        for _ in range(_CONSTRAINT_ITERATIONS):
            for k in range(1, len(new)):
                d = new[k] - new[k - 1]
                dist = math.hypot(d[0], d[1]) or 1e-9
                new[k] = new[k - 1] + d * (self.link / dist)
        self.prev = self.pos
        self.prev[0] = anchor
        self.pos = new

    def angle(self) -> float:
        d = self.pos[-1] - self.pos[0]
        return math.degrees(math.atan2(d[0], d[1]))


class PhysicsState:
    """The runtime state of every physics chain of one puppet."""

    def __init__(self, puppet: Puppet) -> None:
        self._axes = puppet.axes()
        self._chains = [_ChainState(c) for c in puppet.physics]
        self._initialised = False

    def reset(self) -> None:
        for state in self._chains:
            state.reset()
        self._initialised = False

    def _drive(self, chain: PhysicsChain, values: Mapping[str, float]) -> tuple[NDArray[np.float64], float]:
        anchor = np.zeros(2)
        tilt = 0.0
        for inp in chain.inputs:
            axis = self._axes[inp.param]
            n = _normalised(axis, float(values.get(inp.param, axis.default))) * inp.weight
            if inp.kind == "x":
                anchor[0] += n
            elif inp.kind == "y":
                anchor[1] += n
            else:
                tilt += n
        return anchor, tilt

    def step(self, values: Mapping[str, float], dt: float) -> dict[str, float]:
        """Advance by ``dt`` seconds (0 <= dt; long gaps are capped at 0.25 s) and return output values."""
        if not math.isfinite(dt) or dt < 0:
            raise ValueError(f"physics step: dt must be a finite number >= 0 seconds, found {dt}")
        dt = min(dt, 0.25)
        steps = max(1, math.ceil(dt / MAX_SUBSTEP)) if dt > 0 else 0
        h = dt / steps if steps else 0.0
        for state in self._chains:
            anchor, tilt = self._drive(state.chain, values)
            if not self._initialised:
                state.pos = state.rest_offsets + anchor
                state.prev = state.pos.copy()
            for _ in range(steps):
                state.substep(anchor, tilt, h)
        self._initialised = True
        return self.outputs()

    def outputs(self) -> dict[str, float]:
        result: dict[str, float] = {}
        for state in self._chains:
            angle = state.angle()
            for out in state.chain.outputs:
                value = out.weight * angle / out.angle_range
                result[out.param] = result.get(out.param, 0.0) + value
        return {k: min(self._axes[k].max, max(self._axes[k].min, v)) for k, v in result.items()}
