"""A Python client for the live daemon's control API (``/api``), asyncio and plain sync.

A chatbot needs three lines::

    from avatar_plugin.client import AvatarClient
    with AvatarClient.connect_sync() as avatar:          # ws://127.0.0.1:8765/api
        avatar.speak(wav_bytes, text="Hello!", wait=True)  # returns when the avatar has finished speaking

asyncio::

    async with AvatarClient("ws://127.0.0.1:8765/api") as avatar:
        uid = await avatar.speak(wav_bytes)
        await avatar.wait_finished(uid)

Requests carry unique ids; replies are matched to them (:meth:`AvatarClient.request`). Events the daemon
sends (``speech_started``, ``speech_finished``) go to :meth:`AvatarClient.events` / ``on_event``. Errors the
daemon reports raise :class:`~avatar_plugin.errors.ProtocolError` with its message; a daemon that is not
running raises :class:`~avatar_plugin.errors.DeviceError` saying how to start it.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from avatar_plugin.errors import DeviceError, ProtocolError

__all__ = ["DEFAULT_URL", "AvatarClient", "SpeechStream", "SyncAvatarClient"]

DEFAULT_URL = "ws://127.0.0.1:8765/api"
T = TypeVar("T")


class AvatarClient:
    """asyncio client. ``url``: the daemon's ``/api`` WebSocket; ``token``: when the daemon requires one."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 10.0,
                 on_event: Callable[[dict[str, Any]], Any] | None = None) -> None:
        if token:
            url += ("&" if "?" in url else "?") + f"token={token}"
        self.url = url
        self.timeout = timeout
        self.on_event = on_event
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._finished: dict[str, asyncio.Future[dict[str, Any]]] = {}

    # ---- connection
    async def connect(self) -> AvatarClient:
        from websockets.asyncio.client import connect

        try:
            self._ws = await connect(self.url, max_size=None, open_timeout=self.timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise DeviceError(f"cannot reach the avatar daemon at {self.url} ({exc}); start it with "
                              "`avatar-plugin live PUPPET_DIR`") from None
        except Exception as exc:  # an HTTP refusal (401 token, 403 origin)
            raise ProtocolError(f"the avatar daemon at {self.url} refused the connection ({exc})") from None
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._ws = self._reader = None

    async def __aenter__(self) -> AvatarClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                if isinstance(raw, bytes):
                    continue
                msg = json.loads(raw)
                if "ok" in msg:  # a reply
                    fut = self._pending.pop(str(msg.get("id")), None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                    continue
                self._on_event(msg)
        finally:
            for fut in list(self._pending.values()) + list(self._finished.values()):
                if not fut.done():
                    fut.set_exception(DeviceError("the avatar daemon closed the connection"))

    def _on_event(self, msg: dict[str, Any]) -> None:
        if msg.get("type") == "speech_finished":
            fut = self._future(str(msg.get("utterance")))
            if not fut.done():
                fut.set_result(msg)
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(msg)
        if self.on_event is not None:
            self.on_event(msg)

    # ---- requests
    async def request(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send one message, wait for its reply (matched by id); ProtocolError if the daemon says no."""
        if self._ws is None:
            raise DeviceError("not connected; use `async with AvatarClient(...)` or await connect()")
        rid = f"c{next(self._ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self._ws.send(json.dumps({**message, "id": rid}))
        try:
            reply = await asyncio.wait_for(fut, self.timeout)
        except asyncio.TimeoutError:
            self._pending.pop(rid, None)
            raise DeviceError(f"no reply to {message.get('type')!r} within {self.timeout} s") from None
        if not reply.get("ok"):
            raise ProtocolError(f"{message.get('type')}: {reply.get('error')}")
        return reply

    async def speak(self, wav: bytes, text: str | None = None, timings: Sequence[Mapping[str, Any]] | None = None,
                    play: bool | None = None, wait: bool = False, interrupt: bool = False,
                    utterance: str | None = None) -> str:
        """Queue a WAV utterance; returns its id. ``play``: the daemon plays it (else you do, now, or at
        :meth:`playback_started` with ``wait=True``). ``interrupt``: stop what is being said first."""
        msg: dict[str, Any] = {"type": "speak", "audio": base64.b64encode(wav).decode("ascii")}
        for key, value in (("text", text), ("timings", timings), ("play", play), ("utterance", utterance)):
            if value is not None:
                msg[key] = list(value) if key == "timings" else value  # type: ignore[arg-type]
        if wait:
            msg["wait"] = True
        if interrupt:
            msg["interrupt"] = True
        reply = await self.request(msg)
        uid = str(reply["utterance"])
        self._future(uid)
        return uid

    def _future(self, uid: str) -> asyncio.Future[dict[str, Any]]:
        fut = self._finished.get(uid)
        if fut is None:
            fut = self._finished[uid] = asyncio.get_running_loop().create_future()
            if len(self._finished) > 256:  # forget the oldest finished ones nobody waited for
                for key in [k for k, f in self._finished.items() if f.done()][:64]:
                    del self._finished[key]
        return fut

    async def wait_finished(self, utterance: str, timeout: float | None = 120.0) -> dict[str, Any]:
        """Wait for ``speech_finished`` of ``utterance``; returns the event (``reason``)."""
        result = await asyncio.wait_for(asyncio.shield(self._future(utterance)), timeout)
        self._finished.pop(utterance, None)
        return result

    async def playback_started(self, utterance: str | None = None, at: float | None = None) -> None:
        msg: dict[str, Any] = {"type": "playback_started", "at": time.time() if at is None else at}
        if utterance:
            msg["utterance"] = utterance
        await self.request(msg)

    async def stop(self) -> int:
        return int((await self.request({"type": "stop"})).get("stopped", 0))

    async def cancel(self, utterance: str) -> bool:
        return bool((await self.request({"type": "cancel", "utterance": utterance})).get("cancelled"))

    async def set(self, params: Mapping[str, float], hold: float | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "set", "params": dict(params)}
        if hold is not None:
            msg["hold"] = hold
        return await self.request(msg)

    async def expression(self, name: str, fade: float | None = None, duration: float | None = None) -> None:
        msg: dict[str, Any] = {"type": "expression", "name": name}
        if fade is not None:
            msg["fade"] = fade
        if duration is not None:
            msg["duration"] = duration
        await self.request(msg)

    async def status(self) -> dict[str, Any]:
        return await self.request({"type": "status"})

    async def stream(self, sample_rate: int, format: str = "s16le", channels: int = 1, **options: Any) -> SpeechStream:
        """Start a streamed utterance: ``await s.send(pcm_bytes)`` ..., then ``await s.end()``."""
        reply = await self.request({"type": "speech_start", "format": format, "sample_rate": sample_rate,
                                    "channels": channels, **options})
        uid = str(reply["utterance"])
        self._future(uid)
        return SpeechStream(self, uid)

    async def events(self) -> dict[str, Any]:
        """The next event from the daemon (speech_started, speech_finished, ...)."""
        return await self._events.get()

    # ---- sync
    @classmethod
    def connect_sync(cls, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 10.0) -> SyncAvatarClient:
        return SyncAvatarClient(url, token, timeout)


class SpeechStream:
    def __init__(self, client: AvatarClient, utterance: str) -> None:
        self.client, self.utterance = client, utterance

    async def send(self, pcm: bytes) -> None:
        await self.client._ws.send(bytes(pcm))

    async def end(self) -> dict[str, Any]:
        return await self.client.request({"type": "speech_end"})


class SyncAvatarClient:
    """The same client for plain (non-async) code: runs an event loop in a background thread.

    ``speak(wav, wait=True)`` blocks until the avatar has finished speaking.
    """

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 10.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="avatar-client", daemon=True)
        self._thread.start()
        self._client = AvatarClient(url, token, timeout)
        self.timeout = timeout
        try:
            self._call(self._client.connect())
        except BaseException:
            self._shutdown()
            raise

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def speak(self, wav: bytes, text: str | None = None, timings: Sequence[Mapping[str, Any]] | None = None,
              play: bool | None = None, wait: bool = False, interrupt: bool = False,
              utterance: str | None = None, wait_playback: bool = False) -> str:
        """Queue an utterance; with ``wait=True`` block until it has been spoken. (``wait_playback`` maps to the
        message's ``wait``: the mouth starts at :meth:`playback_started`.)"""
        uid = self._call(self._client.speak(wav, text, timings, play, wait_playback, interrupt, utterance))
        if wait:
            self._call(self._client.wait_finished(uid))
        return uid

    def wait_finished(self, utterance: str, timeout: float | None = 120.0) -> dict[str, Any]:
        return self._call(self._client.wait_finished(utterance, timeout))

    def playback_started(self, utterance: str | None = None, at: float | None = None) -> None:
        self._call(self._client.playback_started(utterance, at))

    def stop(self) -> int:
        return self._call(self._client.stop())

    def cancel(self, utterance: str) -> bool:
        return self._call(self._client.cancel(utterance))

    def set(self, params: Mapping[str, float], hold: float | None = None) -> dict[str, Any]:
        return self._call(self._client.set(params, hold))

    def expression(self, name: str, fade: float | None = None, duration: float | None = None) -> None:
        self._call(self._client.expression(name, fade, duration))

    def status(self) -> dict[str, Any]:
        return self._call(self._client.status())

    def request(self, message: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(self._client.request(message))

    def close(self) -> None:
        try:
            self._call(self._client.close(), timeout=5)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SyncAvatarClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
