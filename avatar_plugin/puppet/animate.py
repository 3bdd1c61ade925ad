"""A scripted few seconds that exercise every parameter a puppet has, for preview GIFs.

``script_values(puppet, t)`` gives the driven parameter values at time ``t`` seconds (pure); ``animate``
steps physics along the script and renders frames. Scenes, in order: idle with breath and a blink, talking
(mouth open and form, vowels), looking around (gaze, brows), head turn (AngleX, AngleY, AngleZ) with the body
following, a smile with blush, then a sweep of any remaining (non-standard) axis from min to max and back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.puppet.evaluate import evaluate
from avatar_plugin.puppet.model import Puppet
from avatar_plugin.puppet.physics import PhysicsState
from avatar_plugin.puppet.raster import View, raster

__all__ = ["SCENES", "Scene", "animate", "script_duration", "script_values"]


def _blink(t: float, at: float, length: float = 0.18) -> float:
    """Eye openness for a blink centred at ``at`` (1 open, 0 closed)."""
    d = abs(t - at) / (length / 2)
    return 1.0 if d >= 1 else d * d


def _ease(x: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(1.0, max(0.0, x)))


@dataclass(frozen=True)
class Scene:
    name: str
    duration: float
    values: Callable[[float], dict[str, float]]  # local time (s) -> values


def _idle(t: float) -> dict[str, float]:
    eye = _blink(t, 0.8)
    return {"ParamBreath": 0.5 - 0.5 * math.cos(2 * math.pi * t / 1.6), "ParamEyeLOpen": eye, "ParamEyeROpen": eye}


def _talk(t: float) -> dict[str, float]:
    syllable = abs(math.sin(2 * math.pi * t * 2.2))
    vowel = int(t * 4.4) % 5
    names = ["ParamA", "ParamI", "ParamU", "ParamE", "ParamO"]
    values = {"ParamMouthOpenY": syllable * (0.5 + 0.5 * (vowel in (0, 4))),
              "ParamMouthForm": math.sin(2 * math.pi * t / 2.0)}
    values.update({n: syllable if k == vowel else 0.0 for k, n in enumerate(names)})
    return values


def _look(t: float) -> dict[str, float]:
    a = 2 * math.pi * t / 2.4
    eye = _blink(t, 1.9)
    return {"ParamEyeBallX": math.sin(a), "ParamEyeBallY": 0.6 * math.sin(2 * a),
            "ParamBrowLY": math.sin(a), "ParamBrowRY": math.sin(a + 0.6), "ParamEyeLOpen": eye, "ParamEyeROpen": eye}


def _turn(t: float) -> dict[str, float]:
    # left, right, up, down, tilt: each 0.6 s there and back
    phase = t / 3.6
    x = 30 * math.sin(2 * math.pi * phase) if phase < 0.5 else 0.0
    y = 30 * math.sin(2 * math.pi * (phase - 0.5)) if phase >= 0.5 else 0.0
    z = 20 * math.sin(2 * math.pi * phase)
    return {"ParamAngleX": x, "ParamAngleY": y, "ParamAngleZ": z, "ParamBodyAngleX": x / 3,
            "ParamBodyAngleY": y / 3, "ParamBodyAngleZ": z / 2, "ParamEyeBallX": -x / 40}


def _smile(t: float) -> dict[str, float]:
    k = _ease(t / 0.6) * (1 - _ease((t - 1.4) / 0.6))
    return {"ParamMouthForm": k, "ParamEyeLSmile": k, "ParamEyeRSmile": k, "ParamCheek": k,
            "ParamMouthOpenY": 0.3 * k}


SCENES: tuple[Scene, ...] = (
    Scene("idle", 1.6, _idle),
    Scene("talk", 2.4, _talk),
    Scene("look around", 2.4, _look),
    Scene("head turn", 3.6, _turn),
    Scene("smile", 2.0, _smile),
)
_SWEEP = 1.2  # seconds per remaining axis


def _covered() -> set[str]:
    keys: set[str] = set()
    for scene in SCENES:
        for t in np.linspace(0.0, scene.duration, 13):
            keys.update(scene.values(float(t)))
    return keys | {"ParamHairFront", "ParamHairSide", "ParamHairBack"}  # physics outputs


def _remaining_axes(puppet: Puppet, physics_outputs: set[str]) -> list[str]:
    covered = _covered()
    return [a for a in puppet.axes() if a not in covered and a not in physics_outputs]


def script_duration(puppet: Puppet) -> float:
    outputs = {o.param for c in puppet.physics for o in c.outputs}
    return sum(s.duration for s in SCENES) + _SWEEP * len(_remaining_axes(puppet, outputs))


def script_values(puppet: Puppet, t: float) -> dict[str, float]:
    """Driven values at ``t`` seconds into the script (physics outputs not included)."""
    start = 0.0
    for scene in SCENES:
        if t < start + scene.duration:
            return scene.values(t - start)
        start += scene.duration
    outputs = {o.param for c in puppet.physics for o in c.outputs}
    axes = puppet.axes()
    for axis_id in _remaining_axes(puppet, outputs):
        if t < start + _SWEEP:
            a = axes[axis_id]
            x = math.sin(2 * math.pi * (t - start) / _SWEEP)
            value = a.default + (a.max - a.default) * x if x >= 0 else a.default + (a.default - a.min) * x
            return {axis_id: value}
        start += _SWEEP
    return {}


def animate(puppet: Puppet, fps: float = 20.0, view: View | None = None,
            background: tuple[int, int, int, int] | None = None,
            progress: Callable[[int, int], None] | None = None) -> Iterator[NDArray[np.uint8]]:
    """Render the script frame by frame (physics stepped along), yielding RGBA images."""
    physics = PhysicsState(puppet)
    dt = 1.0 / fps
    frames = max(1, int(round(script_duration(puppet) * fps)))
    for k in range(frames):
        values = script_values(puppet, k * dt)
        values.update(physics.step(values, dt if k else 0.0))
        if progress is not None:
            progress(k, frames)
        yield raster(evaluate(puppet, values), puppet.textures, view, background)
