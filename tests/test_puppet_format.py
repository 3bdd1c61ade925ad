"""The puppet format: strict reader, writer, round trip, JSON Schema."""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avatar_plugin.errors import PuppetFormatError
from avatar_plugin.puppet.io import SCHEMA_PATH, puppet_to_json, read_puppet, write_puppet
from avatar_plugin.puppet.model import (
    Axis,
    Binding,
    BindingTarget,
    BlendMode,
    Mesh,
    Meta,
    Node,
    NodeKind,
    Parameter,
    PhysicsChain,
    PhysicsInput,
    PhysicsOutput,
    Puppet,
    Texture,
    Transform,
)


def _load(folder: Path) -> dict:
    return json.loads((folder / "puppet.json").read_text())


def _save(folder: Path, data: dict) -> None:
    (folder / "puppet.json").write_text(json.dumps(data))


def test_sample_round_trips(sample_puppet, sample_dir):
    assert read_puppet(sample_dir) == sample_puppet


def test_sample_matches_the_json_schema(sample_dir):
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(_load(sample_dir), schema)


def test_schema_rejects_an_unknown_field(sample_dir):
    schema = json.loads(SCHEMA_PATH.read_text())
    data = _load(sample_dir)
    data["nodes"][1]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def _first_deform(data: dict) -> int:
    return next(i for i, b in enumerate(data["bindings"]) if b["target"] == "deform")


@pytest.mark.parametrize(
    ("mutate", "path", "expected_words"),
    [
        (lambda d: d["nodes"][1].update(colour="red"), "$.nodes[1].colour", "unknown field 'colour'"),
        (lambda d: d.update(version=2), "$.version", "found 2"),
        (lambda d: d["nodes"][5].update(blend_mode="overlay"), "$.nodes[5].blend_mode", "'overlay'"),
        (lambda d: d["nodes"][1].update(parent="nobody"), "$.nodes[1].parent", "'nobody'"),
        (lambda d: d["bindings"][0].update(node="ghost"), "$.bindings[0].node", "'ghost'"),
        (lambda d: d["bindings"][0].update(param="ParamNope"), "$.bindings[0].param", "'ParamNope'"),
        (lambda d: d["nodes"][6]["mesh"]["triangles"][0].__setitem__(0, 10_000), "$.nodes[6].mesh.triangles[0][0]",
         "10000"),
        (lambda d: d["meta"].pop("canvas_size"), "$.meta.canvas_size", "missing"),
        (lambda d: d["textures"][0].update(file="../evil.png"), "$.textures[0].file", "'../evil.png'"),
        (lambda d: d["parameters"][0]["axes"][0].update(keypoints=[-30, 30, 0]), "$.parameters[0].axes[0]",
         "increasing"),
    ],
)
def test_reader_names_file_path_expected_and_found(sample_dir, mutate, path, expected_words):
    data = _load(sample_dir)
    mutate(data)
    _save(sample_dir, data)
    with pytest.raises(PuppetFormatError) as info:
        read_puppet(sample_dir)
    err = info.value
    assert err.file.endswith("puppet.json")
    assert err.json_path.startswith(path), err
    assert expected_words in str(err)
    assert "expected" in str(err) and "found" in str(err)


def test_deform_binding_one_vertex_short_is_reported(sample_dir):
    data = _load(sample_dir)
    k = _first_deform(data)
    data["bindings"][k]["values"][0][0].pop()
    _save(sample_dir, data)
    with pytest.raises(PuppetFormatError) as info:
        read_puppet(sample_dir)
    assert info.value.json_path == f"$.bindings[{k}].values[0][0]"
    n = len(data["bindings"][k]["values"][0][0]) + 1
    assert f"{n} items" in info.value.expected and f"{n - 1} items" in info.value.found


def test_nan_and_infinity_are_rejected(sample_dir):
    original = (sample_dir / "puppet.json").read_text()
    assert '"opacity":1.0' in original
    for bad in ("NaN", "Infinity", "-Infinity"):
        (sample_dir / "puppet.json").write_text(original.replace('"opacity":1.0', f'"opacity":{bad}', 1))
        with pytest.raises(PuppetFormatError, match=re.escape(bad)):
            read_puppet(sample_dir)


def test_missing_texture_and_garbage_json(sample_dir):
    (sample_dir / "atlas0.png").unlink()
    with pytest.raises(PuppetFormatError, match=r"atlas0\.png"):
        read_puppet(sample_dir)
    (sample_dir / "puppet.json").write_text("{not json")
    with pytest.raises(PuppetFormatError, match="valid JSON"):
        read_puppet(sample_dir)
    with pytest.raises(PuppetFormatError, match="no such file"):
        read_puppet(sample_dir / "missing")


def test_parent_cycle_is_rejected(sample_dir):
    data = _load(sample_dir)
    data["nodes"][0]["parent"] = "head"
    _save(sample_dir, data)
    with pytest.raises(PuppetFormatError, match="cycle"):
        read_puppet(sample_dir)


def test_written_files_have_no_nan_and_are_compact(sample_dir):
    text = (sample_dir / "puppet.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert "0.30000001192092896" not in text  # float32 values use their shortest text


# ---- Hypothesis round trip over generated puppets ------------------------------------------------------
finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def axes(draw, axis_id):
    lo = draw(st.floats(min_value=-100, max_value=0, allow_nan=False))
    hi = lo + draw(st.floats(min_value=0.5, max_value=100, allow_nan=False))
    inner = sorted(set(draw(st.lists(st.floats(min_value=lo, max_value=hi, allow_nan=False), max_size=2))))
    keys = tuple([lo] + [k for k in inner if lo < k < hi] + [hi])
    default = draw(st.sampled_from(keys))
    return Axis(id=axis_id, min=lo, max=hi, default=default, keypoints=keys)


@st.composite
def puppets(draw):
    n_params = draw(st.integers(1, 3))
    params = []
    for i in range(n_params):
        if draw(st.booleans()):
            params.append(Parameter(id=f"P{i}", axes=(draw(axes(f"P{i}")),)))
        else:
            params.append(Parameter(id=f"G{i}", axes=(draw(axes(f"G{i}x")), draw(axes(f"G{i}y")))))
    nodes = [Node(id="root", kind=NodeKind.GROUP, transform=Transform(
        translate=(draw(finite), draw(finite)), rotate=draw(finite), scale=(1.5, 0.5), pivot=(3.0, 4.0)))]
    n_parts = draw(st.integers(1, 3))
    for k in range(n_parts):
        nv = draw(st.integers(3, 8))
        verts = draw(st.lists(st.tuples(finite, finite), min_size=nv, max_size=nv))
        uvs = draw(st.lists(st.tuples(st.floats(0, 1, width=32), st.floats(0, 1, width=32)), min_size=nv, max_size=nv))
        tris = draw(st.lists(st.tuples(*[st.integers(0, nv - 1)] * 3), min_size=1, max_size=6))
        clip = ("part0",) if k > 0 and draw(st.booleans()) else ()
        nodes.append(Node(id=f"part{k}", kind=NodeKind.PART, parent="root", name=f"Part {k} ✓",
                          mesh=Mesh(vertices=np.array(verts), uvs=np.array(uvs), triangles=np.array(tris)),
                          texture=0, draw_order=draw(finite), opacity=draw(st.floats(0, 1)),
                          blend_mode=draw(st.sampled_from(list(BlendMode))), clip=clip,
                          visible=draw(st.booleans())))
    bindings = []
    for _ in range(draw(st.integers(0, 4))):
        p = draw(st.sampled_from(params))
        target = draw(st.sampled_from(list(BindingTarget)))
        node = draw(st.sampled_from(nodes[1:] if target is BindingTarget.DEFORM else nodes))
        shape = p.grid_shape + ((len(node.mesh.vertices), 2) if target is BindingTarget.DEFORM else ())
        values = np.array(draw(st.lists(finite, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))))
        bindings.append(Binding(param=p.id, node=node.id, target=target, values=values.reshape(shape)))
    axis_ids = [a.id for p in params for a in p.axes]
    physics = ()
    if draw(st.booleans()):
        physics = (PhysicsChain(id="c", inputs=(PhysicsInput(draw(st.sampled_from(axis_ids)), "angle", 2.5),),
                                outputs=(PhysicsOutput(draw(st.sampled_from(axis_ids)), 15.0),),
                                segments=draw(st.integers(1, 4))),)
    image = np.array(draw(st.lists(st.integers(0, 255), min_size=4 * 4 * 4, max_size=4 * 4 * 4)), np.uint8)
    return Puppet(meta=Meta(name=draw(st.text(max_size=10)), canvas_size=(64, 48), extra={"note": "x"}),
                  parameters=tuple(params), nodes=tuple(nodes), bindings=tuple(bindings), physics=physics,
                  textures=(Texture(file="t.png", image=image.reshape(4, 4, 4)),))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(puppets())
def test_read_write_round_trip(puppet):
    with tempfile.TemporaryDirectory() as tmp:
        write_puppet(puppet, tmp)
        again = read_puppet(tmp)
    assert again == puppet
    assert puppet_to_json(again) == puppet_to_json(puppet)


def test_equality_notices_a_changed_vertex(sample_puppet):
    data = puppet_to_json(sample_puppet)
    data["nodes"][5]["mesh"]["vertices"][0][0] += 1.0
    from avatar_plugin.puppet.io import puppet_from_json

    other = puppet_from_json(data, "x.json", None)
    assert other != sample_puppet
    assert math.isfinite(other.nodes[5].mesh.vertices[0][0])


# ---- fuzz: any mutation of a valid file loads or is rejected with PuppetFormatError, nothing else -----------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10_000) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):  # keep the walk small: the first items of long arrays
            yield from _paths(v, (*prefix, i))


@pytest.fixture(scope="module")
def small_json():
    from avatar_plugin.puppet.sample import build_sample_puppet

    data = puppet_to_json(build_sample_puppet())
    return data, list(_paths(data))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_files_load_or_fail_with_our_error(small_json, data):
    import copy

    from avatar_plugin.puppet.io import puppet_from_json

    original, paths = small_json
    doc = copy.deepcopy(original)
    path = data.draw(st.sampled_from(paths[1:]))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(json_values)
    try:
        puppet_from_json(doc, "fuzz.json", None)
    except PuppetFormatError as exc:
        assert exc.file == "fuzz.json" and exc.json_path.startswith("$")
