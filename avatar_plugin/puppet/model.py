"""The puppet definition: frozen, checked-when-built data (format version 1).

A puppet is parameters, a node tree of groups and textured triangle-mesh parts, bindings from parameters to
nodes, pendulum physics and metadata. Runtime values (parameter values, physics state) live elsewhere
(:mod:`avatar_plugin.puppet.evaluate`, :mod:`avatar_plugin.puppet.physics`).

Array contracts (checked in ``__post_init__``):

- ``Mesh.vertices``: (N, 2) float32, canvas pixels, origin top-left, +y down.
- ``Mesh.uvs``: (N, 2) float32, 0..1 in the part's texture, (0, 0) = top-left texel corner.
- ``Mesh.triangles``: (T, 3) int32, indices into ``vertices``.
- ``Binding.values``: deform -> (K0[, K1], N, 2) float32 pixel offsets; transform channels -> (K0[, K1]) float64.
- ``Texture.image``: (H, W, 4) uint8 RGBA, straight (not premultiplied) alpha.

Arrays are made read-only so a frozen dataclass is really frozen. Equality compares arrays by value, which
is what the round-trip test ``read(write(p)) == p`` needs.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Axis",
    "Binding",
    "BindingTarget",
    "BlendMode",
    "Landmarks",
    "Mesh",
    "Meta",
    "Node",
    "NodeKind",
    "Parameter",
    "PhysicsChain",
    "PhysicsInput",
    "PhysicsOutput",
    "Puppet",
    "Texture",
    "Transform",
]

FORMAT_NAME = "avatar-plugin-puppet"
FORMAT_VERSION = 1


class _Eq:
    """Dataclass equality that compares numpy arrays by value (shape, dtype kind and contents)."""

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
                    return False
                if a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


def _frozen_array(value: Any, dtype: Any, name: str, shape_rule: str) -> NDArray[Any]:
    array = np.array(value, dtype=dtype, copy=True)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: expected finite numbers, found NaN or Infinity")
    array.setflags(write=False)
    return array


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class NodeKind(str, enum.Enum):
    GROUP = "group"
    PART = "part"


class BlendMode(str, enum.Enum):
    """How a part is composited (premultiplied alpha; the same formulas in Python and WebGL)."""

    NORMAL = "normal"  # src + dst * (1 - src_a)
    MULTIPLY = "multiply"  # src * dst + dst * (1 - src_a)
    SCREEN = "screen"  # src + dst * (1 - src)
    ADD = "add"  # src + dst


class BindingTarget(str, enum.Enum):
    """What a binding drives. Transform channels add to the node's rest transform."""

    DEFORM = "deform"
    TRANSLATE_X = "translate_x"
    TRANSLATE_Y = "translate_y"
    ROTATE = "rotate"  # degrees, + = clockwise on screen (y down)
    SCALE_X = "scale_x"
    SCALE_Y = "scale_y"
    OPACITY = "opacity"


@dataclass(frozen=True, eq=False)
class Axis(_Eq):
    """One input axis of a parameter: a Live2D standard id (or a custom one), its range and keypoints."""

    id: str
    min: float
    max: float
    default: float
    keypoints: tuple[float, ...]

    def __post_init__(self) -> None:
        _check(bool(self.id), "axis id: expected a non-empty string")
        _check(all(math.isfinite(v) for v in (self.min, self.max, self.default)), f"{self.id}: finite range")
        _check(self.min < self.max, f"{self.id}: expected min < max, found {self.min} >= {self.max}")
        _check(self.min <= self.default <= self.max, f"{self.id}: default {self.default} outside range")
        _check(len(self.keypoints) >= 2, f"{self.id}: expected at least 2 keypoints, found {len(self.keypoints)}")
        _check(
            all(a < b for a, b in zip(self.keypoints, self.keypoints[1:], strict=False)),
            f"{self.id}: keypoints must be strictly increasing, found {list(self.keypoints)}",
        )
        _check(
            self.keypoints[0] == self.min and self.keypoints[-1] == self.max,
            f"{self.id}: keypoints must start at min and end at max, found {list(self.keypoints)}",
        )

    def clamp(self, value: float) -> float:
        return min(self.max, max(self.min, value))


@dataclass(frozen=True, eq=False)
class Parameter(_Eq):
    """A 1-D parameter (one axis, whose id is the parameter id) or a 2-D grid (two axes, e.g. AngleX x AngleY)."""

    id: str
    axes: tuple[Axis, ...]

    def __post_init__(self) -> None:
        _check(len(self.axes) in (1, 2), f"parameter {self.id}: expected 1 or 2 axes, found {len(self.axes)}")
        if len(self.axes) == 1:
            _check(
                self.axes[0].id == self.id,
                f"parameter {self.id}: a 1-D parameter's axis id must equal its id, found {self.axes[0].id}",
            )

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(a.keypoints) for a in self.axes)


@dataclass(frozen=True, eq=False)
class Transform(_Eq):
    """Local transform: ``p' = translate + pivot + R(rotate) S(scale) (p - pivot)``, pivot in the node's space."""

    translate: tuple[float, float] = (0.0, 0.0)
    rotate: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    pivot: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        values = (*self.translate, self.rotate, *self.scale, *self.pivot)
        _check(all(math.isfinite(v) for v in values), "transform: expected finite numbers")


@dataclass(frozen=True, eq=False)
class Mesh(_Eq):
    """A triangle mesh in canvas pixels with UVs into its texture (see module docstring for the contract)."""

    vertices: NDArray[np.float32]
    uvs: NDArray[np.float32]
    triangles: NDArray[np.int32]

    def __post_init__(self) -> None:
        object.__setattr__(self, "vertices", _frozen_array(self.vertices, np.float32, "vertices", "(N, 2)"))
        object.__setattr__(self, "uvs", _frozen_array(self.uvs, np.float32, "uvs", "(N, 2)"))
        object.__setattr__(self, "triangles", _frozen_array(self.triangles, np.int32, "triangles", "(T, 3)"))
        v, uv, tri = self.vertices, self.uvs, self.triangles
        _check(v.ndim == 2 and v.shape[1] == 2 and len(v) >= 3, f"vertices: expected (N>=3, 2), found {v.shape}")
        _check(uv.shape == v.shape, f"uvs: expected {v.shape} like vertices, found {uv.shape}")
        _check(tri.ndim == 2 and tri.shape[1] == 3 and len(tri) >= 1, f"triangles: expected (T, 3), found {tri.shape}")
        _check(
            int(tri.min()) >= 0 and int(tri.max()) < len(v),
            f"triangles: expected indices in 0..{len(v) - 1}, found {int(tri.min())}..{int(tri.max())}",
        )


@dataclass(frozen=True, eq=False)
class Node(_Eq):
    """A group or a part in the node tree. Parts carry a mesh, a texture index and drawing settings."""

    id: str
    kind: NodeKind
    parent: str | None = None
    name: str = ""
    transform: Transform = field(default_factory=Transform)
    # Part-only fields (must be left at their defaults for groups):
    mesh: Mesh | None = None
    texture: int = 0
    draw_order: float = 0.0
    opacity: float = 1.0
    blend_mode: BlendMode = BlendMode.NORMAL
    clip: tuple[str, ...] = ()  # ids of parts whose drawn shape clips this part (e.g. iris by eye white)
    visible: bool = True

    def __post_init__(self) -> None:
        _check(bool(self.id), "node id: expected a non-empty string")
        object.__setattr__(self, "kind", NodeKind(self.kind))
        object.__setattr__(self, "blend_mode", BlendMode(self.blend_mode))
        _check(0.0 <= self.opacity <= 1.0, f"node {self.id}: opacity {self.opacity} outside 0..1")
        _check(math.isfinite(self.draw_order), f"node {self.id}: draw_order must be finite")
        if self.kind is NodeKind.PART:
            _check(self.mesh is not None, f"part {self.id}: expected a mesh")
        else:
            _check(self.mesh is None and not self.clip, f"group {self.id}: groups have no mesh or clip")


@dataclass(frozen=True, eq=False)
class Binding(_Eq):
    """A parameter drives one channel of one node, with a value at every keypoint of the parameter's grid."""

    param: str
    node: str
    target: BindingTarget
    values: NDArray[Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", BindingTarget(self.target))
        dtype = np.float32 if self.target is BindingTarget.DEFORM else np.float64
        object.__setattr__(self, "values", _frozen_array(self.values, dtype, "values", ""))


@dataclass(frozen=True, eq=False)
class PhysicsInput(_Eq):
    """An input of a pendulum chain. ``kind``: ``"x"`` moves the anchor sideways, ``"angle"`` tilts gravity.

    The parameter value is normalised to -1..1 over its range, times ``weight``.
    """

    param: str
    kind: str
    weight: float

    def __post_init__(self) -> None:
        _check(self.kind in ("x", "y", "angle"), f"physics input {self.param}: kind {self.kind!r} not x/y/angle")
        _check(math.isfinite(self.weight), f"physics input {self.param}: weight must be finite")


@dataclass(frozen=True, eq=False)
class PhysicsOutput(_Eq):
    """An output: the chain's swing angle (degrees, + = tip toward screen-right) / ``angle_range`` -> value."""

    param: str
    angle_range: float
    weight: float = 1.0

    def __post_init__(self) -> None:
        _check(self.angle_range > 0, f"physics output {self.param}: angle_range must be > 0")


@dataclass(frozen=True, eq=False)
class PhysicsChain(_Eq):
    """A pendulum chain of ``segments`` point masses hanging from an anchor (Cubism physics3-like).

    ``length``: total length in canvas pixels; ``damping``: velocity decays as exp(-12 damping t); ``stiffness``:
    pull back toward the rest (hanging) shape, 0 = free pendulum.
    """

    id: str
    inputs: tuple[PhysicsInput, ...]
    outputs: tuple[PhysicsOutput, ...]
    length: float = 100.0
    segments: int = 2
    damping: float = 0.5
    stiffness: float = 0.2
    gravity: float = 980.0  # px / s^2

    def __post_init__(self) -> None:
        _check(len(self.inputs) >= 1 and len(self.outputs) >= 1, f"physics {self.id}: needs inputs and outputs")
        _check(self.length > 0 and 1 <= self.segments <= 16, f"physics {self.id}: length > 0, 1..16 segments")
        _check(0 <= self.damping <= 10 and 0 <= self.stiffness <= 10, f"physics {self.id}: damping/stiffness 0..10")
        _check(self.gravity > 0, f"physics {self.id}: gravity must be > 0")


@dataclass(frozen=True, eq=False)
class Landmarks(_Eq):
    """Detected landmarks in source-image pixels. ``eye_l`` is the CHARACTER's left eye (on the image's right)."""

    face_box: tuple[float, float, float, float]
    eye_l: tuple[float, float]
    eye_r: tuple[float, float]
    mouth: tuple[float, float]


@dataclass(frozen=True, eq=False)
class Meta(_Eq):
    name: str
    canvas_size: tuple[int, int]  # (width, height) of the puppet's canvas, pixels
    generator: str = ""
    source_size: tuple[int, int] | None = None
    landmarks: Landmarks | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # free-form notes (strings/numbers only)

    def __post_init__(self) -> None:
        w, h = self.canvas_size
        _check(1 <= w <= 16384 and 1 <= h <= 16384, f"canvas_size {self.canvas_size}: expected 1..16384 each")


@dataclass(frozen=True, eq=False)
class Texture(_Eq):
    """A texture atlas page. ``file`` is relative to the puppet folder."""

    file: str
    image: NDArray[np.uint8]

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        _check(
            image.ndim == 3 and image.shape[2] == 4 and image.dtype == np.uint8,
            f"texture {self.file}: expected (H, W, 4) uint8 RGBA, found {image.shape} {image.dtype}",
        )
        image = image.copy()
        image.setflags(write=False)
        object.__setattr__(self, "image", image)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True, eq=False)
class Puppet(_Eq):
    """A whole puppet. Cross-references (parents, clips, bindings, physics) are checked by :meth:`check`."""

    meta: Meta
    parameters: tuple[Parameter, ...]
    nodes: tuple[Node, ...]
    bindings: tuple[Binding, ...]
    physics: tuple[PhysicsChain, ...]
    textures: tuple[Texture, ...]

    def __post_init__(self) -> None:
        problem = self.find_problem()
        if problem is not None:
            raise ValueError(f"{problem[0]}: {problem[1]}")

    # --- lookups -------------------------------------------------------------------------------------
    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def parameter(self, param_id: str) -> Parameter:
        for p in self.parameters:
            if p.id == param_id:
                return p
        raise KeyError(param_id)

    def axes(self) -> dict[str, Axis]:
        """Every input axis by id (the names a caller sets values with)."""
        return {a.id: a for p in self.parameters for a in p.axes}

    def defaults(self) -> dict[str, float]:
        return {a.id: a.default for p in self.parameters for a in p.axes}

    def parts(self) -> list[Node]:
        return [n for n in self.nodes if n.kind is NodeKind.PART]

    # --- consistency ---------------------------------------------------------------------------------
    def find_problem(self) -> tuple[str, str] | None:
        """The first cross-reference problem as (JSON path, message), or None. Used by the loader too."""
        ids: dict[str, int] = {}
        for i, n in enumerate(self.nodes):
            if n.id in ids:
                return f"$.nodes[{i}].id", f"expected a unique node id, found duplicate {n.id!r}"
            ids[n.id] = i
        for i, n in enumerate(self.nodes):
            if n.parent is not None:
                if n.parent not in ids:
                    return f"$.nodes[{i}].parent", f"expected an existing node id, found {n.parent!r}"
                if self.nodes[ids[n.parent]].kind is not NodeKind.GROUP:
                    return f"$.nodes[{i}].parent", f"expected a group, found part {n.parent!r}"
            # cycle check: walk up at most len(nodes) steps
            seen, cur = 0, n.parent
            while cur is not None:
                seen += 1
                if seen > len(self.nodes):
                    return f"$.nodes[{i}].parent", f"expected a tree, found a parent cycle through {n.id!r}"
                cur = self.nodes[ids[cur]].parent
            if n.kind is NodeKind.PART:
                if not 0 <= n.texture < len(self.textures):
                    return f"$.nodes[{i}].texture", f"expected 0..{len(self.textures) - 1}, found {n.texture}"
                for j, c in enumerate(n.clip):
                    if c not in ids or self.nodes[ids[c]].kind is not NodeKind.PART or c == n.id:
                        return f"$.nodes[{i}].clip[{j}]", f"expected another part's id, found {c!r}"
        axes: dict[str, Axis] = {}
        params: dict[str, Parameter] = {}
        for i, p in enumerate(self.parameters):
            if p.id in params:
                return f"$.parameters[{i}].id", f"expected a unique parameter id, found duplicate {p.id!r}"
            params[p.id] = p
            for k, a in enumerate(p.axes):
                if a.id in axes:
                    return f"$.parameters[{i}].axes[{k}].id", f"expected a unique axis id, found {a.id!r}"
                axes[a.id] = a
        for i, b in enumerate(self.bindings):
            if b.param not in params:
                return f"$.bindings[{i}].param", f"expected an existing parameter id, found {b.param!r}"
            if b.node not in ids:
                return f"$.bindings[{i}].node", f"expected an existing node id, found {b.node!r}"
            grid = params[b.param].grid_shape
            node = self.nodes[ids[b.node]]
            if b.target is BindingTarget.DEFORM:
                if node.mesh is None:
                    return f"$.bindings[{i}].target", f"expected deform only on parts, found group {b.node!r}"
                want = (*grid, len(node.mesh.vertices), 2)
            else:
                want = grid
            if b.values.shape != want:
                return (
                    f"$.bindings[{i}].values",
                    f"expected shape {list(want)} (keypoints{' x vertices x 2' if len(want) > len(grid) else ''}),"
                    f" found {list(b.values.shape)}",
                )
        for i, chain in enumerate(self.physics):
            for j, inp in enumerate(chain.inputs):
                if inp.param not in axes:
                    return f"$.physics[{i}].inputs[{j}].param", f"expected an existing axis id, found {inp.param!r}"
            for j, out in enumerate(chain.outputs):
                if out.param not in axes:
                    return f"$.physics[{i}].outputs[{j}].param", f"expected an existing axis id, found {out.param!r}"
        return None
