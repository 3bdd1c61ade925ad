"""The webcam source in the real daemon: a video file as the camera, a missing camera, the capture thread."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import cv2
import pytest
from daemon_helpers import run_with_daemon

from avatar_plugin.errors import ConfigError, DeviceError, ProtocolError
from avatar_plugin.live.daemon import Daemon
from avatar_plugin.live.face_synth import FramePlan, face_frame
from avatar_plugin.live.tracking import CaptureThread, Frame, OpenCVCamera
from avatar_plugin.live.webcam import WEBCAM_SECTION, CalibrateMessage


def _video(path: Path, roll: float, frames: int = 30) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    image = face_frame(FramePlan(roll=roll))
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


async def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _with_daemon(sample_dir: Path, webcam: dict[str, object],
                 body: Callable[[Daemon], Awaitable[None]]) -> None:
    run_with_daemon(sample_dir, {"webcam": webcam}, body)


def _webcam_status(daemon: Daemon) -> dict[str, object]:
    return next(s for s in daemon.health()["sources"] if s["name"] == "webcam")


def test_video_file_as_camera_reaches_ws_and_calibrates(sample_dir: Path, tmp_path: Path) -> None:
    video = _video(tmp_path / "tilt.avi", roll=20)

    async def body(daemon: Daemon) -> None:
        await _wait(lambda: "face found" in str(_webcam_status(daemon)["detail"]), 20, "the webcam to see a face")
        base = f"http://127.0.0.1:{daemon.port}"
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{base}/ws") as ws:
            assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
            angles = []
            for _ in range(60):
                frame = json.loads((await ws.receive(timeout=5)).data)
                angles.append(frame["params"]["ParamAngleZ"])
            assert frame["face"] is True
            assert angles[-1] > 15  # ~20 degrees plus the astronaut's own ~3, clamped by the puppet's range
            async with http.post(f"{base}/api/webcam_calibrate", json={"type": "webcam_calibrate"}) as reply:
                assert (await reply.json())["ok"] is True
            await asyncio.sleep(1.5)
            for _ in range(30):
                frame = json.loads((await ws.receive(timeout=5)).data)
            assert abs(frame["params"]["ParamAngleZ"]) < 3  # the tilted pose is the new neutral
        status = _webcam_status(daemon)
        assert status["state"] == "running" and status["error"] is None

    _with_daemon(sample_dir, {"enabled": True, "device": str(video)}, body)


def test_missing_camera_is_reported_and_retried_while_the_daemon_runs(sample_dir: Path) -> None:
    async def body(daemon: Daemon) -> None:
        await _wait(lambda: _webcam_status(daemon)["state"] == "retrying", 10, "the webcam to fail")
        status = _webcam_status(daemon)
        assert "DeviceError" in str(status["error"]) and "/dev/video57" in str(status["error"])
        assert "cannot open" in str(status["error"]) or "no camera" in str(status["error"])
        await _wait(lambda: int(_webcam_status(daemon)["restarts"]) >= 1, 10, "a retry")  # type: ignore[call-overload]
        assert daemon.health()["tick_hz"] > 20  # the rest keeps running

    _with_daemon(sample_dir, {"enabled": True, "device": "/dev/video57"}, body)


def test_config_section_and_calibrate_message() -> None:
    cfg = WEBCAM_SECTION.validate({"enabled": True, "device": "1", "mirror": True})
    assert cfg["width"] == 640 and cfg["fps"] == 30.0 and cfg["mirror"] is True and cfg["model"] == ""
    with pytest.raises(ConfigError, match=r"\[webcam\] device = 0: expected a string"):
        WEBCAM_SECTION.validate({"device": 0})
    with pytest.raises(ConfigError, match=r"\[webcam\] fsp: unknown key"):
        WEBCAM_SECTION.validate({"fsp": 30})
    assert "[webcam]" in WEBCAM_SECTION.example_toml()
    assert CalibrateMessage.parse({"type": "webcam_calibrate", "id": 3}).serialize() == {"type": "webcam_calibrate"}
    with pytest.raises(ProtocolError, match="unknown fields"):
        CalibrateMessage.parse({"type": "webcam_calibrate", "angle": 3})


def test_camera_that_cannot_open_names_the_fix() -> None:
    with pytest.raises(DeviceError, match=r"cannot open it .*`avatar-plugin cameras`"):
        OpenCVCamera("/dev/video57")


class _Vanishing:
    """A frame source that delivers three frames and then fails like an unplugged camera."""

    def __init__(self) -> None:
        self.n = 0
        self.closed = threading.Event()

    def read(self) -> Frame | None:
        self.n += 1
        if self.n > 3:
            raise DeviceError("camera 0: stopped delivering frames")
        time.sleep(0.01)
        return Frame(face_frame(FramePlan(blank=True), (64, 48)), time.monotonic(), self.n - 1)

    def close(self) -> None:
        self.closed.set()


def test_capture_thread_hands_over_frames_and_the_failure() -> None:
    src = _Vanishing()
    cap = CaptureThread(src)
    seen = 0
    with pytest.raises(DeviceError, match="stopped delivering"):
        while True:
            if cap.latest(timeout=2.0) is not None:
                seen += 1
    assert 1 <= seen <= 3
    assert src.closed.wait(2.0)
    cap.stop()
    assert not cap.alive
