"""The Live2D standard parameters: ids, ranges, defaults and the keypoints we rig them with.

Signs follow the Live2D standard: ParamAngleX + turns the face toward the screen's right, ParamAngleY + looks
up, ParamAngleZ + tilts toward the screen's right, ParamEyeBallX + looks right, ParamEyeBallY + looks up,
ParamMouthForm + smiles. ParamEyeLOpen is the CHARACTER's left eye (on the image's right).
These ids are the contract between the generator, the daemon, the renderer, VTube Studio mappings and Cubism.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from avatar_plugin.puppet.model import Axis, Parameter

__all__ = ["GRID_2D", "STANDARD", "StandardParam", "axis", "parameters"]


@dataclass(frozen=True)
class StandardParam:
    id: str
    min: float
    max: float
    default: float
    keypoints: tuple[float, ...]
    description: str


def _p(pid: str, lo: float, hi: float, default: float, keys: tuple[float, ...], text: str) -> StandardParam:
    return StandardParam(pid, lo, hi, default, keys, text)


STANDARD: dict[str, StandardParam] = {p.id: p for p in [
    _p("ParamAngleX", -30, 30, 0, (-30, 0, 30), "head yaw; + turns the face toward the screen's right"),
    _p("ParamAngleY", -30, 30, 0, (-30, 0, 30), "head pitch; + looks up"),
    _p("ParamAngleZ", -30, 30, 0, (-30, 0, 30), "head roll; + tilts toward the screen's right"),
    _p("ParamEyeLOpen", 0, 1, 1, (0, 1), "character's left eye (image right); 0 closed, 1 open"),
    _p("ParamEyeLSmile", 0, 1, 0, (0, 1), "character's left eye smile (lower lid up)"),
    _p("ParamEyeROpen", 0, 1, 1, (0, 1), "character's right eye (image left); 0 closed, 1 open"),
    _p("ParamEyeRSmile", 0, 1, 0, (0, 1), "character's right eye smile (lower lid up)"),
    _p("ParamEyeBallX", -1, 1, 0, (-1, 0, 1), "gaze; + looks toward the screen's right"),
    _p("ParamEyeBallY", -1, 1, 0, (-1, 0, 1), "gaze; + looks up"),
    _p("ParamBrowLY", -1, 1, 0, (-1, 0, 1), "character's left brow height; + up"),
    _p("ParamBrowRY", -1, 1, 0, (-1, 0, 1), "character's right brow height; + up"),
    _p("ParamMouthForm", -1, 1, 0, (-1, 0, 1), "mouth corners; -1 frown, +1 smile"),
    _p("ParamMouthOpenY", 0, 1, 0, (0, 1), "mouth opening; 0 closed, 1 wide open"),
    _p("ParamCheek", 0, 1, 0, (0, 1), "blush"),
    _p("ParamBodyAngleX", -10, 10, 0, (-10, 0, 10), "body yaw; + toward the screen's right"),
    _p("ParamBodyAngleY", -10, 10, 0, (-10, 0, 10), "body pitch; + leans back / up"),
    _p("ParamBodyAngleZ", -10, 10, 0, (-10, 0, 10), "body roll; + tilts toward the screen's right"),
    _p("ParamBreath", 0, 1, 0, (0, 1), "breathing; 0 exhaled, 1 inhaled"),
    _p("ParamHairFront", -1, 1, 0, (-1, 0, 1), "front hair sway (physics output)"),
    _p("ParamHairSide", -1, 1, 0, (-1, 0, 1), "side hair sway (physics output)"),
    _p("ParamHairBack", -1, 1, 0, (-1, 0, 1), "back hair sway (physics output)"),
    _p("ParamA", 0, 1, 0, (0, 1), "vowel A mouth shape"),
    _p("ParamI", 0, 1, 0, (0, 1), "vowel I mouth shape"),
    _p("ParamU", 0, 1, 0, (0, 1), "vowel U mouth shape"),
    _p("ParamE", 0, 1, 0, (0, 1), "vowel E mouth shape"),
    _p("ParamO", 0, 1, 0, (0, 1), "vowel O mouth shape"),
]}

# Pairs rigged as one 2-D grid: grid id -> (first axis, second axis).
GRID_2D: dict[str, tuple[str, str]] = {"ParamAngle": ("ParamAngleX", "ParamAngleY")}


def axis(pid: str) -> Axis:
    s = STANDARD[pid]
    return Axis(id=s.id, min=float(s.min), max=float(s.max), default=float(s.default),
                keypoints=tuple(float(k) for k in s.keypoints))


def parameters(ids: Iterable[str]) -> list[Parameter]:
    """Standard parameters for ``ids``; AngleX and AngleY together become the 2-D grid ``ParamAngle``."""
    wanted = list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in STANDARD]
    if unknown:
        raise KeyError(f"not Live2D standard parameter ids: {unknown}")
    out: list[Parameter] = []
    used: set[str] = set()
    for pid in wanted:
        if pid in used:
            continue
        for grid, (a, b) in GRID_2D.items():
            if pid in (a, b) and a in wanted and b in wanted:
                out.append(Parameter(id=grid, axes=(axis(a), axis(b))))
                used.update((a, b))
                break
        else:
            out.append(Parameter(id=pid, axes=(axis(pid),)))
            used.add(pid)
    return out
