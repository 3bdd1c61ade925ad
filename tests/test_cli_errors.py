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


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_live_port_out_of_range(sample_dir: Path, port: str, capsys: pytest.CaptureFixture[str]):
    assert main(["live", str(sample_dir), "--port", port]) == 1
    _one_line_error(capsys, "--port", port, "0..65535")


def test_live_port_in_use(sample_dir: Path, capsys: pytest.CaptureFixture[str]):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["live", str(sample_dir), "--port", str(port)]) == 1
    last = _one_line_error(capsys, f"127.0.0.1:{port}", "--port")
    assert "in use" in last or "another program" in last


def _png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "picture.png"
    Image.new("RGBA", (16, 16), (255, 0, 0, 255)).save(path)
    return path


@pytest.mark.parametrize("what", ["folder", "png"])
def test_live_config_that_is_not_toml(sample_dir: Path, tmp_path: Path, what: str,
                                      capsys: pytest.CaptureFixture[str]):
    config = tmp_path if what == "folder" else _png(tmp_path)
    assert main(["live", str(sample_dir), "--config", str(config)]) == 1
    _one_line_error(capsys, str(config), "TOML file")


@pytest.mark.parametrize("what", ["text", "png"])
def test_live_mic_file_that_is_not_audio(sample_dir: Path, tmp_path: Path, text_file: Path, what: str,
                                         capsys: pytest.CaptureFixture[str]):
    wav = text_file if what == "text" else _png(tmp_path)
    assert main(["live", str(sample_dir), "--port", "0", "--mic-file", str(wav)]) == 1
    _one_line_error(capsys, str(wav), "WAV")


@pytest.mark.parametrize("what", ["folder", "png"])
def test_lipsync_audio_that_is_not_audio(tmp_path: Path, what: str, capsys: pytest.CaptureFixture[str]):
    audio = tmp_path if what == "folder" else _png(tmp_path)
    assert main(["lipsync", str(audio), "-o", str(tmp_path / "t.json")]) == 1
    line = _one_line_error(capsys, str(audio), "audio file")
    assert "BytesIO" not in line


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wav = tmp_path_factory.mktemp("speech") / "hello.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "hello there, how are you"], check=True)
    return wav


@pytest.mark.parametrize("lead", ["99", "-5"])
def test_lipsync_lead_out_of_range(speech_wav: Path, tmp_path: Path, lead: str,
                                   capsys: pytest.CaptureFixture[str]):
    assert main(["lipsync", str(speech_wav), "-o", str(tmp_path / "t.json"), "--lead", lead]) == 1
    _one_line_error(capsys, "--lead", "-1..1")


def test_lipsync_text_honours_lead(speech_wav: Path, tmp_path: Path):
    """--lead moves the mouth earlier with --text too (it used to be ignored there)."""
    import json

    import numpy as np

    opening = []
    for lead in ("0", "0.05"):
        out = tmp_path / f"lead{lead}.json"
        assert main(["lipsync", str(speech_wav), "-o", str(out), "--text", "hello there, how are you",
                     "--lead", lead]) == 0
        mouth = np.array(json.loads(out.read_text())["params"]["ParamMouthOpenY"])
        opening.append(int(np.argmax(mouth > 0.2)))
    assert opening[1] < opening[0]


def test_track_folder_and_cameras_probe(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["track", str(tmp_path), "-o", str(tmp_path / "t.json")]) == 1
    _one_line_error(capsys, str(tmp_path), "is a folder")
    assert main(["cameras", "--probe", "-1"]) == 1
    _one_line_error(capsys, "--probe -1")


def test_track_is_quiet_when_piped(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """No progress output when stderr is not a terminal (capsys is not one)."""
    import cv2
    import numpy as np

    video = tmp_path / "blank.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    for i in range(12):
        writer.write(np.full((64, 64, 3), 20 * i, np.uint8))
    writer.release()
    assert main(["track", str(video), "-o", str(tmp_path / "t.json")]) == 0
    err = capsys.readouterr().err
    assert "tracking" not in err and "frame 1" not in err


def test_generate_folder_as_picture_and_unwritable_output(tmp_path: Path, text_file: Path,
                                                          capsys: pytest.CaptureFixture[str]):
    assert main(["generate", str(tmp_path), "-o", str(tmp_path / "out")]) == 1
    _one_line_error(capsys, str(tmp_path), "is a folder")
    # refused before any work: the output folder cannot be made under a regular file
    assert main(["generate", str(_png(tmp_path)), "-o", str(text_file / "out")]) == 1
    _one_line_error(capsys, "-o", str(text_file / "out"), "cannot create")


def test_generate_not_a_picture_is_one_line_without_progress_bars(tmp_path: Path, text_file: Path,
                                                                  capsys: pytest.CaptureFixture[str]):
    """A text file named .png: one line (the stage progress bar used to be drawn into pipes before it)."""
    fake = tmp_path / "fake.png"
    fake.write_bytes(text_file.read_bytes())
    assert main(["generate", str(fake), "-o", str(tmp_path / "out")]) == 1
    _one_line_error(capsys, str(fake), "PNG, JPEG or WebP")


def test_every_command_help_has_an_example(capsys: pytest.CaptureFixture[str]):
    commands = ["demo", "generate", "segment", "validate", "info", "preview", "live", "service",
                "service install", "service uninstall", "lipsync", "lipsync-calibrate", "devices", "track",
                "cameras"]
    for command in commands:
        with pytest.raises(SystemExit) as done:
            main([*command.split(), "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert "\nexample: avatar-plugin " in out, f"`{command} --help` has no example line"
    # the same output option everywhere: -o / --output
    for command in ("generate", "segment", "preview", "lipsync", "track", "lipsync-calibrate", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "-o " in (out := capsys.readouterr().out) and "--output" in out, command


def test_validate_a_file_instead_of_a_folder(text_file: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["validate", str(text_file)]) == 1
    _one_line_error(capsys, "a puppet folder", "a file, not a folder")


def test_expression_with_an_unknown_parameter_is_logged(sample_dir: Path, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture):
    from avatar_plugin.live.config import load_config
    from avatar_plugin.live.daemon import Daemon

    config = tmp_path / "live.toml"
    config.write_text("[expressions.wink]\nParamEyeLOpen = 0.0\nParamEyLOpen = 0.0\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="avatar_plugin.live"):
        Daemon(sample_dir, load_config(config), port=0)
    assert any("[expressions.wink] ParamEyLOpen" in r.getMessage() for r in caplog.records)
    assert not any("ParamEyeLOpen:" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("argv", [["preview", "x", "-o", "y.gif", "--animate", "--fps", "abc"],
                                  ["generate", "picture.png"], ["no-such-command"],
                                  ["segment", "x", "-o", "y", "--inpainter", "magic"]])
def test_usage_errors_are_one_line_and_exit_1(argv: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 1
    _one_line_error(capsys, "error:", "--help")


def test_segment_missing_foreground_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Refused even for a transparent picture (where the model would not be used): the path is a mistake."""
    missing = tmp_path / "isnetis.onnx"
    assert main(["segment", str(_png(tmp_path)), "-o", str(tmp_path / "seg"), "--foreground-model",
                 str(missing)]) == 1
    _one_line_error(capsys, "--foreground-model", str(missing))


@pytest.mark.parametrize("fill, needle", [((0, 0, 0, 0), "fully transparent"), ((255, 255, 255, 255), "flat colour")])
def test_generate_blank_picture_says_nothing_is_drawn(tmp_path: Path, fill: tuple[int, int, int, int], needle: str,
                                                      capsys: pytest.CaptureFixture[str]):
    from PIL import Image

    picture = tmp_path / "blank.png"
    Image.new("RGBA", (512, 512), fill).save(picture)
    assert main(["generate", str(picture), "-o", str(tmp_path / "out")]) == 1
    line = _one_line_error(capsys, str(picture), needle)
    assert "grayscale" not in line


def test_segment_refuses_a_non_empty_folder_unless_forced(tmp_path, capsys):
    from avatar_plugin.cli import main

    out = tmp_path / "seg"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["segment", str(tmp_path / "nothing.png"), "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
