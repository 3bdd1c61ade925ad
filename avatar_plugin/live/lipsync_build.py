"""Build the default vowel templates (``lipsync_templates.json``) from espeak-ng speech.

Run ``python -m avatar_plugin.live.lipsync_build`` to regenerate. The corpus is Spanish, Italian, Japanese
and English sentences (none of them used by ``benchmarks/lipsync.py``) in several voice variants;
frames in the middle 60% of each vowel (espeak-ng's phoneme events say where) go to A/I/U/E/O, frames of
m/b/p to M (lips closed), frames of s/z/f/v/sh/th to F. Everything is deterministic.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.live.audio import StreamResampler
from avatar_plugin.live.espeak import synthesize
from avatar_plugin.live.lipsync import HOP_S, SAMPLE_RATE, VowelTemplates, build_templates, features
from avatar_plugin.live.lipsync_timings import timing_visemes
from avatar_plugin.live.lipsync_visemes import vowel_of_viseme

__all__ = ["CORPUS", "VOICE_VARIANTS", "build_default_templates", "frame_examples"]

CORPUS: dict[str, list[str]] = {
    "es": ["La casa de mi abuela tiene una puerta roja.", "Mañana vamos a comer pescado en el puerto.",
           "El perro corre por el campo verde.", "Quiero un vaso de agua fría, por favor.",
           "Los niños juegan con la pelota azul."],
    "it": ["Il gatto dorme sul divano tutto il giorno.", "Vorrei un caffè e una pasta, grazie.",
           "La luna è bella questa sera.", "Domani andiamo al mare con gli amici."],
    "ja": ["あいうえお、かきくけこ。", "わたしはにほんごをはなします。", "きょうはいいてんきですね。",
           "さくらのはながさいています。"],
    "en-us": ["Please bring the blue boots from the cupboard.", "She sees three green trees by the sea.",
              "Tom bought a hot pot of soup for the boat trip.", "Maybe we made a mistake on Monday.",
              "Father parked the car far from the farm."],
}
VOICE_VARIANTS = ["", "+m3", "+f2", "+f4", "+Andy"]

_FRICATIVES = {"SS", "FF", "TH", "CH"}


def frame_examples(samples: NDArray[np.float32], sr: int, phonemes: object) -> dict[str, list[NDArray[np.float32]]]:
    """MFCC frames of one utterance grouped by template class, using its phoneme timings."""
    x = StreamResampler(sr, SAMPLE_RATE).process(samples) if sr != SAMPLE_RATE else samples
    from avatar_plugin.live.lipsync import HOP, WINDOW

    pad = np.concatenate([np.zeros(WINDOW - HOP, np.float32), x])
    frames = np.lib.stride_tricks.sliding_window_view(pad, WINDOW)[::HOP]
    level, mfcc = features(np.ascontiguousarray(frames))
    centres = (np.arange(len(level)) + 1) * HOP_S - WINDOW / 2 / SAMPLE_RATE
    out: dict[str, list[NDArray[np.float32]]] = {}
    for t in phonemes:  # type: ignore[attr-defined]
        vis = timing_visemes(t)
        if len(vis) != 1:
            continue
        v = vis[0]
        cls = vowel_of_viseme(v) or ("M" if v == "PP" else "F" if v in _FRICATIVES else None)
        if cls is None:
            continue
        lo, hi = t.start, t.end
        if cls != "M":
            lo, hi = lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo)
        sel = (centres >= lo) & (centres <= hi) & (level > level.max() - 45)
        if np.any(sel):
            out.setdefault(cls, []).append(mfcc[sel])
    return out


def build_default_templates() -> VowelTemplates:
    examples: dict[str, list[NDArray[np.float32]]] = {}
    for lang, sentences in CORPUS.items():
        for variant in VOICE_VARIANTS:
            for pitch in (35, 65):
                for text in sentences:
                    sp = synthesize(text, voice=lang + variant, pitch=pitch)
                    for k, v in frame_examples(sp.samples, sp.sample_rate, sp.phonemes).items():
                        examples.setdefault(k, []).extend(v)
    return build_templates(examples, per_class=12, temperature=0.1,
                           source="espeak-ng es/it/ja/en-us, variants " + ",".join(v or "default"
                                                                                  for v in VOICE_VARIANTS))


def main() -> int:
    out = Path(__file__).with_name("lipsync_templates.json")
    templates = build_default_templates()
    templates.save(out)
    counts = {c: int(np.sum(templates.labels == i)) for i, c in enumerate(templates.classes)}
    print(f"wrote {out} ({counts})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
