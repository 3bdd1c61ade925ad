"""Audio in: WAV decoding (good, malformed, truncated), sample formats, PCM streams, resampling."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from avatar_plugin.errors import InputError
from avatar_plugin.live.audio import (
    AudioBlock,
    PcmDecoder,
    StreamResampler,
    array_blocks,
    decode_wav,
    encode_wav,
    read_wav,
    resample,
    to_mono_float32,
)


def _wav(x: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


TONE = (0.5 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16000)).astype(np.float32)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "PCM_U8", "FLOAT", "DOUBLE"])
def test_wav_sample_formats_decode_to_the_same_float_signal(subtype: str) -> None:
    x, sr = decode_wav(_wav(TONE, subtype=subtype))
    assert sr == 16000 and x.dtype == np.float32 and x.shape == TONE.shape
    assert np.max(np.abs(x - TONE)) < 0.02


def test_stereo_is_averaged_and_file_roundtrip(tmp_path) -> None:
    stereo = np.stack([TONE, -TONE * 0], axis=1)
    x, _ = decode_wav(_wav(stereo))
    assert np.allclose(x, TONE / 2, atol=1e-3)
    p = tmp_path / "a.wav"
    p.write_bytes(encode_wav(TONE, 22050))
    y, sr = read_wav(p)
    assert sr == 22050 and np.allclose(y, TONE, atol=1e-3)


@pytest.mark.parametrize("data, message", [
    (b"", "too short"),
    (b"RIFF\x00\x00\x00\x00WAVE", "no 'fmt ' chunk"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "truncated 'fmt '"),
    (b"hello world, not a wav file at all", "not a readable audio file"),
])
def test_malformed_wavs_are_input_errors(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decode_wav(data, "x.wav")


def test_truncated_wav_keeps_what_is_there_and_empty_data_is_an_error() -> None:
    full = _wav(TONE)
    x, _ = decode_wav(full[: 44 + 1000])  # the data chunk promises 3200 bytes, 1000 are there
    assert 400 <= len(x) <= 500
    with pytest.raises(InputError, match=r"no audio samples|truncated|no 'data'"):
        decode_wav(full[:44])
    with pytest.raises(InputError, match="no 'data' chunk"):
        decode_wav(full[:40])
    with pytest.raises(InputError, match="no such audio file"):
        read_wav("/nonexistent/file.wav")


def test_bad_sample_rate_in_header_is_rejected() -> None:
    data = bytearray(_wav(TONE))
    data[24:28] = struct.pack("<I", 1)  # 1 Hz
    with pytest.raises(InputError, match="sample rate"):
        decode_wav(bytes(data))


@pytest.mark.parametrize("bad", [
    np.zeros(10, complex), np.zeros(10, bool), np.zeros((2, 3, 4), np.float32), np.array([np.nan], np.float32),
    np.zeros(10, np.uint16), np.zeros((2, 1000), np.float32), "text",
])
def test_wrong_sample_types_are_input_errors(bad: object) -> None:
    with pytest.raises(InputError):
        to_mono_float32(bad)


def test_integer_scaling() -> None:
    assert to_mono_float32(np.array([-32768, 16384], np.int16)).tolist() == [-1.0, 0.5]
    assert to_mono_float32(np.array([0, 128, 255], np.uint8)).tolist() == pytest.approx([-1.0, 0.0, 0.9921875])
    assert to_mono_float32(np.array([2.0, -3.0])).tolist() == [1.0, -1.0]  # floats clipped
    with pytest.raises(InputError, match="1-D float32"):
        AudioBlock(np.zeros(4, np.float64), 16000, 0.0)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 37), min_size=1, max_size=12), st.sampled_from(["s16le", "s32le", "f32le", "u8"]),
       st.integers(1, 3))
def test_pcm_decoder_is_chunking_invariant(cuts: list[int], fmt: str, channels: int) -> None:
    rng = np.random.default_rng(len(cuts))
    frames = rng.uniform(-0.9, 0.9, (50, channels)).astype(np.float32)
    raw = {"s16le": (frames * 32767).astype("<i2"), "s32le": (frames * 2**31).astype("<i4"),
           "f32le": frames.astype("<f4"), "u8": (frames * 127 + 128).astype("u1")}[fmt].tobytes()
    whole = PcmDecoder(fmt, channels).decode(raw)
    dec = PcmDecoder(fmt, channels)
    parts, pos = [], 0
    for c in cuts:
        parts.append(dec.decode(raw[pos:pos + c]))
        pos += c
    parts.append(dec.decode(raw[pos:]))
    assert np.array_equal(np.concatenate(parts), whole) and dec.pending_bytes == 0
    assert len(whole) == 50


def test_pcm_decoder_rejects_unknown_format() -> None:
    with pytest.raises(InputError, match="unknown"):
        PcmDecoder("mp3")


def test_stream_resampler_is_block_invariant_and_drift_free() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 44100 * 3).astype(np.float32)
    whole = StreamResampler(44100, 16000).process(x)
    r = StreamResampler(44100, 16000)
    parts = [r.process(x[i:i + 517]) for i in range(0, len(x), 517)]
    blocked = np.concatenate(parts)
    assert len(blocked) == len(whole)
    assert np.allclose(blocked, whole, atol=1e-5)
    assert abs(len(whole) - 48000) <= 1
    # a long stream: output count follows input count exactly
    r = StreamResampler(48000, 16000)
    total = sum(len(r.process(np.zeros(4800, np.float32))) for _ in range(1000))
    assert abs(total - 1000 * 1600) <= 1


def test_offline_resample_and_blocks() -> None:
    y = resample(TONE, 16000, 48000)
    assert len(y) == 3 * len(TONE)
    blocks = list(array_blocks(TONE, 16000, 700, t0=5.0))
    assert [round(b.t, 4) for b in blocks] == [5.0, 5.0438, 5.0875]
    assert sum(len(b.samples) for b in blocks) == len(TONE)
