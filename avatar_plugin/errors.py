"""The exception tree of avatar-plugin.

Every error we raise on purpose derives from :class:`AvatarPluginError`, so a caller (the CLI, the daemon)
can catch ours apart from bugs. The tree splits *whose fault* it is, in the manner of h11's
LocalProtocolError / RemoteProtocolError::

    AvatarPluginError
    ├── InputError            the user's input is unusable (file, option, picture, config); message says the fix
    │   ├── PuppetFormatError a puppet.json / texture breaks the format (names file, JSON path, expected, found)
    │   ├── ImageInputError   a picture we cannot use (not an image, too small, no face found, ...)
    │   └── ConfigError       a config key with an unknown name or a bad value
    ├── ProtocolError         a peer sent something we cannot accept (a malformed API message, a bad VTS reply)
    └── DeviceError           hardware or an outside program is missing or failed (microphone, camera, browser)

Messages follow one rule: name the thing, the value, what was expected and the fix.
"""

from __future__ import annotations

__all__ = [
    "AvatarPluginError",
    "ConfigError",
    "DeviceError",
    "ImageInputError",
    "InputError",
    "ProtocolError",
    "PuppetFormatError",
]


class AvatarPluginError(Exception):
    """Base class of every error avatar-plugin raises on purpose."""


class InputError(AvatarPluginError):
    """The user's input (a file, an option, a picture, a config value) cannot be used."""


class PuppetFormatError(InputError):
    """A puppet folder breaks the puppet format.

    Attributes:
        file: the file at fault (``puppet.json`` or a texture), as given.
        json_path: where in the JSON, e.g. ``$.bindings[3].values[0]``; ``$`` for the whole file.
        expected: what the format requires there.
        found: what the file holds instead.
    """

    def __init__(self, file: str, json_path: str, expected: str, found: str) -> None:
        self.file = file
        self.json_path = json_path
        self.expected = expected
        self.found = found
        super().__init__(f"{file}: at {json_path}: expected {expected}, found {found}")


class ImageInputError(InputError):
    """A picture the generator cannot use."""


class ConfigError(InputError):
    """A configuration key that is unknown or has a bad value."""


class ProtocolError(AvatarPluginError):
    """A peer sent a message we cannot accept (our control API, VTube Studio, the renderer stream)."""


class DeviceError(AvatarPluginError):
    """A device or outside program is missing or failed (microphone, camera, audio output, browser)."""
