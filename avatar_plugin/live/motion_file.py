"""Offline parameter tracks and their two file formats: ``track.json`` and Live2D ``*.motion3.json``.

Shared by ``avatar-plugin track`` (webcam/video) and ``avatar-plugin lipsync`` (audio).

``track.json`` (our format, issue 6's contract)::

    {"fps": 60, "duration": 2.5, "params": {"ParamMouthOpenY": [0.0, 0.12, ...], "ParamAngleX": [...]}}

Every list has one value per frame at ``fps`` (frame ``i`` is at ``i / fps`` seconds); all lists have the same
length. ``duration`` (optional when reading; written as frames / fps, like ``lipsync_track``) is informative.
The reader rejects anything else (unknown top-level keys, non-finite values, ragged lists).

``*.motion3.json`` is Live2D Cubism's motion format (usable in Cubism Viewer and as a VTube Studio animation):
one curve per parameter (``"Target": "Parameter"``) made of linear segments. :func:`write_motion3` drops
keyframes that linear interpolation restores within ``tolerance`` (relative to the parameter's range), so a
still parameter costs two points.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from avatar_plugin.errors import InputError

__all__ = [
    "Track",
    "read_track",
    "simplify_linear",
    "track_to_motion3",
    "write_motion3",
    "write_track",
    "write_track_file",
]


@dataclass(frozen=True)
class Track:
    """Parameter values sampled at a fixed rate: ``params[id][i]`` is the value at ``i / fps`` seconds."""

    fps: float
    params: Mapping[str, tuple[float, ...]]

    def __post_init__(self) -> None:
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"Track: fps must be a positive number, found {self.fps!r}")
        frozen: dict[str, tuple[float, ...]] = {}
        lengths = set()
        for pid, values in self.params.items():
            vals = tuple(float(v) for v in values)
            if not all(math.isfinite(v) for v in vals):
                raise ValueError(f"Track: {pid} has non-finite values")
            frozen[pid] = vals
            lengths.add(len(vals))
        if len(lengths) > 1:
            raise ValueError(f"Track: all parameters need the same number of frames, found {sorted(lengths)}")
        object.__setattr__(self, "params", MappingProxyType(frozen))

    @property
    def frames(self) -> int:
        return len(next(iter(self.params.values()))) if self.params else 0

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return max(0, self.frames - 1) / self.fps

    @classmethod
    def from_samples(cls, times: Sequence[float], rows: Sequence[Mapping[str, float]], fps: float,
                     defaults: Mapping[str, float] | None = None) -> Track:
        """Resample irregular samples (``rows[i]`` at ``times[i]`` seconds) to ``fps`` by linear interpolation.

        Frames run from 0 to the last time. A parameter missing in a row takes ``defaults[id]`` (or 0).
        """
        if len(times) != len(rows):
            raise ValueError(f"Track.from_samples: {len(times)} times but {len(rows)} rows")
        if not times:
            return cls(fps=fps, params={})
        t = np.asarray(times, dtype=np.float64)
        if np.any(np.diff(t) < 0):
            raise ValueError("Track.from_samples: times must not decrease")
        ids = list(dict.fromkeys(k for row in rows for k in row))
        defaults = defaults or {}
        n = int(math.floor(float(t[-1]) * fps + 1e-9)) + 1
        grid = np.arange(n) / fps
        params = {}
        for pid in ids:
            vals = np.array([row.get(pid, defaults.get(pid, 0.0)) for row in rows], dtype=np.float64)
            params[pid] = tuple(float(v) for v in np.interp(grid, t, vals))
        return cls(fps=fps, params=params)

    def to_json(self) -> dict[str, Any]:
        fps: float | int = int(self.fps) if float(self.fps).is_integer() else self.fps
        return {"fps": fps, "duration": round(self.frames / self.fps, 6),
                "params": {k: [round(v, 5) for v in vals] for k, vals in self.params.items()}}


def write_track(track: Track, path: str | Path) -> Path:
    """Write ``track.json`` (see the module docstring)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(track.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
    return out


def read_track(path: str | Path) -> Track:
    """Read a ``track.json``; InputError names the file, the problem and the expected shape."""
    p = Path(path)
    expected = 'expected {"fps": <number>, "params": {"ParamId": [numbers, one per frame], ...}}'
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not JSON ({exc}); {expected}") from None
    if not isinstance(obj, dict) or not {"fps", "params"} <= set(obj) <= {"fps", "params", "duration"}:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise InputError(f"{p}: top level has {keys}; {expected}")
    if not isinstance(obj["params"], dict) or not all(isinstance(v, list) for v in obj["params"].values()):
        raise InputError(f"{p}: $.params must map parameter ids to lists; {expected}")
    for pid, vals in obj["params"].items():
        bad = [v for v in vals if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise InputError(f"{p}: $.params.{pid} holds {bad[0]!r}; expected numbers")
    if isinstance(obj["fps"], bool) or not isinstance(obj["fps"], (int, float)):
        raise InputError(f"{p}: $.fps = {obj['fps']!r}; expected a positive number")
    try:
        return Track(fps=obj["fps"], params=obj["params"])
    except ValueError as exc:
        raise InputError(f"{p}: {exc}") from None


def simplify_linear(values: Sequence[float], tolerance: float) -> list[int]:
    """Indices of the keyframes to keep so that linear interpolation between them stays within ``tolerance``
    of every original value (greedy forward scan; the first and last frames are always kept)."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n <= 2:
        return list(range(n))
    keep = [0]
    start = 0
    end = 2
    while end < n:
        # Can the segment start..end replace every frame between them?
        idx = np.arange(start + 1, end)
        line = v[start] + (v[end] - v[start]) * (idx - start) / (end - start)
        if np.max(np.abs(line - v[idx])) > tolerance:
            keep.append(end - 1)
            start = end - 1
        end += 1
    keep.append(n - 1)
    return keep


def track_to_motion3(track: Track, *, loop: bool = False, tolerance: float = 0.002,
                     ranges: Mapping[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """A Live2D motion3.json object (linear segments) for ``track``.

    ``tolerance`` is relative to each parameter's range (``ranges[id] = (min, max)``; the Live2D standard range
    for standard ids, else the range of the data).
    """
    from avatar_plugin.puppet.standard import STANDARD

    ranges = ranges or {}
    curves = []
    total_segments = 0
    total_points = 0
    for pid, vals in track.params.items():
        if not vals:
            continue
        if pid in ranges:
            lo, hi = ranges[pid]
        elif pid in STANDARD:
            lo, hi = STANDARD[pid].min, STANDARD[pid].max
        else:
            lo, hi = min(vals), max(vals)
        tol = tolerance * max(hi - lo, 1e-6)
        keep = simplify_linear(vals, tol) if len(vals) > 1 else [0]
        if len(keep) == 1:
            keep = [0, 0]  # a curve needs at least one segment
        segments: list[float] = [round(keep[0] / track.fps, 4), round(vals[keep[0]], 4)]
        for i in keep[1:]:
            segments += [0, round(i / track.fps, 4), round(vals[i], 4)]
        curves.append({"Target": "Parameter", "Id": pid, "Segments": segments})
        total_segments += len(keep) - 1
        total_points += len(keep)
    return {
        "Version": 3,
        "Meta": {
            "Duration": round(track.duration, 4),
            "Fps": float(track.fps),
            "Loop": loop,
            "AreBeziersRestricted": True,
            "CurveCount": len(curves),
            "TotalSegmentCount": total_segments,
            "TotalPointCount": total_points,
            "UserDataCount": 0,
            "TotalUserDataSize": 0,
        },
        "Curves": curves,
    }


def write_motion3(track: Track, path: str | Path, **options: Any) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(track_to_motion3(track, **options), indent=1) + "\n", encoding="utf-8")
    return out


def write_track_file(track: Track, path: str | Path) -> Path:
    """Write ``*.motion3.json`` or ``*.json`` (track.json) by the file name; other endings are an InputError."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith(".motion3.json"):
        return write_motion3(track, p)
    if name.endswith(".json"):
        return write_track(track, p)
    raise InputError(f"{p}: unknown output format; expected a name ending in .motion3.json (Live2D motion) "
                     f"or .json (track.json: {{\"fps\": ..., \"params\": {{...}}}})")
