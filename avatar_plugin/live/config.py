"""The daemon's TOML config: core sections, plug-in discovery and strict validation.

``load_config(path, registry)`` reads the file with ``tomllib`` and validates every table against the
sections declared here (``[daemon]``, ``[server]``, ``[mixer]``, ``[idle]``, ``[expressions]``) and by
plug-in modules (``[mic]``, ``[tts]``, ``[webcam]``, ``[vtube_studio]``, ``[vmc]``, ... see
:mod:`avatar_plugin.live.interfaces`, section 4). Unknown tables, unknown keys and bad values are
:class:`~avatar_plugin.errors.ConfigError` naming the key, the value and the fix.

``[expressions.NAME]`` sub-tables define user presets: ``param = value`` pairs of finite numbers.
"""

from __future__ import annotations

import importlib
import logging
import math
import pkgutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from avatar_plugin.errors import ConfigError
from avatar_plugin.live.interfaces import (
    FADE_IN_S,
    FADE_OUT_S,
    PLUGIN_PREFIXES,
    ConfigKey,
    ConfigSection,
    LiveRegistry,
    SectionConfig,
)

__all__ = ["CORE_SECTIONS", "LiveConfig", "default_registry", "example_config", "load_config", "parse_config"]

log = logging.getLogger(__name__)

DAEMON = ConfigSection("daemon", "The daemon's tick and randomness.", (
    ConfigKey("tick_hz", float, 60.0, "mixer ticks per second (also the /ws frame rate)", min=1.0, max=240.0),
    ConfigKey("seed", int, -1, "random seed for idle life; -1 = different every run", min=-1),
    ConfigKey("log_level", str, "info", "log level on stderr", choices=("debug", "info", "warning", "error")),
))

SERVER = ConfigSection("server", "HTTP + WebSocket server (renderer /, /studio, /ws, /api, /health) on one port.", (
    ConfigKey("host", str, "127.0.0.1", "address to bind; anything but loopback requires a token"),
    ConfigKey("port", int, 8765, "TCP port", min=0, max=65535),
    ConfigKey("token", str, "", "shared secret for /ws, /api and puppet files (also env AVATAR_PLUGIN_TOKEN); "
              "required when host is not loopback"),
    ConfigKey("allowed_origins", list, [], "extra browser origins allowed to open /ws and /api, "
              "e.g. [\"http://localhost:3000\"]", item_type=str),
    ConfigKey("max_clients", int, 32, "most simultaneous /ws + /api WebSocket clients", min=1, max=1024),
    ConfigKey("max_message_bytes", int, 8 * 1024 * 1024, "largest /api JSON message or POST body (a speak "
              "message carries a base64 WAV: 8 MiB is about 60 s of 22 kHz speech)", min=1024,
              max=16 * 1024 * 1024),
    ConfigKey("max_binary_bytes", int, 8 * 1024 * 1024, "largest binary /api frame or non-JSON POST body (audio)",
              min=1024, max=256 * 1024 * 1024),
))

MIXER = ConfigSection("mixer", "How sources are blended (priorities: see docs/control-api.md).", (
    ConfigKey("fade_in_s", float, FADE_IN_S, "seconds a source takes to take over when it becomes active",
              min=0.0, max=5.0),
    ConfigKey("fade_out_s", float, FADE_OUT_S, "seconds a silent source takes to hand back", min=0.0, max=5.0),
    ConfigKey("physics", bool, True, "simulate hair physics (pendulum chains of the puppet)"),
))

IDLE = ConfigSection("idle", "Idle life when nothing else drives a parameter.", (
    ConfigKey("enabled", bool, True, "blink, breathe, sway and move the eyes when idle"),
    ConfigKey("blink_min_s", float, 2.0, "shortest time between blinks", min=0.2, max=60.0),
    ConfigKey("blink_max_s", float, 6.0, "longest time between blinks", min=0.2, max=60.0),
    ConfigKey("double_blink_chance", float, 0.15, "chance that a blink is a double blink", min=0.0, max=1.0),
    ConfigKey("breath_period_s", float, 3.6, "seconds per breath", min=0.5, max=30.0),
    ConfigKey("sway", float, 1.0, "head/body sway amplitude (0 = still)", min=0.0, max=5.0),
    ConfigKey("saccades", bool, True, "small random eye movements"),
))

EXPRESSIONS = ConfigSection(
    "expressions",
    "Expressions (happy, sad, angry, surprised, neutral built in).\n"
    "Add your own as tables: [expressions.wink] then ParamEyeLOpen = 0.0, ParamMouthForm = 1.0, ...",
    (ConfigKey("default_fade_s", float, 0.3, "fade time when a request gives none", min=0.0, max=10.0),),
    allow_extra=True,
)

CORE_SECTIONS = (DAEMON, SERVER, MIXER, IDLE, EXPRESSIONS)


@dataclass(frozen=True)
class LiveConfig:
    """A validated config: every registered section (defaults filled) and the user presets."""

    sections: Mapping[str, SectionConfig]
    presets: Mapping[str, Mapping[str, float]]
    source: str  # file name or "<defaults>"

    def __getitem__(self, name: str) -> SectionConfig:
        return self.sections[name]


def default_registry(discover: bool = True) -> LiveRegistry:
    """A registry with the core sections and (``discover``) every plug-in module's ``register_live``."""
    registry = LiveRegistry()
    for s in CORE_SECTIONS:
        registry.add_section(s)
    if discover:
        discover_plugins(registry)
    return registry


def discover_plugins(registry: LiveRegistry) -> list[str]:
    """Import ``avatar_plugin.live`` modules named with a plug-in prefix and call their ``register_live``."""
    import avatar_plugin.live as package

    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith(PLUGIN_PREFIXES):
            continue
        try:
            module = importlib.import_module(f"avatar_plugin.live.{info.name}")
            register = getattr(module, "register_live", None)
            if callable(register):
                register(registry)
                found.append(info.name)
        except Exception as exc:  # one broken plug-in must not stop the daemon
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning("live: plug-in module %s could not be loaded (%s); its config tables are unavailable",
                        info.name, message)
            _FAILED_PLUGINS[info.name] = message
    return found


_FAILED_PLUGINS: dict[str, str] = {}


def _presets(table: Mapping[str, Any]) -> dict[str, Mapping[str, float]]:
    presets: dict[str, Mapping[str, float]] = {}
    for name, value in table.items():
        if name == "default_fade_s":
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"[expressions] {name} = {value!r}: unknown key; user expressions are tables, "
                              f"e.g. [expressions.{name}] with ParamMouthForm = 1.0")
        values: dict[str, float] = {}
        for pid, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"[expressions.{name}] {pid} = {v!r}: expected a finite number "
                                  "(a parameter value)")
            values[pid] = float(v)
        presets[name] = MappingProxyType(values)
    return presets


def parse_config(data: Mapping[str, Any], registry: LiveRegistry, source: str = "<config>") -> LiveConfig:
    """Validate parsed TOML ``data`` against ``registry``."""
    for name, table in data.items():
        if name not in registry.sections:
            known = ", ".join(f"[{n}]" for n in registry.sections)
            broken = "".join(f"; plug-in module {m} failed to load ({e})" for m, e in _FAILED_PLUGINS.items()
                             if name.startswith(m.split("_")[0]) or m.startswith(name.split("_")[0]))
            raise ConfigError(f"{source}: unknown table [{name}]; known tables are {known} "
                              f"(see config.example.toml){broken}")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: {name} = {table!r}: expected a table [{name}]")
    try:
        sections = {name: section.validate(data.get(name)) for name, (section, _) in registry.sections.items()}
        presets = _presets(data.get("expressions", {}))
        d = sections["idle"]
        if d["blink_min_s"] > d["blink_max_s"]:
            raise ConfigError(f"[idle] blink_min_s = {d['blink_min_s']} is above blink_max_s = "
                              f"{d['blink_max_s']}; make blink_min_s <= blink_max_s")
    except ConfigError as exc:
        if source.startswith("<") or str(exc).startswith(source):
            raise
        raise ConfigError(f"{source}: {exc}") from None  # name the file the key is in
    return LiveConfig(sections=MappingProxyType(sections), presets=MappingProxyType(presets), source=source)


def load_config(path: str | Path | None, registry: LiveRegistry | None = None,
                overrides: Mapping[str, Mapping[str, Any]] | None = None) -> LiveConfig:
    """Read and validate a TOML config file (None: every default).

    ``overrides`` (table -> key -> value, e.g. from command-line options) replace the file's values and are
    validated like them.
    """
    registry = registry or default_registry()
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file; copy config.example.toml and edit it") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a folder; pass a TOML file (e.g. a copy of config.example.toml)") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text file; pass a TOML file (e.g. a copy of config.example.toml)"
                              ) from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the line it names") from None
    for table, values in (overrides or {}).items():
        section = data.setdefault(table, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: [{table}] must be a table")
        section.update(values)
    return parse_config(data, registry, source)


def example_config(registry: LiveRegistry | None = None) -> str:
    """Every registered section as commented TOML at its defaults (the body of config.example.toml)."""
    registry = registry or default_registry()
    header = (
        "# avatar-plugin live daemon configuration (TOML).\n"
        "# Every key is shown at its default. Unknown tables and keys are errors.\n"
        "# Use: avatar-plugin live PUPPET_DIR --config this-file.toml\n\n"
    )
    body = "\n".join(section.example_toml() for section, _ in registry.sections.values())
    example = "# [expressions.wink]\n# ParamEyeLOpen = 0.0\n# ParamMouthForm = 1.0\n"
    return header + body + "\n" + example
