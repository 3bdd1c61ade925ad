"""Stages 1-2 in one call, for the ``generate`` and ``segment`` commands: picture file -> complete layers.

``segment_and_complete(path, options)`` loads and checks the picture (or reads a layered PSD, which skips
both stages), runs stage 1 (:mod:`.segment`) and stage 2 (:mod:`.complete`), and returns :class:`Layers`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from avatar_plugin.generator import complete, segment
from avatar_plugin.generator.landmarks import LandmarkOptions
from avatar_plugin.generator.load import LoadOptions, load_picture
from avatar_plugin.generator.types import Layers, PartMasks

__all__ = ["Stages12Options", "Stages12Result", "segment_and_complete", "segment_and_complete_verbose"]


@dataclass(frozen=True)
class Stages12Options:
    load: LoadOptions = field(default_factory=LoadOptions)
    segment: segment.SegmentOptions = field(default_factory=segment.SegmentOptions)
    complete: complete.CompleteOptions = field(default_factory=complete.CompleteOptions)

    @staticmethod
    def with_user_landmarks(
        face_box: tuple[float, float, float, float] | None = None, landmarks_file: str | None = None
    ) -> Stages12Options:
        return Stages12Options(
            segment=segment.SegmentOptions(landmarks=LandmarkOptions(face_box=face_box, landmarks_file=landmarks_file))
        )


@dataclass(frozen=True, eq=False)
class Stages12Result:
    masks: PartMasks | None  # None for a layered PSD
    layers: Layers
    timings: dict[str, float]  # seconds per step: "load", "segment", "complete"


def segment_and_complete_verbose(path: str | Path, options: Stages12Options | None = None) -> Stages12Result:
    options = options or Stages12Options()
    t0 = time.perf_counter()
    if str(path).lower().endswith(".psd"):
        from avatar_plugin.generator.psd_input import read_layered_psd

        layers = read_layered_psd(path)
        return Stages12Result(None, layers, {"load": time.perf_counter() - t0})
    source = load_picture(path, options.load)
    t1 = time.perf_counter()
    masks = segment.run(source, options.segment)
    t2 = time.perf_counter()
    layers = complete.run(masks, options.complete)
    t3 = time.perf_counter()
    return Stages12Result(masks, layers, {"load": t1 - t0, "segment": t2 - t1, "complete": t3 - t2})


def segment_and_complete(path: str | Path, options: Stages12Options | None = None) -> Layers:
    """Picture (PNG/JPEG/WebP) or layered PSD -> complete layers, back to front."""
    return segment_and_complete_verbose(path, options).layers
