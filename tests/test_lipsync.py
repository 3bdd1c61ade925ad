"""Lip-sync analysis on real espeak-ng speech, timings, visemes, the offline CLI, a 2-hour silent stream."""

from __future__ import annotations

import gc
import json
import time

import numpy as np
import pytest

from avatar_plugin.cli import main as cli_main
from avatar_plugin.errors import InputError, ProtocolError
from avatar_plugin.live.audio import AudioBlock, array_blocks, encode_wav
from avatar_plugin.live.espeak import synthesize
from avatar_plugin.live.lipsync import (
    OPEN_THRESHOLD,
    LipSyncAnalyzer,
    LoudnessGate,
    Smoother,
    analyze,
    calibrate,
    default_templates,
)
from avatar_plugin.live.lipsync_align import text_track
from avatar_plugin.live.lipsync_timings import Timing, parse_timings, serialize_timings, timings_track
from avatar_plugin.live.lipsync_track import read_track
from avatar_plugin.live.lipsync_visemes import VISEMES, phoneme_visemes, unknown_label, vowel_of_viseme

SENTENCE = "Bob and Mary made a pot of apple soup."


@pytest.fixture(scope="module")
def speech():
    return synthesize(SENTENCE, voice="en")


def _truth(sp, fps: float = 60.0):
    """Per frame: 1 open (vowel), 0 closed (silence, p b m), -1 other."""
    times = np.arange(int(np.ceil(sp.duration * fps))) / fps
    state = np.zeros(len(times), int)
    for t in sp.phonemes:
        vis = phoneme_visemes(t.label) or ("sil",)
        edges = np.linspace(t.start, t.end, len(vis) + 1)
        for v, lo, hi in zip(vis, edges[:-1], edges[1:], strict=True):
            sel = (times >= lo) & (times < hi)
            state[sel] = 1 if vowel_of_viseme(v) else 0 if v in ("sil", "PP") else -1
    return state


def _agreement(state, open_):
    n = min(len(state), len(open_))
    s, o = state[:n], open_[:n] >= OPEN_THRESHOLD
    scored = s >= 0
    return float(((s == 1) == o)[scored].mean())


def test_espeak_gives_audio_and_phoneme_timings(speech) -> None:
    assert speech.sample_rate == 22050 and speech.duration > 1.5
    labels = [p.label for p in speech.phonemes]
    assert "b" in labels and "m" in labels and "0" in labels  # Bob, Mary, pot
    assert all(a.start <= b.start for a, b in zip(speech.phonemes, speech.phonemes[1:], strict=False))
    with pytest.raises(InputError, match="voice"):
        synthesize("hi", voice="no-such-voice-xx")


def test_audio_analysis_opens_on_vowels_and_closes_on_silence_and_bilabials(speech) -> None:
    track = analyze(speech.samples, speech.sample_rate, fps=60)
    assert len(track) == int(np.ceil(speech.duration * 60))
    assert _agreement(_truth(speech), track.open) >= 0.8  # a sentence full of b, p, m (benchmark: 93%)
    assert track.open[:2].max() < OPEN_THRESHOLD and track.open[-2:].max() < OPEN_THRESHOLD
    assert 0.5 < track.open.max() <= 1.0
    assert track.form.min() >= -1 and track.form.max() <= 1
    assert track.vowels.min() >= 0 and track.vowels.max() <= 1


def test_vowels_are_told_apart_on_sustained_vowels() -> None:
    got = {}
    for vowel, text, voice in (("A", "[[a:]]", "es"), ("I", "[[i:]]", "en+f2"), ("E", "[[e:]]", "en"),
                               ("O", "[[o:]]", "en+m3")):
        sp = synthesize(text, voice=voice, rate=80)
        tr = analyze(sp.samples, sp.sample_rate)
        loud = tr.open > 0.3
        assert loud.sum() > 10
        got[vowel] = "AIUEO"[int(np.bincount(tr.vowels[loud].argmax(axis=1), minlength=5).argmax())]
    assert got == {"A": "A", "I": "I", "E": "E", "O": "O"}


def test_streaming_matches_offline_and_is_block_size_invariant(speech) -> None:
    def run(block: int):
        a = LipSyncAnalyzer()
        frames = []
        for b in array_blocks(speech.samples, speech.sample_rate, block):
            frames += a.process(b)
        return frames

    f1, f2 = run(220), run(1000)
    assert len(f1) == len(f2) == len(speech.samples) * 16000 // 22050 // 160
    assert np.allclose([f.shape.open for f in f1], [f.shape.open for f in f2], atol=1e-5)
    assert [round(f.t, 6) for f in f1[:3]] == [0.01, 0.02, 0.03]
    # the streaming mouth opens during speech too
    assert max(f.shape.open for f in f1) > 0.5


def test_smoother_attacks_faster_than_it_releases() -> None:
    s = Smoother(0.01, 0.05)
    s.update(0.0, 0.0)
    up = s.update(1.0, 0.01)
    s2 = Smoother(0.01, 0.05, value=1.0)
    s2.update(1.0, 0.0)
    down = 1.0 - s2.update(0.0, 0.01)
    assert up > 0.6 and down < 0.2


def test_gate_adapts_to_room_noise_and_gain() -> None:
    g = LoudnessGate()
    t = 0.0
    for _ in range(3000):  # 30 s of a noisy room at -40 dBFS
        t += 0.01
        g.update(-40.0, t)
    assert g.update(-40.0, t + 0.01) == 0.0  # the room noise no longer opens the mouth
    assert -42 < g.floor < -38
    assert g.update(-15.0, t + 0.02) > 0.8  # speech above it does


@pytest.mark.slow
def test_two_hours_of_silence_faster_than_real_time_no_drift_no_growth() -> None:
    a = LipSyncAnalyzer()
    block = np.zeros(16000 * 60, np.float32)  # one minute per block
    n = 0
    last = None
    objects_after_10_min = 0
    started = time.perf_counter()
    for minute in range(120):
        frames = a.process(AudioBlock(block, 16000, 1000.0 + minute * 60.0))
        n += len(frames)
        last = frames[-1]
        del frames
        if minute == 10:
            gc.collect()
            objects_after_10_min = len(gc.get_objects())
    took = time.perf_counter() - started
    gc.collect()
    assert len(gc.get_objects()) - objects_after_10_min < 1000  # no growth
    assert took < 600  # faster than real time (7200 s); ~30 s here
    assert n == 120 * 60 * 100
    assert last is not None and last.t == pytest.approx(1000.0 + 7200.0, abs=1e-6)  # no drift
    assert last.shape.open == 0.0
    assert a._buf.nbytes < 4096 and a._pending.nbytes < 4096


def test_rate_change_inside_one_stream_is_an_error() -> None:
    a = LipSyncAnalyzer()
    a.process(AudioBlock(np.zeros(480, np.float32), 48000, 0.0))
    with pytest.raises(InputError, match="one analyzer per stream"):
        a.process(AudioBlock(np.zeros(160, np.float32), 16000, 0.01))


# ---------------------------------------------------------------------------------------------- visemes
@pytest.mark.parametrize("label, expected", [
    ("aI", ("aa", "ih")), ("@", ("aa",)), ("i:", ("ih",)), ("m", ("PP",)), ("_:", ("sil",)),
    ("AY1", ("aa", "ih")), ("UW0", ("ou",)), ("B", ("PP",)),            # ARPAbet
    ("aɪ", ("aa", "ih")), ("ˈoʊ", ("oh", "ou")), ("ʃ", ("CH",)), ("ˈ", ()),  # IPA (Piper)
    ("a", ("aa",)), ("N", ("kk",)), ("cl", ("PP",)), ("pau", ("sil",)),      # VOICEVOX-ish
    ("oh", ("oh",)), ("PP", ("PP",)),                                     # visemes
])
def test_phoneme_to_viseme_tables(label: str, expected: tuple[str, ...]) -> None:
    assert phoneme_visemes(label) == expected


def test_unknown_labels_are_reported() -> None:
    assert phoneme_visemes("☃") == ("DD",) and unknown_label("☃")
    assert not unknown_label("a")


# ---------------------------------------------------------------------------------------------- timings
def test_timings_parse_strictly_and_roundtrip() -> None:
    obj = {"timings": [{"start": 0.1, "end": 0.3, "phoneme": "a"}, {"start": 0, "end": 0.1, "viseme": "PP"}]}
    t = parse_timings(obj)
    assert t[0] == Timing(0.0, 0.1, "PP", "viseme")
    assert parse_timings(serialize_timings(t)) == t
    bad = [
        ([{"start": 0, "end": 1}], "exactly one"),
        ([{"start": 0, "end": 1, "phoneme": "a", "viseme": "aa"}], "exactly one"),
        ([{"start": 1, "end": 0, "phoneme": "a"}], "start <= end"),
        ([{"start": "0", "end": 1, "phoneme": "a"}], "start: expected seconds"),
        ([{"start": 0, "end": 1, "viseme": "Z9"}], "unknown"),
        ([{"start": 0, "end": 1, "phoneme": "a", "extra": 1}], "unknown keys"),
        ({"timing": []}, "expected"),
        ("nope", "expected a list"),
    ]
    for value, message in bad:
        with pytest.raises(ProtocolError, match=message):
            parse_timings(value, "speak.timings", error=ProtocolError)


def test_timings_track_follows_timings_exactly(speech) -> None:
    track = timings_track(speech.phonemes, speech.duration, fps=60)
    assert _agreement(_truth(speech), track.open) >= 0.95
    # a single vowel: half-way up at its start, fully open in the middle, shut after
    one = timings_track([Timing(0.5, 1.0, "aa", "viseme")], 1.5, fps=100)
    assert one.open[50] == pytest.approx(0.5, abs=0.05)
    assert one.open[75] == pytest.approx(1.0) and one.vowels[75, 0] == pytest.approx(1.0) and one.open[110] == 0.0


def test_text_alignment_on_espeak_audio(speech) -> None:
    track = text_track(speech.samples, speech.sample_rate, SENTENCE, fps=60)
    assert _agreement(_truth(speech), track.open) >= 0.9


def test_calibration_from_recordings_replaces_templates(tmp_path) -> None:
    recordings = {}
    for cls, text in (("A", "[[a:]]"), ("I", "[[i:]]"), ("U", "[[u:]]"), ("E", "[[e:]]"), ("O", "[[o:]]")):
        sp = synthesize(text, voice="en+m3", rate=80)
        recordings[cls] = (sp.samples, sp.sample_rate)
    t = calibrate(recordings)
    assert t.source == "calibration" and set(t.classes) == set(default_templates().classes)
    path = t.save(tmp_path / "cal.json")
    assert type(t).load(path).prototypes.shape == t.prototypes.shape
    with pytest.raises(InputError, match="calibration class"):
        calibrate({"X": recordings["A"]})


# ---------------------------------------------------------------------------------------------- the CLI
def test_cli_lipsync_writes_track_and_motion3(tmp_path, speech, capsys) -> None:
    wav = tmp_path / "s.wav"
    wav.write_bytes(encode_wav(speech.samples, speech.sample_rate))
    assert cli_main(["lipsync", str(wav), "-o", str(tmp_path / "t.json"), "--fps", "30"]) == 0
    tr = read_track(tmp_path / "t.json")
    assert tr.fps == 30 and len(tr) == int(np.ceil(speech.duration * 30)) and tr.open.max() > 0.5
    data = json.loads((tmp_path / "t.json").read_text())
    assert set(data["params"]) == {"ParamMouthOpenY", "ParamMouthForm", "ParamA", "ParamI", "ParamU", "ParamE",
                                   "ParamO"}
    assert cli_main(["lipsync", str(wav), "--text", SENTENCE, "-o", str(tmp_path / "m.motion3.json")]) == 0
    motion = json.loads((tmp_path / "m.motion3.json").read_text())
    assert motion["Version"] == 3 and motion["Meta"]["CurveCount"] == 7
    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps(serialize_timings(speech.phonemes)))
    assert cli_main(["lipsync", str(wav), "--timings", str(timings), "-o", str(tmp_path / "x.json")]) == 0


def test_cli_lipsync_errors_are_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert cli_main(["lipsync", str(bad), "-o", str(tmp_path / "t.json")]) == 1
    assert "bad.wav" in capsys.readouterr().err
    good = tmp_path / "g.wav"
    good.write_bytes(encode_wav(np.zeros(1600, np.float32), 16000))
    assert cli_main(["lipsync", str(good), "-o", str(tmp_path / "t.txt")]) == 1
    (tmp_path / "tm.json").write_text("[{\"start\": 0}]")
    assert cli_main(["lipsync", str(good), "--timings", str(tmp_path / "tm.json"), "-o",
                     str(tmp_path / "t.json")]) == 1
    assert "exactly one" in capsys.readouterr().err


def test_visemes_cover_all_shapes() -> None:
    from avatar_plugin.live.lipsync_visemes import SHAPES

    assert set(SHAPES) == set(VISEMES)
