"""Run the real daemon in-process on 127.0.0.1 with any free port, for tests that drive it over sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from avatar_plugin.live.config import default_registry, parse_config
from avatar_plugin.live.daemon import Daemon


def run_with_daemon(puppet_dir: Path, sections: Mapping[str, Any],
                    body: Callable[[Daemon], Awaitable[None]]) -> None:
    """Start a daemon with config ``sections`` (table -> keys), run ``body(daemon)``, always stop it."""

    async def main() -> None:
        daemon = Daemon(puppet_dir, parse_config(dict(sections), default_registry()), host="127.0.0.1", port=0)
        await daemon.start()
        try:
            await body(daemon)
        finally:
            await daemon.stop()

    asyncio.run(main())
