"""``generate``: one picture -> a rigged avatar folder (puppet, Inochi2D .inp, layered PSD, previews, report)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from avatar_plugin.errors import InputError

__all__ = ["register", "run_generate"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate", help="turn a character picture into a rigged avatar folder",
        description=("Generate a rigged avatar from one anime-style picture (or a layered PSD): puppet.json + atlas, "
                     "NAME.inp (Inochi2D), NAME.psd (layers for Cubism Editor), preview.png/.gif and report.json."),
        epilog="example: avatar-plugin generate my_character.png -o my_avatar")
    p.add_argument("picture", metavar="PICTURE", help="the character picture (PNG, JPEG, WebP) or a layered .psd")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="the avatar folder to write")
    p.add_argument("--face-box", metavar="X,Y,W,H", help="the face box in pixels, when the detector misses it")
    p.add_argument("--landmarks", metavar="FILE",
                   help='landmarks JSON: {"eye_l": [x, y], "eye_r": [x, y], "mouth": [x, y], "face_box": [x, y, w, h]}'
                        " (eye_l = the character's left eye, on the image's right)")
    p.add_argument("--name", help="the avatar's name (file names of the .inp/.psd; default: the picture's name)")
    add_model_options(p)
    p.add_argument("--force", action="store_true", help="write into OUT_DIR even when it is not empty")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they are only drawn when stderr is a terminal anyway)")
    p.set_defaults(func=cmd_generate)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Optional model backends of stages 1-2 (shared by ``generate`` and ``segment``)."""
    p.add_argument("--foreground-model", metavar="FILE",
                   help="ISNet-style ONNX matting model (isnetis.onnx from skytnt/anime-seg) to cut opaque "
                        "pictures out of their background (default: flood fill / GrabCut)")
    p.add_argument("--inpainter", choices=["classical", "lama", "sd"], default="classical",
                   help="how hidden regions are painted: classical (default, no weights), lama (an ONNX file), "
                        "sd (Stable Diffusion inpainting through diffusers, GPU when present)")
    p.add_argument("--inpainter-model", metavar="PATH", help="the LaMa .onnx file or a local diffusers folder")


def _safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "avatar"
    return name[:64]


def run_generate(picture: str | Path, out_dir: str | Path, *, face_box: str | None = None,
                 landmarks: str | None = None, name: str | None = None, force: bool = False,
                 progress: bool = True, foreground_model: str | None = None, inpainter: str = "classical",
                 inpainter_model: str | None = None) -> Path:
    """What ``avatar-plugin generate`` does, callable (``demo`` uses it). Returns the avatar folder."""
    from avatar_plugin.generator.landmarks import parse_face_box
    from avatar_plugin.generator.pipeline import GenerateOptions, generate

    picture, out = Path(picture), Path(out_dir)
    if picture.is_dir():
        raise InputError(f"{picture}: is a folder; pass a character picture (PNG, JPEG, WebP) or a .psd")
    if not picture.is_file():
        raise InputError(f"{picture}: no such file; pass the path of a character picture (PNG, JPEG, WebP) or a .psd")
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a folder; pick a new folder name")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"-o {out}: the folder is not empty; pick a new folder or add --force to overwrite")
    if landmarks is not None and not Path(landmarks).is_file():
        raise InputError(f"--landmarks {landmarks}: no such file; write the landmarks JSON first")
    box = parse_face_box(face_box) if face_box else None
    if foreground_model is not None and not Path(foreground_model).is_file():
        raise InputError(f"--foreground-model {foreground_model}: no such file; give the path of isnetis.onnx")
    if inpainter != "classical" and not inpainter_model:
        raise InputError(f"--inpainter {inpainter}: needs --inpainter-model (a LaMa .onnx file or a diffusers folder)")
    try:  # before minutes of work, not after
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"-o {out}: cannot create the folder ({exc.strerror}); pick a folder you can write to"
                         ) from None
    progress = progress and sys.stderr.isatty()  # bars in a terminal only, not in pipes and logs
    opts = GenerateOptions(name=_safe_name(name or picture.stem), face_box=box, landmarks_file=landmarks,
                           progress=progress, foreground_model=foreground_model, inpainter=inpainter,
                           inpainter_model=inpainter_model)
    generate(picture, out, opts)
    return out


def cmd_generate(args: argparse.Namespace) -> int:
    import json

    out = run_generate(args.picture, args.output, face_box=args.face_box, landmarks=args.landmarks, name=args.name,
                       force=args.force, progress=not args.no_progress, foreground_model=args.foreground_model,
                       inpainter=args.inpainter, inpainter_model=args.inpainter_model)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    files = report["files"]
    print(f"avatar: {out}/ ({report['total_seconds']:.1f} s, {report['total_vertices']} vertices)")
    print(f"  puppet:   {out / files['puppet']}  (avatar-plugin preview {out} -o pose.png --set ParamAngleX=20)")
    for key, label in (("inp", "Inochi2D"), ("psd", "layers"), ("preview_gif", "preview")):
        if key in files:
            print(f"  {label + ':':<9} {out / files[key]}")
    print(f"  report:   {out / 'report.json'}")
    for w in report["warnings"]:
        print(f"  warning: {w}")
    return 0
