"""The webcam source of the live daemon: ``[webcam]`` config, :class:`WebcamSource`, the calibrate message.

It plugs in through :mod:`avatar_plugin.live.interfaces` only:

- ``register_live`` declares the ``[webcam]`` section (:data:`WEBCAM_SECTION`); with ``enabled = true`` the
  setup adds a :class:`WebcamSource` (kind ``webcam``: head, eyes, brows, body beat the microphone; its mouth
  ranks below it) and the ``/api`` message ``{"type": "webcam_calibrate"}`` (also ``POST /api/webcam_calibrate``)
  that makes the current head pose neutral and restarts the expression calibration.
- ``run`` opens the camera (or a video file, looped in real time) and MediaPipe in a worker thread, then
  publishes one :class:`~avatar_plugin.live.interfaces.SourceUpdate` per processed frame with ``face_found``.
  Face lost: the last values are held for ``hold_s`` (0.5 s), then the source says ``active=False`` and the
  mixer fades it out to idle life.
- No camera, a camera in use, one that stops delivering, or missing MediaPipe: :class:`DeviceError` with what
  to do; the daemon shows it in status and restarts ``run`` with backoff. The status detail says what the
  tracker sees ("face found, 29.8 fps").
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatar_plugin.errors import DeviceError, ProtocolError
from avatar_plugin.live.face import FaceParams, SolverOptions
from avatar_plugin.live.interfaces import (
    ApiMessageSpec,
    ApiSession,
    ConfigKey,
    ConfigSection,
    LiveRegistry,
    SectionConfig,
    SetupContext,
    Source,
    SourceContext,
)
from avatar_plugin.live.tracking import Frame

__all__ = ["WEBCAM_SECTION", "CalibrateMessage", "WebcamOptions", "WebcamSource", "register_live"]

log = logging.getLogger(__name__)

WEBCAM_SECTION = ConfigSection(
    "webcam",
    "Webcam face tracking (MediaPipe FaceMesh, offline, CPU): head angles, blinks, gaze, brows, mouth.\n"
    "Needs `pip install 'avatar-plugin[webcam]'`. Frames never leave this machine. See docs/webcam.md.",
    (
        ConfigKey("enabled", bool, False, "turn the webcam source on"),
        ConfigKey("device", str, "0", "camera index (\"0\"), a name from `avatar-plugin cameras`, a device path, "
                                      "or a video file (played in a loop, for testing)"),
        ConfigKey("width", int, 640, "capture width in pixels", min=160, max=3840),
        ConfigKey("height", int, 480, "capture height in pixels", min=120, max=2160),
        ConfigKey("fps", float, 30.0, "capture frames per second", min=1.0, max=240.0),
        ConfigKey("mirror", bool, False, "true: the avatar moves like your reflection; false: like you as the "
                                         "camera sees you (your left eye drives its left eye)"),
        ConfigKey("model", str, "", "optional path of MediaPipe's face_landmarker.task (blendshapes); empty = "
                                    "the FaceMesh bundled with mediapipe"),
        ConfigKey("hold_s", float, 0.5, "face lost: hold the last pose this long before fading to idle",
                  min=0.0, max=10.0),
    ),
)


@dataclass(frozen=True)
class WebcamOptions:
    device: str = "0"
    width: int = 640
    height: int = 480
    fps: float = 30.0
    mirror: bool = False
    model: str = ""
    hold_s: float = 0.5

    @classmethod
    def from_config(cls, cfg: SectionConfig) -> WebcamOptions:
        return cls(device=cfg["device"], width=cfg["width"], height=cfg["height"], fps=cfg["fps"],
                   mirror=cfg["mirror"], model=cfg["model"], hold_s=cfg["hold_s"])


class WebcamSource(Source):
    """Publishes head/eye/brow/mouth parameters from a camera (see the module docstring)."""

    kind = "webcam"
    stale_after_s = 1.0  # a 15 fps camera still counts as live

    def __init__(self, options: WebcamOptions | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.options = options or WebcamOptions()
        self._calibrate = threading.Event()
        self.frames = 0
        self.faces = 0
        self.last: FaceParams | None = None

    def calibrate(self) -> None:
        """Make the next tracked frame's head pose neutral (thread-safe; the /api ``webcam_calibrate``)."""
        self._calibrate.set()

    # Blocking parts, run in worker threads -------------------------------------------------------------
    def _open(self) -> tuple[Any, Any]:
        from avatar_plugin.live.tracking import (
            CaptureThread,
            FacePipeline,
            VideoFileFrames,
            make_detector,
            open_camera,
        )

        o = self.options
        path = Path(o.device)
        frames: Any
        if not o.device.strip().isdigit() and path.is_file() and not o.device.startswith("/dev/"):
            frames = VideoFileFrames(path, realtime=True, loop=True)
        else:
            frames = open_camera(o.device, o.width, o.height, o.fps)
        try:
            pipeline = FacePipeline(make_detector(o.model or None),
                                    SolverOptions(mirror=o.mirror, hold_s=o.hold_s))
        except BaseException:
            frames.close()
            raise
        return CaptureThread(frames, name=f"{self.name}-capture"), pipeline

    def extra_values(self, frame: Frame) -> dict[str, float]:
        """Extra ids published with each frame's parameters (none; benchmarks add a frame stamp)."""
        return {}

    def _step(self, capture: Any, pipeline: Any, lock: threading.Lock) -> tuple[FaceParams, Frame]:
        frame = capture.latest(timeout=2.0)
        if frame is None:
            raise DeviceError(f"camera {self.options.device!r}: the frame source ended")
        with lock:
            if self._calibrate.is_set():
                self._calibrate.clear()
                pipeline.solver.calibrate()
            params: FaceParams = pipeline.process(frame.image, time.monotonic())
            return params, frame

    # The asyncio shell ------------------------------------------------------------------------------------
    async def run(self, ctx: SourceContext) -> None:
        ctx.set_status(f"opening camera {self.options.device!r}")
        capture, pipeline = await asyncio.to_thread(self._open)
        lock = threading.Lock()
        window: list[float] = []
        try:
            ctx.set_status("running, looking for a face")
            last_status = 0.0
            while True:
                try:
                    params, frame = await asyncio.to_thread(self._step, capture, pipeline, lock)
                except TimeoutError:
                    raise DeviceError(f"camera {self.options.device!r}: no frame for 2 s (unplugged or taken "
                                      f"by another program?)") from None
                now = time.monotonic()
                self.frames += 1
                self.faces += int(params.tracking)
                self.last = params
                window.append(now)
                while window and now - window[0] > 2.0:
                    window.pop(0)
                # Held pose after a loss still counts as active; then the mixer fades us out to idle life.
                active = params.tracking or params.weight >= 0.999
                ctx.update({**params.to_params(), **self.extra_values(frame)}, active=active,
                           face_found=params.tracking)
                if now - last_status > 1.0:
                    last_status = now
                    fps = (len(window) - 1) / max(window[-1] - window[0], 1e-6) if len(window) > 1 else 0.0
                    seen = "face found" if params.tracking else "no face (hold, then idle)"
                    ctx.set_status(f"{seen}, {fps:.1f} fps, camera {self.options.device!r}")
        finally:
            capture.stop(timeout=0.0)

            def close() -> None:
                with lock:  # never close MediaPipe under a frame still being processed
                    pipeline.close()
                capture.stop(timeout=2.0)

            threading.Thread(target=close, name=f"{self.name}-close", daemon=True).start()


@dataclass(frozen=True)
class CalibrateMessage:
    """``{"type": "webcam_calibrate"}``: the current head pose becomes neutral."""

    type: str = "webcam_calibrate"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> CalibrateMessage:
        extra = sorted(set(obj) - {"type", "id"})
        if extra:
            raise ProtocolError(f"webcam_calibrate: unknown fields {extra}; expected {{\"type\": "
                                f"\"webcam_calibrate\"}}")
        return cls()

    def serialize(self) -> dict[str, Any]:
        return {"type": self.type}


def _setup(cfg: SectionConfig, ctx: SetupContext) -> None:
    if not cfg["enabled"]:
        return
    source = WebcamSource(WebcamOptions.from_config(cfg))
    ctx.add_source(source)

    async def handle(message: CalibrateMessage, session: ApiSession) -> Mapping[str, Any] | None:
        source.calibrate()
        return {"calibrating": True}

    ctx.add_api_message(ApiMessageSpec(
        "webcam_calibrate", CalibrateMessage.parse, handle,
        doc="make the current head pose neutral and restart the webcam's expression calibration"))


def register_live(registry: LiveRegistry) -> None:
    registry.add_section(WEBCAM_SECTION, _setup)
