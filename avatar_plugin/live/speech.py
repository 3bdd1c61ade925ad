"""TTS speech, Sans-I/O: the control-API messages and the utterance queue (no sockets, no devices, no clock).

Messages (``/api`` WebSocket JSON, also ``POST /api/<type>``; docs/lipsync.md):

- ``speak``: ``{"type": "speak", "audio": "<base64 WAV>", "text": "...", "timings": [...], "play": false,
  "wait": false, "interrupt": false, "utterance": "my-id"}``. Only ``audio`` is required. ``POST /api/speak``
  with ``Content-Type: audio/wav`` and the WAV as the body (``?text=``, ``?play=``, ``?wait=``) does the same.
- ``speech_start``: ``{"type": "speech_start", "format": "s16le", "sample_rate": 22050, "channels": 1, ...}``
  (plus the optional speak fields), then binary frames of raw PCM, then ``{"type": "speech_end"}``.
- ``stop`` / ``cancel``: ``{"type": "stop"}`` stops the current utterance and clears the queue;
  ``{"type": "cancel", "utterance": "u3"}`` drops one.
- ``playback_started``: ``{"type": "playback_started", "utterance": "u3", "at": 1718000000.123}``: the
  caller started playing it (``at``: Unix time in seconds, optional = now). Used with ``"wait": true``.

Events back to the caller: ``{"type": "speech_started", "utterance": "u3"}``,
``{"type": "speech_finished", "utterance": "u3", "reason": "done" | "stopped" | "error"}``; with
``"error"`` also ``"error": "<what went wrong and the fix>"``.

:class:`SpeechQueue` holds utterances and answers "what does the mouth do at time t" with
:meth:`SpeechQueue.poll`. Each :class:`Utterance` has an explicit state (QUEUED -> WAITING -> PLAYING ->
FINISHED) and a table of legal moves; an illegal move raises :class:`~avatar_plugin.errors.ProtocolError`
naming the state and the event.
"""

from __future__ import annotations

import base64
import binascii
import enum
import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import InputError, ProtocolError
from avatar_plugin.live.audio import PCM_FORMATS, AudioBlock, PcmDecoder, decode_wav
from avatar_plugin.live.lipsync import LipSyncAnalyzer, LipSyncOptions, MouthFrame, analyze
from avatar_plugin.live.lipsync_timings import Timing, parse_timings, timings_track
from avatar_plugin.live.lipsync_track import MouthTrack
from avatar_plugin.live.lipsync_visemes import MouthShape

__all__ = [
    "MAX_QUEUE",
    "CancelMessage",
    "PlaybackStartedMessage",
    "SpeakMessage",
    "SpeechEndMessage",
    "SpeechEvent",
    "SpeechQueue",
    "SpeechStartMessage",
    "State",
    "StopMessage",
    "Utterance",
    "parse_speak_body",
]

MAX_QUEUE = 32
MAX_TEXT = 4000
_ids = itertools.count(1)


def _check(obj: Mapping[str, Any], type_: str, allowed: set[str],
           required: frozenset[str] | set[str] = frozenset()) -> None:
    extra = set(obj) - allowed - {"type", "id"}
    if extra:
        raise ProtocolError(f"{type_}: unknown field(s) {sorted(extra)}; allowed: {', '.join(sorted(allowed))}")
    missing = required - set(obj)
    if missing:
        raise ProtocolError(f"{type_}: missing field(s) {sorted(missing)}")


def _bool(obj: Mapping[str, Any], key: str, type_: str, default: bool | None) -> bool | None:
    v = obj.get(key, default)
    if v is not None and not isinstance(v, bool):
        raise ProtocolError(f"{type_}: {key} = {v!r}: expected true or false")
    return v


def _str(obj: Mapping[str, Any], key: str, type_: str, limit: int = 64) -> str | None:
    v = obj.get(key)
    if v is not None and (not isinstance(v, str) or len(v) > limit or (key == "utterance" and not v)):
        raise ProtocolError(f"{type_}: {key} = {v!r:.40}: expected a string of at most {limit} characters")
    return v


@dataclass(frozen=True)
class _SpeakOptions:
    text: str | None = None
    timings: tuple[Timing, ...] | None = None
    play: bool | None = None       # None: the [tts] play default
    wait: bool = False             # True: start at playback_started, not on arrival
    interrupt: bool = False        # True: stop what is playing and clear the queue first
    utterance: str | None = None   # caller's id; default "u<N>"

    @classmethod
    def parse(cls, obj: Mapping[str, Any], type_: str) -> _SpeakOptions:
        timings = None
        if obj.get("timings") is not None:
            timings = parse_timings(obj["timings"], f"{type_}.timings", error=ProtocolError)
        return cls(text=_str(obj, "text", type_, MAX_TEXT), timings=timings,
                   play=_bool(obj, "play", type_, None), wait=bool(_bool(obj, "wait", type_, False)),
                   interrupt=bool(_bool(obj, "interrupt", type_, False)),
                   utterance=_str(obj, "utterance", type_))

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.text is not None:
            out["text"] = self.text
        if self.timings is not None:
            out["timings"] = [{"start": t.start, "end": t.end, t.kind: t.label} for t in self.timings]
        if self.play is not None:
            out["play"] = self.play
        if self.wait:
            out["wait"] = True
        if self.interrupt:
            out["interrupt"] = True
        if self.utterance is not None:
            out["utterance"] = self.utterance
        return out


_SPEAK_FIELDS = {"text", "timings", "play", "wait", "interrupt", "utterance"}


@dataclass(frozen=True, eq=False)
class SpeakMessage:
    """A whole utterance. ``samples``: mono float32 at ``sample_rate`` (decoded from the WAV)."""

    samples: NDArray[np.float32]
    sample_rate: int
    options: _SpeakOptions = field(default_factory=_SpeakOptions)
    wav: bytes = b""

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> SpeakMessage:
        _check(obj, "speak", _SPEAK_FIELDS | {"audio"}, {"audio"})
        audio = obj["audio"]
        if not isinstance(audio, str) or not audio:
            raise ProtocolError("speak: audio: expected a base64 string of a WAV file")
        try:
            wav = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("speak: audio is not valid base64; send base64.b64encode(wav_bytes)") from None
        return cls.from_wav(wav, _SpeakOptions.parse(obj, "speak"))

    @classmethod
    def from_wav(cls, wav: bytes, options: _SpeakOptions) -> SpeakMessage:
        try:
            samples, sr = decode_wav(wav, "speak audio")
        except InputError as exc:
            raise ProtocolError(str(exc)) from None
        return cls(samples, sr, options, wav)

    def serialize(self) -> dict[str, Any]:
        return {"type": "speak", "audio": base64.b64encode(self.wav).decode("ascii"), **self.options.fields()}


def parse_speak_body(body: bytes, content_type: str, query: str = "") -> SpeakMessage:
    """``POST /api/speak`` with a WAV body; options from the query string (text, play, wait, interrupt)."""
    if content_type not in ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream"):
        raise ProtocolError(f"POST /api/speak: Content-Type {content_type!r}: expected audio/wav "
                            "(or application/json with base64 audio)")
    q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    obj: dict[str, Any] = {}
    for key in ("text", "utterance"):
        if key in q:
            obj[key] = q[key]
    for key in ("play", "wait", "interrupt"):
        if key in q:
            if q[key].lower() not in ("true", "false", "1", "0"):
                raise ProtocolError(f"POST /api/speak: ?{key}={q[key]}: expected true or false")
            obj[key] = q[key].lower() in ("true", "1")
    unknown = set(q) - set(obj)
    if unknown:
        raise ProtocolError(f"POST /api/speak: unknown query parameter(s) {sorted(unknown)}; "
                            "allowed: text, utterance, play, wait, interrupt")
    return SpeakMessage.from_wav(body, _SpeakOptions.parse(obj, "speak"))


@dataclass(frozen=True)
class SpeechStartMessage:
    format: str
    sample_rate: int
    channels: int = 1
    options: _SpeakOptions = field(default_factory=_SpeakOptions)

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> SpeechStartMessage:
        _check(obj, "speech_start", _SPEAK_FIELDS | {"format", "sample_rate", "channels"}, {"sample_rate"})
        fmt = obj.get("format", "s16le")
        if fmt not in PCM_FORMATS:
            raise ProtocolError(f"speech_start: format = {fmt!r}: expected one of {', '.join(PCM_FORMATS)}")
        sr, ch = obj["sample_rate"], obj.get("channels", 1)
        if isinstance(sr, bool) or not isinstance(sr, int) or not 4000 <= sr <= 384000:
            raise ProtocolError(f"speech_start: sample_rate = {sr!r}: expected an integer in 4000..384000")
        if isinstance(ch, bool) or not isinstance(ch, int) or not 1 <= ch <= 16:
            raise ProtocolError(f"speech_start: channels = {ch!r}: expected an integer in 1..16")
        return cls(fmt, sr, ch, _SpeakOptions.parse(obj, "speech_start"))

    def serialize(self) -> dict[str, Any]:
        return {"type": "speech_start", "format": self.format, "sample_rate": self.sample_rate,
                "channels": self.channels, **self.options.fields()}


@dataclass(frozen=True)
class SpeechEndMessage:
    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> SpeechEndMessage:
        _check(obj, "speech_end", set())
        return cls()

    def serialize(self) -> dict[str, Any]:
        return {"type": "speech_end"}


@dataclass(frozen=True)
class StopMessage:
    """``stop``: stop the current utterance and clear the queue."""

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> StopMessage:
        _check(obj, "stop", set())
        return cls()

    def serialize(self) -> dict[str, Any]:
        return {"type": "stop"}


@dataclass(frozen=True)
class CancelMessage:
    """``cancel``: drop one utterance (playing or queued); without ``utterance`` it is ``stop``."""

    utterance: str | None = None

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> CancelMessage:
        _check(obj, "cancel", {"utterance"})
        return cls(_str(obj, "utterance", "cancel"))

    def serialize(self) -> dict[str, Any]:
        return {"type": "cancel", **({"utterance": self.utterance} if self.utterance else {})}


@dataclass(frozen=True)
class PlaybackStartedMessage:
    """``at``: Unix time (seconds) playback started; None = now. ``utterance``: None = the next waiting one."""

    utterance: str | None = None
    at: float | None = None

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> PlaybackStartedMessage:
        _check(obj, "playback_started", {"utterance", "at"})
        at = obj.get("at")
        if at is not None and (isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at)):
            raise ProtocolError(f"playback_started: at = {at!r}: expected Unix time in seconds (time.time())")
        return cls(_str(obj, "utterance", "playback_started"), None if at is None else float(at))

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "playback_started"}
        if self.utterance:
            out["utterance"] = self.utterance
        if self.at is not None:
            out["at"] = self.at
        return out


@dataclass(frozen=True)
class SpeechEvent:
    """Server -> client: ``speech_started`` / ``speech_finished`` (with ``reason``)."""

    type: str
    utterance: str
    reason: str | None = None
    owner: object = field(default=None, compare=False, repr=False)  # the session that asked (not sent)
    error: str | None = None  # with reason "error": what went wrong, for the caller (e.g. no output device)

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "utterance": self.utterance}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.error is not None:
            out["error"] = self.error
        return out


# ----------------------------------------------------------------------------------------------- the queue
class State(enum.Enum):
    QUEUED = "queued"      # behind another utterance
    WAITING = "waiting"    # at the head; waiting for its start (playback_started, or the daemon's player)
    PLAYING = "playing"
    FINISHED = "finished"


_MOVES: dict[tuple[State, str], State] = {
    (State.QUEUED, "head"): State.WAITING,
    (State.QUEUED, "cancel"): State.FINISHED,
    (State.WAITING, "start"): State.PLAYING,
    (State.WAITING, "cancel"): State.FINISHED,
    (State.PLAYING, "finish"): State.FINISHED,
    (State.PLAYING, "cancel"): State.FINISHED,
}


class Utterance:
    """One utterance: its mouth track (whole: analysed ahead; streamed: grows as audio arrives)."""

    def __init__(self, uid: str, options: _SpeakOptions, play: bool, owner: object = None) -> None:
        self.id = uid
        self.options = options
        self.play = play
        self.owner = owner
        self.state = State.QUEUED
        self.start_t: float | None = None  # daemon-clock time of the audio's first sample
        self.track: MouthTrack | None = None
        self.samples: NDArray[np.float32] | None = None  # for the daemon's player
        self.sample_rate = 0
        # streaming
        self.streaming = False
        self.ended = True
        self.stream_duration = 0.0
        self._decoder: PcmDecoder | None = None
        self._analyzer: LipSyncAnalyzer | None = None
        self._frames: deque[MouthFrame] = deque(maxlen=6000)  # 60 s of hops
        self._chunks: list[NDArray[np.float32]] = []

    def move(self, event: str) -> None:
        new = _MOVES.get((self.state, event))
        if new is None:
            raise ProtocolError(f"utterance {self.id!r} is {self.state.value}; cannot {event} it")
        self.state = new

    @property
    def duration(self) -> float:
        if self.streaming:
            return self.stream_duration
        return self.track.duration if self.track is not None else 0.0

    # streaming
    def feed(self, chunk: bytes) -> None:
        if not self.streaming or self.ended or self._decoder is None or self._analyzer is None:
            raise ProtocolError(f"utterance {self.id!r}: audio after speech_end; send speech_start first")
        x = self._decoder.decode(chunk)
        if len(x) == 0:
            return
        block = AudioBlock(x, self.sample_rate, self.stream_duration)
        self.stream_duration += len(x) / self.sample_rate
        self._frames.extend(self._analyzer.process(block))
        if self.play:
            self._chunks.append(x)

    def take_audio(self) -> NDArray[np.float32]:
        """Streamed audio received since the last call (for the daemon's player)."""
        if not self._chunks:
            return np.zeros(0, np.float32)
        out = np.concatenate(self._chunks)
        self._chunks.clear()
        return out

    def shape_at(self, rel: float) -> MouthShape:
        if self.track is not None:
            return self.track.at(rel)
        if not self._frames:
            return MouthShape(0.0, 0.0)
        lat = self._analyzer.latency_s if self._analyzer else 0.0
        # frames are in order; find the last frame whose centre time <= rel (frames describe t - latency)
        last = self._frames[-1]
        if rel >= last.t - lat:
            return last.shape
        first = self._frames[0]
        if rel < first.t - lat:
            return MouthShape(0.0, 0.0)
        i = int((rel - (first.t - lat)) / (self._frames[1].t - first.t)) if len(self._frames) > 1 else 0
        return self._frames[min(max(i, 0), len(self._frames) - 1)].shape


class SpeechQueue:
    """Utterances in order; ``poll(t)`` -> (mouth shape or None when silent, events). Pure: time is an argument.

    ``tail_s``: how long after the audio's end an utterance still counts as playing (the mouth closes).
    """

    def __init__(self, lipsync: LipSyncOptions | None = None, fps: float = 100.0, tail_s: float = 0.08,
                 default_play: bool = False, max_queue: int = MAX_QUEUE) -> None:
        self.lipsync = lipsync or LipSyncOptions()
        self.fps = fps
        self.tail_s = tail_s
        self.default_play = default_play
        self.max_queue = max_queue
        self.items: deque[Utterance] = deque()
        self.events: list[SpeechEvent] = []
        self.finished = 0

    # --- adding
    def _new(self, options: _SpeakOptions, owner: object) -> Utterance:
        uid = options.utterance or f"u{next(_ids)}"
        if any(u.id == uid for u in self.items):
            raise ProtocolError(f"utterance id {uid!r} is already queued or playing; use a new id")
        if len(self.items) >= self.max_queue and not options.interrupt:
            raise ProtocolError(f"the speech queue is full ({self.max_queue} utterances); send stop or wait "
                                "for speech_finished")
        play = self.default_play if options.play is None else options.play
        return Utterance(uid, options, play, owner)

    def _enqueue(self, u: Utterance, t: float) -> Utterance:
        if u.options.interrupt:
            self.stop(t)
        self.items.append(u)
        self._advance(t)
        return u

    def speak(self, msg: SpeakMessage, t: float, owner: object = None) -> Utterance:
        """Add a whole utterance; its mouth track is analysed now (ahead of playback)."""
        u = self._new(msg.options, owner)
        duration = len(msg.samples) / msg.sample_rate
        if msg.options.timings:
            u.track = timings_track(msg.options.timings, duration, fps=self.fps)
        elif msg.options.text:
            try:
                from avatar_plugin.live.lipsync_align import text_track

                u.track = text_track(msg.samples, msg.sample_rate, msg.options.text, fps=self.fps,
                                     options=self.lipsync)
            except Exception:  # no espeak-ng, or alignment failed: the audio alone decides
                u.track = analyze(msg.samples, msg.sample_rate, fps=self.fps, options=self.lipsync)
        else:
            u.track = analyze(msg.samples, msg.sample_rate, fps=self.fps, options=self.lipsync)
        u.samples, u.sample_rate = msg.samples, msg.sample_rate
        return self._enqueue(u, t)

    def start_stream(self, msg: SpeechStartMessage, t: float, owner: object = None) -> Utterance:
        u = self._new(msg.options, owner)
        u.streaming, u.ended = True, False
        u.sample_rate = msg.sample_rate
        u._decoder = PcmDecoder(msg.format, msg.channels)
        u._analyzer = LipSyncAnalyzer(self.lipsync)
        if msg.options.timings:
            end = max((x.end for x in msg.options.timings), default=0.0)
            u.track = timings_track(msg.options.timings, end, fps=self.fps)
        return self._enqueue(u, t)

    def end_stream(self, u: Utterance) -> None:
        u.ended = True

    # --- control
    def get(self, uid: str | None) -> Utterance | None:
        for u in self.items:
            if uid is None or u.id == uid:
                return u
        return None

    def playback_started(self, uid: str | None, start_t: float) -> Utterance:
        """The audio of ``uid`` (None: the first waiting utterance) started playing at ``start_t``."""
        u = next((x for x in self.items if (uid is None or x.id == uid) and x.state is not State.FINISHED), None)
        if u is None:
            raise ProtocolError(f"playback_started: no utterance {uid!r} is queued" if uid else
                                "playback_started: nothing is queued; send speak first")
        if u.state is State.QUEUED:
            raise ProtocolError(f"playback_started: utterance {u.id!r} is still behind "
                                f"{self.items[0].id!r}; wait for its speech_finished or send stop")
        u.move("start")
        u.start_t = start_t
        self.events.append(SpeechEvent("speech_started", u.id, owner=u.owner))
        return u

    def stop(self, t: float) -> int:
        n = 0
        while self.items:
            u = self.items.popleft()
            self._finish(u, "stopped")
            n += 1
        return n

    def cancel(self, uid: str, t: float, reason: str = "stopped", error: str | None = None) -> bool:
        """Drop one utterance (``reason`` and ``error`` go into its speech_finished event)."""
        u = self.get(uid)
        if u is None:
            return False
        self.items.remove(u)
        self._finish(u, reason, error)
        self._advance(t)
        return True

    def _finish(self, u: Utterance, reason: str, error: str | None = None) -> None:
        was_started = u.state is State.PLAYING
        if u.state is State.PLAYING:
            u.move("finish" if reason == "done" else "cancel")
        elif u.state is not State.FINISHED:
            u.move("cancel")
        self.finished += 1
        if was_started or reason != "done":
            self.events.append(SpeechEvent("speech_finished", u.id, reason, owner=u.owner, error=error))
        u.samples = None
        u._frames.clear()
        u._chunks.clear()

    def _advance(self, t: float) -> None:
        if self.items and self.items[0].state is State.QUEUED:
            head = self.items[0]
            head.move("head")
            if not head.play and not head.options.wait:  # the caller plays it now: start on arrival
                self.playback_started(head.id, t)

    # --- the clock
    def poll(self, t: float) -> MouthShape | None:
        """The mouth at ``t`` (None: nothing is playing). Finishes utterances whose audio has ended and starts
        the next ones. Events accumulate in ``self.events`` (the shell sends and clears them)."""
        while self.items:
            head = self.items[0]
            if head.state is not State.PLAYING or head.start_t is None:
                return None
            rel = t - head.start_t
            if rel < 0:
                return MouthShape(0.0, 0.0)
            if (not head.streaming or head.ended) and rel > head.duration + self.tail_s:
                self.items.popleft()
                self._finish(head, "done")
                self._advance(t)
                continue
            return head.shape_at(rel)
        return None

    @property
    def playing(self) -> Utterance | None:
        return self.items[0] if self.items and self.items[0].state is State.PLAYING else None

    def waiting_player(self) -> Utterance | None:
        """The head utterance if it waits for the daemon's own player (``play`` true) to start it."""
        if self.items and self.items[0].state is State.WAITING and self.items[0].play:
            return self.items[0]
        return None


def timings_from_json(obj: Sequence[Mapping[str, Any]]) -> tuple[Timing, ...]:
    return parse_timings(list(obj), "timings", error=ProtocolError)
