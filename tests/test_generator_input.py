"""Picture loading: every bad input is a clear ImageInputError naming the file and the fix; good ones load."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar_plugin.cli import main
from avatar_plugin.errors import ImageInputError
from avatar_plugin.generator.landmarks import (
    LandmarkOptions,
    animeface_self_check,
    find_landmarks,
    parse_face_box,
    read_landmarks_file,
)
from avatar_plugin.generator.load import load_picture, source_from_array
from avatar_plugin.generator.synth import CharacterSpec, make_character


@pytest.fixture(scope="module")
def char():
    return make_character(CharacterSpec(size=384, background="plain", seed=3))


def _save(tmp_path: Path, name: str, im: Image.Image, **kw) -> Path:
    p = tmp_path / name
    im.save(p, **kw)
    return p


def test_good_png_loads_and_cuts_out_plain_background(tmp_path, char):
    p = _save(tmp_path, "c.png", Image.fromarray(char.rgba))
    src = load_picture(p)
    assert src.rgba.shape == (384, 384, 4) and src.rgba.dtype == np.uint8
    fg = src.rgba[..., 3] > 10
    iou = (fg & char.foreground).sum() / (fg | char.foreground).sum()
    assert iou > 0.95


def test_soft_alpha_is_foreground():
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[40:160, 40:160] = (200, 100, 100, 252)
    rgba[0:10] = (10, 10, 10, 5)
    src = source_from_array(rgba)
    assert (src.rgba[40:160, 40:160, 3] == 252).all()
    assert (src.rgba[0:10, :, 3] == 0).all()


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda d: d.joinpath("x.png").write_bytes(b"hello, not an image") and d / "x.png", "not an image"),
        (lambda d: d / "missing.png", "no such file"),
        (lambda d: d, "folder"),
    ],
)
def test_not_an_image(tmp_path, make, needle):
    p = make(tmp_path)
    with pytest.raises(ImageInputError, match=needle):
        load_picture(p)


def test_truncated(tmp_path, char):
    buf = io.BytesIO()
    Image.fromarray(char.rgba).save(buf, "PNG")
    p = tmp_path / "t.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageInputError, match=r"truncated|cannot be read"):
        load_picture(p)


def test_tiny(tmp_path):
    p = _save(tmp_path, "tiny.png", Image.new("RGB", (100, 300), (200, 100, 50)))
    with pytest.raises(ImageInputError, match="at least 128"):
        load_picture(p)


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("w,h", [(8000, 8000), (50000, 50000)])
def test_huge_and_decompression_bomb_refused_before_decoding(tmp_path, w, h):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header_only(w, h))
    with pytest.raises(ImageInputError, match=r"megapixels|decompression"):
        load_picture(p)


def test_long_side_limit(tmp_path):
    p = tmp_path / "long.png"
    p.write_bytes(_png_header_only(5000, 300))
    with pytest.raises(ImageInputError, match="4096"):
        load_picture(p)


def test_grayscale(tmp_path, char):
    p = _save(tmp_path, "g.png", Image.fromarray(char.rgba).convert("L"))
    with pytest.raises(ImageInputError, match="grayscale"):
        load_picture(p)
    p2 = _save(tmp_path, "g_rgb.png", Image.fromarray(char.rgba).convert("L").convert("RGB"))
    with pytest.raises(ImageInputError, match="grayscale"):
        load_picture(p2)


def test_cmyk(tmp_path, char):
    p = _save(tmp_path, "c.jpg", Image.fromarray(char.rgba[..., :3]).convert("CMYK"))
    with pytest.raises(ImageInputError, match="CMYK"):
        load_picture(p)


def test_16_bit(tmp_path):
    p = _save(tmp_path, "d.png", Image.fromarray(np.full((200, 200), 40000, np.uint16)))
    with pytest.raises(ImageInputError, match="16"):
        load_picture(p)


def test_animated(tmp_path, char):
    frames = [Image.fromarray(char.rgba[..., :3]), Image.fromarray(255 - char.rgba[..., :3])]
    p = tmp_path / "a.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(ImageInputError, match="animated"):
        load_picture(p)


def test_no_face_error_names_the_fixes(tmp_path):
    rng = np.random.default_rng(0)
    rgba = np.zeros((300, 300, 4), np.uint8)
    rgba[50:250, 50:250, :3] = rng.integers(0, 80, (200, 200, 3))  # dark noise: no skin, no face
    rgba[50:250, 50:250, 3] = 255
    with pytest.raises(ImageInputError, match=r"no face found.*--face-box X,Y,W,H.*--landmarks"):
        find_landmarks(source_from_array(rgba, "noface.png"))


def test_cli_bad_input_is_one_line_exit_1(tmp_path, capsys):
    bad = tmp_path / "x.png"
    bad.write_text("nope")
    assert main(["segment", str(bad), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "not an image" in err and "Traceback" not in err


def test_animeface_works_here():
    """The Pillow>=12 trap: animeface must find the drawn self-test face, or say why."""
    assert animeface_self_check() is None


def test_animeface_empty_result_falls_back_and_warns(monkeypatch, char):
    from avatar_plugin.generator import landmarks

    monkeypatch.setattr(landmarks, "animeface_self_check", lambda: "animeface found no face (Pillow 12 trap)")
    lm, _, warnings = find_landmarks(source_from_array(char.rgba, "c.png"))
    assert any("Pillow 12" in w for w in warnings)
    assert any("skin colour" in w for w in warnings)
    assert abs(lm.eye_l[0] - char.landmarks.eye_l[0]) < 0.2 * char.landmarks.face_width


def test_user_landmarks_and_face_box(tmp_path, char):
    gt = char.landmarks
    f = tmp_path / "lm.json"
    f.write_text(json.dumps({"eye_l": list(gt.eye_l), "eye_r": list(gt.eye_r), "mouth": list(gt.mouth)}))
    lm, _, _ = find_landmarks(source_from_array(char.rgba), LandmarkOptions(landmarks_file=str(f)))
    assert lm.source == "user" and lm.eye_l == pytest.approx(gt.eye_l)
    assert parse_face_box("10,20,30,40") == (10, 20, 30, 40)
    with pytest.raises(ImageInputError, match="X,Y,W,H"):
        parse_face_box("10,20,-3")
    f.write_text('{"eye_l": [1, 2], "eye_r": [50, 2], "mouth": [3, 4]}')
    with pytest.raises(ImageInputError, match="swap"):
        read_landmarks_file(f)
    f.write_text('{"eye_l": [1, 2], "nose": [1, 1]}')
    with pytest.raises(ImageInputError, match="unknown key 'nose'"):
        read_landmarks_file(f)
