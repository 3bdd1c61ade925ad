"""The webcam frame pipeline: frames (camera or video file) -> MediaPipe face landmarks -> :class:`FaceParams`.

Steps, each its own piece:

1. Frames: :func:`open_camera` (OpenCV capture by device index or name, resolution, fps) or
   :class:`VideoFileFrames` (any file OpenCV reads). Both yield :class:`Frame` (BGR ``uint8 (H, W, 3)``, time).
2. :class:`CaptureThread`: reads a frame source in a worker thread into a one-slot "latest wins" slot, so a
   slow tracker skips frames instead of lagging; a camera that stops delivering becomes a DeviceError.
3. Landmarks: :class:`FaceMeshDetector` (MediaPipe FaceMesh 0.10.x, bundled models, ``refine_landmarks``) or
   :class:`FaceLandmarkerDetector` (a user-supplied ``face_landmarker.task`` with blendshapes).
4. :class:`FacePipeline`: landmarks -> features -> :class:`~avatar_plugin.live.face.FaceSolver` -> parameters.

:func:`track_video` runs 1, 3 and 4 over a whole video for ``avatar-plugin track``. MediaPipe is imported
lazily (only when a detector is built), so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.errors import DeviceError, InputError
from avatar_plugin.live.face import (
    FaceFeatures,
    FaceParams,
    FaceSolver,
    SolverOptions,
    face_features,
    features_from_blendshapes,
    head_pose,
    to_pixels,
)
from avatar_plugin.live.motion_file import Track

__all__ = [
    "CameraInfo",
    "CaptureThread",
    "Detection",
    "FaceLandmarkerDetector",
    "FaceMeshDetector",
    "FacePipeline",
    "Frame",
    "FrameSource",
    "OpenCVCamera",
    "VideoFileFrames",
    "list_cameras",
    "make_detector",
    "open_camera",
    "track_video",
]

log = logging.getLogger(__name__)


# --- 1. frames ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One picture: ``image`` BGR ``uint8 (H, W, 3)`` (OpenCV's order), ``t`` seconds (capture time on the
    monotonic clock for cameras, presentation time for video files), ``index`` counts from 0."""

    image: NDArray[np.uint8]
    t: float
    index: int

    def __post_init__(self) -> None:
        img = self.image
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"Frame: expected a uint8 (H, W, 3) BGR image, found {img.dtype} {img.shape}")


class FrameSource(Protocol):
    """Anything that gives frames: ``read()`` -> the next frame, or None at the end; ``close()``."""

    def read(self) -> Frame | None: ...
    def close(self) -> None: ...


def _cv2() -> Any:
    import cv2

    return cv2


class VideoFileFrames:
    """Frames of a video file (any format OpenCV reads). ``fps`` is the file's rate (30 if it does not say).

    ``realtime``: deliver frames at the file's rate (as a camera would) with ``t`` on the monotonic clock;
    otherwise as fast as they decode, ``t`` = presentation time. ``loop``: start again at the end (a video as
    a live source); otherwise ``read`` returns None at the end.
    """

    def __init__(self, path: str | Path, *, realtime: bool = False, loop: bool = False) -> None:
        cv2 = _cv2()
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such video file")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise InputError(f"{self.path}: OpenCV cannot read this file as a video (try converting it to .mp4 "
                             f"with ffmpeg: ffmpeg -i INPUT -c:v libx264 OUT.mp4)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if math.isfinite(fps) and 1.0 <= fps <= 1000.0 else 30.0
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.realtime, self.loop = realtime, loop
        self._index = 0
        self._start = time.monotonic()

    def read(self) -> Frame | None:
        ok, img = self._cap.read()
        if (not ok or img is None) and self.loop and self._index > 0:
            self._cap.set(_cv2().CAP_PROP_POS_FRAMES, 0)
            ok, img = self._cap.read()
        if not ok or img is None:
            return None
        if self.realtime:
            due = self._start + self._index / self.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t = time.monotonic()
        else:
            t = self._index / self.fps
        frame = Frame(np.ascontiguousarray(img), t, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame


@dataclass(frozen=True)
class CameraInfo:
    """A camera ``avatar-plugin cameras`` found: the index OpenCV opens it with and a name if the OS says."""

    index: int
    name: str
    path: str = ""


def _linux_cameras() -> list[CameraInfo]:
    out = []
    for node in sorted(Path("/sys/class/video4linux").glob("video*"), key=lambda p: int(p.name[5:] or 0)):
        try:
            name = (node / "name").read_text().strip()
            index = int(node.name[5:])
        except (OSError, ValueError):
            continue
        # V4L2 exposes metadata nodes too; capture nodes have index 0 among a device's interfaces.
        try:
            if (node / "index").read_text().strip() != "0":
                continue
        except OSError:
            pass
        out.append(CameraInfo(index=index, name=name, path=f"/dev/{node.name}"))
    return out


def list_cameras(max_probe: int = 5) -> list[CameraInfo]:
    """Cameras on this machine. Linux: from /sys/class/video4linux (opens nothing). Elsewhere OpenCV has no
    listing, so indices 0..max_probe-1 are opened briefly and those that deliver a frame are listed."""
    if sys.platform.startswith("linux"):
        return _linux_cameras()
    cv2 = _cv2()
    out = []
    for i in range(max_probe):
        cap = cv2.VideoCapture(i)
        try:
            if cap.isOpened() and cap.read()[0]:
                out.append(CameraInfo(index=i, name=f"camera {i}"))
        finally:
            cap.release()
    return out


def resolve_device(device: int | str) -> int | str:
    """A config ``device`` -> what OpenCV opens: an int index, a path (``/dev/video2``), or a name matched
    (case-insensitively, substring) against :func:`list_cameras` (names work where the OS reports them)."""
    if isinstance(device, int):
        return device
    text = device.strip()
    if text == "":
        return 0
    if text.lstrip("-").isdigit():
        return int(text)
    if text.startswith("/dev/") or Path(text).exists():
        return text
    cams = list_cameras()
    hits = [c for c in cams if text.lower() in c.name.lower()]
    if not hits:
        names = ", ".join(f"{c.index}: {c.name}" for c in cams) or "none found"
        raise DeviceError(f"camera {device!r}: no camera with that name (cameras: {names}); "
                          f"run `avatar-plugin cameras` and set [webcam] device to an index or a listed name")
    return hits[0].index


class OpenCVCamera:
    """A camera through OpenCV. ``read()`` raises DeviceError when the camera stops delivering frames."""

    def __init__(self, device: int | str = 0, width: int = 640, height: int = 480, fps: float = 30.0,
                 *, open_timeout_s: float = 5.0) -> None:
        cv2 = _cv2()
        self.device = device
        target = resolve_device(device)
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            self._cap.release()
            raise DeviceError(
                f"camera {device!r}: cannot open it (no such camera, or another program is using it); "
                f"close other apps that use the camera, check `avatar-plugin cameras`, or set [webcam] device")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self._index = 0
        deadline = time.monotonic() + open_timeout_s
        ok = False
        while time.monotonic() < deadline:
            ok, img = self._cap.read()
            if ok and img is not None:
                break
        if not ok:
            self._cap.release()
            raise DeviceError(f"camera {device!r}: opened but delivers no frames (in use by another program?); "
                              f"close other apps that use the camera and retry")
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or fps)

    def read(self) -> Frame | None:
        ok, img = self._cap.read()
        if not ok or img is None:
            raise DeviceError(f"camera {self.device!r}: stopped delivering frames (unplugged or taken by "
                              f"another program)")
        if img.ndim == 2:
            img = _cv2().cvtColor(img, _cv2().COLOR_GRAY2BGR)
        frame = Frame(np.ascontiguousarray(img), time.monotonic(), self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


def open_camera(device: int | str = 0, width: int = 640, height: int = 480, fps: float = 30.0) -> OpenCVCamera:
    """Open a camera by index, path or name (see :func:`resolve_device`); DeviceError says what to do."""
    return OpenCVCamera(device, width, height, fps)


# --- 2. the capture thread ------------------------------------------------------------------------------------


class CaptureThread:
    """Reads a :class:`FrameSource` in a daemon thread; :meth:`latest` returns the newest unseen frame.

    One slot, latest wins: frames the consumer is too slow for are dropped (``dropped`` counts them). When the
    source ends, ``latest`` returns None; when it raises, ``latest`` re-raises the error (DeviceError) in the
    consumer's thread. ``stop()`` ends the thread and closes the source.
    """

    def __init__(self, source: FrameSource, *, name: str = "capture") -> None:
        self._source = source
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._fresh = False
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self.dropped = 0
        self.captured = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._source.read()
                with self._cond:
                    if frame is None:
                        self._ended = True
                        self._cond.notify_all()
                        return
                    if self._fresh:
                        self.dropped += 1
                    self._frame, self._fresh = frame, True
                    self.captured += 1
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the consumer, which decides
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        finally:
            try:
                self._source.close()
            except Exception:  # closing a vanished device may fail; nothing left to do
                log.debug("closing the frame source failed", exc_info=True)

    def latest(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not returned before; waits up to ``timeout`` s (TimeoutError if none came)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self._fresh or self._ended or self._error is not None, timeout)
            if self._fresh:
                self._fresh = False
                return self._frame
            if self._error is not None:
                raise self._error
            if self._ended:
                return None
            if not ok:
                raise TimeoutError(f"no frame within {timeout} s")
            return None

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


# --- 3. landmark detectors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """One face: ``points`` ``(478, 3)`` in pixels (see :mod:`avatar_plugin.live.face`), optional blendshapes."""

    points: NDArray[np.float64]
    blendshapes: dict[str, float] | None = None


def _import_mediapipe() -> Any:
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise DeviceError(
            f"webcam tracking needs MediaPipe 0.10.x ({exc}); install it with "
            f"`pip install 'avatar-plugin[webcam]'` (mediapipe==0.10.21; needs numpy<2)") from None
    return mp


class FaceMeshDetector:
    """MediaPipe FaceMesh with iris refinement (478 landmarks), models bundled with mediapipe 0.10.x.

    ``static`` True runs the face detector on every frame (for unrelated pictures); False tracks from frame to
    frame (video, faster). ``detect(image_bgr)`` -> :class:`Detection` or None when no face is found.
    """

    def __init__(self, *, static: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        mp = _import_mediapipe()
        if not hasattr(mp, "solutions"):
            raise DeviceError(f"mediapipe {getattr(mp, '__version__', '?')} has no bundled FaceMesh (1.x and "
                              f">= 0.10.30 ship no models); install mediapipe==0.10.21")
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence)

    def detect(self, image_bgr: NDArray[np.uint8]) -> Detection | None:
        h, w = image_bgr.shape[:2]
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        result = self._mesh.process(rgb)
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        if len(lm) != 478:
            return None
        arr = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float64)
        return Detection(points=to_pixels(arr, w, h))

    def close(self) -> None:
        self._mesh.close()


class FaceLandmarkerDetector:
    """MediaPipe Tasks FaceLandmarker from a user-supplied ``face_landmarker.task`` (with blendshapes).

    Runs in VIDEO mode (timestamps must increase). A bundle without a blendshape model is loaded for landmarks
    only (``has_blendshapes`` False). Loading and running errors become InputError naming the file.

    Tested here: loading, the "no blendshape model" fallback and the error paths, with a bundle the tests
    assemble from mediapipe's own tflite files. NOT tested here: inference with Google's real
    ``face_landmarker.task`` (no model may be downloaded in tests); its blendshape mapping is tested as a
    pure function (:func:`~avatar_plugin.live.face.features_from_blendshapes`).
    """

    def __init__(self, model_path: str | Path, *, blendshapes: bool = True) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise InputError(f"{path}: no such model file; give the path of MediaPipe's face_landmarker.task "
                             f"(download it yourself from the MediaPipe model page) or leave the option empty "
                             f"to use the bundled FaceMesh")
        self.path = path
        mp = _import_mediapipe()
        try:
            self._landmarker = self._create(path, blendshapes)
            self.has_blendshapes = blendshapes
        except (RuntimeError, ValueError) as exc:
            if blendshapes and "blendshapes model" in str(exc):
                log.warning("%s has no blendshape model; using its landmarks only", path)
                self._landmarker = self._create(path, False)
                self.has_blendshapes = False
            else:
                raise InputError(f"{path}: MediaPipe cannot load it as a FaceLandmarker bundle ({exc}); "
                                 f"expected MediaPipe's face_landmarker.task") from None
        self._mp = mp
        self._last_ms = -1

    @staticmethod
    def _create(path: Path, blendshapes: bool) -> Any:
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=1,
            output_face_blendshapes=blendshapes,
        )
        try:
            return vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            if not blendshapes or "blendshapes model" in str(exc):
                raise
            raise InputError(f"{path}: MediaPipe cannot load it as a FaceLandmarker bundle ({exc}); "
                             f"expected MediaPipe's face_landmarker.task") from None

    def detect(self, image_bgr: NDArray[np.uint8], t: float) -> Detection | None:
        h, w = image_bgr.shape[:2]
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        ms = max(int(t * 1000), self._last_ms + 1)
        self._last_ms = ms
        try:
            result = self._landmarker.detect_for_video(image, ms)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1][:300]
            raise InputError(f"{self.path}: MediaPipe failed running this model ({first}); expected "
                             f"MediaPipe's face_landmarker.task (478 landmarks)") from None
        if not result.face_landmarks:
            return None
        lm = result.face_landmarks[0]
        if len(lm) != 478:
            raise InputError(f"{self.path}: the model gives {len(lm)} landmarks; expected 478 "
                             f"(MediaPipe's face_landmarker.task)")
        arr = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float64)
        shapes = None
        if result.face_blendshapes:
            shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[0]}
        return Detection(points=to_pixels(arr, w, h), blendshapes=shapes)

    def close(self) -> None:
        self._landmarker.close()


class Detector(Protocol):
    def detect(self, image_bgr: NDArray[np.uint8], t: float) -> Detection | None: ...
    def close(self) -> None: ...


class _MeshAdapter:
    def __init__(self, mesh: FaceMeshDetector) -> None:
        self._mesh = mesh

    def detect(self, image_bgr: NDArray[np.uint8], t: float) -> Detection | None:
        return self._mesh.detect(image_bgr)

    def close(self) -> None:
        self._mesh.close()


def make_detector(model_path: str | Path | None = None, *, static: bool = False) -> Detector:
    """The bundled FaceMesh, or the FaceLandmarker when ``model_path`` names a ``face_landmarker.task``."""
    if model_path:
        return FaceLandmarkerDetector(model_path)
    return _MeshAdapter(FaceMeshDetector(static=static))


# --- 4. the pipeline ------------------------------------------------------------------------------------------


class FacePipeline:
    """Frame -> :class:`FaceParams`: detector, features (landmarks or blendshapes), solver.

    ``last_features`` keeps the newest features (for status pages and tests); ``faces``/``frames`` count.
    """

    def __init__(self, detector: Detector, options: SolverOptions | None = None) -> None:
        self.detector = detector
        self.solver = FaceSolver(options)
        self.last_features: FaceFeatures | None = None
        self.frames = 0
        self.faces = 0

    def features(self, image_bgr: NDArray[np.uint8], t: float) -> FaceFeatures | None:
        det = self.detector.detect(image_bgr, t)
        if det is None:
            return None
        try:
            pose = head_pose(det.points)
        except ValueError:
            return None
        if det.blendshapes:
            return features_from_blendshapes(det.blendshapes, pose)
        return face_features(det.points, pose)

    def process(self, image_bgr: NDArray[np.uint8], t: float) -> FaceParams:
        feats = self.features(image_bgr, t)
        self.frames += 1
        if feats is not None:
            self.faces += 1
            self.last_features = feats
        return self.solver.update(feats, t)

    def close(self) -> None:
        self.detector.close()


def track_frames(frames: Iterable[Frame], pipeline: FacePipeline, *, fps: float,
                 progress: Callable[[int], None] | None = None) -> Track:
    """Run the pipeline over frames and resample the parameters to ``fps``."""
    times: list[float] = []
    rows: list[dict[str, float]] = []
    for frame in frames:
        params = pipeline.process(frame.image, frame.t)
        times.append(frame.t)
        rows.append(params.to_params())
        if progress is not None:
            progress(frame.index)
    return Track.from_samples(times, rows, fps)


def track_video(path: str | Path, *, mirror: bool = False, fps: float | None = None,
                model_path: str | Path | None = None,
                progress: Callable[[int], None] | None = None) -> tuple[Track, FacePipeline]:
    """A video file -> a :class:`Track` at ``fps`` (default: the video's own rate) and the pipeline used."""
    video = VideoFileFrames(path)
    try:
        pipeline = FacePipeline(make_detector(model_path), SolverOptions(mirror=mirror))
        try:
            track = track_frames(video, pipeline, fps=fps or video.fps, progress=progress)
        finally:
            pipeline.close()
    finally:
        video.close()
    if pipeline.frames == 0:
        raise InputError(f"{path}: the video has no frames OpenCV can decode")
    return track, pipeline
