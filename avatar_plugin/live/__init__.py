"""The live daemon: sources -> mixer -> filters -> sinks at a fixed tick, plus its HTTP/WebSocket server.

- :mod:`.interfaces` -- the plug-in contract (``SourceUpdate``, ``AvatarParams``, ``Source``, ``Sink``,
  ``Mailbox``, config sections, extra ``/api`` messages, mixer priorities); start here
- :mod:`.daemon` -- supervision, backoff, signals; :mod:`.engine` -- the mixer, idle life, expressions,
  physics; :mod:`.idle`, :mod:`.expressions`; :mod:`.config` -- strict TOML config
- :mod:`.server` -- aiohttp: ``/`` renderer, ``/studio``, ``/ws``, ``/api``, ``/health``; :mod:`.api` -- typed
  control messages; :mod:`.service` -- systemd user unit
- lip sync: :mod:`.audio`, :mod:`.lipsync` (analysis), :mod:`.lipsync_visemes`, :mod:`.lipsync_timings`,
  :mod:`.lipsync_align`, :mod:`.lipsync_track`, :mod:`.espeak` (phoneme timings), :mod:`.mic` (source),
  :mod:`.speech` / :mod:`.tts` (the ``speak`` messages and TTS source)
- webcam: :mod:`.face` (landmarks -> parameters), :mod:`.tracking` (capture, FaceMesh), :mod:`.webcam`
  (source), :mod:`.motion_file` (track.json, motion3.json)
- sinks: :mod:`.vts_protocol` (Sans-I/O VTube Studio client), :mod:`.vts_mapping`, :mod:`.vts`, :mod:`.vmc`
"""

__all__: list[str] = []
