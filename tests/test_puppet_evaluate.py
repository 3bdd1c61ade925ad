"""evaluate(): interpolation, clamping, additive bindings, transform composition, draw order, physics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avatar_plugin.puppet.evaluate import evaluate, interpolation_weights
from avatar_plugin.puppet.model import (
    Axis,
    Binding,
    BindingTarget,
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
from avatar_plugin.puppet.physics import PhysicsState

SQUARE = Mesh(vertices=np.array([[0, 0], [10, 0], [10, 10], [0, 10]]), uvs=np.array([[0, 0], [1, 0], [1, 1], [0, 1]]),
              triangles=np.array([[0, 1, 2], [0, 2, 3]]))


def _puppet(bindings=(), nodes=None, params=None, physics=()):
    params = params or (
        Parameter("A", (Axis("A", -1.0, 1.0, 0.0, (-1.0, 0.0, 1.0)),)),
        Parameter("G", (Axis("GX", 0.0, 1.0, 0.0, (0.0, 1.0)), Axis("GY", 0.0, 2.0, 0.0, (0.0, 1.0, 2.0)))),
    )
    nodes = nodes or (
        Node("g", NodeKind.GROUP, transform=Transform(pivot=(5.0, 5.0))),
        Node("sq", NodeKind.PART, parent="g", mesh=SQUARE, draw_order=1.0),
    )
    return Puppet(Meta("t", (32, 32)), tuple(params), tuple(nodes), tuple(bindings), tuple(physics),
                  (Texture("t.png", np.zeros((2, 2, 4), np.uint8)),))


def test_defaults_leave_the_mesh_at_rest():
    p = _puppet()
    np.testing.assert_array_equal(evaluate(p).item("sq").vertices, SQUARE.vertices)


def test_interpolation_weights_and_clamping():
    keys = np.array([-1.0, 0.0, 1.0])
    assert interpolation_weights(keys, -1.0) == (0, 0.0)
    assert interpolation_weights(keys, 0.5) == (1, 0.5)
    assert interpolation_weights(keys, 1.0) == (1, 1.0)
    b = Binding("A", "g", BindingTarget.TRANSLATE_X, np.array([-4.0, 0.0, 8.0]))
    p = _puppet([b])
    x = lambda v: float(evaluate(p, {"A": v}).item("sq").vertices[0, 0])  # noqa: E731
    assert x(0.5) == pytest.approx(4.0)
    assert x(-0.25) == pytest.approx(-1.0)
    assert x(7.0) == pytest.approx(8.0)  # clamped to max
    assert x(float("nan")) == pytest.approx(0.0)  # non-finite -> default


def test_2d_grid_is_bilinear():
    values = np.array([[0.0, 2.0, 4.0], [10.0, 12.0, 14.0]])  # (GX keys) x (GY keys)
    p = _puppet([Binding("G", "g", BindingTarget.TRANSLATE_Y, values)])
    y = lambda gx, gy: float(evaluate(p, {"GX": gx, "GY": gy}).item("sq").vertices[0, 1])  # noqa: E731
    assert y(0, 0) == pytest.approx(0.0)
    assert y(1, 2) == pytest.approx(14.0)
    assert y(0.5, 0.5) == pytest.approx((0.0 + 2.0 + 10.0 + 12.0) / 4)
    assert y(0.25, 1.5) == pytest.approx(0.75 * 3.0 + 0.25 * 13.0)


def test_bindings_of_different_parameters_add_up():
    deform_a = np.zeros((3, 4, 2), np.float32)
    deform_a[2, :, 0] = 2.0
    deform_g = np.zeros((2, 3, 4, 2), np.float32)
    deform_g[1, 0, :, 0] = 3.0
    p = _puppet([Binding("A", "sq", BindingTarget.DEFORM, deform_a),
                 Binding("G", "sq", BindingTarget.DEFORM, deform_g)])
    v = evaluate(p, {"A": 1.0, "GX": 1.0}).item("sq").vertices
    np.testing.assert_allclose(v[:, 0], SQUARE.vertices[:, 0] + 5.0)


def test_rotation_about_the_pivot_and_composition_down_the_tree():
    p = _puppet([Binding("A", "g", BindingTarget.ROTATE, np.array([-90.0, 0.0, 90.0]))])
    v = evaluate(p, {"A": 1.0}).item("sq").vertices
    # +90 degrees on screen (y down) turns (10, 5) about (5, 5) into (5, 10): clockwise as seen
    rotated = {tuple(np.round(x, 4)) for x in v}
    assert rotated == {(10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)}
    assert np.allclose(v[1], [10.0, 10.0])  # (10, 0) -> (10, 10)
    nodes = (
        Node("g", NodeKind.GROUP, transform=Transform(translate=(100.0, 0.0))),
        Node("h", NodeKind.GROUP, parent="g", transform=Transform(scale=(2.0, 2.0))),
        Node("sq", NodeKind.PART, parent="h", mesh=SQUARE, draw_order=0.0),
    )
    v = evaluate(_puppet(nodes=nodes)).item("sq").vertices
    np.testing.assert_allclose(v, SQUARE.vertices * 2 + [100.0, 0.0])


def test_opacity_binding_is_clamped_and_multiplies_down():
    nodes = (
        Node("g", NodeKind.GROUP),
        Node("sq", NodeKind.PART, parent="g", mesh=SQUARE, draw_order=0.0, opacity=0.5),
    )
    p = _puppet([Binding("A", "sq", BindingTarget.OPACITY, np.array([-1.0, 0.0, 1.0])),
                 Binding("A", "g", BindingTarget.OPACITY, np.array([0.0, 0.0, -0.5]))], nodes=nodes)
    assert evaluate(p, {"A": 0.0}).item("sq").opacity == pytest.approx(0.5)
    assert evaluate(p, {"A": 1.0}).item("sq").opacity == pytest.approx(0.5 * 1.0)  # 1.5 clamped to 1, times 0.5
    assert evaluate(p, {"A": -1.0}).item("sq").opacity == 0.0


def test_draw_order_sorts_and_clip_indices_follow(sample_puppet):
    dl = evaluate(sample_puppet)
    orders = [sample_puppet.node(i.part).draw_order for i in dl.items]
    assert orders == sorted(orders)
    iris = dl.item("iris_l")
    assert [dl.items[k].part for k in iris.clip] == ["eye_white_l"]


def test_evaluate_is_pure(sample_puppet):
    before = sample_puppet.nodes[5].mesh.vertices.copy()
    values = {"ParamAngleX": 30.0, "ParamMouthOpenY": 1.0}
    evaluate(sample_puppet, values)
    assert values == {"ParamAngleX": 30.0, "ParamMouthOpenY": 1.0}
    np.testing.assert_array_equal(sample_puppet.nodes[5].mesh.vertices, before)
    with pytest.raises(ValueError):
        sample_puppet.nodes[5].mesh.vertices[0, 0] = 1.0


def test_unknown_parameter_ids_are_ignored(sample_puppet):
    a = evaluate(sample_puppet, {"ParamNotHere": 5.0})
    b = evaluate(sample_puppet)
    for x, y in zip(a.items, b.items, strict=True):
        np.testing.assert_array_equal(x.vertices, y.vertices)


# ---- physics ------------------------------------------------------------------------------------------
def _physics_puppet():
    params = (
        Parameter("ParamAngleX", (Axis("ParamAngleX", -30.0, 30.0, 0.0, (-30.0, 0.0, 30.0)),)),
        Parameter("ParamHair", (Axis("ParamHair", -1.0, 1.0, 0.0, (-1.0, 0.0, 1.0)),)),
    )
    chain = PhysicsChain("hair", (PhysicsInput("ParamAngleX", "x", 40.0),), (PhysicsOutput("ParamHair", 20.0),),
                         length=120.0, segments=3, damping=0.6, stiffness=0.3)
    return _puppet(params=params, physics=[chain])


def test_physics_rests_swings_and_settles_within_two_seconds():
    p = _physics_puppet()
    state = PhysicsState(p)
    assert state.step({"ParamAngleX": 0.0}, 0.0)["ParamHair"] == pytest.approx(0.0, abs=1e-9)
    history = []
    for k in range(30):  # head moves right for 0.5 s: anchor moves right, the tip lags behind (swings left)
        history.append(state.step({"ParamAngleX": 30.0 * min(1.0, k / 15)}, 1 / 60)["ParamHair"])
    assert min(history) < -0.1
    settle = []
    for _ in range(120):  # the turn stops: within 2 s the hair is back near rest
        settle.append(state.step({"ParamAngleX": 30.0}, 1 / 60)["ParamHair"])
    assert abs(settle[-1]) < 0.02
    assert max(abs(v) for v in settle[-30:]) < 0.03


def test_physics_is_deterministic_and_rejects_bad_dt():
    p = _physics_puppet()
    runs = []
    for _ in range(2):
        state = PhysicsState(p)
        runs.append([state.step({"ParamAngleX": 30.0 * math.sin(k / 10)}, 1 / 60)["ParamHair"] for k in range(100)])
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="dt"):
        PhysicsState(p).step({}, float("nan"))


def test_gravity_tilt_sets_the_rest_angle():
    params = (
        Parameter("ParamAngleZ", (Axis("ParamAngleZ", -30.0, 30.0, 0.0, (-30.0, 0.0, 30.0)),)),
        Parameter("ParamHair", (Axis("ParamHair", -1.0, 1.0, 0.0, (-1.0, 0.0, 1.0)),)),
    )
    chain = PhysicsChain("hair", (PhysicsInput("ParamAngleZ", "angle", 10.0),), (PhysicsOutput("ParamHair", 20.0),),
                         stiffness=0.0, damping=1.0)
    state = PhysicsState(_puppet(params=params, physics=[chain]))
    for _ in range(600):
        out = state.step({"ParamAngleZ": 30.0}, 1 / 60)
    assert out["ParamHair"] == pytest.approx(0.5, abs=0.02)  # tilt 10 degrees / range 20
