"""Stage 5 and the ``generate`` command: the avatar folder, the strict .inp checker, the PSD, the report."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from avatar_plugin.generator import atlas, inochi
from avatar_plugin.generator._testing import CharacterStyle, draw_character
from avatar_plugin.generator.export import ExportOptions
from avatar_plugin.generator.pipeline import GenerateOptions, generate_from_layers
from avatar_plugin.puppet.io import read_puppet
from avatar_plugin.puppet.raster import render


@pytest.fixture(scope="module")
def avatar(tmp_path_factory):
    out = tmp_path_factory.mktemp("avatar")
    layers = draw_character(CharacterStyle(size=384))
    opts = GenerateOptions(name="drawn", progress=False, export=ExportOptions(name="drawn", gif_size=96, gif_fps=4))
    return layers, generate_from_layers(layers, out, opts)


def test_folder_has_every_file_and_validates(avatar):
    _, result = avatar
    names = {p.name for p in result.folder.iterdir()}
    assert {"puppet.json", "atlas0.png", "drawn.inp", "drawn.psd", "preview.png", "preview.gif",
            "report.json"} <= names
    cli = subprocess.run([sys.executable, "-m", "avatar_plugin", "validate", str(result.folder)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    puppet = read_puppet(result.folder)
    assert puppet.meta.landmarks is not None and puppet.meta.name == "drawn"
    with Image.open(result.folder / "preview.gif") as gif:
        assert gif.n_frames > 10


def test_atlas_pages_are_power_of_two_with_padding(avatar):
    _, result = avatar
    puppet = read_puppet(result.folder)
    for tex in puppet.textures:
        w, h = tex.size
        assert w & (w - 1) == 0 and h & (h - 1) == 0 and max(w, h) <= atlas.MAX_SIZE
    # every part's UV box keeps >= 2 px of transparent border from its neighbours and the page edge
    boxes = []
    for n in puppet.parts():
        w, h = puppet.textures[n.texture].size
        uv = n.mesh.uvs.astype(np.float64) * [w, h]
        boxes.append((n.texture, uv.min(axis=0), uv.max(axis=0)))
    for page, lo, hi in boxes:
        w, h = puppet.textures[page].size
        assert lo.min() >= atlas.PADDING - 1.6 and hi[0] <= w - atlas.PADDING + 1.6 and hi[1] <= h - atlas.PADDING + 1.6


def test_the_packed_puppet_renders_like_the_unpacked_one(avatar):
    layers, result = avatar
    from avatar_plugin.generator import mesh, rig

    unpacked = rig.run(mesh.run(layers)).puppet
    packed = read_puppet(result.folder)
    for values in ({}, {"ParamAngleX": 30.0, "ParamMouthOpenY": 1.0, "ParamEyeLOpen": 0.0}):
        a = render(unpacked, values).astype(int)
        b = render(packed, values).astype(int)
        assert np.mean(np.abs(a - b).max(axis=2) > 24) < 0.002


def test_plan_pages_splits_what_does_not_fit_one_page():
    pages, places = atlas.plan_pages([(3000, 3000), (3000, 3000), (10, 10)])
    assert len(pages) >= 2 and all(max(p) <= atlas.MAX_SIZE for p in pages)
    for a in range(len(places)):
        for b in range(a + 1, len(places)):
            pa, pb = places[a], places[b]
            if pa.page == pb.page:
                apart = (pa.x + pa.w + 2 * atlas.PADDING <= pb.x or pb.x + pb.w + 2 * atlas.PADDING <= pa.x
                         or pa.y + pa.h + 2 * atlas.PADDING <= pb.y or pb.y + pb.h + 2 * atlas.PADDING <= pa.y)
                assert apart


def test_exported_inp_passes_the_strict_checker(avatar):
    _, result = avatar
    path = result.folder / "drawn.inp"
    assert inochi.check_inp(path) == []
    inp, problems = inochi.read_inp(path.read_bytes())
    assert inp is not None and not problems
    payload = inp.payload
    names = {p["name"] for p in payload["param"]}
    assert {"ParamAngle", "ParamMouthOpenY", "ParamEyeL", "ParamHairFront"} <= names
    angle = next(p for p in payload["param"] if p["name"] == "ParamAngle")
    assert angle["is_vec2"] and angle["axis_points"] == [[0.0, 0.5, 1.0], [0.0, 0.5, 1.0]]
    session = json.loads(inp.extensions[inochi.SESSION_EXT])
    sources = {b["sourceName"] for b in session}
    assert {"Head", "ftMouthOpen", "ftEyeBlinkLeft"} <= sources
    assert all(b["param"] != next(p["uuid"] for p in payload["param"] if p["name"] == "ParamHairFront")
               for b in session)  # physics-driven parameters are not tracked
    # textures are premultiplied PNGs
    enc, blob = inp.textures[0]
    assert enc == 0 and blob.startswith(b"\x89PNG")
    kinds = [n.get("type") for n, _ in inochi._walk(payload["nodes"], "$")]
    assert kinds.count("SimplePhysics") == 3 and "Part" in kinds


def _mutate(data: bytes, fn) -> bytes:
    inp, _ = inochi.read_inp(data)
    payload = json.loads(json.dumps(inp.payload))
    fn(payload)
    return inochi._pack(payload, inp.textures, inp.extensions)


def _first_part(payload):
    return next(n for n, _ in inochi._walk(payload["nodes"], "$") if n.get("type") == "Part")


def _first_deform(payload):
    return next(b for p in payload["param"] for b in p["bindings"] if b["param_name"] == "deform")


@pytest.mark.parametrize("breakage, expected", [
    (lambda p: p["meta"].pop("version"), "meta.version"),
    (lambda p: _first_part(p).pop("mask_threshold"), "mask_threshold"),
    (lambda p: _first_part(p).pop("opacity"), "opacity"),
    (lambda p: _first_part(p).update(uuid=5.0), "uuid"),
    (lambda p: _first_part(p).update(type="Mask"), "0.8.7 node type"),
    (lambda p: _first_part(p).update(blend_mode="normal"), "blend_mode"),
    (lambda p: _first_part(p).update(textures=[7, 4294967295, 4294967295]), "texture slots"),
    (lambda p: _first_part(p)["mesh"]["indices"].append(0), "multiple of 3"),
    (lambda p: _first_part(p)["mesh"]["verts"].append(1.0), "even-length"),
    (lambda p: _first_deform(p)["values"][0][0].pop(), "one per vertex"),
    (lambda p: _first_deform(p).update(interpolate_mode="Cubic"), "interpolate_mode"),
    (lambda p: _first_deform(p).update(node=123456), "not a node uuid"),
    (lambda p: _first_deform(p)["isSet"].pop(), "isSet"),
    (lambda p: next(q for q in p["param"] if not q["is_vec2"]).update(axis_points=[[0.0, 1.0], [0.0, 1.0]]),
     "1-D parameter needs [0]"),
    (lambda p: p["param"][0].update(merge_mode="additive-ish"), "merge_mode"),
    (lambda p: p["nodes"]["transform"].update(trans=[1.0, 0.0, 0.0]), "identity"),
    (lambda p: p.pop("physics"), "physics"),
    (lambda p: p.update(animation={}), "animations"),
    (lambda p: p["meta"].update(rights={"allowedUsers": "OnlyAuthor"}), "rights"),
])
def test_the_checker_catches_each_rule(avatar, breakage, expected):
    _, result = avatar
    data = (result.folder / "drawn.inp").read_bytes()
    problems = inochi.check_inp_bytes(_mutate(data, breakage))
    assert any(expected in p for p in problems), problems


def test_the_checker_catches_container_damage(avatar, tmp_path):
    _, result = avatar
    data = (result.folder / "drawn.inp").read_bytes()
    assert "magic" in inochi.check_inp_bytes(b"XXXXXXXX" + data[8:])[0]
    assert inochi.check_inp_bytes(data[:-10])  # truncated
    n = struct.unpack(">I", data[8:12])[0]
    no_tex = data[:12 + n] + b"NOT_SECT" + data[12 + n + 8:]
    assert any("TEX_SECT" in p for p in inochi.check_inp_bytes(no_tex))
    nan = data[:12] + data[12:12 + n].replace(b'"gravity":9.8', b'"gravity":NaN') + data[12 + n:]
    nan = nan[:8] + struct.pack(">I", len(nan[12:12 + n + 1])) + nan[12:] if len(nan) != len(data) else nan
    assert inochi.check_inp_bytes(nan)
    upper = tmp_path / "x.INP"
    upper.write_bytes(data)
    assert any("lowercase" in p for p in inochi.check_inp(upper))


def test_minimal_reference_example_passes_the_checker():
    from pathlib import Path

    # the minimal puppet of the team's Inochi2D format notes (section 7), known to load in the 0.8 readers
    payload = json.loads((Path(__file__).parent / "data" / "inochi2d-minimal-example.json").read_text())
    img = np.zeros((256, 256, 4), np.uint8)
    img[..., 3] = 255
    import io

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    assert inochi.check_inp_bytes(inochi._pack(payload, [(0, buf.getvalue())], {})) == []


def test_psd_has_cubism_friendly_groups_at_source_resolution(avatar):
    from psd_tools import PSDImage

    layers, result = avatar
    psd = PSDImage.open(result.folder / "drawn.psd")
    assert psd.size == layers.canvas_size
    groups = {g.name: [lay.name for lay in g] for g in psd}
    assert list(groups)[:3] == ["Hair Back", "Body", "Face"]  # bottom to top
    assert groups["Eye L"] == ["Eye White L", "Iris L", "Lashes L"]
    assert groups["Mouth"] == ["Mouth Interior", "Mouth"]
    assert "Hair Front" in groups and "Brows" in groups and "Cheek" in groups["Face"]
    face = next(lay for lay in psd.descendants() if lay.name == "Face")
    fl = layers.layers[__import__("avatar_plugin.generator.types", fromlist=["Part"]).Part.FACE]
    assert (face.left, face.top) == fl.offset and face.size == (fl.image.shape[1], fl.image.shape[0])


def test_report_has_stage_times_vertex_counts_landmarks(avatar):
    _, result = avatar
    report = json.loads((result.folder / "report.json").read_text())
    assert {"mesh", "rig", "export"} <= set(report["seconds"])
    assert report["vertices"]["face"] > 50 and report["total_vertices"] == sum(report["vertices"].values())
    assert report["landmarks"]["eye_l"][0] > report["landmarks"]["eye_r"][0]
    assert report["inp_problems"] == [] and isinstance(report["warnings"], list)


def test_generate_refuses_a_non_empty_folder_without_force(tmp_path):
    from avatar_plugin.cli import main

    picture = tmp_path / "c.png"
    Image.new("RGBA", (256, 256), (255, 255, 255, 255)).save(picture)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["generate", str(picture), "-o", str(out)]) == 1
    assert (out / "keep.txt").read_text() == "mine"
    assert main(["generate", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o2")]) == 1


@pytest.mark.slow
def test_generate_command_end_to_end_on_a_drawn_picture(tmp_path):
    from avatar_plugin.generator import synth

    ch = synth.make_character(synth.with_size(synth.example_character().spec, 512))
    picture = tmp_path / "hero.png"
    Image.fromarray(ch.rgba).save(picture)
    out = tmp_path / "hero"
    cli = subprocess.run([sys.executable, "-m", "avatar_plugin", "generate", str(picture), "-o", str(out),
                          "--no-progress"], capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert "hero.inp" in cli.stdout
    assert inochi.check_inp(out / "hero.inp") == []
    puppet = read_puppet(out)
    turned = render(puppet, {"ParamAngleX": 30.0})
    assert turned.shape[:2] == (512, 512)
    report = json.loads((out / "report.json").read_text())
    assert {"segment", "complete", "mesh", "rig", "export"} <= set(report["seconds"])
