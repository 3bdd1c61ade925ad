"""`avatar-plugin live --mic-file`: a WAV through the microphone pipeline, no hardware; bad paths refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import aiohttp

from avatar_plugin.cli import main


def test_mic_file_moves_the_mouth(sample_dir, tmp_path):
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Hello there, how are you doing today?"], check=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "avatar_plugin", "live", str(sample_dir), "--port", "0",
                             "--mic-file", str(wav)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    try:
        base = None
        deadline = time.monotonic() + 30
        while base is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("avatar-plugin live: studio"):
                base = line.split()[-1].rsplit("/studio", 1)[0]
        assert base, "daemon did not start"

        async def peak_mouth() -> float:
            peak = 0.0
            async with aiohttp.ClientSession() as http, http.ws_connect(f"{base.replace('http', 'ws')}/ws") as ws:
                end = time.monotonic() + 4.0
                while time.monotonic() < end:
                    msg = await ws.receive(timeout=2)
                    peak = max(peak, json.loads(msg.data).get("params", {}).get("ParamMouthOpenY", 0.0))
            return peak

        assert asyncio.run(peak_mouth()) > 0.3
    finally:
        proc.terminate()
        proc.wait(10)


def test_mic_file_that_does_not_exist(sample_dir, tmp_path, capsys):
    assert main(["live", str(sample_dir), "--mic-file", str(tmp_path / "nope.wav")]) == 1
    assert "--mic-file" in capsys.readouterr().err


def test_config_example_documents_every_key():
    """config.example.toml is exactly what the registry prints (regenerate with `live --print-config`)."""
    from pathlib import Path

    from avatar_plugin.live.config import example_config, load_config

    path = Path(__file__).resolve().parents[1] / "config.example.toml"
    assert path.read_text(encoding="utf-8") == example_config(), (
        "config.example.toml is stale: run `avatar-plugin live --print-config > config.example.toml`")
    load_config(path)  # and it loads


def test_the_token_stays_out_of_logs_and_piped_output(sample_dir):
    """Beyond loopback a token is required; it must not land in logs or a service's journal (piped stdout)."""
    secret = "s3cret-token-4242"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "AVATAR_PLUGIN_TOKEN": secret}
    proc = subprocess.Popen([sys.executable, "-m", "avatar_plugin", "live", str(sample_dir), "--port", "0",
                             "--host", "0.0.0.0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("avatar-plugin live: OBS") or (not line and proc.poll() is not None):
                break
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    text = "".join(lines) + out
    assert "avatar-plugin live: studio" in text and "token=<your token>" in text
    assert secret not in text


def test_a_bad_key_names_the_config_file(sample_dir, tmp_path, capsys):
    config = tmp_path / "my-avatar.toml"
    config.write_text("[daemon]\nnope = 1\n")
    assert main(["live", str(sample_dir), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "my-avatar.toml" in err and "nope" in err
