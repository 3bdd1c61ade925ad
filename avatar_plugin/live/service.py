"""Run the daemon as a background service: a systemd user unit on Linux (docs/service.md covers macOS/Windows).

``systemd_unit(...)`` builds the unit text (pure); ``install_systemd`` / ``uninstall_systemd`` write or remove
``~/.config/systemd/user/avatar-plugin.service`` (``$XDG_CONFIG_HOME`` respected). Logs go to stderr; under
systemd (``JOURNAL_STREAM`` set) :class:`JournalFormatter` prefixes each line with its syslog priority
(``<6>`` info, ``<4>`` warning, ...), which journald reads as the message's level.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path

__all__ = ["UNIT_NAME", "JournalFormatter", "install_systemd", "systemd_unit", "uninstall_systemd", "unit_path"]

UNIT_NAME = "avatar-plugin.service"

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """``<priority>name: message``: the sd-daemon(3) prefix journald turns into the log level."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{prio}>{line}" for line in super().format(record).splitlines())


def use_journal_logging() -> bool:
    """Switch the root logger's handlers to :class:`JournalFormatter` when running under systemd."""
    if not os.environ.get("JOURNAL_STREAM"):
        return False
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JournalFormatter())
    return True


def unit_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user" / UNIT_NAME


def systemd_unit(puppet_dir: Path, config: Path | None, python: str | None = None) -> str:
    """The unit file text: runs ``python -m avatar_plugin live PUPPET_DIR [--config FILE]``, restarts on failure."""
    command = [python or sys.executable, "-m", "avatar_plugin", "live", str(puppet_dir.resolve())]
    if config is not None:
        command += ["--config", str(config.resolve())]
    exec_start = " ".join(shlex.quote(c) for c in command)
    return (
        "[Unit]\n"
        "Description=avatar-plugin live daemon (lip sync, tracking, OBS renderer)\n"
        "After=network.target sound.target\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_start}\n"
        "Restart=on-failure\n"
        "RestartSec=3\n"
        "KillSignal=SIGTERM\n"
        "TimeoutStopSec=5\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def install_systemd(puppet_dir: Path, config: Path | None) -> Path:
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(systemd_unit(puppet_dir, config), encoding="utf-8")
    return path


def uninstall_systemd() -> Path | None:
    path = unit_path()
    if path.exists():
        path.unlink()
        return path
    return None
