"""Text + audio -> phoneme timings, by aligning espeak-ng's rendering of the text to the audio (DTW).

Used by ``avatar-plugin lipsync AUDIO --text "..."`` and by ``speak`` messages that carry ``text`` but no
timings. espeak-ng says the text (its phoneme events give the timings of ITS rendering); dynamic time warping
on per-10-ms features (MFCC + level) maps its clock onto the audio's clock; the phoneme times are carried
across. The steps allowed are (1,1), (1,0) and (1,2) in (audio, espeak) frames: the audio may be slower than
espeak-ng without limit (pauses) and up to twice as fast. Every row depends only on the previous one, so
each row is one numpy operation.

The alignment alone is exact on espeak-ng's own voice but weaker on other voices; :func:`text_track` therefore
averages the aligned track with the audio analysis, which beats both on every voice of the benchmark.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import InputError
from avatar_plugin.live.audio import StreamResampler, to_mono_float32
from avatar_plugin.live.lipsync import HOP, HOP_S, SAMPLE_RATE, WINDOW, LipSyncOptions, analyze, features
from avatar_plugin.live.lipsync_timings import Timing
from avatar_plugin.live.lipsync_track import MouthTrack

__all__ = ["MAX_CELLS", "align_text", "blend_tracks", "dtw_path", "text_track"]

MAX_CELLS = 80_000_000  # about 15 minutes of audio against its own text


def _feats(x: NDArray[np.float32], sr: int) -> NDArray[np.float32]:
    if sr != SAMPLE_RATE:
        x = StreamResampler(sr, SAMPLE_RATE).process(x)
    pad = np.concatenate([np.zeros(WINDOW - HOP, np.float32), x])
    frames = np.lib.stride_tricks.sliding_window_view(pad, WINDOW)[::HOP]
    level, mfcc = features(np.ascontiguousarray(frames))
    rel = np.clip(level - np.percentile(level, 95), -50, 0)[:, None] / 10.0
    return np.concatenate([mfcc / 10.0, rel], axis=1).astype(np.float32)


def dtw_path(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.int64]:
    """For each row of ``a`` (audio frames), the index of the matching row of ``b`` (reference frames)."""
    n, m = len(a), len(b)
    if n * m > MAX_CELLS:
        raise InputError(f"alignment of {n * HOP_S:.0f} s of audio: too long to align in one piece "
                         f"(limit about {MAX_CELLS // max(m, 1) * HOP_S:.0f} s); give timings instead")
    big = np.float32(1e30)
    back = np.zeros((n, m), np.int8)  # 0: (i-1, j-1), 1: (i-1, j), 2: (i-1, j-2)
    b2 = (b ** 2).sum(axis=1)
    prev = np.full(m, big, np.float32)
    for i in range(n):
        cost = np.sqrt(np.maximum((a[i] ** 2).sum() + b2 - 2.0 * (b @ a[i]), 0.0)).astype(np.float32)
        if i == 0:
            cur = np.full(m, big, np.float32)
            cur[0] = cost[0]
        else:
            diag = np.concatenate([[big], prev[:-1]])
            skip = np.concatenate([[big, big], prev[:-2]])[:m]
            stack = np.stack([diag, prev, skip])
            choice = stack.argmin(axis=0)
            cur = stack[choice, np.arange(m)] + cost
            back[i] = choice
        prev = np.minimum(cur, big)
    j = int(m - 1) if prev[m - 1] < big else int(np.argmin(prev))
    path = np.zeros(n, np.int64)
    for i in range(n - 1, -1, -1):
        path[i] = j
        step = back[i, j]
        j = j - 1 if step == 0 else j if step == 1 else j - 2
        j = max(j, 0)
    return path


def align_text(samples: object, sample_rate: int, text: str, voice: str = "en") -> tuple[Timing, ...]:
    """Phoneme timings of ``text`` as spoken in the audio (see the module docstring)."""
    from avatar_plugin.live.espeak import synthesize

    x = to_mono_float32(samples, "audio")
    ref = synthesize(text, voice=voice)
    fa = _feats(x, sample_rate)
    fb = _feats(ref.samples, ref.sample_rate)
    # Standardise both with the reference's statistics so level and timbre differences weigh less.
    mu, sd = fb.mean(axis=0), fb.std(axis=0) + 1e-3
    mua, sda = fa.mean(axis=0), fa.std(axis=0) + 1e-3
    path = dtw_path((fa - mua) / sda, (fb - mu) / sd)
    # Reference frame j -> first audio frame aligned to it; frame k's window is centred at k * HOP_S - offset.
    offset = WINDOW / 2 / SAMPLE_RATE - HOP_S
    first = np.full(len(fb), -1, np.int64)
    for i in range(len(path) - 1, -1, -1):
        first[path[i]] = i
    for j in range(len(first) - 2, -1, -1):  # reference frames no audio frame landed on
        if first[j] < 0:
            first[j] = first[j + 1]
    first[first < 0] = len(path) - 1

    def to_audio(t: float) -> float:
        j = int(np.clip(round((t + offset) / HOP_S), 0, len(first) - 1))
        return max(0.0, float(first[j]) * HOP_S - offset)

    duration = len(x) / sample_rate
    out = []
    for ph in ref.phonemes:
        s, e = to_audio(ph.start), to_audio(ph.end)
        s, e = min(s, duration), min(max(e, s), duration)
        out.append(Timing(s, e, ph.label))
    return tuple(out)


def blend_tracks(audio: MouthTrack, aligned: MouthTrack) -> MouthTrack:
    """Average an audio-analysis track with a text-aligned one (same fps). Each covers the other's mistakes:
    on espeak-ng voices other than the reference the blend scores higher than either alone (benchmark)."""
    if audio.fps != aligned.fps:
        raise ValueError(f"tracks at {audio.fps} and {aligned.fps} fps")
    n = min(len(audio), len(aligned))
    return MouthTrack(audio.fps, (audio.open[:n] + aligned.open[:n]) / 2, (audio.form[:n] + aligned.form[:n]) / 2,
                      (audio.vowels[:n] + aligned.vowels[:n]) / 2)


def text_track(samples: object, sample_rate: int, text: str, fps: float = 60.0, voice: str = "en",
               options: LipSyncOptions | None = None, lead_s: float = 0.0) -> MouthTrack:
    """Audio + its text -> mouth track: audio analysis blended with the DTW-aligned phoneme timings.

    ``lead_s``: move the mouth this much earlier than the sound (as in :func:`analyze`)."""
    from avatar_plugin.live.lipsync_timings import timings_track

    x = to_mono_float32(samples, "audio")
    audio = analyze(x, sample_rate, fps=fps, options=options, lead_s=lead_s)
    timings = align_text(x, sample_rate, text, voice=voice)
    return blend_tracks(audio, timings_track(timings, len(x) / sample_rate, fps=fps, lead_s=lead_s))
