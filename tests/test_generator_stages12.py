"""Stages 1-2 on synthetic characters (invariants and minimum quality), layered PSD input, backends, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from avatar_plugin.cli import main
from avatar_plugin.errors import ConfigError, ImageInputError
from avatar_plugin.generator import complete, segment
from avatar_plugin.generator.backends import ClassicalInpainter, make_inpainter, push_pull_fill
from avatar_plugin.generator.load import source_from_array
from avatar_plugin.generator.psd_input import map_layer_name, read_layered_psd
from avatar_plugin.generator.stages12 import segment_and_complete
from avatar_plugin.generator.synth import CharacterSpec, make_character, random_spec
from avatar_plugin.generator.types import DEFAULT_DEPTH_ORDER, Part, SourceImage

HAIR = (Part.BACK_HAIR, Part.FRONT_HAIR, Part.SIDE_HAIR_L, Part.SIDE_HAIR_R)


def _iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


def _union(masks, parts, shape):
    out = np.zeros(shape, bool)
    for p in parts:
        if p in masks:
            out |= masks[p]
    return out


@pytest.fixture(scope="module")
def results():
    out = []
    for seed in (1, 4, 6, 9):
        char = make_character(random_spec(seed, size=512))
        pm = segment.run(source_from_array(char.rgba, f"synthetic-{seed}"))
        out.append((char, pm, complete.run(pm)))
    return out


def test_masks_are_disjoint_cover_the_foreground_and_ordered(results):
    for char, pm, _ in results:
        H, W = char.rgba.shape[:2]
        total = np.zeros((H, W), np.int32)
        for m in pm.masks.values():
            assert m.shape == (H, W) and m.dtype == np.bool_
            total += m
        fg = pm.image.rgba[..., 3] > 10
        assert total.max() == 1
        assert (total[fg] == 1).all() and (total[~fg] == 0).all()
        assert set(pm.depth_order) == set(pm.masks)
        idx = [DEFAULT_DEPTH_ORDER.index(p) for p in pm.depth_order]
        assert idx == sorted(idx)


def test_big_parts_and_landmarks_are_close_to_truth(results):
    for char, pm, _ in results:
        H, W = char.rgba.shape[:2]
        fw = char.landmarks.face_width
        assert _iou(pm.masks[Part.FACE], char.visible[Part.FACE]) > 0.75
        assert _iou(_union(pm.masks, HAIR, (H, W)), _union(char.visible, HAIR, (H, W))) > 0.8
        for key in ("eye_l", "eye_r", "mouth"):
            assert math.dist(getattr(pm.landmarks, key), getattr(char.landmarks, key)) < 0.08 * fw, key
        # left/right convention: eye_l is the character's left = image right
        assert pm.landmarks.eye_l[0] > pm.landmarks.eye_r[0]
        if Part.IRIS_L in pm.masks:
            assert np.nonzero(pm.masks[Part.IRIS_L])[1].mean() > W / 2 - 0.1 * fw


def test_layers_keep_visible_pixels_and_complete_hidden_ones(results):
    for char, pm, layers in results:
        H, W = char.rgba.shape[:2]
        assert layers.canvas_size == (W, H)
        assert set(layers.depth_order) == set(layers.layers)
        for part, layer in layers.layers.items():
            full = layer.full((W, H))
            if part in pm.masks:
                v = pm.masks[part]
                assert (full[..., :3][v] == pm.image.rgba[..., :3][v]).all(), part
                assert (full[..., 3][v] == pm.image.rgba[..., 3][v]).all(), part
        # amodal: back hair behind the face, face skin under the bangs, generated lids and mouth interior
        face = layers.layers[Part.FACE].full((W, H))[..., 3] > 0
        assert face.sum() > pm.masks[Part.FACE].sum() * 1.05
        back = layers.layers[Part.BACK_HAIR].full((W, H))
        behind_face = back[..., 3][pm.masks[Part.FACE]] > 0
        assert behind_face.mean() > 0.9  # no holes behind the face
        assert Part.EYELID_L in layers.layers and Part.EYELID_R in layers.layers
        assert Part.MOUTH_INTERIOR in layers.layers
        # the hair behind the face has a hair colour, not skin
        gt_back = char.layers[Part.BACK_HAIR]
        hidden = (gt_back[..., 3] > 200) & pm.masks[Part.FACE]
        if hidden.sum() > 50:
            err = np.abs(back[..., :3][hidden].astype(float) - gt_back[..., :3][hidden]).mean()
            assert err < 40


def test_recomposed_layers_reproduce_the_picture(results):
    _char, pm, layers = results[0]
    W, H = layers.canvas_size
    # visible pixels of each layer pasted in depth order = the picture
    out = np.zeros((H, W, 3), np.uint8)
    for p in layers.depth_order:
        lay = layers.layers[p]
        v = np.zeros((H, W), bool)
        x, y = lay.offset
        h, w = lay.visible.shape
        v[y : y + h, x : x + w] = lay.visible
        out[v] = lay.full((W, H))[..., :3][v]
    fg = pm.image.rgba[..., 3] > 10
    assert (out[fg] == pm.image.rgba[..., :3][fg]).all()


def test_stage_inputs_are_checked():
    bad = SourceImage("bad", np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ImageInputError, match="RGBA"):
        segment.run(bad)
    with pytest.raises(ImageInputError, match="transparent"):
        segment.run(SourceImage("empty", np.zeros((200, 200, 4), np.uint8)))


def test_synthetic_variety_and_determinism():
    a = make_character(random_spec(5, size=256))
    b = make_character(random_spec(5, size=256))
    assert (a.rgba == b.rgba).all()
    specs = [random_spec(s) for s in range(40)]
    assert {s.hair_style for s in specs} == {"short", "bob", "long"}
    assert {s.background for s in specs} == {"transparent", "plain", "gradient", "textured"}
    assert any(s.mouth_open for s in specs) and any(not s.mouth_open for s in specs)
    assert any(s.glasses for s in specs) and any(s.bangs_over_brows for s in specs)
    # ground truth: visible masks disjoint, amodal contains visible
    total = sum(m.astype(int) for m in a.visible.values())
    assert total.max() == 1
    for p, m in a.visible.items():
        assert (a.layers[p][..., 3][m] > 0).all()


def test_push_pull_and_classical_fill_use_only_the_source():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, :32] = (200, 50, 50)
    rgb[:, 32:] = (0, 0, 255)  # foreign colour that must not leak
    src = np.zeros((64, 64), bool)
    src[:, :20] = True
    hole = np.zeros((64, 64), bool)
    hole[:, 20:40] = True
    out = ClassicalInpainter().inpaint(rgb, hole, src)
    assert np.abs(out[hole].astype(int) - (200, 50, 50)).max() <= 2
    pp = push_pull_fill(rgb, src)
    assert np.abs(pp[:, 60].astype(int) - (200, 50, 50)).max() <= 2
    with pytest.raises(ConfigError, match="unknown inpainter"):
        make_inpainter("magic")
    with pytest.raises(ConfigError, match="model_path"):
        make_inpainter("lama")


def _tiny_lama_onnx(path):
    """A tiny LaMa-shaped ONNX model built here: output = image * (1 - mask) + 0.5 * mask."""
    import onnx
    from onnx import TensorProto, helper

    img = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, None, None])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, None, None])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    nodes = [
        helper.make_node("Sub", ["one", "mask"], ["inv"]),
        helper.make_node("Mul", ["image", "inv"], ["kept"]),
        helper.make_node("Mul", ["mask", "half"], ["grey"]),
        helper.make_node("Add", ["kept", "grey"], ["output"]),
    ]
    graph = helper.make_graph(nodes, "tiny_lama", [img, mask], [out], initializer=[one, half])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def test_lama_backend_runs_a_tiny_model(tmp_path):
    path = tmp_path / "tiny_lama.onnx"
    _tiny_lama_onnx(str(path))
    inp = make_inpainter("lama", str(path))
    rgb = np.full((40, 50, 3), 200, np.uint8)
    hole = np.zeros((40, 50), bool)
    hole[10:20, 10:30] = True
    out = inp.inpaint(rgb, hole, ~hole)
    assert (out[~hole] == 200).all()
    assert np.abs(out[hole].astype(int) - 127).max() <= 2  # the model's grey
    with pytest.raises(ConfigError, match="no such file"):
        make_inpainter("lama", str(tmp_path / "nope.onnx"))
    # stage 2 with the LaMa backend
    char = make_character(CharacterSpec(size=256, seed=2))
    pm = segment.run(source_from_array(char.rgba))
    layers = complete.run(pm, complete.CompleteOptions(inpainter="lama", model_path=str(path)))
    assert Part.FACE in layers.layers


def _psd(tmp_path, names):
    from psd_tools import PSDImage

    psd = PSDImage.new("RGBA", (200, 200))
    rects = {
        "Back hair": (30, 20, 170, 190, (90, 60, 160)),
        "Face skin": (60, 50, 140, 150, (250, 225, 210)),
        "eye white L": (105, 90, 125, 105, (250, 250, 250)),
        "eye white R": (75, 90, 95, 105, (250, 250, 250)),
        "mouth": (90, 125, 110, 132, (160, 60, 60)),
        "bangs": (55, 40, 145, 75, (110, 80, 190)),
        "mystery": (0, 0, 10, 10, (0, 0, 0)),
    }
    for name in names:
        x0, y0, x1, y1, col = rects[name]
        im = Image.new("RGBA", (x1 - x0, y1 - y0), (*col, 255))
        psd.create_pixel_layer(im, name=name, top=y0, left=x0)
    p = tmp_path / "layered.psd"
    psd.save(p)
    return p


def test_layered_psd_skips_stages_1_and_2(tmp_path):
    p = _psd(tmp_path, ["Back hair", "Face skin", "eye white L", "eye white R", "mouth", "bangs", "mystery"])
    layers = read_layered_psd(p)
    assert set(layers.layers) == {
        Part.BACK_HAIR,
        Part.FACE,
        Part.EYE_WHITE_L,
        Part.EYE_WHITE_R,
        Part.MOUTH,
        Part.FRONT_HAIR,
    }
    assert any("mystery" in w for w in layers.warnings)
    assert layers.landmarks.eye_l[0] > layers.landmarks.eye_r[0]
    assert layers.layers[Part.FACE].offset == (60, 50)
    assert segment_and_complete(p).depth_order == layers.depth_order
    assert map_layer_name("hairf") == Part.FRONT_HAIR
    assert map_layer_name("irides", center_x=10, canvas_w=100) == Part.IRIS_R
    assert map_layer_name("右目 白目") == Part.EYE_WHITE_R
    assert map_layer_name("前髪") == Part.FRONT_HAIR and map_layer_name("顔") == Part.FACE
    with pytest.raises(ImageInputError, match="face"):
        read_layered_psd(_psd(tmp_path, ["Back hair", "mouth"]))


def test_cli_segment_writes_layers_sheet_and_landmarks(tmp_path, capsys):
    char = make_character(CharacterSpec(size=320, background="transparent", seed=4))
    pic = tmp_path / "c.png"
    Image.fromarray(char.rgba).save(pic)
    out = tmp_path / "out"
    assert main(["segment", str(pic), "-o", str(out)]) == 0
    pngs = sorted(p.name for p in (out / "layers").glob("*.png"))
    assert "00_back_hair.png" in pngs and any(n.endswith("_face.png") for n in pngs)
    sheet = Image.open(out / "segmentation.png")
    assert sheet.size[0] >= 1024
    lm = json.loads((out / "landmarks.json").read_text())
    # the landmarks file round-trips as --landmarks
    (tmp_path / "lm.json").write_text(json.dumps({k: lm[k] for k in ("eye_l", "eye_r", "mouth")}))
    assert main(["segment", str(pic), "-o", str(tmp_path / "o2"), "--landmarks", str(tmp_path / "lm.json")]) == 0
    assert main(["segment", str(pic), "-o", str(tmp_path / "o3"), "--face-box", "bad"]) == 1
    assert "X,Y,W,H" in capsys.readouterr().err
