"""The README's main command: `avatar-plugin demo` generates the example avatar once, then runs it live."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from avatar_plugin.cli import main
from avatar_plugin.puppet.io import read_puppet

pytestmark = pytest.mark.slow


def test_demo_generates_once_then_runs_live(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--no-live"]) == 0
    first = capsys.readouterr().out
    assert "generating the example avatar" in first
    puppet = read_puppet(out / "character")
    assert puppet.meta.landmarks is not None and len(puppet.parts()) >= 10
    assert (out / "character" / "character.inp").is_file() and (out / "character" / "preview.gif").is_file()
    stamp = (out / "character" / "puppet.json").stat().st_mtime_ns

    # second run: reuses the avatar and starts the daemon, which prints the studio and OBS URLs
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "avatar_plugin", "demo", "-o", str(out), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines, studio = [], None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and studio is None:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            if line.startswith("avatar-plugin live: studio"):
                studio = line.split()[-1]
        assert studio, "".join(lines)
        lines.append(proc.stdout.readline())  # the OBS line follows the studio line
        assert any("already in" in x for x in lines)
        assert any("OBS" in x and "http://" in x for x in lines)
        base = studio.rsplit("/studio", 1)[0]
        health = json.loads(urllib.request.urlopen(f"{base}/health", timeout=10).read())
        assert health["status"] == "ok"
        assert (out / "character" / "puppet.json").stat().st_mtime_ns == stamp
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0
