"""Read and write puppet folders (format version 1): ``puppet.json`` plus texture PNGs.

The reader is strict: unknown fields, unknown enum values, dangling references, wrong array lengths,
NaN/Infinity and out-of-range indices are :class:`~avatar_plugin.errors.PuppetFormatError` naming the file,
the JSON path, what was expected and what was found. The format is documented in ``docs/puppet-format.md``
and by the JSON Schema ``puppet.schema.json`` beside this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from avatar_plugin.errors import PuppetFormatError
from avatar_plugin.puppet.model import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Axis,
    Binding,
    BindingTarget,
    BlendMode,
    Landmarks,
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

__all__ = ["PUPPET_FILE", "SCHEMA_PATH", "puppet_to_json", "read_puppet", "write_puppet"]

PUPPET_FILE = "puppet.json"
SCHEMA_PATH = Path(__file__).with_name("puppet.schema.json")
MAX_JSON_BYTES = 512 * 1024 * 1024

T = TypeVar("T")


# ----------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------
class _Reader:
    """Walks the parsed JSON, checking types; every failure names ``file`` and the JSON path."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, path: str, expected: str, found: Any) -> PuppetFormatError:
        return PuppetFormatError(self.file, path, expected, _describe(found))

    def obj(self, value: Any, path: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
        if not isinstance(value, dict):
            raise self.fail(path, "an object", value)
        for key in value:
            if key not in required and key not in optional:
                allowed = ", ".join(sorted(required | set(optional)))
                raise PuppetFormatError(self.file, f"{path}.{key}", f"one of the known fields ({allowed})",
                                        f"unknown field {key!r}")
        for key in sorted(required):
            if key not in value:
                raise PuppetFormatError(self.file, f"{path}.{key}", "this required field", "it missing")
        return value

    def num(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(path, "a finite number", value)
        return float(value)

    def int_(self, value: Any, path: str, lo: int = 0, hi: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, "an integer", value)
        if value < lo or (hi is not None and value > hi):
            raise self.fail(path, f"an integer in {lo}..{hi if hi is not None else 'inf'}", value)
        return value

    def str_(self, value: Any, path: str, allow_empty: bool = False) -> str:
        if not isinstance(value, str) or (not allow_empty and not value):
            raise self.fail(path, "a non-empty string" if not allow_empty else "a string", value)
        return value

    def bool_(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "true or false", value)
        return value

    def list_(self, value: Any, path: str, length: int | None = None) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, "an array", value)
        if length is not None and len(value) != length:
            raise PuppetFormatError(self.file, path, f"an array of {length} items", f"{len(value)} items")
        return value

    def vec(self, value: Any, path: str, n: int) -> tuple[float, ...]:
        return tuple(self.num(v, f"{path}[{i}]") for i, v in enumerate(self.list_(value, path, n)))

    def enum(self, value: Any, path: str, enum_type: type[T]) -> T:
        options = [m.value for m in enum_type]  # type: ignore[attr-defined]
        if value not in options:
            raise self.fail(path, f"one of {options}", value)
        return enum_type(value)  # type: ignore[call-arg]

    def array(self, value: Any, path: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A nested JSON array of numbers with exactly ``shape``; names the first offending path."""
        self._check_nested(value, path, shape)
        return np.array(value, dtype=dtype)

    def _check_nested(self, value: Any, path: str, shape: tuple[int, ...]) -> None:
        if not shape:
            self.num(value, path)
            return
        items = self.list_(value, path)
        if len(items) != shape[0]:
            raise PuppetFormatError(self.file, path, f"an array of {shape[0]} items", f"{len(items)} items")
        if len(shape) == 1:
            # fast path for long flat number arrays
            for i, v in enumerate(items):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise self.fail(f"{path}[{i}]", "a finite number", v)
            return
        for i, v in enumerate(items):
            self._check_nested(v, f"{path}[{i}]", shape[1:])

    def build(self, path: str, factory: Callable[[], T]) -> T:
        """Run a dataclass constructor, turning its own checks into a format error at ``path``."""
        try:
            return factory()
        except (ValueError, TypeError) as exc:
            raise PuppetFormatError(self.file, path, "a consistent value", str(exc)) from None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) < 40 else value[:37] + "...")
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed (the format forbids NaN and Infinity)")


def read_puppet(folder: str | Path, *, load_textures: bool = True) -> Puppet:
    """Load and check a puppet folder. Raises :class:`PuppetFormatError` on any problem."""
    folder = Path(folder)
    file = folder / PUPPET_FILE
    if folder.is_file() and folder.name.endswith(".json"):
        file, folder = folder, folder.parent
    if not file.is_file():
        raise PuppetFormatError(str(file), "$", "a puppet folder holding puppet.json",
                                "no such file" if not folder.exists() else
                                f"a file, not a folder ({folder.name})" if folder.is_file() else
                                "no puppet.json in the folder")
    if file.stat().st_size > MAX_JSON_BYTES:
        raise PuppetFormatError(str(file), "$", f"at most {MAX_JSON_BYTES} bytes", f"{file.stat().st_size} bytes")
    try:
        data = json.loads(file.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise PuppetFormatError(str(file), "$", "UTF-8 text", f"undecodable bytes ({exc.reason})") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise PuppetFormatError(str(file), "$", "valid JSON", str(exc)) from None
    return puppet_from_json(data, str(file), folder if load_textures else None)


def puppet_from_json(data: Any, file: str, folder: Path | None) -> Puppet:
    """Build a :class:`Puppet` from parsed JSON. ``folder`` None skips reading texture images."""
    r = _Reader(file)
    top = r.obj(data, "$", {"format", "version", "meta", "parameters", "nodes", "bindings", "physics", "textures"})
    if top["format"] != FORMAT_NAME:
        raise r.fail("$.format", repr(FORMAT_NAME), top["format"])
    if top["version"] != FORMAT_VERSION:
        raise r.fail("$.version", f"{FORMAT_VERSION} (this avatar-plugin reads version {FORMAT_VERSION})",
                     top["version"])
    meta = _read_meta(r, top["meta"])
    textures = tuple(
        _read_texture(r, t, f"$.textures[{i}]", folder) for i, t in enumerate(r.list_(top["textures"], "$.textures"))
    )
    parameters = tuple(
        _read_parameter(r, p, f"$.parameters[{i}]") for i, p in enumerate(r.list_(top["parameters"], "$.parameters"))
    )
    nodes = tuple(_read_node(r, n, f"$.nodes[{i}]") for i, n in enumerate(r.list_(top["nodes"], "$.nodes")))
    grids = {p.id: p.grid_shape for p in parameters}
    vertex_counts = {n.id: len(n.mesh.vertices) for n in nodes if n.mesh is not None}
    bindings = tuple(
        _read_binding(r, b, f"$.bindings[{i}]", grids, vertex_counts)
        for i, b in enumerate(r.list_(top["bindings"], "$.bindings"))
    )
    physics = tuple(
        _read_chain(r, c, f"$.physics[{i}]") for i, c in enumerate(r.list_(top["physics"], "$.physics"))
    )
    # Cross references, with the JSON path of the first problem.
    try:
        return Puppet(meta=meta, parameters=parameters, nodes=nodes, bindings=bindings, physics=physics,
                      textures=textures)
    except ValueError:
        probe = object.__new__(Puppet)
        for name, value in (("meta", meta), ("parameters", parameters), ("nodes", nodes), ("bindings", bindings),
                            ("physics", physics), ("textures", textures)):
            object.__setattr__(probe, name, value)
        problem = probe.find_problem()
        assert problem is not None
        raise PuppetFormatError(file, problem[0], *problem[1].removeprefix("expected ").split(", found ", 1)) from None


def _read_meta(r: _Reader, value: Any) -> Meta:
    m = r.obj(value, "$.meta", {"name", "canvas_size"}, {"generator", "source_size", "landmarks", "extra"})
    canvas = tuple(r.int_(v, f"$.meta.canvas_size[{i}]", 1, 16384)
                   for i, v in enumerate(r.list_(m["canvas_size"], "$.meta.canvas_size", 2)))
    source = None
    if m.get("source_size") is not None:
        source = tuple(r.int_(v, f"$.meta.source_size[{i}]", 1)
                       for i, v in enumerate(r.list_(m["source_size"], "$.meta.source_size", 2)))
    landmarks = None
    if m.get("landmarks") is not None:
        lm = r.obj(m["landmarks"], "$.meta.landmarks", {"face_box", "eye_l", "eye_r", "mouth"})
        landmarks = Landmarks(
            face_box=r.vec(lm["face_box"], "$.meta.landmarks.face_box", 4),  # type: ignore[arg-type]
            eye_l=r.vec(lm["eye_l"], "$.meta.landmarks.eye_l", 2),  # type: ignore[arg-type]
            eye_r=r.vec(lm["eye_r"], "$.meta.landmarks.eye_r", 2),  # type: ignore[arg-type]
            mouth=r.vec(lm["mouth"], "$.meta.landmarks.mouth", 2),  # type: ignore[arg-type]
        )
    extra = m.get("extra", {})
    if not isinstance(extra, dict):
        raise r.fail("$.meta.extra", "an object", extra)
    return r.build("$.meta", lambda: Meta(
        name=r.str_(m["name"], "$.meta.name", allow_empty=True),
        canvas_size=canvas,  # type: ignore[arg-type]
        generator=r.str_(m.get("generator", ""), "$.meta.generator", allow_empty=True),
        source_size=source,  # type: ignore[arg-type]
        landmarks=landmarks,
        extra=extra,
    ))


def _read_texture(r: _Reader, value: Any, path: str, folder: Path | None) -> Texture:
    t = r.obj(value, path, {"file", "size"})
    name = r.str_(t["file"], f"{path}.file")
    if "/" in name or "\\" in name or name.startswith(".") or not name.lower().endswith(".png"):
        raise r.fail(f"{path}.file", "a plain PNG file name inside the puppet folder (no folders, no '..')", name)
    size = tuple(r.int_(v, f"{path}.size[{i}]", 1, 16384) for i, v in enumerate(r.list_(t["size"], f"{path}.size", 2)))
    if folder is None:
        image = np.zeros((size[1], size[0], 4), np.uint8)
    else:
        image_file = folder / name
        try:
            with Image.open(image_file) as im:
                im.load()
                image = np.asarray(im.convert("RGBA"))
        except FileNotFoundError:
            raise PuppetFormatError(str(image_file), path, "the texture file named in puppet.json",
                                    "no such file") from None
        except (OSError, ValueError) as exc:
            raise PuppetFormatError(str(image_file), path, "a readable PNG", str(exc)) from None
        if (image.shape[1], image.shape[0]) != size:
            raise r.fail(f"{path}.size", f"the image's size {[image.shape[1], image.shape[0]]}", list(size))
    return Texture(file=name, image=image)


def _read_axis(r: _Reader, value: Any, path: str) -> Axis:
    a = r.obj(value, path, {"id", "min", "max", "default", "keypoints"})
    raw_keys = r.list_(a["keypoints"], f"{path}.keypoints")
    keypoints = tuple(r.num(v, f"{path}.keypoints[{i}]") for i, v in enumerate(raw_keys))
    return r.build(path, lambda: Axis(
        id=r.str_(a["id"], f"{path}.id"), min=r.num(a["min"], f"{path}.min"), max=r.num(a["max"], f"{path}.max"),
        default=r.num(a["default"], f"{path}.default"), keypoints=keypoints,
    ))


def _read_parameter(r: _Reader, value: Any, path: str) -> Parameter:
    p = r.obj(value, path, {"id", "axes"})
    axes = tuple(_read_axis(r, a, f"{path}.axes[{i}]") for i, a in enumerate(r.list_(p["axes"], f"{path}.axes")))
    return r.build(path, lambda: Parameter(id=r.str_(p["id"], f"{path}.id"), axes=axes))


def _read_transform(r: _Reader, value: Any, path: str) -> Transform:
    t = r.obj(value, path, set(), {"translate", "rotate", "scale", "pivot"})
    return Transform(
        translate=r.vec(t.get("translate", [0, 0]), f"{path}.translate", 2),  # type: ignore[arg-type]
        rotate=r.num(t.get("rotate", 0.0), f"{path}.rotate"),
        scale=r.vec(t.get("scale", [1, 1]), f"{path}.scale", 2),  # type: ignore[arg-type]
        pivot=r.vec(t.get("pivot", [0, 0]), f"{path}.pivot", 2),  # type: ignore[arg-type]
    )


_GROUP_FIELDS = {"id", "kind", "parent", "name", "transform"}
_PART_FIELDS = _GROUP_FIELDS | {"mesh", "texture", "draw_order", "opacity", "blend_mode", "clip", "visible"}


def _read_node(r: _Reader, value: Any, path: str) -> Node:
    if not isinstance(value, dict):
        raise r.fail(path, "an object", value)
    kind = r.enum(value.get("kind"), f"{path}.kind", NodeKind)
    if kind is NodeKind.GROUP:
        n = r.obj(value, path, {"id", "kind"}, _GROUP_FIELDS)
    else:
        n = r.obj(value, path, {"id", "kind", "mesh", "texture", "draw_order"}, _PART_FIELDS)
    parent = n.get("parent")
    if parent is not None:
        parent = r.str_(parent, f"{path}.parent")
    transform = _read_transform(r, n.get("transform", {}), f"{path}.transform")
    if kind is NodeKind.GROUP:
        return r.build(path, lambda: Node(id=r.str_(n["id"], f"{path}.id"), kind=kind, parent=parent,
                                          name=r.str_(n.get("name", ""), f"{path}.name", True), transform=transform))
    mesh = _read_mesh(r, n["mesh"], f"{path}.mesh")
    opacity = r.num(n.get("opacity", 1.0), f"{path}.opacity")
    if not 0 <= opacity <= 1:
        raise r.fail(f"{path}.opacity", "a number in 0..1", opacity)
    clip = tuple(r.str_(c, f"{path}.clip[{i}]") for i, c in enumerate(r.list_(n.get("clip", []), f"{path}.clip")))
    return r.build(path, lambda: Node(
        id=r.str_(n["id"], f"{path}.id"), kind=kind, parent=parent,
        name=r.str_(n.get("name", ""), f"{path}.name", True), transform=transform, mesh=mesh,
        texture=r.int_(n["texture"], f"{path}.texture"), draw_order=r.num(n["draw_order"], f"{path}.draw_order"),
        opacity=opacity, blend_mode=r.enum(n.get("blend_mode", "normal"), f"{path}.blend_mode", BlendMode),
        clip=clip, visible=r.bool_(n.get("visible", True), f"{path}.visible"),
    ))


def _read_mesh(r: _Reader, value: Any, path: str) -> Mesh:
    m = r.obj(value, path, {"vertices", "uvs", "triangles"})
    nv = len(r.list_(m["vertices"], f"{path}.vertices"))
    if nv < 3:
        raise r.fail(f"{path}.vertices", "at least 3 vertices", m["vertices"])
    vertices = r.array(m["vertices"], f"{path}.vertices", (nv, 2), np.float32)
    uvs = r.array(m["uvs"], f"{path}.uvs", (nv, 2), np.float32)
    nt = len(r.list_(m["triangles"], f"{path}.triangles"))
    if nt < 1:
        raise r.fail(f"{path}.triangles", "at least 1 triangle", m["triangles"])
    for i, tri in enumerate(m["triangles"]):
        for j, idx in enumerate(r.list_(tri, f"{path}.triangles[{i}]", 3)):
            r.int_(idx, f"{path}.triangles[{i}][{j}]", 0, nv - 1)
    triangles = np.array(m["triangles"], dtype=np.int32)
    return r.build(path, lambda: Mesh(vertices=vertices, uvs=uvs, triangles=triangles))


def _read_binding(r: _Reader, value: Any, path: str, grids: Mapping[str, tuple[int, ...]],
                  vertex_counts: Mapping[str, int]) -> Binding:
    b = r.obj(value, path, {"param", "node", "target", "values"})
    param = r.str_(b["param"], f"{path}.param")
    node = r.str_(b["node"], f"{path}.node")
    target = r.enum(b["target"], f"{path}.target", BindingTarget)
    if param not in grids:
        raise r.fail(f"{path}.param", "an existing parameter id", param)
    if target is BindingTarget.DEFORM:
        if node not in vertex_counts:
            raise r.fail(f"{path}.node", "an existing part id (deform needs a mesh)", node)
        shape = (*grids[param], vertex_counts[node], 2)
        dtype: Any = np.float32
    else:
        shape = grids[param]
        dtype = np.float64
    values = r.array(b["values"], f"{path}.values", shape, dtype)
    return r.build(path, lambda: Binding(param=param, node=node, target=target, values=values))


def _read_chain(r: _Reader, value: Any, path: str) -> PhysicsChain:
    c = r.obj(value, path, {"id", "inputs", "outputs"}, {"length", "segments", "damping", "stiffness", "gravity"})
    inputs = []
    for i, v in enumerate(r.list_(c["inputs"], f"{path}.inputs")):
        p = f"{path}.inputs[{i}]"
        d = r.obj(v, p, {"param", "kind", "weight"})
        inputs.append(r.build(p, lambda d=d, p=p: PhysicsInput(  # type: ignore[misc]
            param=r.str_(d["param"], f"{p}.param"), kind=r.str_(d["kind"], f"{p}.kind"),
            weight=r.num(d["weight"], f"{p}.weight"))))
    outputs = []
    for i, v in enumerate(r.list_(c["outputs"], f"{path}.outputs")):
        p = f"{path}.outputs[{i}]"
        d = r.obj(v, p, {"param", "angle_range"}, {"weight"})
        outputs.append(r.build(p, lambda d=d, p=p: PhysicsOutput(  # type: ignore[misc]
            param=r.str_(d["param"], f"{p}.param"), angle_range=r.num(d["angle_range"], f"{p}.angle_range"),
            weight=r.num(d.get("weight", 1.0), f"{p}.weight"))))
    return r.build(path, lambda: PhysicsChain(
        id=r.str_(c["id"], f"{path}.id"), inputs=tuple(inputs), outputs=tuple(outputs),
        length=r.num(c.get("length", 100.0), f"{path}.length"),
        segments=r.int_(c.get("segments", 2), f"{path}.segments", 1, 16),
        damping=r.num(c.get("damping", 0.5), f"{path}.damping"),
        stiffness=r.num(c.get("stiffness", 0.2), f"{path}.stiffness"),
        gravity=r.num(c.get("gravity", 980.0), f"{path}.gravity"),
    ))


# ----------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------
def _floats(array: np.ndarray) -> Any:
    """Nested lists of Python floats; float32 values are written with their shortest float32 text.

    ``float(np.float32(x))`` would print a long float64 repr; the shortest float32 text reads back to the
    same float32, so ``read(write(p)) == p`` holds and files stay small.
    """
    if array.dtype == np.float32:
        shortest = np.array([float(str(x)) for x in array.ravel()], dtype=np.float64)
        return shortest.reshape(array.shape).tolist()
    return array.tolist()


def _transform_json(t: Transform) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if t.translate != (0.0, 0.0):
        out["translate"] = list(t.translate)
    if t.rotate != 0.0:
        out["rotate"] = t.rotate
    if t.scale != (1.0, 1.0):
        out["scale"] = list(t.scale)
    if t.pivot != (0.0, 0.0):
        out["pivot"] = list(t.pivot)
    return out


def _node_json(n: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"id": n.id, "kind": n.kind.value}
    if n.parent is not None:
        out["parent"] = n.parent
    if n.name:
        out["name"] = n.name
    transform = _transform_json(n.transform)
    if transform:
        out["transform"] = transform
    if n.mesh is not None:
        out.update(
            mesh={"vertices": _floats(n.mesh.vertices), "uvs": _floats(n.mesh.uvs),
                  "triangles": n.mesh.triangles.tolist()},
            texture=n.texture, draw_order=n.draw_order, opacity=n.opacity, blend_mode=n.blend_mode.value,
            clip=list(n.clip), visible=n.visible,
        )
    return out


def puppet_to_json(puppet: Puppet) -> dict[str, Any]:
    """The puppet as the JSON object of ``puppet.json`` (textures referenced by file name)."""
    m = puppet.meta
    meta: dict[str, Any] = {"name": m.name, "canvas_size": list(m.canvas_size), "generator": m.generator}
    if m.source_size is not None:
        meta["source_size"] = list(m.source_size)
    if m.landmarks is not None:
        lm = m.landmarks
        meta["landmarks"] = {"face_box": list(lm.face_box), "eye_l": list(lm.eye_l), "eye_r": list(lm.eye_r),
                             "mouth": list(lm.mouth)}
    if m.extra:
        meta["extra"] = dict(m.extra)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "meta": meta,
        "textures": [{"file": t.file, "size": list(t.size)} for t in puppet.textures],
        "parameters": [
            {"id": p.id, "axes": [{"id": a.id, "min": a.min, "max": a.max, "default": a.default,
                                   "keypoints": list(a.keypoints)} for a in p.axes]}
            for p in puppet.parameters
        ],
        "nodes": [_node_json(n) for n in puppet.nodes],
        "bindings": [{"param": b.param, "node": b.node, "target": b.target.value, "values": _floats(b.values)}
                     for b in puppet.bindings],
        "physics": [
            {"id": c.id, "inputs": [{"param": i.param, "kind": i.kind, "weight": i.weight} for i in c.inputs],
             "outputs": [{"param": o.param, "angle_range": o.angle_range, "weight": o.weight} for o in c.outputs],
             "length": c.length, "segments": c.segments, "damping": c.damping, "stiffness": c.stiffness,
             "gravity": c.gravity}
            for c in puppet.physics
        ],
    }


def write_puppet(puppet: Puppet, folder: str | Path) -> Path:
    """Write ``puppet.json`` and the texture PNGs into ``folder`` (created if needed). Returns the JSON path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for texture in puppet.textures:
        Image.fromarray(np.ascontiguousarray(texture.image)).save(folder / texture.file, optimize=False)
    path = folder / PUPPET_FILE
    text = json.dumps(puppet_to_json(puppet), allow_nan=False, separators=(",", ":"))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
