"""Lip-sync benchmark: accuracy against espeak-ng's own phoneme events, speed, and pylipsync side by side.

    python benchmarks/lipsync.py [--voices en,en+f3,en-us+Annie] [--fps 60] [--noise-snr 20]

Truth, per frame (frame i at i / fps): the espeak-ng phoneme under it -> viseme; vowels = OPEN, silence and
bilabials (p b m) = CLOSED, other consonants are not scored (the mouth may legitimately be half-open).
Scored:

- open/closed agreement: ParamMouthOpenY >= 0.2 (OPEN_THRESHOLD) vs truth, over OPEN and CLOSED frames;
- vowel accuracy: over truth-vowel frames (schwas excluded), argmax of ParamA/I/U/E/O == the truth vowel;
- pylipsync (PyPI, a port of uLipSync) on the same audio: open = sum of its non-silence targets >= threshold
  (0.2, and the best threshold in hindsight, an oracle), vowel = argmax of aa/ih/ou/ee/oh;
- offline speed on 60 s of speech (ours vs pylipsync).

The baseline is pylipsync; a constant "always open when loud" RMS gate (Open-LLM-VTuber's method: RMS of 20 ms
chunks over the clip maximum) is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import numpy as np

from avatar_plugin.live.espeak import Speech, synthesize
from avatar_plugin.live.lipsync import OPEN_THRESHOLD, analyze
from avatar_plugin.live.lipsync_align import text_track
from avatar_plugin.live.lipsync_timings import timing_visemes, timings_track
from avatar_plugin.live.lipsync_visemes import VOWELS, vowel_of_viseme

# Harvard sentences (IEEE 1969, public domain), lists 1-3.
SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
]
SCHWAS = {"@", "3", "@2", "@5", "a#", "I#", "I2", "@L", "3:"}
OPEN, CLOSED, OTHER = 1, 0, -1
PYLIPSYNC_VOWELS = ("aa", "ih", "ou", "ee", "oh")  # = A I U E O


def truth(sp: Speech, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per time: state (OPEN/CLOSED/OTHER) and vowel index (0..4, -1 if none or a schwa)."""
    state = np.full(len(times), CLOSED, int)  # before the first / after the last phoneme: silence
    vowel = np.full(len(times), -1, int)
    for t in sp.phonemes:
        vis = timing_visemes(t) or ("sil",)
        edges = np.linspace(t.start, t.end, len(vis) + 1)
        for v, lo, hi in zip(vis, edges[:-1], edges[1:], strict=True):
            sel = (times >= lo) & (times < hi)
            vw = vowel_of_viseme(v)
            if vw is not None:
                state[sel] = OPEN
                if t.label not in SCHWAS:
                    vowel[sel] = VOWELS.index(vw)
            elif v in ("sil", "PP"):
                state[sel] = CLOSED
            else:
                state[sel] = OTHER
    return state, vowel


class Tally:
    def __init__(self) -> None:
        self.agree = self.scored = self.v_ok = self.v_n = 0

    def add(self, state: np.ndarray, vowel: np.ndarray, pred_open: np.ndarray, pred_vowel: np.ndarray) -> None:
        n = min(len(state), len(pred_open))
        state, vowel, pred_open, pred_vowel = state[:n], vowel[:n], pred_open[:n], pred_vowel[:n]
        scored = state != OTHER
        self.scored += int(scored.sum())
        self.agree += int(((state == OPEN) == pred_open)[scored].sum())
        vs = vowel >= 0
        self.v_n += int(vs.sum())
        self.v_ok += int((pred_vowel[vs] == vowel[vs]).sum())

    @property
    def agreement(self) -> float:
        return 100.0 * self.agree / max(self.scored, 1)

    @property
    def vowel_acc(self) -> float:
        return 100.0 * self.v_ok / max(self.v_n, 1)


def add_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    speech_rms = np.sqrt(np.mean(x[np.abs(x) > 1e-3] ** 2))
    noise = rng.standard_normal(len(x)).astype(np.float32) * speech_rms / (10 ** (snr_db / 20))
    return np.clip(x + noise, -1, 1).astype(np.float32)


def run_pylipsync(analyzer: object, x: np.ndarray, sr: int, fps: int) -> tuple[np.ndarray, np.ndarray]:
    segs = analyzer.extract_phoneme_segments(x, sr, window_size_ms=64.0, fps=fps)  # type: ignore[attr-defined]
    speech = np.zeros(len(segs))
    vw = np.zeros((len(segs), 5))
    for i, s in enumerate(segs):
        d = {p.name: p.target for p in s.phonemes}
        vw[i] = [d.get(k, 0.0) for k in PYLIPSYNC_VOWELS]
        speech[i] = vw[i].sum()
    return speech, vw


async def _latency(puppet_dir: str, rounds: int = 40) -> tuple[list[float], list[float], list[float]]:
    """(mic block -> /ws frame latencies, speak mouth-onset minus audio-onset errors), in ms."""
    import json

    import aiohttp

    from avatar_plugin.client import AvatarClient
    from avatar_plugin.live.audio import encode_wav
    from avatar_plugin.live.config import default_registry, parse_config
    from avatar_plugin.live.daemon import Daemon
    from avatar_plugin.live.mic import ArrayInput, MicSource

    vowel = synthesize("[[a:]]", voice="en", rate=120)
    sr = vowel.sample_rate
    period = np.zeros(int(0.6 * sr), np.float32)
    clip = vowel.samples[: int(0.35 * sr)]
    period[int(0.2 * sr):int(0.2 * sr) + len(clip)] = clip
    onset_in_period = int(np.argmax(np.abs(period) > 0.01))
    entries: list[float] = []
    block = int(0.01 * sr)

    def on_block(b: object, when: float) -> None:
        start = round(b.t * sr)  # type: ignore[attr-defined]
        if (start % len(period)) <= onset_in_period < (start % len(period)) + block:
            entries.append(when)

    d = Daemon(puppet_dir, parse_config({}, default_registry()), host="127.0.0.1", port=0)
    d.add_source(MicSource(lambda: ArrayInput(np.tile(period, rounds + 2), sr, 0.01, on_block=on_block)))
    await d.start()
    mic_ms: list[float] = []
    speak_ms: list[float] = []
    sched_ms: list[float] = []
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{d.port}/ws") as ws:
            await ws.receive()
            was_open = False
            while len(mic_ms) < rounds:
                msg = json.loads((await ws.receive(timeout=5)).data)
                now = time.perf_counter()
                is_open = msg["params"].get("ParamMouthOpenY", 0.0) >= OPEN_THRESHOLD
                if is_open and not was_open and entries:
                    mic_ms.append(1000.0 * (now - entries[-1]))
                was_open = is_open
            d.components["mic"].task.cancel()  # type: ignore[union-attr]
            await asyncio.sleep(0.5)
            sp = synthesize("Hello there.")
            # audio onset of the first vowel (espeak-ng's event): the mouth should open there, not at the "h"
            onset = next(p.start for p in sp.phonemes if any(vowel_of_viseme(v) for v in timing_visemes(p)))
            wav = encode_wav(sp.samples, sp.sample_rate)
            async with AvatarClient(f"ws://127.0.0.1:{d.port}/api") as bot:
                for _ in range(10):
                    while not ws.closed:  # drain old frames
                        try:
                            await ws.receive(timeout=0.001)
                        except asyncio.TimeoutError:
                            break
                    sent = time.perf_counter()
                    uid = await bot.speak(wav)
                    while True:
                        msg = json.loads((await ws.receive(timeout=5)).data)
                        if msg["params"].get("ParamMouthOpenY", 0.0) >= OPEN_THRESHOLD:
                            speak_ms.append(1000.0 * (time.perf_counter() - sent - onset))
                            break
                    await bot.wait_finished(uid)
                    await asyncio.sleep(0.3)
                for _ in range(10):  # analyse ahead: speak (wait), then start playback 120 ms later
                    uid = await bot.speak(wav, wait=True)
                    while not ws.closed:
                        try:
                            await ws.receive(timeout=0.001)
                        except asyncio.TimeoutError:
                            break
                    audio_start = time.perf_counter() + 0.12
                    await bot.playback_started(uid, at=time.time() + 0.12)
                    while True:
                        msg = json.loads((await ws.receive(timeout=5)).data)
                        if msg["params"].get("ParamMouthOpenY", 0.0) >= OPEN_THRESHOLD:
                            sched_ms.append(1000.0 * (time.perf_counter() - audio_start - onset))
                            break
                    await bot.wait_finished(uid)
                    await asyncio.sleep(0.3)
    finally:
        await d.stop()
    return mic_ms, speak_ms, sched_ms


def latency_report() -> None:
    import tempfile

    from avatar_plugin.puppet.io import write_puppet
    from avatar_plugin.puppet.sample import build_sample_puppet

    with tempfile.TemporaryDirectory() as tmp:
        write_puppet(build_sample_puppet(), tmp)
        mic_ms, speak_ms, sched_ms = asyncio.run(_latency(tmp))
    print(f"\nlatency (real daemon, 60 Hz tick, 10 ms blocks): mic block entering the source -> first /ws frame "
          f"with the mouth open: p50 {np.percentile(mic_ms, 50):.1f} ms, p99 {np.percentile(mic_ms, 99):.1f} ms "
          f"(n={len(mic_ms)}; the mouth crosses 0.2 on the first loud block)")
    print(f"speak, caller plays at once: /ws mouth open minus first-vowel onset: p50 "
          f"{np.percentile(speak_ms, 50):+.1f} ms, max {max(speak_ms):+.1f} ms (n={len(speak_ms)}; includes the "
          "mixer's 100 ms fade-in)")
    print(f"speak + playback_started 120 ms ahead (analyse ahead): mouth open minus first-vowel onset: p50 "
          f"{np.percentile(sched_ms, 50):+.1f} ms, min {min(sched_ms):+.1f}, max {max(sched_ms):+.1f} ms "
          f"(n={len(sched_ms)}; one frame = 16.7 ms)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voices", default="en,en+f3,en-us+Annie")
    ap.add_argument("--fps", type=int, default=60)
    ap.add_argument("--noise-snr", type=float, default=20.0, help="also score with white noise at this SNR")
    ap.add_argument("--no-pylipsync", action="store_true")
    ap.add_argument("--latency-only", action="store_true", help="only the daemon latency measurements")
    args = ap.parse_args(argv)
    if args.latency_only:
        latency_report()
        return 0
    fps = args.fps
    voices = args.voices.split(",")

    py = None
    if not args.no_pylipsync:
        try:
            from pylipsync import PhonemeAnalyzer
            py = PhonemeAnalyzer()
        except ImportError:
            print("pylipsync not installed (pip install pylipsync): baseline column skipped", file=sys.stderr)

    ours, ours_noisy, timed, rms_base, texted = Tally(), Tally(), Tally(), Tally(), Tally()
    py_speech_all: list[np.ndarray] = []
    py_state_all: list[np.ndarray] = []
    py_tally = Tally()
    t_ours = t_py = 0.0
    audio_s = 0.0
    clips: list[np.ndarray] = []
    for vi, voice in enumerate(voices):
        for si, text in enumerate(SENTENCES):
            sp = synthesize(text, voice=voice)
            x, sr = sp.samples, sp.sample_rate
            clips.append(x)
            audio_s += sp.duration
            times = np.arange(int(np.ceil(sp.duration * fps))) / fps
            state, vowel = truth(sp, times)

            t0 = time.perf_counter()
            tr = analyze(x, sr, fps=fps)
            t_ours += time.perf_counter() - t0
            ours.add(state, vowel, tr.open >= OPEN_THRESHOLD,
                     np.where(tr.vowels.max(axis=1) > 0, tr.vowels.argmax(axis=1), -1))

            trn = analyze(add_noise(x, args.noise_snr, 1000 * vi + si), sr, fps=fps)
            ours_noisy.add(state, vowel, trn.open >= OPEN_THRESHOLD,
                           np.where(trn.vowels.max(axis=1) > 0, trn.vowels.argmax(axis=1), -1))

            tx = text_track(x, sr, text, fps=fps, voice="en")
            texted.add(state, vowel, tx.open >= OPEN_THRESHOLD,
                       np.where(tx.vowels.max(axis=1) > 0, tx.vowels.argmax(axis=1), -1))

            tt = timings_track(sp.phonemes, sp.duration, fps=fps)
            timed.add(state, vowel, tt.open >= OPEN_THRESHOLD,
                      np.where(tt.vowels.max(axis=1) > 0, tt.vowels.argmax(axis=1), -1))

            # Open-LLM-VTuber style: RMS of 20 ms chunks / clip max, open above 0.2; no vowels.
            chunk = int(sr / fps)
            n = len(x) // chunk
            rms = np.sqrt(np.mean(x[:n * chunk].reshape(n, chunk) ** 2, axis=1))
            rms_base.add(state, vowel, rms / max(rms.max(), 1e-9) >= 0.2, np.full(n, -1))

            if py is not None:
                t0 = time.perf_counter()
                speech, vw = run_pylipsync(py, x, sr, fps)
                t_py += time.perf_counter() - t0
                centres = (np.arange(len(speech)) + 0.5) / fps
                pstate, pvowel = truth(sp, centres)
                py_speech_all.append(speech)
                py_state_all.append(pstate)
                py_tally.add(pstate, pvowel, speech >= 0.2, np.where(vw.max(axis=1) > 0, vw.argmax(axis=1), -1))

    # pylipsync with the best threshold in hindsight (oracle)
    best_thr, best_agree = 0.2, py_tally.agreement
    if py_speech_all:
        sp_all, st_all = np.concatenate(py_speech_all), np.concatenate(py_state_all)
        scored = st_all != OTHER
        for thr in np.linspace(0.01, 0.8, 80):
            a = 100.0 * ((st_all == OPEN) == (sp_all >= thr))[scored].mean()
            if a > best_agree:
                best_thr, best_agree = float(thr), float(a)

    # speed: 60 s of speech
    long = np.concatenate(clips)
    reps = int(np.ceil(60 * 22050 / len(long)))
    long = np.tile(long, reps)[: 60 * 22050]
    t0 = time.perf_counter()
    analyze(long, 22050, fps=fps)
    speed_ours = time.perf_counter() - t0
    speed_py = float("nan")
    if py is not None:
        t0 = time.perf_counter()
        py.extract_phoneme_segments(long, 22050, window_size_ms=64.0, fps=fps)
        speed_py = time.perf_counter() - t0

    n_utt = len(voices) * len(SENTENCES)
    print(f"\nlip-sync benchmark: {n_utt} utterances ({len(SENTENCES)} Harvard sentences x voices {voices}), "
          f"{audio_s:.1f} s of espeak-ng speech, {fps} fps; truth = espeak-ng phoneme events\n")
    print(f"{'method':44s} {'open/closed agree':>18s} {'vowel acc':>10s}")
    print("-" * 75)
    rows = [
        ("ours, audio only", ours),
        (f"ours, audio only + white noise {args.noise_snr:.0f} dB SNR", ours_noisy),
        ("ours, audio + text (DTW to espeak-ng 'en')", texted),
        ("ours, with espeak-ng timings", timed),
        ("baseline: RMS/clip-max > 0.2 (no vowels)", rms_base),
    ]
    if py is not None:
        rows.append(("baseline: pylipsync 0.2.1, threshold 0.2", py_tally))
    for name, t in rows:
        va = "-" if t is rms_base else f"{t.vowel_acc:9.1f}%"
        print(f"{name:44s} {t.agreement:17.1f}% {va:>10s}")
    if py is not None:
        print(f"{'baseline: pylipsync, best threshold ' + f'{best_thr:.2f} (oracle)':44s} {best_agree:17.1f}%")
    print(f"\nscored frames: {ours.scored} open/closed, {ours.v_n} vowel (chance vowel accuracy 20%)")
    print(f"offline speed, 60 s of audio: ours {speed_ours:.2f} s"
          + (f", pylipsync {speed_py:.2f} s" if py is not None else "")
          + f" (whole benchmark analysis: ours {t_ours:.2f} s, pylipsync {t_py:.2f} s)")
    latency_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
