"""Audio in: WAV decoding, sample-format checks, resampling and block iterators (no devices here).

Everything downstream (lip-sync analysis, the mic source, ``speak``) sees one thing: an :class:`AudioBlock`,
mono float32 samples in -1..1 with their sample rate and the stream time of the first sample. Where the
samples come from (a microphone, a WAV file played in real time, a chatbot's TTS bytes) is an adapter.

- :func:`read_wav` / :func:`decode_wav`: a WAV (file or bytes) -> ``(samples, sample_rate)``; malformed,
  truncated or empty files raise :class:`~avatar_plugin.errors.InputError` naming the file and the fix.
- :func:`to_mono_float32`: any sane numpy array (int8/16/32, uint8, float32/64; 1-D or (frames, channels))
  -> mono float32; anything else (complex, bool, NaN, 3-D) raises ``InputError``.
- :class:`PcmDecoder`: raw little-endian PCM chunks of a stream (``s16le``, ``s32le``, ``f32le``, ``u8``),
  keeping a partial sample between chunks.
- :func:`resample` (offline, polyphase) and :class:`StreamResampler` (block by block, drift-free: output
  positions are computed from integer sample counts).
- :func:`array_blocks` / :func:`wav_blocks`: iterators of fixed-size blocks, with times from sample counts.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from avatar_plugin.errors import InputError

__all__ = [
    "PCM_FORMATS",
    "AudioBlock",
    "PcmDecoder",
    "StreamResampler",
    "array_blocks",
    "decode_wav",
    "encode_wav",
    "read_wav",
    "resample",
    "to_mono_float32",
    "wav_blocks",
]

FloatArray = NDArray[np.float32]

# Stream sample formats accepted by PcmDecoder / speech_start: name -> (numpy dtype, bytes per sample).
PCM_FORMATS: dict[str, tuple[str, int]] = {
    "s16le": ("<i2", 2),
    "s32le": ("<i4", 4),
    "f32le": ("<f4", 4),
    "u8": ("u1", 1),
}

_MAX_SAMPLE_RATE = 384_000
_MIN_SAMPLE_RATE = 4_000


@dataclass(frozen=True, eq=False)
class AudioBlock:
    """A block of mono audio.

    ``samples``: (N,) float32, -1..1 full scale. ``sample_rate``: Hz. ``t``: stream time of the first
    sample, seconds (any monotonic clock; the analysis only uses differences).
    """

    samples: FloatArray
    sample_rate: int
    t: float

    def __post_init__(self) -> None:
        s = self.samples
        if not isinstance(s, np.ndarray) or s.dtype != np.float32 or s.ndim != 1:
            raise InputError(
                f"AudioBlock.samples: expected a 1-D float32 array, found "
                f"{type(s).__name__} {getattr(s, 'dtype', '')} ndim={getattr(s, 'ndim', '?')}; "
                "convert with avatar_plugin.live.audio.to_mono_float32"
            )
        _check_rate(self.sample_rate, "AudioBlock.sample_rate")

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def _check_rate(sr: object, what: str) -> int:
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or not (
        _MIN_SAMPLE_RATE <= int(sr) <= _MAX_SAMPLE_RATE
    ):
        raise InputError(
            f"{what}: expected an integer sample rate in {_MIN_SAMPLE_RATE}..{_MAX_SAMPLE_RATE} Hz, found {sr!r}"
        )
    return int(sr)


def to_mono_float32(samples: object, what: str = "audio") -> FloatArray:
    """Any sane PCM array -> mono float32 in -1..1.

    Accepts 1-D ``(frames,)`` or 2-D ``(frames, channels)`` arrays of int8/int16/int32/uint8 (scaled by their
    full range) or float16/32/64 (taken as -1..1 and clipped). Channels are averaged. Raises ``InputError``
    for other dtypes, more dimensions, or non-finite values.
    """
    a = np.asarray(samples)
    if a.ndim == 2:
        if a.shape[1] > 64 and a.shape[0] <= 64:
            raise InputError(
                f"{what}: shape {a.shape} looks like (channels, frames); expected (frames, channels); "
                "pass array.T"
            )
    elif a.ndim != 1:
        raise InputError(f"{what}: expected a 1-D or (frames, channels) array, found shape {a.shape}")
    kind = a.dtype.kind
    if kind == "i" and a.dtype.itemsize in (1, 2, 4):
        out = a.astype(np.float32) / float(2 ** (8 * a.dtype.itemsize - 1))
    elif kind == "u" and a.dtype.itemsize == 1:
        out = (a.astype(np.float32) - 128.0) / 128.0
    elif kind == "f":
        out = a.astype(np.float32)
        if not np.all(np.isfinite(out)):
            raise InputError(f"{what}: float samples contain NaN or infinity; expected finite values in -1..1")
        np.clip(out, -1.0, 1.0, out=out)
    else:
        raise InputError(
            f"{what}: unsupported sample type {a.dtype}; expected int8/int16/int32/uint8 PCM or float in -1..1"
        )
    if out.ndim == 2:
        out = out.mean(axis=1, dtype=np.float32) if out.shape[1] > 1 else out[:, 0]
    return np.ascontiguousarray(out, dtype=np.float32)


def decode_wav(data: bytes, name: str = "WAV data") -> tuple[FloatArray, int]:
    """WAV (or FLAC/OGG, anything libsndfile reads) bytes -> ``(mono float32 samples, sample_rate)``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"{name}: expected bytes of a WAV file, found {type(data).__name__}")
    data = bytes(data)
    if len(data) < 12:
        raise InputError(f"{name}: {len(data)} bytes is too short for a WAV file (a header alone is 44 bytes)")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        _check_riff(data, name)
    return _read_soundfile(io.BytesIO(data), name)


def read_wav(path: str | Path) -> tuple[FloatArray, int]:
    """Read a WAV (or any libsndfile format) file -> ``(mono float32 samples, sample_rate)``."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such audio file; check the path") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder; pass an audio file (WAV, FLAC or OGG)") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read the audio file ({exc})") from None
    return decode_wav(data, str(p))


def _check_riff(data: bytes, name: str) -> None:
    """Walk the RIFF chunks: a 'fmt ' chunk and a non-empty 'data' chunk, both inside the file."""
    pos, found_fmt, found_data = 12, False, False
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise InputError(f"{name}: truncated 'fmt ' chunk; the WAV header is damaged, re-export the file")
            found_fmt = True
        elif cid == b"data":
            if not found_fmt:
                raise InputError(f"{name}: 'data' chunk before 'fmt '; the WAV header is damaged")
            available = len(data) - body
            # 0 and 0xFFFFFFFF are what streaming writers put before they know the size; accept what is there.
            if size not in (0, 0xFFFFFFFF) and available < size and available < 2:
                raise InputError(
                    f"{name}: truncated: the data chunk promises {size} bytes but the file holds {available}"
                )
            found_data = True
            break
        pos = body + size + (size & 1)
    if not found_fmt:
        raise InputError(f"{name}: no 'fmt ' chunk; not a valid WAV file (expected a RIFF/WAVE PCM file)")
    if not found_data:
        raise InputError(f"{name}: no 'data' chunk (the file is truncated or holds no audio)")


def _read_soundfile(fileobj: io.BytesIO, name: str) -> tuple[FloatArray, int]:
    import soundfile as sf

    try:
        with sf.SoundFile(fileobj) as f:
            sr = int(f.samplerate)
            frames = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = getattr(exc, "error_string", None) or str(exc)  # without libsndfile's "<BytesIO ...>" prefix
        raise InputError(
            f"{name}: not a readable audio file ({reason}); expected a PCM or float WAV (or FLAC/OGG)"
        ) from None
    _check_rate(sr, f"{name}: sample rate")
    if frames.shape[0] == 0:
        raise InputError(f"{name}: holds no audio samples (0 frames); the file is empty or truncated")
    return to_mono_float32(frames, name), sr


def encode_wav(samples: NDArray[np.generic], sample_rate: int) -> bytes:
    """Mono samples (any dtype accepted by :func:`to_mono_float32`) -> 16-bit PCM WAV bytes."""
    x = to_mono_float32(samples)
    pcm = np.round(x * 32767.0).astype("<i2")
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, pcm, _check_rate(sample_rate, "sample_rate"), format="WAV", subtype="PCM_16")
    return buf.getvalue()


class PcmDecoder:
    """Raw PCM chunks of a stream -> mono float32, keeping a partial frame between chunks.

    ``fmt`` is a key of :data:`PCM_FORMATS`; ``channels`` interleaved channels are averaged.
    """

    def __init__(self, fmt: str, channels: int = 1) -> None:
        if fmt not in PCM_FORMATS:
            raise InputError(f"sample format {fmt!r}: unknown; expected one of {sorted(PCM_FORMATS)}")
        if not isinstance(channels, int) or isinstance(channels, bool) or not 1 <= channels <= 16:
            raise InputError(f"channels {channels!r}: expected an integer 1..16")
        self.fmt = fmt
        self.channels = channels
        self._dtype, width = PCM_FORMATS[fmt]
        self._frame_bytes = width * channels
        self._rest = b""

    def decode(self, chunk: bytes) -> FloatArray:
        data = self._rest + bytes(chunk)
        n = len(data) // self._frame_bytes * self._frame_bytes
        self._rest = data[n:]
        a = np.frombuffer(data[:n], dtype=self._dtype)
        if self.channels > 1:
            a = a.reshape(-1, self.channels)
        return to_mono_float32(a, f"{self.fmt} stream")

    @property
    def pending_bytes(self) -> int:
        return len(self._rest)


def resample(samples: FloatArray, sr_in: int, sr_out: int) -> FloatArray:
    """Offline resampling (polyphase FIR, scipy ``resample_poly``)."""
    if sr_in == sr_out:
        return np.asarray(samples, dtype=np.float32)
    g = math.gcd(int(sr_in), int(sr_out))
    return signal.resample_poly(samples, sr_out // g, sr_in // g).astype(np.float32)


class StreamResampler:
    """Block-by-block resampling with state: anti-alias IIR low-pass + linear interpolation.

    Output sample ``k`` sits at input position ``k * sr_in / sr_out``, computed from integer counts, so
    hours of blocks never drift. Good enough for analysis (not for listening).
    """

    def __init__(self, sr_in: int, sr_out: int) -> None:
        self.sr_in = _check_rate(sr_in, "input sample rate")
        self.sr_out = _check_rate(sr_out, "output sample rate")
        self._n_in = 0   # input samples consumed so far
        self._n_out = 0  # output samples produced so far
        self._last = np.zeros(1, dtype=np.float64)  # last input sample of the previous block
        self._sos: NDArray[np.float64] | None = None
        self._zi: NDArray[np.float64] | None = None
        if sr_out < sr_in:
            self._sos = signal.butter(8, 0.9 * sr_out / sr_in, output="sos")
            self._zi = np.zeros((self._sos.shape[0], 2))

    def process(self, x: FloatArray) -> FloatArray:
        if self.sr_in == self.sr_out:
            return np.asarray(x, dtype=np.float32)
        y = np.asarray(x, dtype=np.float64)
        if self._sos is not None and len(y):
            y, self._zi = signal.sosfilt(self._sos, y, zi=self._zi)
        n_in_end = self._n_in + len(y)
        # Output indices k whose position k*sr_in/sr_out is < n_in_end - 1 (needs samples i and i+1 known).
        k_end = ((n_in_end - 1) * self.sr_out) // self.sr_in + 1 if n_in_end > 0 else 0
        k = np.arange(self._n_out, max(k_end, self._n_out), dtype=np.int64)
        if len(k) == 0:
            self._n_in = n_in_end
            if len(y):
                self._last = y[-1:]
            return np.zeros(0, dtype=np.float32)
        num = k * self.sr_in
        idx = num // self.sr_out
        frac = (num - idx * self.sr_out) / self.sr_out
        ext = np.concatenate([self._last, y])  # ext[j + 1] == input sample (self._n_in + j)
        local = idx - self._n_in + 1
        local = np.clip(local, 0, len(ext) - 1)
        nxt = np.clip(local + 1, 0, len(ext) - 1)
        out = ext[local] * (1.0 - frac) + ext[nxt] * frac
        self._n_out = int(k[-1]) + 1
        self._n_in = n_in_end
        if len(y):
            self._last = y[-1:]
        return out.astype(np.float32)


def array_blocks(samples: FloatArray, sample_rate: int, block: int, t0: float = 0.0) -> Iterator[AudioBlock]:
    """Cut an array into blocks of ``block`` samples (the last may be shorter); times from sample counts."""
    if block <= 0:
        raise InputError(f"block size {block}: expected a positive number of samples")
    x = to_mono_float32(samples)
    for start in range(0, len(x), block):
        yield AudioBlock(x[start:start + block], sample_rate, t0 + start / sample_rate)


def wav_blocks(path: str | Path, block_s: float = 0.01, t0: float = 0.0) -> Iterator[AudioBlock]:
    """Blocks of about ``block_s`` seconds from a WAV file (read whole: speech files are small)."""
    x, sr = read_wav(path)
    yield from array_blocks(x, sr, max(1, round(block_s * sr)), t0)
