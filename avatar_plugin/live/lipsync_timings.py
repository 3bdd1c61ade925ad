"""Phoneme / viseme timings: the file and message format, and timings -> mouth track.

The format (a JSON file for ``avatar-plugin lipsync --timings``, the ``timings`` field of a ``speak``
message; see docs/lipsync.md)::

    {"timings": [
        {"start": 0.00, "end": 0.06, "phoneme": "h"},
        {"start": 0.06, "end": 0.12, "phoneme": "@"},
        {"start": 0.12, "end": 0.30, "viseme": "aa"}
    ]}

(a bare list is accepted too). Times are seconds from the start of the audio; each item has exactly one of
``phoneme`` (espeak-ng, IPA, ARPAbet, Polly, VOICEVOX labels; see lipsync_visemes) or ``viseme`` (one of the
15 of lipsync_visemes.VISEMES, or a vowel A/I/U/E/O). Gaps between items are silence.

:func:`timings_track` renders timings into a :class:`~avatar_plugin.live.lipsync_track.MouthTrack`:
each phoneme's mouth shape on a 1 ms grid (diphthongs as two halves), then a symmetric Hann crossfade
(``blend_s``, 30 ms) so the mouth moves smoothly and crosses half-way exactly at phoneme boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avatar_plugin.errors import AvatarPluginError, InputError
from avatar_plugin.live.lipsync_track import MouthTrack
from avatar_plugin.live.lipsync_visemes import SHAPES, VISEMES, phoneme_visemes

__all__ = ["MAX_TIMINGS", "Timing", "parse_timings", "serialize_timings", "timing_visemes", "timings_track"]

MAX_TIMINGS = 100_000
_GRID_HZ = 1000


@dataclass(frozen=True)
class Timing:
    """One phoneme or viseme: ``start``/``end`` seconds from the start of the audio, ``label``, ``kind``."""

    start: float
    end: float
    label: str
    kind: str = "phoneme"  # "phoneme" | "viseme"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end) and 0.0 <= self.start <= self.end):
            raise InputError(f"timing {self.label!r}: start {self.start} / end {self.end}: expected "
                             "finite seconds with 0 <= start <= end")
        if self.kind not in ("phoneme", "viseme"):
            raise InputError(f"timing kind {self.kind!r}: expected 'phoneme' or 'viseme'")
        if self.kind == "viseme" and self.label not in VISEMES and self.label not in ("A", "I", "U", "E", "O"):
            raise InputError(f"viseme {self.label!r}: unknown; expected one of {', '.join(VISEMES)} or A/I/U/E/O")


def parse_timings(obj: object, source: str = "timings",
                  error: type[AvatarPluginError] = InputError) -> tuple[Timing, ...]:
    """JSON value (a list, or ``{"timings": [...]}``) -> timings sorted by start. Strict: unknown keys,
    missing or non-numeric times and unknown visemes raise ``error`` naming ``source`` and the JSON path."""
    if isinstance(obj, dict):
        extra = set(obj) - {"timings"}
        if extra or "timings" not in obj:
            raise error(f"{source}: expected {{\"timings\": [...]}} or a list, found keys {sorted(obj)}")
        obj = obj["timings"]
    if not isinstance(obj, list):
        raise error(f"{source}: expected a list of timings, found {type(obj).__name__}")
    if len(obj) > MAX_TIMINGS:
        raise error(f"{source}: {len(obj)} timings; at most {MAX_TIMINGS} per utterance")
    out: list[Timing] = []
    for i, item in enumerate(obj):
        where = f"{source}[{i}]"
        if not isinstance(item, dict):
            raise error(f"{where}: expected an object with start, end and phoneme or viseme, found {item!r:.60}")
        unknown = set(item) - {"start", "end", "phoneme", "viseme"}
        if unknown:
            raise error(f"{where}: unknown keys {sorted(unknown)}; allowed: start, end, phoneme | viseme")
        kinds = [k for k in ("phoneme", "viseme") if k in item]
        if len(kinds) != 1:
            raise error(f"{where}: expected exactly one of 'phoneme' or 'viseme', found {kinds or 'neither'}")
        label = item[kinds[0]]
        if not isinstance(label, str) or len(label) > 16:
            raise error(f"{where}.{kinds[0]}: expected a short string, found {label!r:.40}")
        times = []
        for key in ("start", "end"):
            v = item.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise error(f"{where}.{key}: expected seconds (a number), found {v!r:.40}")
            times.append(float(v))
        try:
            out.append(Timing(times[0], times[1], label, kinds[0]))
        except InputError as exc:
            raise error(f"{where}: {exc}") from None
    out.sort(key=lambda t: t.start)
    return tuple(out)


def serialize_timings(timings: Sequence[Timing]) -> dict[str, list[dict[str, object]]]:
    """Timings -> the JSON value parse_timings reads (times rounded to 0.1 ms)."""
    return {"timings": [{"start": round(t.start, 4), "end": round(t.end, 4), t.kind: t.label}
                        for t in timings]}


def timing_visemes(t: Timing) -> tuple[str, ...]:
    if t.kind == "viseme":
        return ({"A": "aa", "I": "ih", "U": "ou", "E": "E", "O": "oh"}.get(t.label, t.label),)
    return phoneme_visemes(t.label)


def timings_track(timings: Sequence[Timing], duration: float, fps: float = 60.0,
                  blend_s: float = 0.03, lead_s: float = 0.0) -> MouthTrack:
    """Render timings into a mouth track of ``ceil(duration * fps)`` frames (frame i at time i / fps).

    ``blend_s``: width of the symmetric Hann crossfade between shapes. ``lead_s``: move the mouth this much
    earlier than the timings (a little lead looks more natural; 0 = exactly on the timings).
    """
    if not (duration >= 0 and math.isfinite(duration)) or not (0 < fps <= 1000):
        raise InputError(f"duration {duration} / fps {fps}: expected duration >= 0 and 0 < fps <= 1000")
    n_grid = int(math.ceil(duration * _GRID_HZ)) + 1
    open_ = np.zeros(n_grid, np.float32)
    form = np.zeros(n_grid, np.float32)
    vowels = np.zeros((n_grid, 5), np.float32)
    previous: tuple[str, ...] = ("sil",)
    for t in timings:
        vis = timing_visemes(t) or previous
        previous = vis
        a = round((t.start - lead_s) * _GRID_HZ)
        b = round((t.end - lead_s) * _GRID_HZ)
        edges = np.linspace(a, b, len(vis) + 1).round().astype(int)
        for v, lo, hi in zip(vis, edges[:-1], edges[1:], strict=True):
            lo, hi = max(0, int(lo)), min(n_grid, int(hi))
            if hi <= lo:
                continue
            s = SHAPES[v]
            open_[lo:hi] = s.open
            form[lo:hi] = s.form
            vowels[lo:hi] = s.vowels
    k = max(1, int(round(blend_s * _GRID_HZ)))
    if k > 1:
        kernel = np.hanning(k + 2)[1:-1]
        kernel = (kernel / kernel.sum()).astype(np.float32)
        open_ = _smooth(open_, kernel)
        form = _smooth(form, kernel)
        vowels = np.stack([_smooth(vowels[:, j], kernel) for j in range(5)], axis=1)
    n_frames = int(math.ceil(duration * fps - 1e-9))
    idx = np.minimum(np.round(np.arange(n_frames) / fps * _GRID_HZ).astype(int), n_grid - 1)
    return MouthTrack(fps=float(fps), open=open_[idx], form=form[idx], vowels=vowels[idx])


def _smooth(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    pad = len(kernel) // 2
    xp = np.pad(x, (pad, len(kernel) - 1 - pad), mode="edge")
    return np.convolve(xp, kernel, mode="valid").astype(np.float32)
