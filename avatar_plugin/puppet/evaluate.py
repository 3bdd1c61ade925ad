"""Evaluate a puppet at parameter values: ``evaluate(puppet, values) -> DrawList`` (pure numpy).

The maths, mirrored line for line by ``avatar_plugin/web/puppet-eval.js`` (held equal by a parity test):

1. Every axis value is clamped to its range; missing axes take their default; unknown ids are ignored.
2. For each parameter, the value falls in one keypoint segment per axis; linear weights on each axis, bilinear
   for a 2-D parameter (at most 4 grid corners).
3. Each binding's value is the weighted sum of its values at those corners. Bindings add up: deforms add
   per-vertex offsets; transform channels add to the node's rest transform (translate, rotate in degrees,
   scale), opacity adds to the rest opacity and is clamped to 0..1.
4. Local transform: ``p' = translate + pivot + R(rotate) @ S(scale) @ (p - pivot)``; a node's world transform
   is its parent's world transform times its own. Opacity multiplies down the tree.
5. Parts are emitted sorted by ``draw_order`` (ties keep file order) with world-space vertices.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from avatar_plugin.puppet.model import BindingTarget, BlendMode, NodeKind, Puppet

__all__ = ["DrawItem", "DrawList", "evaluate", "interpolation_weights"]

_CHANNELS = {
    BindingTarget.TRANSLATE_X: 0,
    BindingTarget.TRANSLATE_Y: 1,
    BindingTarget.ROTATE: 2,
    BindingTarget.SCALE_X: 3,
    BindingTarget.SCALE_Y: 4,
    BindingTarget.OPACITY: 5,
}


@dataclass(frozen=True, eq=False)
class DrawItem:
    """One part ready to draw. ``vertices``: (N, 2) float32 canvas pixels after deform and transforms."""

    part: str
    vertices: NDArray[np.float32]
    uvs: NDArray[np.float32]
    triangles: NDArray[np.int32]
    texture: int
    opacity: float
    blend_mode: BlendMode
    clip: tuple[int, ...]  # indices into DrawList.items of the parts that clip this one (empty = no clipping)
    visible: bool


@dataclass(frozen=True, eq=False)
class DrawList:
    """What to draw, back to front, on a canvas of ``canvas_size`` (width, height) pixels."""

    canvas_size: tuple[int, int]
    items: tuple[DrawItem, ...]

    def item(self, part_id: str) -> DrawItem:
        for it in self.items:
            if it.part == part_id:
                return it
        raise KeyError(part_id)


def interpolation_weights(keypoints: NDArray[np.float64], value: float) -> tuple[int, float]:
    """Segment index ``i`` and fraction ``f`` with value = k[i] + f (k[i+1] - k[i]); value already clamped."""
    n = len(keypoints)
    i = int(np.searchsorted(keypoints, value, side="right")) - 1
    i = min(max(i, 0), n - 2)
    span = keypoints[i + 1] - keypoints[i]
    f = (value - keypoints[i]) / span
    return i, min(max(f, 0.0), 1.0)


@dataclass(frozen=True, eq=False)
class _Plan:
    """A puppet precompiled for fast evaluation (built once per puppet object)."""

    axis_ids: list[list[str]]  # per parameter
    axis_ranges: list[list[tuple[float, float, float]]]  # (min, max, default)
    keypoints: list[list[NDArray[np.float64]]]
    grid_shapes: list[tuple[int, ...]]
    node_ids: list[str]
    parents: list[int]  # -1 for roots; nodes in parents-first order
    order: list[int]  # evaluation order (parents first) as indices into node lists
    rest: NDArray[np.float64]  # (nodes, 8): tx, ty, rot, sx, sy, opacity, pivot_x, pivot_y
    deforms: list[tuple[int, int, NDArray[np.float32]]]  # (param index, node index, (grid, N, 2))
    channels: list[tuple[int, int, int, NDArray[np.float64]]]  # (param, node, channel, (grid,))
    part_nodes: list[int]  # node indices of parts, sorted by draw order
    clip_nodes: list[list[int]]  # per node: node indices of its clip masks


_PLANS: dict[int, _Plan] = {}


def _plan(puppet: Puppet) -> _Plan:
    key = id(puppet)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _compile(puppet)
        _PLANS[key] = plan
        weakref.finalize(puppet, _PLANS.pop, key, None)
    return plan


def _compile(puppet: Puppet) -> _Plan:
    param_index = {p.id: i for i, p in enumerate(puppet.parameters)}
    node_index = {n.id: i for i, n in enumerate(puppet.nodes)}
    parents = [node_index[n.parent] if n.parent is not None else -1 for n in puppet.nodes]
    depth = []
    for i in range(len(puppet.nodes)):
        d, cur = 0, parents[i]
        while cur >= 0:
            d, cur = d + 1, parents[cur]
        depth.append(d)
    order = sorted(range(len(puppet.nodes)), key=lambda i: depth[i])
    rest = np.array(
        [[*n.transform.translate, n.transform.rotate, *n.transform.scale, n.opacity, *n.transform.pivot]
         for n in puppet.nodes],
        dtype=np.float64,
    ).reshape(len(puppet.nodes), 8)
    deforms, channels = [], []
    for b in puppet.bindings:
        pi, ni = param_index[b.param], node_index[b.node]
        grid = puppet.parameters[pi].grid_shape
        size = int(np.prod(grid))
        if b.target is BindingTarget.DEFORM:
            deforms.append((pi, ni, np.asarray(b.values, np.float32).reshape(size, -1, 2)))
        else:
            channels.append((pi, ni, _CHANNELS[b.target], np.asarray(b.values, np.float64).reshape(size)))
    parts = [i for i, n in enumerate(puppet.nodes) if n.kind is NodeKind.PART]
    parts.sort(key=lambda i: (puppet.nodes[i].draw_order, i))
    return _Plan(
        axis_ids=[[a.id for a in p.axes] for p in puppet.parameters],
        axis_ranges=[[(a.min, a.max, a.default) for a in p.axes] for p in puppet.parameters],
        keypoints=[[np.asarray(a.keypoints, np.float64) for a in p.axes] for p in puppet.parameters],
        grid_shapes=[p.grid_shape for p in puppet.parameters],
        node_ids=[n.id for n in puppet.nodes],
        parents=parents,
        order=order,
        rest=rest,
        deforms=deforms,
        channels=channels,
        part_nodes=parts,
        clip_nodes=[[node_index[c] for c in n.clip] for n in puppet.nodes],
    )


def _corners(plan: _Plan, values: Mapping[str, float]) -> list[list[tuple[int, float]]]:
    """Per parameter: (flat grid index, weight) of the <= 4 grid corners with a non-zero weight."""
    result = []
    for axis_ids, ranges, keypoints, shape in zip(plan.axis_ids, plan.axis_ranges, plan.keypoints,
                                                  plan.grid_shapes, strict=True):
        corners: list[tuple[int, float]] = [(0, 1.0)]
        stride = 1
        # Build flat indices in C order: the last axis varies fastest.
        for axis in range(len(axis_ids) - 1, -1, -1):
            lo, hi, default = ranges[axis]
            v = values.get(axis_ids[axis], default)
            v = default if v is None or not math.isfinite(v) else min(hi, max(lo, float(v)))
            i, f = interpolation_weights(keypoints[axis], v)
            nxt = []
            for flat, w in corners:
                if f < 1.0:
                    nxt.append((flat + i * stride, w * (1.0 - f)))
                if f > 0.0:
                    nxt.append((flat + (i + 1) * stride, w * f))
            corners = nxt
            stride *= shape[axis]
        result.append(corners)
    return result


def _local_matrix(
    tx: float, ty: float, rot_deg: float, sx: float, sy: float, px: float, py: float
) -> NDArray[np.float64]:
    c, s = math.cos(math.radians(rot_deg)), math.sin(math.radians(rot_deg))
    # p' = t + pivot + R S (p - pivot)
    a, b, cc, d = c * sx, -s * sy, s * sx, c * sy
    return np.array(
        [[a, b, tx + px - (a * px + b * py)], [cc, d, ty + py - (cc * px + d * py)], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )


def evaluate(puppet: Puppet, values: Mapping[str, float] | None = None) -> DrawList:
    """The puppet's draw list at ``values`` (axis id -> value). Pure: the puppet is not changed."""
    plan = _plan(puppet)
    corners = _corners(plan, values or {})

    # 3. bindings
    offsets = np.zeros_like(plan.rest)
    for pi, ni, channel, table in plan.channels:
        offsets[ni, channel] += sum(w * table[flat] for flat, w in corners[pi])
    deform: dict[int, NDArray[np.float32]] = {}
    for pi, ni, offsets_table in plan.deforms:
        acc = deform.get(ni)
        for flat, w in corners[pi]:
            contribution = offsets_table[flat] * np.float32(w)
            acc = contribution if acc is None else acc + contribution
        if acc is not None:
            deform[ni] = acc

    # 4. transforms, parents first
    t = plan.rest + offsets
    world: list[NDArray[np.float64] | None] = [None] * len(plan.node_ids)
    opacity = [1.0] * len(plan.node_ids)
    for ni in plan.order:
        tx, ty, rot, sx, sy, op, px, py = t[ni]
        local = _local_matrix(tx, ty, rot, sx, sy, px, py)
        parent = plan.parents[ni]
        own_opacity = min(1.0, max(0.0, op))
        if parent >= 0:
            world[ni] = world[parent] @ local  # type: ignore[operator]
            opacity[ni] = opacity[parent] * own_opacity
        else:
            world[ni] = local
            opacity[ni] = own_opacity

    # 5. parts in draw order
    position = {ni: k for k, ni in enumerate(plan.part_nodes)}
    items = []
    for ni in plan.part_nodes:
        node = puppet.nodes[ni]
        mesh = node.mesh
        assert mesh is not None
        verts = mesh.vertices if ni not in deform else mesh.vertices + deform[ni]
        m = world[ni]
        assert m is not None
        if not np.array_equal(m, _IDENTITY):
            verts = (verts @ m[:2, :2].T.astype(np.float32)) + m[:2, 2].astype(np.float32)
        items.append(DrawItem(
            part=node.id,
            vertices=np.asarray(verts, np.float32),
            uvs=mesh.uvs,
            triangles=mesh.triangles,
            texture=node.texture,
            opacity=opacity[ni],
            blend_mode=node.blend_mode,
            clip=tuple(position[c] for c in plan.clip_nodes[ni]),
            visible=node.visible,
        ))
    return DrawList(canvas_size=puppet.meta.canvas_size, items=tuple(items))


_IDENTITY = np.eye(3)
