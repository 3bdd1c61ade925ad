"""The CLI contract: --help/--version, validate, info, preview (PNG, GIF), demo; errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from avatar_plugin import __version__
from avatar_plugin.cli import main


def run(*args):
    """Run the real console entry point in a subprocess (what a user types)."""
    return subprocess.run([sys.executable, "-m", "avatar_plugin", *args], capture_output=True, text=True, timeout=120)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "validate" in r.stdout and "preview" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and __version__ in r.stdout


def test_validate_good_and_broken(sample_dir):
    r = run("validate", str(sample_dir))
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout
    data = json.loads((sample_dir / "puppet.json").read_text())
    k = next(i for i, b in enumerate(data["bindings"]) if b["target"] == "deform")
    data["bindings"][k]["values"][0].pop()  # one vertex too few at the first keypoint
    (sample_dir / "puppet.json").write_text(json.dumps(data))
    r = run("validate", str(sample_dir))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "puppet.json" in r.stderr and f"$.bindings[{k}].values[0]" in r.stderr
    assert "expected an array of" in r.stderr and "found" in r.stderr


def test_info_lists_parameters_and_parts(sample_dir, capsys):
    assert main(["info", str(sample_dir)]) == 0
    out = capsys.readouterr().out
    assert "ParamAngleX" in out and "2-D grid ParamAngle" in out
    assert "iris_l" in out and "clipped by eye_white_l" in out and "total:" in out


def test_preview_png_matches_canvas_and_set_values(sample_dir, tmp_path, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["preview", str(sample_dir), "-o", str(a)]) == 0
    sets = ["--set", "ParamMouthOpenY=1", "--set", "ParamAngleX=20"]
    assert main(["preview", str(sample_dir), *sets, "-o", str(b)]) == 0
    ia, ib = np.asarray(Image.open(a)), np.asarray(Image.open(b))
    assert ia.shape == ib.shape == (512, 512, 4)
    assert (ia != ib).any()
    c = tmp_path / "c.png"
    assert main(["preview", str(sample_dir), "--size", "256x128", "--background", "#ffffff", "-o", str(c)]) == 0
    ic = np.asarray(Image.open(c))
    assert ic.shape == (128, 256, 4) and (ic[..., 3] == 255).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "ParamNope=1"], "has no parameter 'ParamNope'"),
        (["--set", "ParamAngleX"], "expected PARAM=VALUE"),
        (["--set", "ParamAngleX=abc"], "not a number"),
        (["--size", "huge"], "expected WIDTHxHEIGHT"),
        (["--background", "notacolour"], "colour"),
    ],
)
def test_preview_bad_options_are_one_line_errors(sample_dir, tmp_path, capsys, args, message):
    assert main(["preview", str(sample_dir), "-o", str(tmp_path / "x.png"), *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_preview_missing_puppet(tmp_path, capsys):
    assert main(["preview", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.png")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_preview_animate_writes_a_gif_that_moves(sample_dir, tmp_path):
    out = tmp_path / "anim.gif"
    assert main(["preview", str(sample_dir), "--animate", "--fps", "3", "-o", str(out)]) == 0
    gif = Image.open(out)
    assert gif.n_frames >= 30
    frames = []
    for k in range(gif.n_frames):
        gif.seek(k)
        frames.append(np.asarray(gif.convert("RGB"), dtype=np.int16))
    distinct = {tuple(np.round(f.mean(axis=(0, 1)), 2)) for f in frames}
    assert len(distinct) > gif.n_frames // 2
