"""From our canonical parameters (Live2D standard ids) to VTube Studio tracking inputs.

VTS lets a plugin inject only *tracking inputs* (``FaceAngleX``, ``MouthOpen``, ``EyeOpenLeft``, ...) or
custom inputs the plugin created, never Live2D parameters themselves; the model's own VTS mapping turns
inputs into Live2D parameters. Our default table is the inverse of VTS's auto-setup for standard models
(FaceAngleX -> ParamAngleX, EyeOpenLeft -> ParamEyeLOpen, EyeLeftX -> ParamEyeBallX, MouthSmile ->
ParamMouthForm, ...), so a standard model shows our values unchanged:

=================  ============================  =============  =========  ===============================
VTS input          from                          our range      VTS range  note
=================  ============================  =============  =========  ===============================
FaceAngleX/Y/Z     ParamAngleX/Y/Z               -30..30        same deg.  degrees stay degrees
MouthOpen          ParamMouthOpenY               0..1           0..1
MouthSmile         ParamMouthForm                -1..1          0..1       rescaled: 0 -> 0.5
EyeOpenLeft        ParamEyeLOpen                 0..1           0..1       character's left eye
EyeOpenRight       ParamEyeROpen                 0..1           0..1
EyeLeftX, EyeRightX ParamEyeBallX                -1..1          -1..1      both eyes follow one gaze
EyeLeftY, EyeRightY ParamEyeBallY                -1..1          -1..1
BrowLeftY          ParamBrowLY                   -1..1          0..1       rescaled: 0 -> 0.5
BrowRightY         ParamBrowRY                   -1..1          0..1
Brows              mean(ParamBrowLY, BrowRY)     -1..1          0..1
APBodyAngleX/Y/Z   ParamBodyAngleX/Y/Z           -10..10        custom
APBreath           ParamBreath                   0..1           custom
APEyeLSmile/RSmile ParamEyeLSmile/RSmile         0..1           custom
APCheek            ParamCheek                    0..1           custom     blush (CheekPuff is not blush)
APVowelA..O        ParamA/I/U/E/O                0..1           custom
=================  ============================  =============  =========  ===============================

Hair sway is left to VTS's own physics. Inputs that are not VTS defaults are *custom parameters*: the sink
creates them once (``AP`` + our id without ``Param``; 4..32 letters/digits, VTS's rule) and the user maps them
to Live2D parameters in VTS's model settings.

Mirroring: the VTS API docs say nothing about mirroring injected values; VTS applies its own mirror setting to
camera tracking *before* it becomes inputs, and injected inputs go straight to the model's mapping. So the
default is *no* mirroring; ``mirror = true`` swaps Left/Right inputs and negates the horizontal ones
(FaceAngleX, FaceAngleZ, EyeLeftX, EyeRightX, MouthX, FacePositionX) for models whose mapping expects
mirrored input.

Config (``[vtube_studio.mapping]``, keyed by the VTS input, because each input can be set once per message)::

    FaceAngleX = "ParamAngleX"                         # plain: same range both sides
    MouthSmile = { from = "ParamMouthForm", in = [-1, 1], out = [0, 1] }
    Brows = { from = ["ParamBrowLY", "ParamBrowRY"], in = [-1, 1], out = [0, 1] }
    FaceAngleZ = false                                 # do not send (let VTS's own tracking drive it)
    APTongue = { from = "ParamTongue", in = [0, 1] }   # a new custom input

Entries given replace the default of that input; the rest of the defaults stay. ``[vtube_studio.weights]``
maps VTS inputs to weights 0..1 (``set`` mode only; ``weight`` in ``[vtube_studio]`` is the default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from avatar_plugin.errors import ConfigError
from avatar_plugin.live.vts_protocol import DEFAULT_INPUTS, CustomParameter, ParameterValue
from avatar_plugin.puppet.standard import STANDARD

__all__ = [
    "DEFAULT_MAPPING",
    "HORIZONTAL_INPUTS",
    "MapEntry",
    "VTSMapping",
    "build_mapping",
    "describe",
]

#: VTS inputs whose sign flips in a mirror image.
HORIZONTAL_INPUTS = frozenset(
    {"FaceAngleX", "FaceAngleZ", "EyeLeftX", "EyeRightX", "MouthX", "FacePositionX"})


@dataclass(frozen=True)
class MapEntry:
    """One VTS input fed from the mean of ``sources``, rescaled linearly from ``in_range`` to ``out_range``
    and clamped to ``out_range``. ``out_range`` may be reversed (hi, lo) to flip the sign."""

    target: str
    sources: tuple[str, ...]
    in_range: tuple[float, float]
    out_range: tuple[float, float]
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError(f"VTS mapping {self.target}: no source parameter")
        if self.in_range[0] == self.in_range[1]:
            raise ValueError(f"VTS mapping {self.target}: empty input range {self.in_range}")
        for x in (*self.in_range, *self.out_range, self.weight):
            if not math.isfinite(x):
                raise ValueError(f"VTS mapping {self.target}: non-finite number {x}")

    @property
    def is_custom(self) -> bool:
        return self.target not in DEFAULT_INPUTS

    def convert(self, value: float) -> float:
        (a, b), (c, d) = self.in_range, self.out_range
        y = c + (value - a) * (d - c) / (b - a)
        lo, hi = min(c, d), max(c, d)
        return min(max(y, lo), hi)

    def custom_parameter(self) -> CustomParameter:
        lo, hi = min(self.out_range), max(self.out_range)
        defaults = [STANDARD[s].default for s in self.sources if s in STANDARD]
        default = self.convert(sum(defaults) / len(defaults)) if defaults else self.convert(
            (self.in_range[0] + self.in_range[1]) / 2)
        text = f"avatar-plugin: {', '.join(self.sources)}"
        if len(self.sources) == 1 and self.sources[0] in STANDARD:
            text += f" ({STANDARD[self.sources[0]].description})"
        return CustomParameter(self.target, lo, hi, default, text[:255])


def _e(target: str, sources: str | tuple[str, ...], in_r: tuple[float, float],
       out_r: tuple[float, float] | None = None) -> MapEntry:
    srcs = (sources,) if isinstance(sources, str) else sources
    return MapEntry(target, srcs, in_r, out_r if out_r is not None else in_r)


DEFAULT_MAPPING: tuple[MapEntry, ...] = (
    _e("FaceAngleX", "ParamAngleX", (-30, 30)),
    _e("FaceAngleY", "ParamAngleY", (-30, 30)),
    _e("FaceAngleZ", "ParamAngleZ", (-30, 30)),
    _e("MouthOpen", "ParamMouthOpenY", (0, 1)),
    _e("MouthSmile", "ParamMouthForm", (-1, 1), (0, 1)),
    _e("EyeOpenLeft", "ParamEyeLOpen", (0, 1)),
    _e("EyeOpenRight", "ParamEyeROpen", (0, 1)),
    _e("EyeLeftX", "ParamEyeBallX", (-1, 1)),
    _e("EyeRightX", "ParamEyeBallX", (-1, 1)),
    _e("EyeLeftY", "ParamEyeBallY", (-1, 1)),
    _e("EyeRightY", "ParamEyeBallY", (-1, 1)),
    _e("BrowLeftY", "ParamBrowLY", (-1, 1), (0, 1)),
    _e("BrowRightY", "ParamBrowRY", (-1, 1), (0, 1)),
    _e("Brows", ("ParamBrowLY", "ParamBrowRY"), (-1, 1), (0, 1)),
    _e("APBodyAngleX", "ParamBodyAngleX", (-10, 10)),
    _e("APBodyAngleY", "ParamBodyAngleY", (-10, 10)),
    _e("APBodyAngleZ", "ParamBodyAngleZ", (-10, 10)),
    _e("APBreath", "ParamBreath", (0, 1)),
    _e("APEyeLSmile", "ParamEyeLSmile", (0, 1)),
    _e("APEyeRSmile", "ParamEyeRSmile", (0, 1)),
    _e("APCheek", "ParamCheek", (0, 1)),
    _e("APVowelA", "ParamA", (0, 1)),
    _e("APVowelI", "ParamI", (0, 1)),
    _e("APVowelU", "ParamU", (0, 1)),
    _e("APVowelE", "ParamE", (0, 1)),
    _e("APVowelO", "ParamO", (0, 1)),
)


def _mirror_name(name: str) -> str:
    if "Left" in name:
        return name.replace("Left", "Right")
    if "Right" in name:
        return name.replace("Right", "Left")
    return name


def _mirrored(entry: MapEntry) -> MapEntry:
    target = _mirror_name(entry.target) if not entry.is_custom else entry.target
    out = entry.out_range
    if entry.target in HORIZONTAL_INPUTS:
        out = (out[1], out[0])
    return replace(entry, target=target, out_range=out)


@dataclass(frozen=True)
class VTSMapping:
    """The resolved mapping: entries (one per VTS input) and how to turn a frame into parameter values."""

    entries: tuple[MapEntry, ...]

    def values(self, params: Mapping[str, float]) -> list[ParameterValue]:
        """VTS parameter values for one frame of canonical values; inputs whose sources are all missing
        from ``params`` are left out (so VTS's own tracking keeps them)."""
        out = []
        for e in self.entries:
            got = [params[s] for s in e.sources if s in params and math.isfinite(params[s])]
            if got:
                out.append(ParameterValue(e.target, e.convert(sum(got) / len(got)), e.weight))
        return out

    def custom_parameters(self) -> list[CustomParameter]:
        return [e.custom_parameter() for e in self.entries if e.is_custom]

    def targets(self) -> list[str]:
        return [e.target for e in self.entries]


def _pair(value: Any, where: str) -> tuple[float, float]:
    if (not isinstance(value, list | tuple) or len(value) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                       for x in value)):
        raise ConfigError(f"{where}: expected a pair of numbers like [-1, 1], got {value!r}")
    return float(value[0]), float(value[1])


def _entry_from_config(target: str, spec: Any, where: str) -> MapEntry | None:
    if spec is False or spec == "" or spec == []:
        return None
    default = next((e for e in DEFAULT_MAPPING if e.target == target), None)
    if isinstance(spec, str):
        spec = {"from": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a parameter id, a table "
                          f"{{ from = ..., in = [..], out = [..] }} or false, got {spec!r}")
    unknown = set(spec) - {"from", "in", "out"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: from, in, out")
    src = spec.get("from")
    sources = (src,) if isinstance(src, str) else tuple(src) if isinstance(src, list) else ()
    if not sources or not all(isinstance(s, str) and s for s in sources):
        raise ConfigError(f"{where}.from: expected a parameter id or a list of ids, got {src!r}")
    if "in" in spec:
        in_r = _pair(spec["in"], f"{where}.in")
    elif sources[0] in STANDARD:
        in_r = (float(STANDARD[sources[0]].min), float(STANDARD[sources[0]].max))
    elif default is not None:
        in_r = default.in_range
    else:
        raise ConfigError(
            f"{where}: {sources[0]!r} is not a standard parameter; give its range as in = [lo, hi]")
    if "out" in spec:
        out_r = _pair(spec["out"], f"{where}.out")
    elif target in DEFAULT_INPUTS:
        out_r = (float(DEFAULT_INPUTS[target][0]), float(DEFAULT_INPUTS[target][1]))
        if target.startswith("FaceAngle"):
            out_r = in_r  # degrees stay degrees
    else:
        out_r = in_r
    if in_r[0] == in_r[1]:
        raise ConfigError(f"{where}.in: empty range {list(in_r)}; give two different numbers")
    for x in out_r:
        if abs(x) > 1_000_000:
            raise ConfigError(f"{where}.out: {x} is outside VTS's +-1,000,000")
    return MapEntry(target, sources, in_r, out_r)


def build_mapping(overrides: Mapping[str, Any] | None = None, weights: Mapping[str, Any] | None = None, *,
                  default_weight: float = 1.0, mirror: bool = False,
                  section: str = "[vtube_studio]") -> VTSMapping:
    """Resolve the defaults plus the config's ``mapping`` and ``weights`` tables (see the module doc).

    Raises:
        ConfigError: naming the key, the value and what is expected.
    """
    entries: dict[str, MapEntry | None] = {e.target: e for e in DEFAULT_MAPPING}
    for target, spec in (overrides or {}).items():
        where = f"{section}.mapping.{target}"
        if target not in DEFAULT_INPUTS:
            try:
                CustomParameter(target, 0, 1, 0)
            except ValueError:
                raise ConfigError(
                    f"{where}: {target!r} is neither a default VTS input "
                    f"({', '.join(sorted(DEFAULT_INPUTS))}) nor a valid custom input name "
                    "(4..32 letters/digits; we suggest the prefix AP)") from None
        entries[target] = _entry_from_config(target, spec, where)
    if not (isinstance(default_weight, int | float) and 0.0 <= default_weight <= 1.0):
        raise ConfigError(f"{section}.weight: expected a number 0..1, got {default_weight!r}")
    w = {k: float(default_weight) for k in entries}
    for target, value in (weights or {}).items():
        where = f"{section}.weights.{target}"
        if target not in entries:
            raise ConfigError(
                f"{where}: no such VTS input in the mapping; known: {', '.join(sorted(entries))}")
        if not (isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0):
            raise ConfigError(f"{where}: expected a number 0..1 (1 = override tracking), got {value!r}")
        w[target] = float(value)
    resolved = [replace(e, weight=w[t]) for t, e in entries.items() if e is not None]
    if mirror:
        resolved = [_mirrored(e) for e in resolved]
    seen: set[str] = set()
    for e in resolved:
        if e.target in seen:
            raise ConfigError(f"{section}.mapping: VTS input {e.target} is fed twice (after mirroring)")
        seen.add(e.target)
    return VTSMapping(tuple(resolved))


def describe(mapping: VTSMapping) -> Iterable[str]:
    """Human-readable lines, one per input (for docs and the studio page)."""
    for e in mapping.entries:
        kind = "custom" if e.is_custom else "default"
        yield (f"{e.target:<14} <- {' + '.join(e.sources)} {list(e.in_range)} -> {list(e.out_range)} "
               f"weight {e.weight:g} ({kind})")
