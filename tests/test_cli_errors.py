"""Bad input on the command line: one line on stderr naming the thing, exit status 1, no traceback.

Runs the CLI in-process (``avatar_plugin.cli.main``) on real files made in ``tmp_path``; no daemon is started
except where binding a port is the point.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from avatar_plugin.cli import main


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n", encoding="utf-8")
    return path


def test_preview_into_an_unwritable_place(sample_dir: Path, text_file: Path, capsys: pytest.CaptureFixture[str]):
    # a path under a regular file cannot be created, even by root
    assert main(["preview", str(sample_dir), "-o", str(text_file / "x.png")]) == 1
    _one_line_error(capsys, "avatar-plugin preview: error:", str(text_file / "x.png"))


def test_lipsync_calibrate_output_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    wav = tmp_path / "ah.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "ah"], check=True)
    assert main(["lipsync-calibrate", "--a", str(wav), "-o", str(tmp_path)]) == 1
    _one_line_error(capsys, "avatar-plugin lipsync-calibrate: error:", str(tmp_path))
