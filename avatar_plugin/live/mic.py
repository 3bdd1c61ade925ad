"""The microphone source: audio blocks -> lip sync -> mouth parameters, and the audio-device adapters.

Blocks come from one adapter (an async iterator of :class:`~avatar_plugin.live.audio.AudioBlock`):

- :class:`DeviceInput`: a ``sounddevice`` input stream (device by index or by part of its name);
- :class:`FileInput`: a WAV file played through the same pipeline in real time (``[mic] file``; for
  testing without hardware), optionally looping;
- :class:`ArrayInput`: an array (tests, benchmarks), real time or as fast as possible.

No PortAudio library, no device, a device that disappears: :class:`~avatar_plugin.errors.DeviceError` with
the fix; the daemon marks the source ``retrying`` and restarts it with backoff while everything else runs.

``register_live`` declares ``[mic]`` (see :data:`MIC_SECTION`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import DeviceError, InputError
from avatar_plugin.live.audio import AudioBlock, read_wav, to_mono_float32
from avatar_plugin.live.interfaces import (
    ConfigKey,
    ConfigSection,
    LiveRegistry,
    SectionConfig,
    SetupContext,
    Source,
    SourceContext,
)
from avatar_plugin.live.lipsync import LipSyncAnalyzer, LipSyncOptions, MouthFrame, load_user_templates
from avatar_plugin.live.lipsync_visemes import VOWEL_PARAMS

__all__ = [
    "MIC_SECTION",
    "ArrayInput",
    "AudioDevice",
    "DeviceInput",
    "FileInput",
    "MicSource",
    "find_device",
    "frame_values",
    "list_devices",
    "register_live",
]

log = logging.getLogger(__name__)


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as exc:  # the PortAudio library is missing
        raise DeviceError(f"PortAudio library not found ({exc}); install it: Debian/Ubuntu `apt install "
                          "libportaudio2`, macOS `brew install portaudio` (Windows wheels include it)") from None
    return sd


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    inputs: int
    outputs: int
    sample_rate: float
    host_api: str
    default_input: bool = False
    default_output: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_devices() -> list[AudioDevice]:
    """Every audio device PortAudio sees (DeviceError if PortAudio itself is missing)."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_in, default_out = sd.default.device
    except Exception as exc:  # PortAudioError: no audio system at all
        raise DeviceError(f"cannot list audio devices ({exc})") from None
    out = []
    for i, d in enumerate(devices):
        api = apis[d["hostapi"]]["name"] if 0 <= d["hostapi"] < len(apis) else "?"
        out.append(AudioDevice(i, d["name"], int(d["max_input_channels"]), int(d["max_output_channels"]),
                               float(d["default_samplerate"]), api, i == default_in, i == default_out))
    return out


def find_device(spec: str | int | None, kind: str = "input") -> int | None:
    """A device index from ``spec``: None/"" = the system default (None), an index, or part of a name."""
    if spec is None or spec == "":
        return None
    devices = [d for d in list_devices() if (d.inputs if kind == "input" else d.outputs) > 0]
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        idx = int(spec)
        if any(d.index == idx for d in devices):
            return idx
        raise DeviceError(f"audio {kind} device {idx}: not found; `avatar-plugin devices` lists "
                          f"{len(devices)} {kind} device(s)")
    matches = [d for d in devices if str(spec).lower() in d.name.lower()]
    if not matches:
        names = ", ".join(d.name for d in devices) or "none"
        raise DeviceError(f"audio {kind} device {spec!r}: no device name contains it (found: {names}); "
                          "see `avatar-plugin devices`")
    return matches[0].index


class DeviceInput:
    """Blocks from a sounddevice input stream. The callback hands blocks to the event loop through a small
    bounded queue (on overflow the oldest block is dropped: latest wins). A stream that stops delivering for
    ``timeout_s`` (device unplugged) raises DeviceError."""

    def __init__(self, device: str | int | None = None, sample_rate: int | None = None, block_s: float = 0.01,
                 timeout_s: float = 2.0) -> None:
        self.device, self.sample_rate, self.block_s, self.timeout_s = device, sample_rate, block_s, timeout_s
        self.name = "default input"
        self.dropped = 0

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        sd = _sounddevice()
        index = find_device(self.device, "input")
        try:
            info = sd.query_devices(index, "input")
        except Exception as exc:
            raise DeviceError(f"no audio input device ({exc}); plug in a microphone or set [mic] device / "
                              "[mic] file") from None
        self.name = info["name"]
        sr = int(self.sample_rate or info["default_samplerate"])
        q: queue.Queue[tuple[NDArray[np.float32], float]] = queue.Queue(maxsize=64)
        clock0 = time.perf_counter()

        def callback(indata: NDArray[np.float32], frames: int, _time: Any, status: Any) -> None:
            item = (indata[:, 0].copy() if indata.ndim == 2 else indata.copy(), time.perf_counter() - clock0)
            try:
                q.put_nowait(item)
            except queue.Full:
                self.dropped += 1
                try:
                    q.get_nowait()
                    q.put_nowait(item)
                except (queue.Empty, queue.Full):
                    pass

        try:
            stream = sd.InputStream(device=index, channels=1, samplerate=sr, dtype="float32",
                                    blocksize=max(16, int(sr * self.block_s)), callback=callback)
            stream.start()
        except Exception as exc:
            raise DeviceError(f"cannot open audio input {self.name!r} at {sr} Hz ({exc}); check `avatar-plugin "
                              "devices` and that no other program holds it exclusively") from None
        n = 0
        try:
            while True:
                try:
                    x, _t = await asyncio.to_thread(q.get, True, self.timeout_s)
                except queue.Empty:
                    raise DeviceError(f"audio input {self.name!r} stopped delivering audio (unplugged?)") from None
                yield AudioBlock(x, sr, n / sr)
                n += len(x)
        finally:
            stream.stop()
            stream.close()


class ArrayInput:
    """Blocks from an array; ``realtime``: paced by the clock (absolute schedule, no drift), else at once.
    ``on_block(block, perf_counter_time)`` is called as each block enters the pipeline (latency probes)."""

    def __init__(self, samples: NDArray[Any], sample_rate: int, block_s: float = 0.01, realtime: bool = True,
                 loop: bool = False, name: str = "array",
                 on_block: Callable[[AudioBlock, float], None] | None = None) -> None:
        self.samples = to_mono_float32(samples)
        self.sample_rate, self.block_s, self.realtime, self.loop = sample_rate, block_s, realtime, loop
        self.name = name
        self.on_block = on_block

    async def blocks(self) -> AsyncIterator[AudioBlock]:
        block = max(1, int(self.sample_rate * self.block_s))
        start = time.perf_counter()
        n = 0  # samples emitted so far (stream time = n / sr)
        while True:
            for i in range(0, len(self.samples), block):
                x = self.samples[i:i + block]
                if self.realtime:  # a block is available once its last sample has "arrived"
                    due = start + (n + len(x)) / self.sample_rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                b = AudioBlock(x, self.sample_rate, n / self.sample_rate)
                if self.on_block is not None:
                    self.on_block(b, time.perf_counter())
                yield b
                n += len(x)
            if not self.loop:
                return


class FileInput(ArrayInput):
    """A WAV file through the pipeline in real time (``[mic] file``)."""

    def __init__(self, path: str | Path, block_s: float = 0.01, loop: bool = True, realtime: bool = True) -> None:
        x, sr = read_wav(path)
        super().__init__(x, sr, block_s, realtime, loop, name=str(path))


def frame_values(frame: MouthFrame) -> dict[str, float]:
    """A lip-sync frame -> published parameters (puppet ids plus VTube Studio's voice inputs)."""
    s = frame.shape
    values = {"ParamMouthOpenY": s.open, "ParamMouthForm": s.form, "VoiceVolume": frame.loudness}
    for pid, w in zip(VOWEL_PARAMS, s.vowels, strict=True):
        values[pid] = w
    for name, w in zip(("VoiceA", "VoiceI", "VoiceU", "VoiceE", "VoiceO"), s.vowels, strict=True):
        values[name] = w
    return values


class MicSource(Source):
    """Lip sync from an audio input. ``make_input()`` builds the adapter afresh on every (re)start."""

    kind = "mic"

    def __init__(self, make_input: Callable[[], Any], options: LipSyncOptions | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.make_input = make_input
        self.options = options or LipSyncOptions()
        self.blocks_in = 0
        self.last_frame: MouthFrame | None = None

    async def run(self, ctx: SourceContext) -> None:
        adapter = self.make_input()
        analyzer = LipSyncAnalyzer(self.options)
        ctx.set_status(f"opening {getattr(adapter, 'name', 'audio input')}")
        active = False
        last_status = 0.0
        async for block in adapter.blocks():
            self.blocks_in += 1
            frames = analyzer.process(block)
            if not frames:
                continue
            f = frames[-1]
            self.last_frame = f
            speaking = f.shape.open > 0.01 or f.loudness > 0.0
            if speaking or active:
                ctx.update(frame_values(f), active=speaking)
            active = speaking
            now = time.monotonic()
            if now - last_status > 1.0:
                last_status = now
                ctx.set_status(f"{getattr(adapter, 'name', 'input')}: {block.sample_rate} Hz, level "
                               f"{f.level_db:.0f} dBFS, noise floor {analyzer._state.gate.floor:.0f} dBFS")


MIC_SECTION = ConfigSection("mic", "Microphone lip sync (mouth open, mouth form, vowels A I U E O).", (
    ConfigKey("enabled", bool, False, "turn the microphone source on"),
    ConfigKey("device", str, "", "input device: index or part of its name (`avatar-plugin devices`); "
                                 "empty = system default"),
    ConfigKey("file", str, "", "play this WAV through the pipeline in real time instead of a device (testing)"),
    ConfigKey("loop", bool, True, "with file: start again at the end"),
    ConfigKey("sample_rate", int, 0, "device sample rate in Hz; 0 = the device's default", min=0, max=384000),
    ConfigKey("block_ms", float, 10.0, "device block length in milliseconds", min=2.0, max=100.0),
    ConfigKey("gain", float, 1.0, "scale on the mouth opening", min=0.0, max=10.0),
    ConfigKey("gate_db", float, 10.0, "noise gate: dB above the adaptive noise floor before the mouth opens",
              min=0.0, max=40.0),
    ConfigKey("attack_ms", float, 12.0, "mouth opening time constant (ms)", min=0.0, max=500.0),
    ConfigKey("release_ms", float, 45.0, "mouth closing time constant (ms)", min=0.0, max=1000.0),
    ConfigKey("calibration", str, "", "vowel templates file (`avatar-plugin lipsync-calibrate`); empty = "
                                      "your saved calibration, else the defaults"),
))


def options_from_config(cfg: SectionConfig) -> LipSyncOptions:
    return LipSyncOptions(attack_s=cfg["attack_ms"] / 1000.0, release_s=cfg["release_ms"] / 1000.0,
                          gate_db=cfg["gate_db"], gain=cfg["gain"],
                          templates=load_user_templates(cfg["calibration"] or None))


def _setup(cfg: SectionConfig, ctx: SetupContext) -> None:
    if not cfg["enabled"] and not cfg["file"]:
        return
    options = options_from_config(cfg)
    block_s = cfg["block_ms"] / 1000.0
    if cfg["file"]:
        path = Path(cfg["file"])
        if not path.is_file():
            raise InputError(f"[mic] file = {cfg['file']!r}: no such file (looked for {path.resolve()}; relative "
                             "paths start from the folder the daemon runs in); give a WAV file's absolute path")

        def make_input() -> Any:
            return FileInput(path, block_s=block_s, loop=cfg["loop"])
    else:
        def make_input() -> Any:
            return DeviceInput(cfg["device"] or None, cfg["sample_rate"] or None, block_s)
    ctx.add_source(MicSource(make_input, options))


def register_live(registry: LiveRegistry) -> None:
    registry.add_section(MIC_SECTION, _setup)
