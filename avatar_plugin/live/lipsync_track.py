"""A mouth track: mouth parameters at a fixed frame rate; written through ``motion_file`` in two formats.

- ``track.json``: ``{"fps": 60, "duration": 2.5, "params": {"ParamMouthOpenY": [...], "ParamMouthForm": [...],
  "ParamA": [...], "ParamI": [...], "ParamU": [...], "ParamE": [...], "ParamO": [...]}}``; frame ``i`` is at
  ``i / fps`` seconds.
- ``*.motion3.json``: a Live2D Cubism motion (linear segments, one curve per parameter), usable in Cubism
  Viewer and as a VTube Studio animation. Puppets without ParamA..O simply ignore those curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.live.lipsync_visemes import VOWEL_PARAMS, MouthShape
from avatar_plugin.live.motion_file import Track, write_track_file
from avatar_plugin.live.motion_file import read_track as read_generic

__all__ = ["MouthTrack", "read_track", "write_track"]


@dataclass(frozen=True, eq=False)
class MouthTrack:
    """``open``, ``form``: (N,) float32; ``vowels``: (N, 5) float32 (A, I, U, E, O); frame i at i / fps."""

    fps: float
    open: NDArray[np.float32]
    form: NDArray[np.float32]
    vowels: NDArray[np.float32]

    def __post_init__(self) -> None:
        n = len(self.open)
        if not (self.fps > 0 and self.open.shape == (n,) and self.form.shape == (n,)
                and self.vowels.shape == (n, 5)):
            raise ValueError(f"MouthTrack shapes: open {self.open.shape}, form {self.form.shape}, "
                             f"vowels {self.vowels.shape}, fps {self.fps}; expected (N,), (N,), (N, 5), fps > 0")

    def __len__(self) -> int:
        return len(self.open)

    @property
    def duration(self) -> float:
        return len(self.open) / self.fps

    def params(self) -> dict[str, NDArray[np.float32]]:
        """Parameter id -> (N,) values."""
        out = {"ParamMouthOpenY": self.open, "ParamMouthForm": self.form}
        for j, pid in enumerate(VOWEL_PARAMS):
            out[pid] = self.vowels[:, j]
        return out

    def at(self, t: float) -> MouthShape:
        """The shape at time ``t`` seconds (linear interpolation; silence outside the track)."""
        x = t * self.fps
        if not (0.0 <= x <= len(self.open) - 1) or len(self.open) == 0:
            return MouthShape(0.0, 0.0)
        i = min(int(x), len(self.open) - 2) if len(self.open) > 1 else 0
        f = x - i
        j = min(i + 1, len(self.open) - 1)

        def lerp(a: NDArray[np.float32]) -> float:
            return float(a[i] * (1 - f) + a[j] * f)

        vw = self.vowels[i] * (1 - f) + self.vowels[j] * f
        return MouthShape(min(max(lerp(self.open), 0.0), 1.0), min(max(lerp(self.form), -1.0), 1.0),
                          tuple(float(min(max(v, 0.0), 1.0)) for v in vw))  # type: ignore[arg-type]

    def to_track(self) -> Track:
        """As a generic :class:`~avatar_plugin.live.motion_file.Track` (for its track.json/motion3 writers)."""
        return Track(fps=self.fps, params={k: tuple(float(v) for v in a) for k, a in self.params().items()})

    @classmethod
    def from_track(cls, track: Track) -> MouthTrack:
        n = track.frames

        def get(pid: str) -> NDArray[np.float32]:
            return np.asarray(track.params.get(pid, (0.0,) * n), np.float32)

        return cls(float(track.fps), get("ParamMouthOpenY"), get("ParamMouthForm"),
                   np.stack([get(p) for p in VOWEL_PARAMS], axis=1).reshape(n, 5))


def write_track(track: MouthTrack, path: str | Path) -> Path:
    """Write ``*.motion3.json`` (Live2D motion) or any other ``*.json`` (track.json), by the file name."""
    return write_track_file(track.to_track(), path)


def read_track(path: str | Path) -> MouthTrack:
    """Read a track.json (missing mouth parameters read as 0)."""
    return MouthTrack.from_track(read_generic(path))
