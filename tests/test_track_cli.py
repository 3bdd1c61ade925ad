"""``avatar-plugin track`` and ``cameras`` on a real video file the test writes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar_plugin.cli import main
from avatar_plugin.live.face_synth import FramePlan, face_frame
from avatar_plugin.live.motion_file import read_track


def _write_video(path: Path, plans: list[FramePlan], fps: float = 30.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    assert writer.isOpened()
    for plan in plans:
        writer.write(face_frame(plan))
    writer.release()
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plans = [FramePlan()] * 5 + [FramePlan(roll=min(20.0, 2.0 * i)) for i in range(25)]
    plans += [FramePlan(roll=20, eyes=0.0)] * 4 + [FramePlan(roll=20)] * 6
    return _write_video(tmp_path_factory.mktemp("video") / "take.avi", plans)


def test_track_writes_track_json(video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "track.json"
    assert main(["track", str(video), "-o", str(out), "--fps", "60"]) == 0
    assert "face found in 40/40 video frames" in capsys.readouterr().out
    track = read_track(out)
    assert track.fps == 60 and track.frames == 79  # 39 video frame steps at 30 fps -> 1.3 s at 60 fps
    z = np.array(track.params["ParamAngleZ"])
    # The astronaut's own tilt is ~3 degrees; the video adds 20.
    assert z[-1] - z[0] == pytest.approx(20, abs=3)
    eyes = np.array(track.params["ParamEyeLOpen"])
    assert eyes[-20:].min() < 0.3 and eyes[40] > 0.8  # the blink is in the file
    assert {"ParamAngleX", "ParamAngleY", "ParamBodyAngleZ", "ParamEyeBallX", "ParamBrowLY",
            "ParamMouthOpenY", "ParamMouthForm"} <= set(track.params)


def test_track_motion3_and_mirror(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "take.motion3.json"
    assert main(["track", str(video), "-o", str(out), "--mirror"]) == 0
    motion = json.loads(out.read_text())
    assert motion["Version"] == 3 and motion["Meta"]["Fps"] == 30.0
    curve = next(c for c in motion["Curves"] if c["Id"] == "ParamAngleZ")["Segments"]
    assert curve[-1] < -15  # mirrored: the tilt toward the image's right reads as the screen's left


def test_track_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["track", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "t.json")]) == 1
    assert "none.mp4: no such video file" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    assert main(["track", str(junk), "-o", str(tmp_path / "t.json")]) == 1
    assert "junk.mp4" in capsys.readouterr().err
    assert main(["track", str(junk), "-o", str(tmp_path / "t.csv")]) == 1
    assert "unknown output format" in capsys.readouterr().err


def test_no_face_video_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blank = _write_video(tmp_path / "blank.avi", [FramePlan(blank=True)] * 10)
    assert main(["track", str(blank), "-o", str(tmp_path / "t.json")]) == 0
    captured = capsys.readouterr()
    assert "face found in 0/10" in captured.out and "no face was found" in captured.err
    track = read_track(tmp_path / "t.json")
    assert set(track.params["ParamEyeLOpen"]) == {1.0}  # idle values


def test_cameras_lists_or_says_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cameras"]) == 0
    out = capsys.readouterr().out
    assert "no cameras found" in out or "[webcam] device" in out
