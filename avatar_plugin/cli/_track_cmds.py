"""``track`` (a video -> head/eyes/brows/mouth motion) and ``cameras`` (list webcams)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "track", help="turn a video of a face into motion (track.json or Live2D .motion3.json)",
        description=(
            "Track the face in VIDEO (any file OpenCV reads) with MediaPipe FaceMesh and write head angles, eye "
            "openness, gaze, brows and mouth as a track.json ({\"fps\": N, \"params\": {...}}) or a Live2D "
            "*.motion3.json (Cubism Viewer, VTube Studio animations). Runs offline on the CPU."),
        epilog="example: avatar-plugin track take.mp4 -o take.motion3.json --mirror")
    p.add_argument("video", metavar="VIDEO", help="the video file")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="output file: *.motion3.json (Live2D motion) or *.json (track.json)")
    p.add_argument("--mirror", action="store_true",
                   help="the character moves like your reflection (as if the video were flipped left-right); "
                        "default: like you as the camera sees you (your left eye drives ParamEyeLOpen)")
    p.add_argument("--fps", type=float, default=None,
                   help="frames per second of the output (default: the video's own rate)")
    p.add_argument("--model", default=None, metavar="TASK",
                   help="optional MediaPipe face_landmarker.task: use its blendshapes (default: bundled FaceMesh)")
    p.set_defaults(func=cmd_track)

    c = subparsers.add_parser("cameras", help="list the cameras webcam tracking can use",
                              description="List cameras with the index to put in [webcam] device.",
                              epilog="example: avatar-plugin cameras")
    c.add_argument("--probe", type=int, default=5, metavar="N",
                   help="on Windows/macOS, how many indices to try opening (default 5)")
    c.set_defaults(func=cmd_cameras)


def cmd_track(args: argparse.Namespace) -> int:
    from avatar_plugin.errors import InputError
    from avatar_plugin.live.motion_file import write_track_file
    from avatar_plugin.live.tracking import track_video

    out = Path(args.output)
    if not out.name.lower().endswith(".json"):
        raise InputError(f"{out}: unknown output format; expected a name ending in .motion3.json (Live2D motion) "
                         f"or .json (track.json)")
    if args.fps is not None and not (0 < args.fps <= 1000):
        raise InputError(f"--fps {args.fps}: expected a number of frames per second in 0..1000, e.g. --fps 30")
    if Path(args.video).is_dir():
        raise InputError(f"{args.video}: is a folder; pass a video file (e.g. .mp4, .webm, .avi)")
    from tqdm import tqdm

    t0 = time.perf_counter()
    bar = tqdm(total=_frame_count(args.video), desc="tracking", unit="frame", leave=False,
               disable=not sys.stderr.isatty())  # quiet when piped or logged

    def progress(index: int) -> None:
        bar.update(index + 1 - bar.n)

    try:
        track, pipeline = track_video(args.video, mirror=args.mirror, fps=args.fps, model_path=args.model,
                                      progress=progress)
    finally:
        bar.close()
    write_track_file(track, out)
    took = time.perf_counter() - t0
    logging.getLogger(__name__).debug("tracked %d frames in %.2f s", pipeline.frames, took)
    print(f"{out}: {track.frames} frames at {track.fps:g} fps ({track.duration:.2f} s); face found in "
          f"{pipeline.faces}/{pipeline.frames} video frames; {pipeline.frames / max(took, 1e-9):.0f} frames/s")
    if pipeline.faces == 0:
        print("warning: no face was found; the output holds the idle values only (check lighting and that "
              "the face is visible and upright)", file=sys.stderr)
    return 0


def _frame_count(video: str) -> int | None:
    """The frame count the container claims (None when it does not say), for the progress bar only."""
    import cv2

    cap = cv2.VideoCapture(video)
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    finally:
        cap.release()
    return count if count > 0 else None


def cmd_cameras(args: argparse.Namespace) -> int:
    from avatar_plugin.errors import InputError
    from avatar_plugin.live.tracking import list_cameras

    if not 1 <= args.probe <= 64:
        raise InputError(f"--probe {args.probe}: expected how many camera indices to try, 1..64, e.g. --probe 5")

    cams = list_cameras(max_probe=args.probe)
    if not cams:
        print("no cameras found (plug one in, or check that your user may use it: on Linux the 'video' group)")
        return 0
    for cam in cams:
        where = f"  {cam.path}" if cam.path else ""
        print(f"{cam.index}: {cam.name}{where}")
    print("use the number (or a part of the name) as [webcam] device in the config")
    return 0
