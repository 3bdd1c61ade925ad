"""Lip sync from audio: loudness (adaptive noise gate + automatic gain) and vowel shapes (MFCC templates).

Pure analysis; no devices, no clocks. Time is an argument (blocks carry their stream time) and every
stateful piece is a small class stepped with ``update(x, t)``.

Pipeline, per 10 ms hop at 16 kHz (input at any rate is resampled block by block):

1. Features (:func:`features`): level in dBFS of the last 20 ms; 12 MFCCs (c1..c12) of the last 32 ms
   (pre-emphasis, Hamming, 26 mel bands 60-6000 Hz, log, DCT) -- the uLipSync recipe.
2. Gate and gain (:class:`LoudnessGate`): the noise floor follows the quietest level quickly and rises
   slowly (1 dB/s), the speech peak follows the loudest level and decays slowly (AGC); loudness maps to
   0..1 between ``floor + gate_db`` and ``peak - headroom_db``.
3. Vowels (:class:`VowelTemplates`): distance of the standardised MFCC to per-class prototypes
   (A I U E O, M = lips closed: m/b/p, F = fricatives) -> soft weights (softmax of -d^2 / temperature).
   The default templates are built from espeak-ng voices (``build_templates``); a user calibration (say
   each vowel; :func:`calibrate`) replaces them.
4. Shape: ``open = loudness * sum(weight * class openness)``, ``form`` and ``ParamA..O`` from the weights.
5. Smoothing (:class:`Smoother`): attack (opening, 12 ms) faster than release (closing, 45 ms).

:class:`LipSyncAnalyzer` runs the pipeline on streaming :class:`~avatar_plugin.live.audio.AudioBlock`s
and returns one :class:`MouthFrame` per hop; :func:`analyze` runs the same code on a whole array
(vectorised features, same state machine) and returns a :class:`~avatar_plugin.live.lipsync_track.MouthTrack`
at any fps, shifted by the analysis window's delay so it lines up with the audio.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import InputError
from avatar_plugin.live.audio import AudioBlock, StreamResampler, to_mono_float32
from avatar_plugin.live.lipsync_track import MouthTrack
from avatar_plugin.live.lipsync_visemes import VOWELS, MouthShape

__all__ = [
    "CLASSES",
    "HOP",
    "HOP_S",
    "OPEN_THRESHOLD",
    "SAMPLE_RATE",
    "WINDOW",
    "LipSyncAnalyzer",
    "LipSyncOptions",
    "LoudnessGate",
    "MouthFrame",
    "Smoother",
    "VowelTemplates",
    "analyze",
    "calibrate",
    "default_templates",
    "features",
    "load_user_templates",
    "user_templates_path",
]

SAMPLE_RATE = 16_000
HOP = 160            # 10 ms
WINDOW = 512         # 32 ms (MFCC)
LEVEL_WINDOW = 320   # 20 ms (loudness)
HOP_S = HOP / SAMPLE_RATE
N_MFCC = 12
OPEN_THRESHOLD = 0.2  # ParamMouthOpenY at or above this counts as "visibly open" (benchmarks, tests)

# Classes the templates know: the five vowels, M (lips closed: m, b, p), F (fricatives: s, f, sh, th).
CLASSES = ("A", "I", "U", "E", "O", "M", "F")
_CLASS_OPEN = np.array([1.0, 0.6, 0.6, 0.8, 0.85, 0.0, 0.25], np.float32)
_CLASS_FORM = np.array([0.0, 0.8, -1.0, 0.4, -0.5, 0.0, 0.3], np.float32)

_FloatArray = NDArray[np.float32]


# ----------------------------------------------------------------------------------------------- features
@lru_cache(maxsize=1)
def _mel_dct() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    n_fft, n_mels, lo, hi = WINDOW, 26, 60.0, 6000.0

    def mel(f: NDArray[np.float64]) -> NDArray[np.float64]:
        return 1127.0 * np.log1p(f / 700.0)

    pts = 700.0 * np.expm1(np.linspace(mel(np.array(lo)), mel(np.array(hi)), n_mels + 2) / 1127.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    fb = np.zeros((n_fft // 2 + 1, n_mels))
    for m in range(n_mels):
        left, center, right = pts[m], pts[m + 1], pts[m + 2]
        up = (freqs - left) / (center - left)
        down = (right - freqs) / (right - center)
        fb[:, m] = np.maximum(0.0, np.minimum(up, down))
    fb /= np.maximum(fb.sum(axis=0, keepdims=True), 1e-9)
    k = np.arange(n_mels)
    dct = np.cos(np.pi / n_mels * (k[:, None] + 0.5) * np.arange(1, N_MFCC + 1)[None, :])  # (mels, 12)
    return fb, dct, np.hamming(WINDOW)


def features(frames: NDArray[np.float32]) -> tuple[_FloatArray, _FloatArray]:
    """Analysis windows -> (level dBFS, MFCC).

    ``frames``: (N, WINDOW) float32 at 16 kHz, each ending at its hop. Returns ``level_db`` (N,) float32
    (RMS of the last 20 ms, dBFS, floor -120) and ``mfcc`` (N, 12) float32 (c1..c12, loudness-independent).
    """
    if frames.ndim != 2 or frames.shape[1] != WINDOW:
        raise ValueError(f"frames: expected (N, {WINDOW}), found {frames.shape}")
    fb, dct, win = _mel_dct()
    x = frames.astype(np.float64)
    level = 10.0 * np.log10(np.mean(x[:, -LEVEL_WINDOW:] ** 2, axis=1) + 1e-12)
    emph = np.empty_like(x)
    emph[:, 0] = x[:, 0]
    emph[:, 1:] = x[:, 1:] - 0.97 * x[:, :-1]
    spec = np.abs(np.fft.rfft(emph * win, axis=1)) ** 2
    mel = np.log(spec @ fb + 1e-10)
    mfcc = mel @ dct
    return level.astype(np.float32), mfcc.astype(np.float32)


# ------------------------------------------------------------------------------------------- templates
@dataclass(frozen=True, eq=False)
class VowelTemplates:
    """Per-class MFCC prototypes. ``prototypes``: (K, 12) float32; ``labels``: (K,) int indices into
    ``classes``; ``mean``/``std``: (12,) standardisation; ``temperature``: softmax temperature on squared
    standardised distances."""

    classes: tuple[str, ...]
    prototypes: NDArray[np.float32]
    labels: NDArray[np.int64]
    mean: NDArray[np.float32]
    std: NDArray[np.float32]
    temperature: float = 2.0
    source: str = ""

    def __post_init__(self) -> None:
        if self.classes != CLASSES:
            raise InputError(f"templates {self.source}: classes {self.classes}; expected {CLASSES}")
        k = len(self.prototypes)
        if (self.prototypes.shape != (k, N_MFCC) or self.labels.shape != (k,) or self.mean.shape != (N_MFCC,)
                or self.std.shape != (N_MFCC,) or not np.all(self.std > 0) or self.temperature <= 0
                or not np.all(np.isfinite(self.prototypes))):
            raise InputError(f"templates {self.source}: malformed arrays; recalibrate")
        missing = [c for i, c in enumerate(CLASSES) if not np.any(self.labels == i)]
        if missing:
            raise InputError(f"templates {self.source}: no prototypes for {missing}; recalibrate those vowels")

    def weights(self, mfcc: NDArray[np.float32]) -> _FloatArray:
        """(N, 12) MFCC -> (N, len(CLASSES)) soft class weights summing to 1."""
        z = (mfcc - self.mean) / self.std
        d2 = ((z[:, None, :] - self.prototypes[None, :, :]) ** 2).mean(axis=2)  # (N, K)
        best = np.full((len(z), len(CLASSES)), np.inf, np.float32)
        for c in range(len(CLASSES)):
            sel = self.labels == c
            best[:, c] = d2[:, sel].min(axis=1)
        logits = -best / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)

    def to_json(self) -> dict[str, object]:
        return {"format": "avatar-plugin vowel templates", "version": 1, "classes": list(self.classes),
                "temperature": self.temperature, "source": self.source,
                "mean": [round(float(v), 5) for v in self.mean], "std": [round(float(v), 5) for v in self.std],
                "prototypes": [{"class": self.classes[int(lab)], "mfcc": [round(float(v), 5) for v in p]}
                               for p, lab in zip(self.prototypes, self.labels, strict=True)]}

    @classmethod
    def from_json(cls, data: object, source: str) -> VowelTemplates:
        try:
            assert isinstance(data, dict) and data.get("version") == 1
            classes = tuple(data["classes"])
            protos = np.array([p["mfcc"] for p in data["prototypes"]], np.float32)
            labels = np.array([classes.index(p["class"]) for p in data["prototypes"]], np.int64)
            return cls(classes, protos, labels, np.array(data["mean"], np.float32),
                       np.array(data["std"], np.float32), float(data.get("temperature", 2.0)),
                       str(data.get("source", source)))
        except (AssertionError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: not a vowel-template file ({exc!r}); recalibrate or delete it") from None

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> VowelTemplates:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{p}: cannot read vowel templates ({exc})") from None
        return cls.from_json(data, str(p))


@lru_cache(maxsize=1)
def default_templates() -> VowelTemplates:
    """The templates shipped with the package (built from espeak-ng voices by ``build_templates``)."""
    text = resources.files("avatar_plugin.live").joinpath("lipsync_templates.json").read_text("utf-8")
    return VowelTemplates.from_json(json.loads(text), "lipsync_templates.json")


def build_templates(examples: Mapping[str, Sequence[NDArray[np.float32]]], per_class: int = 8,
                    temperature: float = 2.0, source: str = "", seed: int = 0) -> VowelTemplates:
    """Class name -> list of (n, 12) MFCC arrays -> templates (k-means prototypes per class)."""
    from scipy.cluster.vq import kmeans2

    per: dict[str, NDArray[np.float32]] = {}
    for c in CLASSES:
        arrays = [np.asarray(a, np.float32).reshape(-1, N_MFCC) for a in examples.get(c, [])]
        data = np.concatenate(arrays) if arrays else np.zeros((0, N_MFCC), np.float32)
        if len(data) < 3:
            raise InputError(f"calibration: class {c} has {len(data)} voiced frames; expected at least 3 "
                             f"(say the sound for about a second, clearly above the room noise)")
        per[c] = data
    everything = np.concatenate(list(per.values()))
    mean = everything.mean(axis=0)
    std = everything.std(axis=0) + 1e-3
    protos, labels = [], []
    rng = np.random.default_rng(seed)
    for i, c in enumerate(CLASSES):
        z = (per[c] - mean) / std
        k = min(per_class, max(1, len(z) // 4))
        if k == 1:
            centers = z.mean(axis=0, keepdims=True)
        else:
            centers, _ = kmeans2(z.astype(np.float64), k, minit="++", seed=rng)
        protos.append(centers.astype(np.float32))
        labels += [i] * len(centers)
    return VowelTemplates(CLASSES, np.concatenate(protos), np.array(labels, np.int64), mean.astype(np.float32),
                          std.astype(np.float32), temperature, source)


# ------------------------------------------------------------------------------------------ state pieces
class Smoother:
    """First-order smoothing with separate rise (attack) and fall (release) time constants, in seconds."""

    def __init__(self, attack_s: float, release_s: float, value: float = 0.0) -> None:
        if attack_s < 0 or release_s < 0:
            raise ValueError("time constants must be >= 0")
        self.attack_s, self.release_s, self.value = attack_s, release_s, value
        self._t: float | None = None

    def update(self, x: float, t: float) -> float:
        dt = 0.0 if self._t is None else max(0.0, t - self._t)
        self._t = t
        tau = self.attack_s if x > self.value else self.release_s
        a = 1.0 if tau <= 0 else 1.0 - math.exp(-dt / tau)
        self.value += (x - self.value) * a
        return self.value


class LoudnessGate:
    """Level (dBFS) -> loudness 0..1 with an adaptive noise floor and automatic gain.

    The floor falls to quieter levels with a 50 ms time constant and rises by at most ``floor_rise_db_s``;
    the peak rises at once and decays by ``peak_decay_db_s``; the peak stays at least ``min_range_db`` above
    the floor. A steady sound is taken for room noise after about 10-15 s (a held vowel closes slowly).
    Loudness is 0 below ``floor + gate_db`` and 1 at ``peak - headroom_db``.
    """

    def __init__(self, floor_db: float = -65.0, peak_db: float = -20.0, gate_db: float = 10.0,
                 headroom_db: float = 8.0, floor_rise_db_s: float = 1.0, peak_decay_db_s: float = 1.0,
                 min_range_db: float = 25.0, floor_min_db: float = -72.0) -> None:
        self.floor, self.peak = floor_db, peak_db
        self.gate_db, self.headroom_db = gate_db, headroom_db
        self.floor_rise, self.peak_decay = floor_rise_db_s, peak_decay_db_s
        self.min_range, self.floor_min = min_range_db, floor_min_db
        self._t: float | None = None

    def update(self, level_db: float, t: float) -> float:
        dt = 0.0 if self._t is None else min(max(0.0, t - self._t), 1.0)
        self._t = t
        lv = max(level_db, self.floor_min)
        if lv < self.floor:
            self.floor += (lv - self.floor) * (1.0 - math.exp(-dt / 0.05)) if dt else 0.0
        else:
            self.floor = min(lv, self.floor + self.floor_rise * dt)
        self.floor = max(self.floor, self.floor_min)
        self.peak = max(lv, self.peak - self.peak_decay * dt, self.floor + self.min_range)
        lo = self.floor + self.gate_db
        hi = max(self.peak - self.headroom_db, lo + 6.0)
        return float(min(max((lv - lo) / (hi - lo), 0.0), 1.0))


@dataclass(frozen=True)
class LipSyncOptions:
    """Tuning knobs (defaults fit speech at a normal distance from a microphone)."""

    attack_s: float = 0.012
    release_s: float = 0.045
    vowel_smooth_s: float = 0.03
    gate_db: float = 10.0
    headroom_db: float = 8.0
    gain: float = 1.0          # extra scale on the opening
    templates: VowelTemplates | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MouthFrame:
    """One analysis hop. ``t``: stream time of the end of the hop (s). ``shape``: the mouth.
    ``level_db``: input level; ``loudness``: 0..1 after gate and gain; ``weights``: class weights (CLASSES)."""

    t: float
    shape: MouthShape
    level_db: float
    loudness: float
    weights: tuple[float, ...]


# -------------------------------------------------------------------------------------------- the machine
class _State:
    """Gate + shape + smoothing over per-hop features (shared by streaming and offline)."""

    def __init__(self, opts: LipSyncOptions, gate: LoudnessGate) -> None:
        self.opts = opts
        self.templates = opts.templates or default_templates()
        self.gate = gate
        self.open_s = Smoother(opts.attack_s, opts.release_s)
        self.form_s = Smoother(opts.vowel_smooth_s, opts.vowel_smooth_s)
        self.vowel_s = [Smoother(opts.vowel_smooth_s, opts.vowel_smooth_s) for _ in VOWELS]

    def run(self, times: Sequence[float], level: _FloatArray, mfcc: _FloatArray) -> list[MouthFrame]:
        w = self.templates.weights(mfcc)
        target_open = w @ _CLASS_OPEN
        vowel_w = w[:, :5]
        vsum = vowel_w.sum(axis=1, keepdims=True)
        form = (w @ _CLASS_FORM) / np.maximum(w[:, :5].sum(axis=1) + w[:, 6], 1e-6)
        vnorm = vowel_w / np.maximum(vsum, 1e-6)
        out = []
        gain = self.opts.gain
        for i, t in enumerate(times):
            loud = self.gate.update(float(level[i]), t)
            o = self.open_s.update(min(1.0, loud * float(target_open[i]) * gain), t)
            speaking = min(1.0, o / 0.3)
            f = self.form_s.update(float(form[i]) * speaking, t)
            vw = tuple(min(1.0, max(0.0, s.update(float(vnorm[i, j]) * o, t)))
                       for j, s in enumerate(self.vowel_s))
            shape = MouthShape(min(max(o, 0.0), 1.0), min(max(f, -1.0), 1.0), vw)  # type: ignore[arg-type]
            out.append(MouthFrame(t, shape, float(level[i]), loud, tuple(float(v) for v in w[i])))
        return out


class LipSyncAnalyzer:
    """Streaming lip sync: ``process(block) -> [MouthFrame, ...]`` (one per completed 10 ms hop).

    Blocks may have any sample rate (fixed per analyzer instance after the first block) and any size.
    Frame times come from sample counts since the first block's ``t``, so hours of audio never drift. Memory
    is constant: a window of samples and a few floats of state.
    """

    def __init__(self, options: LipSyncOptions | None = None) -> None:
        self.options = options or LipSyncOptions()
        self._state = _State(self.options, LoudnessGate(gate_db=self.options.gate_db,
                                                        headroom_db=self.options.headroom_db))
        self._resampler: StreamResampler | None = None
        self._sr_in: int | None = None
        self._buf = np.zeros(WINDOW - HOP, np.float32)  # the last WINDOW - HOP samples seen
        self._pending = np.zeros(0, np.float32)
        self._t0: float | None = None
        self._hops = 0

    @property
    def latency_s(self) -> float:
        """Delay of the analysis itself: half the MFCC window (the frame describes its window's middle)."""
        return WINDOW / 2 / SAMPLE_RATE

    def process(self, block: AudioBlock) -> list[MouthFrame]:
        if self._sr_in is None:
            self._sr_in = block.sample_rate
            self._t0 = block.t
            if block.sample_rate != SAMPLE_RATE:
                self._resampler = StreamResampler(block.sample_rate, SAMPLE_RATE)
        elif block.sample_rate != self._sr_in:
            raise InputError(f"audio block at {block.sample_rate} Hz after blocks at {self._sr_in} Hz; "
                             "use one analyzer per stream (or reset())")
        x = self._resampler.process(block.samples) if self._resampler else block.samples
        pending = np.concatenate([self._pending, x]) if len(self._pending) else x
        n_hops = len(pending) // HOP
        if n_hops == 0:
            self._pending = pending.copy()
            return []
        used = pending[:n_hops * HOP]
        self._pending = pending[n_hops * HOP:].copy()
        stream = np.concatenate([self._buf, used])
        frames = np.lib.stride_tricks.sliding_window_view(stream, WINDOW)[::HOP][:n_hops]
        self._buf = stream[-(WINDOW - HOP):].copy()
        level, mfcc = features(frames)
        assert self._t0 is not None
        times = [self._t0 + (self._hops + k + 1) * HOP_S for k in range(n_hops)]
        self._hops += n_hops
        return self._state.run(times, level, mfcc)

    def reset(self) -> None:
        self.__init__(self.options)  # type: ignore[misc]


def analyze(samples: object, sample_rate: int, fps: float = 60.0, options: LipSyncOptions | None = None,
            lead_s: float = 0.0) -> MouthTrack:
    """Offline lip sync of a whole clip -> MouthTrack at ``fps`` (frame i at i / fps seconds).

    Same analysis as :class:`LipSyncAnalyzer`, but the gate starts from the clip's own noise floor and
    peak (5th / 99th percentile levels), and the output is shifted by the analysis delay (and ``lead_s``
    more, to open the mouth a touch before the sound) so it lines up with the audio.
    """
    x = to_mono_float32(samples, "audio")
    if not 0 < fps <= 1000:
        raise InputError(f"fps {fps}: expected 0 < fps <= 1000")
    opts = options or LipSyncOptions()
    if sample_rate != SAMPLE_RATE:
        x = StreamResampler(sample_rate, SAMPLE_RATE).process(x)
    n_hops = len(x) // HOP + 1
    stream = np.concatenate([np.zeros(WINDOW - HOP, np.float32), x,
                             np.zeros(n_hops * HOP - len(x) + WINDOW // 2, np.float32)])
    frames = np.lib.stride_tricks.sliding_window_view(stream, WINDOW)[::HOP][:n_hops + WINDOW // 2 // HOP]
    level, mfcc = features(np.ascontiguousarray(frames))
    voiced = level[level > -100]
    floor = float(np.percentile(voiced, 5)) if len(voiced) else -65.0
    peak = float(np.percentile(voiced, 99)) if len(voiced) else -20.0
    gate = LoudnessGate(floor_db=max(min(floor, peak - 30.0), -72.0), peak_db=peak, gate_db=opts.gate_db,
                        headroom_db=opts.headroom_db)
    times = [(k + 1) * HOP_S for k in range(len(level))]
    hop_frames = _State(opts, gate).run(times, level, mfcc)
    # Frame k describes the window ending at (k + 1) * HOP; its centre is WINDOW / 2 earlier.
    centre = np.array(times) - WINDOW / 2 / SAMPLE_RATE - lead_s
    duration = len(x) / SAMPLE_RATE
    n_out = int(math.ceil(duration * fps - 1e-9))
    t_out = np.arange(n_out) / fps
    o = np.array([f.shape.open for f in hop_frames], np.float32)
    fm = np.array([f.shape.form for f in hop_frames], np.float32)
    vw = np.array([f.shape.vowels for f in hop_frames], np.float32).reshape(-1, 5)

    def at(a: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.interp(t_out, centre, a, left=0.0, right=0.0).astype(np.float32)

    return MouthTrack(float(fps), at(o), at(fm), np.stack([at(vw[:, j]) for j in range(5)], axis=1))


def calibrate(recordings: Mapping[str, tuple[object, int]], base: VowelTemplates | None = None,
              per_class: int = 4) -> VowelTemplates:
    """Per-user templates from recordings of each class (say "aaa", "iii", ..., "mmm", "sss").

    ``recordings``: class name (A I U E O M F) -> (samples, sample_rate). Classes not recorded keep the
    prototypes of ``base`` (default templates), expressed in the new standardisation.
    """
    base = base or default_templates()
    examples: dict[str, list[NDArray[np.float32]]] = {}
    for name, (samples, sr) in recordings.items():
        if name not in CLASSES:
            raise InputError(f"calibration class {name!r}: expected one of {', '.join(CLASSES)}")
        x = to_mono_float32(samples, f"calibration {name}")
        if sr != SAMPLE_RATE:
            x = StreamResampler(int(sr), SAMPLE_RATE).process(x)
        if len(x) < WINDOW:
            raise InputError(f"calibration {name}: {len(x) / SAMPLE_RATE:.2f} s of audio; record about a second")
        frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP]
        level, mfcc = features(np.ascontiguousarray(frames))
        keep = level > (np.max(level) - 15.0)  # the voiced part, not the silence around it
        examples[name] = [mfcc[keep]]
    for i, c in enumerate(CLASSES):
        if c not in examples:
            protos = base.prototypes[base.labels == i] * base.std + base.mean
            examples[c] = [np.repeat(protos, 4, axis=0)]
    return build_templates(examples, per_class=per_class, temperature=base.temperature, source="calibration")


def user_templates_path() -> Path:
    """Where a user's calibration lives: ``<user config dir>/avatar-plugin/lipsync_calibration.json``."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("avatar-plugin", appauthor=False)) / "lipsync_calibration.json"


def load_user_templates(path: str | Path | None = None) -> VowelTemplates | None:
    """``path`` given: load it (errors if unreadable). None: the user's saved calibration if there is one,
    else None (the default templates)."""
    if path:
        return VowelTemplates.load(path)
    p = user_templates_path()
    return VowelTemplates.load(p) if p.is_file() else None
