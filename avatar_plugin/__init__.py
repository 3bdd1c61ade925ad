"""avatar-plugin: one anime-style picture -> a rigged 2D puppet, kept alive by a live daemon.

Subpackages:

- :mod:`avatar_plugin.puppet` -- the puppet format (frozen definition, strict reader/writer), ``evaluate``
  (parameters -> draw list, pure numpy), pendulum physics and the software renderer used for previews.
- :mod:`avatar_plugin.generator` -- picture -> parts -> completed layers -> meshes -> rig -> exports.
- :mod:`avatar_plugin.live` -- the long-running daemon: sources (mic, webcam, TTS, idle) -> mixer -> sinks
  (bundled WebGL renderer, VTube Studio, VMC/OSC).
- :mod:`avatar_plugin.web` -- the browser renderer and studio page (static ES modules served by the daemon).
- :mod:`avatar_plugin.cli` -- the ``avatar-plugin`` command.
- :mod:`avatar_plugin.errors` -- the exception tree.
"""

from avatar_plugin._version import __version__

__all__ = ["__version__"]
