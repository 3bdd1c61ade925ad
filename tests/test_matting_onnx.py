"""The optional ISNet-style foreground model, with a tiny ONNX model built in the test (nothing downloaded)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from avatar_plugin.errors import ConfigError
from avatar_plugin.generator.backends.matting import isnet_foreground
from avatar_plugin.generator.load import LoadOptions, load_picture


def _tiny_isnet(path, size=64):
    """Fixed (1, 3, S, S) input like isnetis.onnx; output (1, 1, S, S) = 1 - mean(rgb): dark = foreground."""
    image = helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, size, size])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, size, size])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [helper.make_node("ReduceMean", ["img", "axes"], ["mean"], keepdims=1),
             helper.make_node("Sub", ["one", "mean"], ["mask"])]
    graph = helper.make_graph(nodes, "tiny_isnet", [image], [mask], initializer=[one, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, path)


def _picture():
    """An opaque picture: a dark figure on a light, busy (not plain) background."""
    rng = np.random.default_rng(0)
    rgb = (200 + rng.integers(0, 55, (300, 240, 3))).astype(np.uint8)
    rgb[60:280, 70:170] = (40, 30, 60)
    return rgb


def test_model_marks_the_foreground_at_the_pictures_size(tmp_path):
    model = tmp_path / "isnetis.onnx"
    _tiny_isnet(str(model))
    fg = isnet_foreground(_picture(), str(model))
    assert fg.shape == (300, 240)
    assert fg[150, 120] and not fg[20, 20] and not fg[150, 220]
    truth = np.zeros((300, 240), bool)
    truth[60:280, 70:170] = True
    iou = (fg & truth).sum() / (fg | truth).sum()
    assert iou > 0.9  # letterboxed to the model's square input and back without shifting


def test_load_picture_uses_the_model_for_opaque_pictures(tmp_path):
    model = tmp_path / "isnetis.onnx"
    _tiny_isnet(str(model))
    path = tmp_path / "opaque.png"
    Image.fromarray(_picture()).save(path)
    src = load_picture(path, LoadOptions(foreground_model=str(model)))
    alpha = src.rgba[..., 3]
    assert alpha[150, 120] == 255 and alpha[20, 20] == 0


def test_missing_model_file_names_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"isnetis\.onnx"):
        isnet_foreground(_picture(), str(tmp_path / "nope.onnx"))


def _constant_isnet(path, size=64):
    """Says 'everything is foreground' (output 1 everywhere)."""
    image = helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, size, size])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, size, size])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    nodes = [helper.make_node("ReduceMean", ["img", "axes"], ["mean"], keepdims=1),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
             helper.make_node("Add", ["nothing", "one"], ["mask"])]
    graph = helper.make_graph(nodes, "constant_isnet", [image], [mask], initializer=[axes, zero, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, path)


def test_generate_takes_the_model_options(tmp_path, capsys):
    """`generate --foreground-model` really uses the model: a model that keeps everything keeps the plain
    background, which the classical cut-out removes."""
    from dataclasses import replace

    from avatar_plugin.cli import main
    from avatar_plugin.generator.synth import example_character, make_character, with_size
    from avatar_plugin.puppet import read_puppet, render

    spec = replace(with_size(example_character().spec, 320), background="plain")

    picture = tmp_path / "opaque.png"
    Image.fromarray(make_character(spec).rgba[..., :3]).save(picture)
    model = tmp_path / "everything.onnx"
    _constant_isnet(str(model))
    assert main(["generate", str(picture), "-o", str(tmp_path / "a"), "--no-progress"]) == 0
    assert main(["generate", str(picture), "-o", str(tmp_path / "b"), "--no-progress",
                 "--foreground-model", str(model)]) == 0
    corner_a = render(read_puppet(tmp_path / "a"))[5, 5, 3]
    corner_b = render(read_puppet(tmp_path / "b"))[5, 5, 3]
    assert corner_a == 0 and corner_b == 255
    assert main(["generate", str(picture), "-o", str(tmp_path / "c"), "--inpainter", "lama"]) == 1
    assert "--inpainter-model" in capsys.readouterr().err
