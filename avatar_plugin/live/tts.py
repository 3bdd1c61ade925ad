"""The TTS source: chatbot speech through the control API drives the mouth (no virtual audio cable).

A thin asyncio shell around :class:`~avatar_plugin.live.speech.SpeechQueue` (the Sans-I/O core):

- registers the ``speak``, ``speech_start``, ``speech_end``, ``stop``, ``cancel`` and ``playback_started``
  message types on ``/api`` (``POST /api/speak`` accepts a WAV body);
- :class:`TtsSource` (kind ``tts``, beats the microphone in the mixer) polls the queue every 10 ms and
  publishes the mouth while an utterance plays, sends ``speech_started`` / ``speech_finished`` events to the
  connection that asked, and plays audio itself when ``play`` is true (``[tts] output_device``).

Whole utterances are analysed when they arrive (ahead of playback), so the mouth is on time; with ``play``
the daemon waits ``preroll_ms`` before starting the audio so the mixer's fade-in is complete at the first
sound. Details and the message format: docs/lipsync.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import DeviceError, ProtocolError
from avatar_plugin.live.interfaces import (
    ApiMessageSpec,
    ApiSession,
    ConfigKey,
    ConfigSection,
    LiveRegistry,
    SectionConfig,
    SetupContext,
    Source,
    SourceContext,
)
from avatar_plugin.live.lipsync import LipSyncOptions
from avatar_plugin.live.lipsync_visemes import VOWEL_PARAMS, MouthShape
from avatar_plugin.live.speech import (
    CancelMessage,
    PlaybackStartedMessage,
    SpeakMessage,
    SpeechEndMessage,
    SpeechQueue,
    SpeechStartMessage,
    StopMessage,
    Utterance,
    parse_speak_body,
)

__all__ = ["TTS_SECTION", "AudioPlayer", "TtsService", "TtsSource", "register_live", "shape_values"]

log = logging.getLogger(__name__)
_STATE_KEY = "avatar_plugin.live.tts"


def shape_values(shape: MouthShape) -> dict[str, float]:
    values = {"ParamMouthOpenY": shape.open, "ParamMouthForm": shape.form, "VoiceVolume": shape.open}
    for pid, w in zip(VOWEL_PARAMS, shape.vowels, strict=True):
        values[pid] = w
    for name, w in zip(("VoiceA", "VoiceI", "VoiceU", "VoiceE", "VoiceO"), shape.vowels, strict=True):
        values[name] = w
    return values


class AudioPlayer:
    """Plays one utterance at a time on an output device (sounddevice callback stream fed from a buffer)."""

    def __init__(self, device: str | int | None = None) -> None:
        self.device = device
        self._stream: Any = None
        self._lock = threading.Lock()
        self._buf: list[NDArray[np.float32]] = []
        self._pos = 0
        self.latency_s = 0.0

    def start(self, sample_rate: int, samples: NDArray[np.float32] | None) -> None:
        from avatar_plugin.live.mic import _sounddevice, find_device

        sd = _sounddevice()
        self.stop()
        index = find_device(self.device, "output")
        self._buf = [samples] if samples is not None and len(samples) else []
        self._pos = 0

        def callback(outdata: NDArray[np.float32], frames: int, _t: Any, _status: Any) -> None:
            out = outdata[:, 0]
            filled = 0
            with self._lock:
                while filled < frames and self._buf:
                    head = self._buf[0]
                    take = min(frames - filled, len(head) - self._pos)
                    out[filled:filled + take] = head[self._pos:self._pos + take]
                    filled += take
                    self._pos += take
                    if self._pos >= len(head):
                        self._buf.pop(0)
                        self._pos = 0
            out[filled:] = 0.0

        try:
            self._stream = sd.OutputStream(device=index, channels=1, samplerate=sample_rate, dtype="float32",
                                           callback=callback)
            self._stream.start()
        except Exception as exc:
            self._stream = None
            raise DeviceError(f"cannot open the audio output ({exc}); set [tts] output_device (see "
                              "`avatar-plugin devices`) or send speak with \"play\": false") from None
        self.latency_s = float(getattr(self._stream, "latency", 0.0) or 0.0)

    def feed(self, samples: NDArray[np.float32]) -> None:
        if len(samples):
            with self._lock:
                self._buf.append(samples)

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception:  # the device may already be gone
                log.debug("tts: closing the output stream failed", exc_info=True)
            self._stream = None
        with self._lock:
            self._buf.clear()


class TtsService:
    """The queue, the /api handlers and the player; the source below reads from it."""

    def __init__(self, cfg: Mapping[str, Any] | None = None, clock: Any = time.monotonic) -> None:
        cfg = dict(cfg or {})
        self.default_play = bool(cfg.get("play", False))
        self.preroll_s = float(cfg.get("preroll_ms", 100.0)) / 1000.0
        self.lead_s = float(cfg.get("lead_ms", 15.0)) / 1000.0
        self.queue = SpeechQueue(LipSyncOptions(), fps=100.0, default_play=self.default_play,
                                 max_queue=int(cfg.get("max_queue", 32)))
        self.player = AudioPlayer(cfg.get("output_device") or None)
        self.clock = clock
        self.wake = asyncio.Event()
        self._playing_id: str | None = None

    # ---- /api handlers
    async def speak(self, msg: SpeakMessage, session: ApiSession) -> dict[str, Any]:
        u = self.queue.speak(msg, self.clock(), owner=session)
        self.wake.set()
        return {"utterance": u.id, "duration": round(u.duration, 4), "queued": self._position(u)}

    async def speech_start(self, msg: SpeechStartMessage, session: ApiSession) -> dict[str, Any]:
        if not session.can_send_events:
            raise ProtocolError("speech_start needs the /api WebSocket (binary frames follow); over HTTP use "
                                "POST /api/speak with the whole WAV")
        current = session.state.get(_STATE_KEY)
        if isinstance(current, Utterance) and not current.ended:
            raise ProtocolError(f"speech_start while utterance {current.id!r} is still streaming; "
                                "send speech_end first")
        u = self.queue.start_stream(msg, self.clock(), owner=session)
        session.state[_STATE_KEY] = u

        async def feed(data: bytes, _session: ApiSession) -> None:
            u.feed(data)
            if self._playing_id == u.id:
                self.player.feed(u.take_audio())

        session.binary_handler = feed
        self.wake.set()
        return {"utterance": u.id, "queued": self._position(u)}

    async def speech_end(self, msg: SpeechEndMessage, session: ApiSession) -> dict[str, Any]:
        u = session.state.pop(_STATE_KEY, None)
        if not isinstance(u, Utterance):
            raise ProtocolError("speech_end without speech_start on this connection")
        self.queue.end_stream(u)
        session.binary_handler = None
        return {"utterance": u.id, "duration": round(u.duration, 4)}

    async def stop(self, msg: StopMessage | CancelMessage, session: ApiSession) -> dict[str, Any]:
        t = self.clock()
        if isinstance(msg, CancelMessage) and msg.utterance:
            found = self.queue.cancel(msg.utterance, t)
            if self._playing_id == msg.utterance:
                self._stop_player()
            self.wake.set()
            return {"utterance": msg.utterance, "cancelled": found}
        n = self.queue.stop(t)
        self._stop_player()
        self.wake.set()
        return {"stopped": n}

    async def playback_started(self, msg: PlaybackStartedMessage, session: ApiSession) -> dict[str, Any]:
        now = self.clock()
        start = now if msg.at is None else now - (time.time() - msg.at)
        u = self.queue.playback_started(msg.utterance, start)
        self.wake.set()
        return {"utterance": u.id}

    def _position(self, u: Utterance) -> int:
        return next((i for i, x in enumerate(self.queue.items) if x is u), -1)

    def _stop_player(self) -> None:
        if self._playing_id is not None:
            self.player.stop()
            self._playing_id = None

    # ---- the clock side (called by the source)
    def step(self, t: float) -> MouthShape | None:
        """Start the daemon's player when its utterance reaches the head; poll the queue."""
        head = self.queue.waiting_player()
        if head is not None:
            silence = np.zeros(int(self.preroll_s * head.sample_rate), np.float32)
            audio = silence if head.streaming or head.samples is None else np.concatenate([silence, head.samples])
            try:
                self.player.start(head.sample_rate, audio)
            except DeviceError as exc:
                log.warning("tts: %s", exc)
                self.queue.cancel(head.id, t, reason="error", error=str(exc))
            else:
                self._playing_id = head.id
                # the first sample sounds after the preroll and the device latency
                self.queue.playback_started(head.id, t + self.preroll_s + self.player.latency_s)
                if head.streaming:
                    self.player.feed(head.take_audio())
        shape = self.queue.poll(t + self.lead_s)
        if self._playing_id is not None and (self.queue.playing is None
                                             or self.queue.playing.id != self._playing_id):
            self._stop_player()
        return shape


class TtsSource(Source):
    """Publishes the mouth of the utterance being spoken; inactive between utterances."""

    kind = "tts"

    def __init__(self, service: TtsService, name: str | None = None, period_s: float = 0.01) -> None:
        super().__init__(name)
        self.service = service
        self.period_s = period_s

    async def run(self, ctx: SourceContext) -> None:
        service = self.service
        service.clock = ctx.clock
        was_active = False
        while True:
            t = ctx.clock()
            shape = service.step(t)
            for ev in service.queue.events:
                owner = ev.owner
                if isinstance(owner, ApiSession) and owner.can_send_events and not owner.closed:
                    task = asyncio.ensure_future(owner.send_event(ev))
                    task.add_done_callback(_ignore_closed)
            service.queue.events.clear()
            if shape is not None:
                ctx.update(shape_values(shape), active=True)
                was_active = True
                ctx.set_status(f"speaking {service.queue.items[0].id if service.queue.items else ''}")
            elif was_active:
                ctx.update(shape_values(MouthShape(0.0, 0.0)), active=False)
                was_active = False
                ctx.set_status(f"idle; {service.queue.finished} utterances spoken")
            busy = shape is not None or bool(service.queue.items)
            service.wake.clear()
            if busy:
                await asyncio.sleep(self.period_s)
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(service.wake.wait(), timeout=0.25)


def _ignore_closed(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("tts: could not send an event: %s", task.exception())


TTS_SECTION = ConfigSection("tts", "Chatbot TTS lip sync through the control API (speak, speech_start, ...).", (
    ConfigKey("enabled", bool, True, "accept speak / speech_start messages on /api"),
    ConfigKey("play", bool, False, "default for speak's \"play\": the daemon plays the audio itself"),
    ConfigKey("output_device", str, "", "output device for play: index or part of its name; empty = default"),
    ConfigKey("preroll_ms", float, 100.0, "with play: silence before the audio so the mouth is fully faded in",
              min=0.0, max=1000.0),
    ConfigKey("lead_ms", float, 15.0, "move the mouth this much ahead of the audio (makes up for the tick)",
              min=-200.0, max=200.0),
    ConfigKey("max_queue", int, 32, "most utterances waiting at once", min=1, max=1000),
))


def _setup(cfg: SectionConfig, ctx: SetupContext) -> None:
    if not cfg["enabled"]:
        return
    service = TtsService(cfg.values, clock=ctx.clock)
    ctx.add_source(TtsSource(service))

    async def h_stop(msg: Any, session: ApiSession) -> dict[str, Any]:
        return await service.stop(msg, session)

    ctx.add_api_message(ApiMessageSpec("speak", SpeakMessage.parse, service.speak,
                                       "speak a WAV utterance (base64) with optional text/timings",
                                       parse_body=parse_speak_body))
    ctx.add_api_message(ApiMessageSpec("speech_start", SpeechStartMessage.parse,
                                       service.speech_start,
                                       "start a streamed utterance (binary PCM frames follow)", http=False))
    ctx.add_api_message(ApiMessageSpec("speech_end", SpeechEndMessage.parse,
                                       service.speech_end,
                                       "end a streamed utterance", http=False))
    ctx.add_api_message(ApiMessageSpec("stop", StopMessage.parse, h_stop, "stop speaking and clear the queue"))
    ctx.add_api_message(ApiMessageSpec("cancel", CancelMessage.parse, h_stop, "drop one utterance (or all)"))
    ctx.add_api_message(ApiMessageSpec("playback_started", PlaybackStartedMessage.parse,
                                       service.playback_started,
                                       "the caller started playing an utterance (\"wait\": true)"))


def register_live(registry: LiveRegistry) -> None:
    registry.add_section(TTS_SECTION, _setup)
