"""espeak-ng through ctypes: speech audio plus the phoneme timings espeak-ng itself reports.

``synthesize(text)`` returns the 22,050 Hz mono audio and one :class:`~avatar_plugin.live.lipsync_timings.Timing`
per phoneme (espeak-ng mnemonics such as ``h``, ``@``, ``l``, ``oU``; ``_`` pauses), with start/end seconds
taken from the library's PHONEME events (``audio_position``, ms). These timings are the "truth" of the
lip-sync benchmark and what ``examples/espeak_chatbot.py`` sends along with its audio.

How (field notes): ``espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, ..., espeakINITIALIZE_PHONEME_EVENTS)``, a
synth callback that receives audio and events, a Python reference to the ctypes callback kept for the life of
the process (the library holds the raw pointer), and a lock: the library is process-global and not reentrant.
Missing library -> :class:`~avatar_plugin.errors.DeviceError` with the install hint.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import DeviceError, InputError
from avatar_plugin.live.lipsync_timings import Timing

__all__ = ["Speech", "available", "synthesize"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PHONEMES_FLAG = 0x100  # espeakPHONEMES: [[...]] in the text is phoneme mnemonics
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True, eq=False)
class Speech:
    """``samples``: (N,) float32 mono -1..1 at ``sample_rate``; ``phonemes``: espeak-ng mnemonics with times."""

    samples: NDArray[np.float32]
    sample_rate: int
    phonemes: tuple[Timing, ...]
    text: str
    voice: str

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


class _Engine:
    """The process-wide library handle; all calls under ``_lock``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib: ctypes.CDLL | None = None
        self._sr = 0
        self._chunks: list[NDArray[np.int16]] = []
        self._events: list[tuple[int, str]] = []
        self._cb = _CALLBACK(self._on_synth)  # kept alive: the library holds the raw pointer

    def _load(self) -> ctypes.CDLL:
        if self._lib is not None:
            return self._lib
        names = [ctypes.util.find_library("espeak-ng"), "libespeak-ng.so.1", "libespeak-ng.so",
                 "libespeak-ng.dylib", "libespeak-ng.dll", "espeak-ng.dll"]
        lib = None
        for name in names:
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        if lib is None:
            hint = {"linux": "apt install espeak-ng (Debian/Ubuntu)", "darwin": "brew install espeak-ng"}.get(
                sys.platform, "install espeak-ng from https://github.com/espeak-ng/espeak-ng/releases")
            raise DeviceError(f"espeak-ng library (libespeak-ng) not found; {hint}")
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_uint),
                                     ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT)
        if sr <= 0:
            raise DeviceError(f"espeak-ng failed to initialise (returned {sr}); is espeak-ng-data installed?")
        lib.espeak_SetSynthCallback(self._cb)
        self._lib, self._sr = lib, sr
        return lib

    def _on_synth(self, wav: ctypes._Pointer, n: int, events: ctypes._Pointer) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events:
            ev = events[i]
            if ev.type == _EVENT_LIST_TERMINATED:
                break
            if ev.type == _EVENT_PHONEME:
                raw = bytes(ev.id.string).split(b"\0", 1)[0]
                self._events.append((int(ev.audio_position), raw.decode("utf-8", "replace")))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> Speech:
        with self._lock:
            lib = self._load()
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise InputError(f"espeak-ng voice {voice!r}: not found; list voices with `espeak-ng --voices`")
            lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
            lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
            self._chunks, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            err = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _PHONEMES_FLAG, None,
                                   None)
            lib.espeak_Synchronize()
            if err != 0:
                raise DeviceError(f"espeak-ng could not synthesize {text[:40]!r} (error {err})")
            pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            events, self._chunks, self._events = self._events, [], []
        samples = (pcm.astype(np.float32) / 32768.0).astype(np.float32)
        duration = len(samples) / self._sr
        phonemes: list[Timing] = []
        for j, (ms, label) in enumerate(events):
            start = ms / 1000.0
            end = events[j + 1][0] / 1000.0 if j + 1 < len(events) else duration
            end = min(max(end, start), duration)
            if label and end > start:
                phonemes.append(Timing(start=start, end=end, label=label))
        return Speech(samples, self._sr, tuple(phonemes), text, voice)


_ENGINE = _Engine()


def synthesize(text: str, voice: str = "en", rate: int = 175, pitch: int = 50) -> Speech:
    """Speak ``text`` with espeak-ng; returns the audio and espeak-ng's phoneme timings.

    ``voice``: an espeak-ng voice name (``en``, ``en-us``, ``en+f3`` for a variant, ``es``, ...);
    ``rate``: words per minute (80..450); ``pitch``: 0..99. Phoneme mnemonics in double brackets are
    spoken as such: ``"[[A:A:A:]]"`` is a long "ah".
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"text {text!r}: expected a non-empty string to speak")
    return _ENGINE.synthesize(text, voice, rate, pitch)


def available() -> bool:
    """True when libespeak-ng loads and initialises."""
    try:
        with _ENGINE._lock:
            _ENGINE._load()
    except DeviceError:
        return False
    return True
