"""Webcam tracking: frames per second and CPU at 640x480, and camera-frame-to-/ws latency.

Run: ``python benchmarks/bench_webcam.py [--frames 300] [--latency-seconds 8]``

1. Throughput on synthesised 640x480 frames of a real face (scikit-image's astronaut, moving): the named
   baseline is "FaceMesh alone" (MediaPipe's per-frame cost); "full pipeline" adds our features, calibration
   and filters; "static mode" re-detects the face every frame (what a tracker without frame-to-frame tracking
   pays). CPU is process CPU time / wall time while running flat out (1.00 = one core busy); "cores@30fps"
   is the CPU a 30 fps camera costs (CPU ms per frame x 30).
2. Latency: the real daemon on 127.0.0.1 with the webcam source reading a video file in real time (30 fps, as
   a camera delivers); each frame's capture time is stamped, and a /ws client measures capture -> frame
   received. Baseline in the same run: the daemon's /api ``set`` -> /ws latency.
Targets (issue 8): >= 30 fps on <= 1 core; latency p99 reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar_plugin.live.face import SolverOptions
from avatar_plugin.live.face_synth import FramePlan, face_frame
from avatar_plugin.live.tracking import FaceMeshDetector, FacePipeline, Frame, make_detector


def _frames(n: int) -> list[np.ndarray]:
    return [face_frame(FramePlan(roll=15 * np.sin(i / 20), dx=60 * np.sin(i / 33), scale=2.0 + 0.3 * np.sin(i / 50),
                                 eyes=0.0 if i % 90 in (40, 41, 42) else 1.0)) for i in range(n)]


def _measure(name: str, fn, frames: list[np.ndarray]) -> dict[str, float]:
    for img in frames[:10]:
        fn(img, 0.0)  # warm up (graph start, first detection)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    per = []
    for i, img in enumerate(frames):
        t = time.perf_counter()
        fn(img, i / 30)
        per.append(time.perf_counter() - t)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return {"name": name, "fps": len(frames) / wall, "ms_p50": 1000 * statistics.median(per),
            "ms_p99": 1000 * float(np.percentile(per, 99)), "cores": cpu / wall, "cpu_ms": 1000 * cpu / len(frames)}


def throughput(n: int) -> list[dict[str, float]]:
    frames = _frames(n)
    rows = []
    mesh = FaceMeshDetector(static=False)
    rows.append(_measure("FaceMesh alone (baseline)", lambda img, t: mesh.detect(img), frames))
    mesh.close()
    pipe = FacePipeline(make_detector(), SolverOptions())
    rows.append(_measure("full pipeline (ours)", pipe.process, frames))
    pipe.close()
    static = FaceMeshDetector(static=True)
    rows.append(_measure("static mode (detect every frame)", lambda img, t: static.detect(img), frames[: n // 3]))
    static.close()
    return rows


async def latency(seconds: float) -> dict[str, list[float]]:
    import aiohttp
    import cv2

    from avatar_plugin.live.config import default_registry, parse_config
    from avatar_plugin.live.daemon import Daemon
    from avatar_plugin.live.webcam import WebcamOptions, WebcamSource
    from avatar_plugin.puppet.io import write_puppet
    from avatar_plugin.puppet.sample import build_sample_puppet

    captured: dict[int, float] = {}

    class StampedWebcam(WebcamSource):
        def extra_values(self, frame: Frame) -> dict[str, float]:
            captured[frame.index] = frame.t  # monotonic capture time (the video is read in real time)
            return {"BenchFrame": float(frame.index)}

    tmp = Path(tempfile.mkdtemp(prefix="bench-webcam-"))
    video = tmp / "take.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for img in _frames(300):
        writer.write(img)
    writer.release()
    write_puppet(build_sample_puppet(), tmp / "puppet")
    daemon = Daemon(tmp / "puppet", parse_config({}, default_registry()), host="127.0.0.1", port=0)
    daemon.add_source(StampedWebcam(WebcamOptions(device=str(video))))
    await daemon.start()
    cam: list[float] = []
    api: list[float] = []
    try:
        base = f"http://127.0.0.1:{daemon.port}"
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{base}/ws") as ws:
            await ws.receive()  # hello
            seen = -1
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                msg = await ws.receive(timeout=5)
                now = time.monotonic()
                stamp = json.loads(msg.data)["params"].get("BenchFrame")
                if stamp is not None and int(stamp) != seen:
                    seen = int(stamp)
                    if seen in captured and seen > 30:
                        cam.append(1000 * (now - captured[seen]))
            # Baseline: /api set -> /ws, same daemon, same client.
            for i in range(100):
                value = float(i % 2)
                t0 = time.monotonic()
                await http.post(f"{base}/api/set", json={"type": "set", "params": {"BenchSet": value},
                                                         "hold": 0.2})
                while True:
                    msg = await ws.receive(timeout=5)
                    if json.loads(msg.data)["params"].get("BenchSet") == value:
                        api.append(1000 * (time.monotonic() - t0))
                        break
                await asyncio.sleep(0.01)
    finally:
        await daemon.stop()
    return {"camera frame -> /ws (ours)": cam, "/api set -> /ws (baseline)": api}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--latency-seconds", type=float, default=8.0)
    args = ap.parse_args()
    print(f"webcam tracking at 640x480, {args.frames} synthesised frames (astronaut, moving, blinking)")
    print(f"{'case':36s} {'fps':>7s} {'ms p50':>7s} {'ms p99':>7s} {'CPU ms/frame':>13s} {'cores':>6s} "
          f"{'cores@30fps':>12s}")
    for r in throughput(args.frames):
        print(f"{r['name']:36s} {r['fps']:7.1f} {r['ms_p50']:7.2f} {r['ms_p99']:7.2f} {r['cpu_ms']:13.2f} "
              f"{r['cores']:6.2f} {30 * r['cpu_ms'] / 1000:12.2f}")
    print()
    print(f"latency over {args.latency_seconds:.0f} s of a 30 fps real-time video, 60 Hz daemon tick")
    print(f"{'path':36s} {'n':>5s} {'p50 ms':>7s} {'p99 ms':>7s} {'max ms':>7s}")
    for name, values in asyncio.run(latency(args.latency_seconds)).items():
        if not values:
            print(f"{name:36s} no samples")
            continue
        print(f"{name:36s} {len(values):5d} {statistics.median(values):7.1f} {np.percentile(values, 99):7.1f} "
              f"{max(values):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
