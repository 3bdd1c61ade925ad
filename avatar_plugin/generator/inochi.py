"""Inochi2D 0.8 puppets (``.inp``): a writer (``puppet_to_inp``) and a strict checker (``check_inp``).

The rules come from ``docs`` / the shared reference "Inochi2D puppet files" (sections 6 and 9): what makes the
0.8 D loader (Inochi Creator / Inochi Session) or Inox2D refuse a file or crash later. The checker applies all of
them and a few stricter ones of our own (no dangling references, no ``Cubic`` interpolation); the writer's output
must pass it, which the tests check on every exported file.

Mapping from our format:

- our canvas (origin top-left) -> Inochi space centred on the canvas (Creator's PSD-import convention);
- groups -> ``Node`` placed at their pivot, parts -> ``Part`` with vertices relative to their node's origin;
- deform bindings -> ``deform``; translate -> ``transform.t.x/y``; rotate (degrees) -> ``transform.r.z``
  (radians); scale offsets -> ``transform.s.x/y`` (factor = 1 + offset); opacity -> ``opacity`` (rest + offset,
  the Part's own opacity set to 1);
- clip masks -> ``masks`` with mode ``Mask``; physics chains -> ``SimplePhysics`` (Pendulum, AngleLength) on
  the head driving the hair parameters;
- textures -> premultiplied RGBA PNG (encoding byte 0);
- Inochi Session tracking bindings in ``EXT_SECT`` (``com.inochi2d.inochi-session.bindings``) so the puppet
  tracks out of the box.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from avatar_plugin._version import __version__
from avatar_plugin.puppet.model import BindingTarget, BlendMode, NodeKind, Parameter, Puppet

__all__ = ["SESSION_EXT", "InpFile", "check_inp", "check_inp_bytes", "puppet_to_inp", "read_inp", "write_inp"]

MAGIC = b"TRNSRTS\x00"
TEX_SECT = b"TEX_SECT"
EXT_SECT = b"EXT_SECT"
SESSION_EXT = "com.inochi2d.inochi-session.bindings"
NO_TEXTURE = 0xFFFFFFFF
_ROOT_UUID = 1

NODE_TYPES = {"Node", "Part", "Composite", "MeshGroup", "SimplePhysics"}
BLEND_MODES = {"Normal", "Multiply", "Screen", "Overlay", "Darken", "Lighten", "ColorDodge", "LinearDodge",
               "AddGlow", "ColorBurn", "HardLight", "SoftLight", "Difference", "Exclusion", "Subtract", "Inverse",
               "DestinationIn", "ClipToLower", "SliceFromLower"}
MASK_MODES = {"Mask", "DodgeMask"}
MERGE_MODES = {"Additive", "Weighted", "Multiplicative", "Forced", "Passthrough"}
INTERPOLATE_MODES = {"Linear", "Nearest"}  # Cubic works in D but not in Inox2D; Stepped/Bezier crash
VALUE_TARGETS = {"transform.t.x", "transform.t.y", "transform.t.z", "transform.r.x", "transform.r.y",
                 "transform.r.z", "transform.s.x", "transform.s.y", "zSort"}
PART_TARGETS = {"opacity", "tint.r", "tint.g", "tint.b", "screenTint.r", "screenTint.g", "screenTint.b",
                "emissionStrength", "alphaThreshold"}
PHYSICS_TARGETS = {"gravity", "frequency", "angleDamping", "lengthDamping", "outputScale.x", "outputScale.y", "length"}
SOURCE_TYPES = {"Blendshape", "BonePosX", "BonePosY", "BonePosZ", "BoneRotRoll", "BoneRotPitch", "BoneRotYaw"}
BINDING_TYPES = {"RatioBinding", "ExpressionBinding", "External"}
_BLEND = {BlendMode.NORMAL: "Normal", BlendMode.MULTIPLY: "Multiply", BlendMode.SCREEN: "Screen",
          BlendMode.ADD: "LinearDodge"}
_TARGET = {BindingTarget.TRANSLATE_X: "transform.t.x", BindingTarget.TRANSLATE_Y: "transform.t.y",
           BindingTarget.ROTATE: "transform.r.z", BindingTarget.SCALE_X: "transform.s.x",
           BindingTarget.SCALE_Y: "transform.s.y", BindingTarget.OPACITY: "opacity"}

# (axis id, source name, source type, input range, inverse) for Inochi Session's default tracking bindings
_TRACKING = [
    ("ParamAngleX", "Head", "BoneRotYaw", (-30.0, 30.0), False),
    ("ParamAngleY", "Head", "BoneRotPitch", (-30.0, 30.0), False),
    ("ParamAngleZ", "Head", "BoneRotRoll", (-30.0, 30.0), False),
    ("ParamEyeLOpen", "ftEyeBlinkLeft", "Blendshape", (0.0, 1.0), True),
    ("ParamEyeROpen", "ftEyeBlinkRight", "Blendshape", (0.0, 1.0), True),
    ("ParamEyeBallX", "ftEyeXLeft", "Blendshape", (-1.0, 1.0), False),
    ("ParamEyeBallY", "ftEyeYLeft", "Blendshape", (-1.0, 1.0), False),
    ("ParamMouthOpenY", "ftMouthOpen", "Blendshape", (0.0, 1.0), False),
    ("ParamMouthForm", "ftMouthEmotion", "Blendshape", (0.0, 1.0), False),
]


@dataclass(frozen=True)
class InpFile:
    """A parsed container: the JSON payload, the raw texture slots (encoding, bytes) and EXT payloads."""

    payload: dict[str, Any]
    textures: list[tuple[int, bytes]]
    extensions: dict[str, bytes]


# ----------------------------------------------------------------------------------------------------------
# writer
# ----------------------------------------------------------------------------------------------------------
def _png_premultiplied(image: np.ndarray) -> bytes:
    rgba = image.copy()
    rgba[..., :3] = ((image[..., :3].astype(np.uint16) * image[..., 3:4] + 127) // 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _transform(x: float = 0.0, y: float = 0.0) -> dict[str, Any]:
    return {"trans": [float(x), float(y), 0.0], "rot": [0.0, 0.0, 0.0], "scale": [1.0, 1.0]}


def _axis_json(p: Parameter) -> dict[str, Any]:
    axes = p.axes
    points = [[(k - a.min) / (a.max - a.min) for k in a.keypoints] for a in axes]
    if len(axes) == 1:
        a = axes[0]
        return {"is_vec2": False, "min": [a.min, 0.0], "max": [a.max, 1.0], "defaults": [a.default, 0.0],
                "axis_points": [points[0], [0.0]]}
    return {"is_vec2": True, "min": [axes[0].min, axes[1].min], "max": [axes[0].max, axes[1].max],
            "defaults": [axes[0].default, axes[1].default], "axis_points": points}


def puppet_to_inp(puppet: Puppet, name: str | None = None) -> bytes:
    """The puppet as the bytes of an Inochi2D 0.8 ``.inp`` file."""
    W, H = puppet.meta.canvas_size
    centre = np.array([W / 2.0, H / 2.0])
    for n in puppet.nodes:
        t = n.transform
        if t.translate != (0.0, 0.0) or t.rotate != 0.0 or t.scale != (1.0, 1.0):
            raise ValueError(f"inp export: node {n.id} has a rest transform; only identity rest transforms map")
    uuid: dict[str, int] = {n.id: 100 + i for i, n in enumerate(puppet.nodes)}
    param_uuid: dict[str, int] = {p.id: 5000 + i for i, p in enumerate(puppet.parameters)}
    transformed = {b.node for b in puppet.bindings if b.target is not BindingTarget.DEFORM}
    opacity_bound = {b.node for b in puppet.bindings if b.target is BindingTarget.OPACITY}
    by_id = {n.id: n for n in puppet.nodes}
    origin: dict[str, np.ndarray] = {}

    def node_origin(node_id: str | None) -> np.ndarray:
        if node_id is None:
            return centre
        if node_id not in origin:
            n = by_id[node_id]
            if n.kind is NodeKind.GROUP or n.id in transformed:
                origin[node_id] = np.array(n.transform.pivot, np.float64)
            else:
                origin[node_id] = node_origin(n.parent)
        return origin[node_id]

    children: dict[str | None, list[str]] = {}
    for n in puppet.nodes:
        children.setdefault(n.parent, []).append(n.id)

    def build(node_id: str) -> dict[str, Any]:
        n = by_id[node_id]
        o = node_origin(node_id)
        rel = o - node_origin(n.parent)
        out: dict[str, Any] = {"uuid": uuid[node_id], "name": n.name or n.id,
                               "type": "Part" if n.kind is NodeKind.PART else "Node", "enabled": True,
                               "zsort": 0.0, "transform": _transform(*rel), "lockToRoot": False}
        if n.kind is NodeKind.PART and n.mesh is not None:
            verts = (n.mesh.vertices.astype(np.float64) - o).ravel()
            out["zsort"] = -float(n.draw_order)  # more negative = in front; parents are at 0
            out["mesh"] = {"verts": np.round(verts, 3).tolist(),
                           "uvs": np.round(n.mesh.uvs.astype(np.float64).ravel(), 6).tolist(),
                           "indices": n.mesh.triangles.astype(np.int64).ravel().tolist(), "origin": [0.0, 0.0]}
            out["textures"] = [int(n.texture), NO_TEXTURE, NO_TEXTURE]
            out["blend_mode"] = _BLEND[n.blend_mode]
            out["tint"] = [1.0, 1.0, 1.0]
            out["screenTint"] = [0.0, 0.0, 0.0]
            out["emissionStrength"] = 1.0
            out["mask_threshold"] = 0.5
            out["opacity"] = 1.0 if n.id in opacity_bound else float(n.opacity)
            if not n.visible:
                out["enabled"] = False
            if n.clip:
                out["masks"] = [{"source": uuid[c], "mode": "Mask"} for c in n.clip]
        kids = [build(c) for c in children.get(node_id, [])]
        if node_id == head_id:
            kids.extend(physics_nodes)
        if kids:
            out["children"] = kids
        return out

    head_id = "head" if "head" in by_id else next(n.id for n in puppet.nodes if n.parent is None)
    physics_nodes = []
    lm = puppet.meta.landmarks
    anchor_y = (lm.face_box[1] if lm is not None else H * 0.25) - by_id[head_id].transform.pivot[1]
    for k, chain in enumerate(puppet.physics):
        out = chain.outputs[0]
        physics_nodes.append({
            "uuid": 9000 + k, "name": f"Physics {chain.id}", "type": "SimplePhysics", "enabled": True, "zsort": 0.0,
            "transform": _transform(0.0, anchor_y), "lockToRoot": False,
            "param": param_uuid[_param_of_axis(puppet, out.param)], "model_type": "Pendulum",
            "map_mode": "AngleLength", "gravity": 1.0, "length": float(chain.length), "frequency": 1.0,
            "angle_damping": float(min(1.0, max(0.05, chain.damping))), "length_damping": 0.5,
            "output_scale": [float(180.0 / out.angle_range * out.weight), 1.0], "local_only": False,
        })

    roots = children.get(None, [])
    root = {"uuid": _ROOT_UUID, "name": "Root", "type": "Node", "enabled": True, "zsort": 0.0,
            "transform": _transform(), "lockToRoot": False, "children": [build(r) for r in roots]}

    params = []
    for p in puppet.parameters:
        grid = p.grid_shape
        nx, ny = grid[0], (grid[1] if len(grid) == 2 else 1)
        bindings = []
        for b in puppet.bindings:
            if b.param != p.id:
                continue
            values = np.asarray(b.values, np.float64).reshape(nx, ny, *b.values.shape[len(grid):])
            if b.target is BindingTarget.DEFORM:
                vals: Any = np.round(values, 3).tolist()
                target = "deform"
            else:
                conv = values.copy()
                if b.target is BindingTarget.ROTATE:
                    conv = np.radians(conv)
                elif b.target in (BindingTarget.SCALE_X, BindingTarget.SCALE_Y):
                    conv = 1.0 + conv
                elif b.target is BindingTarget.OPACITY:
                    conv = np.clip(by_id[b.node].opacity + conv, 0.0, 1.0)
                vals = conv.astype(np.float64).tolist()
                target = _TARGET[b.target]
            bindings.append({"node": uuid[b.node], "param_name": target, "values": vals,
                             "isSet": [[True] * ny for _ in range(nx)], "interpolate_mode": "Linear"})
        params.append({"uuid": param_uuid[p.id], "name": p.id, **_axis_json(p), "merge_mode": "Additive",
                       "bindings": bindings})

    payload = {
        "meta": {"name": name or puppet.meta.name, "version": "v0.8.7", "rigger": f"avatar-plugin {__version__}",
                 "artist": None, "rights": None, "copyright": None, "licenseURL": None, "contact": None,
                 "reference": None, "thumbnailId": NO_TEXTURE, "preservePixels": False},
        "physics": {"pixelsPerMeter": 1000.0, "gravity": 9.8},
        "nodes": root,
        "param": params,
        "automation": [],
        "animations": {},
    }
    session = []
    driven = {o.param for c in puppet.physics for o in c.outputs}
    for axis_id, source, kind, in_range, inverse in _TRACKING:
        pid = _param_of_axis(puppet, axis_id, missing_ok=True)
        if pid is None or axis_id in driven:
            continue
        p = puppet.parameter(pid)
        axis_index = [a.id for a in p.axes].index(axis_id)
        a = p.axes[axis_index]
        session.append({"name": axis_id, "sourceName": source, "sourceDisplayName": source, "sourceType": kind,
                        "bindingType": "RatioBinding", "param": param_uuid[pid], "axis": axis_index,
                        "dampenLevel": 0, "inverse": inverse, "inRange": list(in_range),
                        "outRange": [a.min, a.max]})
    textures = [(0, _png_premultiplied(t.image)) for t in puppet.textures]
    ext = {SESSION_EXT: json.dumps(session, allow_nan=False).encode("utf-8")}
    return _pack(payload, textures, ext)


def _param_of_axis(puppet: Puppet, axis_id: str, missing_ok: bool = False) -> Any:
    for p in puppet.parameters:
        if any(a.id == axis_id for a in p.axes):
            return p.id
    if missing_ok:
        return None
    raise KeyError(axis_id)


def _pack(payload: dict[str, Any], textures: list[tuple[int, bytes]], ext: dict[str, bytes]) -> bytes:
    body = json.dumps(payload, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    out = [MAGIC, struct.pack(">I", len(body)), body, TEX_SECT, struct.pack(">I", len(textures))]
    for enc, data in textures:
        out += [struct.pack(">I", len(data)), bytes([enc]), data]
    if ext:
        out += [EXT_SECT, struct.pack(">I", len(ext))]
        for key, data in ext.items():
            k = key.encode("utf-8")
            out += [struct.pack(">I", len(k)), k, struct.pack(">I", len(data)), data]
    return b"".join(out)


def write_inp(puppet: Puppet, path: str | Path, name: str | None = None) -> Path:
    path = Path(path)
    if path.suffix not in (".inp", ".inx"):
        raise ValueError(f"{path}: Inochi2D loads only lowercase .inp or .inx files")
    path.write_bytes(puppet_to_inp(puppet, name))
    return path


# ----------------------------------------------------------------------------------------------------------
# reader + strict checker
# ----------------------------------------------------------------------------------------------------------
class _Float(float):
    """Marks numbers written with a fraction or exponent (integers must be integer literals)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} (Inochi2D cannot parse NaN/Infinity)")


def read_inp(data: bytes) -> tuple[InpFile | None, list[str]]:
    """Parse the container; problems (section 1 and 6 container rules) as messages."""
    problems: list[str] = []
    if data[:8] != MAGIC:
        return None, [f"magic: expected TRNSRTS\\0, found {data[:8]!r}"]
    pos = 8

    def u32(what: str) -> int | None:
        nonlocal pos
        if pos + 4 > len(data):
            problems.append(f"{what}: expected a u32 at byte {pos}, found the end of the file")
            return None
        (v,) = struct.unpack(">I", data[pos:pos + 4])
        pos += 4
        return int(v)

    n = u32("JSON length")
    if n is None or pos + n > len(data):
        return None, problems + [f"JSON length {n}: runs past the end of the file ({len(data)} bytes)"]
    try:
        payload = json.loads(data[pos:pos + n].decode("utf-8"), parse_float=_Float, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, problems + [f"JSON payload: not valid strict JSON ({exc})"]
    pos += n
    if data[pos:pos + 8] != TEX_SECT:
        return None, problems + [f"TEX_SECT: expected right after the JSON at byte {pos}, found {data[pos:pos + 8]!r}"]
    pos += 8
    count = u32("texture count")
    textures: list[tuple[int, bytes]] = []
    for i in range(count or 0):
        length = u32(f"texture {i} length")
        if length is None or pos + 1 + length > len(data):
            return None, problems + [f"texture {i}: length {length} runs past the end of the file"]
        enc = data[pos]
        textures.append((enc, data[pos + 1:pos + 1 + length]))
        pos += 1 + length
    ext: dict[str, bytes] = {}
    if len(data) - pos >= 8 and data[pos:pos + 8] == EXT_SECT:
        pos += 8
        m = u32("EXT count")
        for i in range(m or 0):
            kl = u32(f"EXT {i} name length")
            if kl is None or pos + kl > len(data):
                return None, problems + [f"EXT {i}: name runs past the end of the file"]
            key = data[pos:pos + kl].decode("utf-8", errors="replace")
            pos += kl
            vl = u32(f"EXT {key} length")
            if vl is None or pos + vl > len(data):
                return None, problems + [f"EXT {key}: payload runs past the end of the file"]
            ext[key] = data[pos:pos + vl]
            pos += vl
    if not isinstance(payload, dict):
        return None, problems + ["JSON payload: expected an object at the top level"]
    return InpFile(payload=payload, textures=textures, extensions=ext), problems


def check_inp(path: str | Path) -> list[str]:
    """Every rule violation in the file at ``path`` (empty list = clean)."""
    path = Path(path)
    problems = []
    if path.suffix not in (".inp", ".inx"):
        problems.append(f"{path.name}: extension must be lowercase .inp or .inx (the loader is case-sensitive)")
    return problems + check_inp_bytes(path.read_bytes())


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[dict[str, Any], str]]:
    yield node, path
    kids = node.get("children")
    if isinstance(kids, list):
        for i, c in enumerate(kids):
            if isinstance(c, dict):
                yield from _walk(c, f"{path}.children[{i}]")


def _is_u32(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, (bool, _Float)) and 0 <= v <= 0xFFFFFFFF


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_vec(v: Any, n: int) -> bool:
    return isinstance(v, list) and len(v) == n and all(_is_num(x) for x in v)


def check_inp_bytes(data: bytes) -> list[str]:
    """Every rule violation in an ``.inp`` file's bytes (empty list = clean)."""
    inp, problems = read_inp(data)
    if inp is None:
        return problems
    p = inp.payload
    n_tex = len(inp.textures)
    # textures: decodable 8-bit RGBA, encoding byte matches, no empty slots
    for i, (enc, blob) in enumerate(inp.textures):
        if not blob:
            problems.append(f"texture {i}: empty slot (the renderless loader skips it and shifts later indices)")
            continue
        if enc == 0 and not blob.startswith(b"\x89PNG\r\n\x1a\n"):
            problems.append(f"texture {i}: encoding byte 0 (PNG) but the data is not a PNG")
        if enc not in (0, 1):
            problems.append(f"texture {i}: encoding byte {enc}; only 0 (PNG) and 1 (TGA) load everywhere")
        try:
            with Image.open(io.BytesIO(blob)) as im:
                if im.mode != "RGBA":
                    problems.append(f"texture {i}: expected 8-bit RGBA, found mode {im.mode}")
                im.load()
        except Exception as exc:
            problems.append(f"texture {i}: not decodable ({exc})")
    # top level
    meta = p.get("meta")
    if not isinstance(meta, dict):
        problems.append("$.meta: required object missing")
    else:
        if "name" not in meta or not (meta["name"] is None or isinstance(meta["name"], str)):
            problems.append("$.meta.name: required (string or null)")
        if not isinstance(meta.get("version"), str):
            problems.append("$.meta.version: required string")
        if not isinstance(meta.get("preservePixels"), bool):
            problems.append("$.meta.preservePixels: required bool (Inox2D)")
        if meta.get("rights") is not None:
            problems.append("$.meta.rights: write null (D and Inox2D disagree on its keys)")
        if "thumbnailId" in meta and not _is_u32(meta["thumbnailId"]):
            problems.append("$.meta.thumbnailId: expected a u32 integer literal")
    phys = p.get("physics")
    if not (isinstance(phys, dict) and _is_num(phys.get("pixelsPerMeter")) and _is_num(phys.get("gravity"))):
        problems.append("$.physics: required {pixelsPerMeter, gravity} (Inox2D)")
    if not isinstance(p.get("param"), list):
        problems.append("$.param: required array (Inox2D)")
    if "animation" in p:
        problems.append("$.animation: the key is 'animations' (plural)")
    root = p.get("nodes")
    if not isinstance(root, dict):
        return problems + ["$.nodes: required object missing"]
    # nodes
    nodes: dict[int, tuple[dict[str, Any], str]] = {}
    for node, path in _walk(root, "$.nodes"):
        uid: Any = node.get("uuid")
        if not _is_u32(uid) or uid == NO_TEXTURE:
            problems.append(f"{path}.uuid: required u32 integer literal other than 0xFFFFFFFF, found {uid!r}")
        elif uid in nodes:
            problems.append(f"{path}.uuid: {uid} duplicates {nodes[int(uid)][1]}")
        else:
            nodes[int(uid)] = (node, path)
        if not isinstance(node.get("enabled"), bool):
            problems.append(f"{path}.enabled: required bool")
        if not _is_num(node.get("zsort")):
            problems.append(f"{path}.zsort: required number")
        if not isinstance(node.get("name"), str):
            problems.append(f"{path}.name: required string (Inox2D)")
        if not isinstance(node.get("lockToRoot"), bool):
            problems.append(f"{path}.lockToRoot: required bool (Inox2D)")
        t = node.get("transform")
        if not (isinstance(t, dict) and _is_vec(t.get("trans"), 3) and _is_vec(t.get("rot"), 3)
                and _is_vec(t.get("scale"), 2)):
            problems.append(f"{path}.transform: required {{trans[3], rot[3], scale[2]}} of finite numbers")
        kind = node.get("type")
        if path != "$.nodes":
            if kind not in NODE_TYPES:
                problems.append(f"{path}.type: {kind!r} is not a 0.8.7 node type (the node and its subtree "
                                f"would be dropped); use one of {sorted(NODE_TYPES)}")
        elif t is not None and isinstance(t, dict) and (t.get("trans") != [0, 0, 0] or t.get("rot") != [0, 0, 0]
                                                        or t.get("scale") != [1, 1]):
            problems.append("$.nodes.transform: the root's transform must be identity (Creator resets it)")
        if kind == "Part":
            problems += _check_part(node, path, n_tex)
        if kind == "SimplePhysics":
            for key in ("param", "model_type", "map_mode", "gravity", "length", "frequency", "angle_damping",
                        "length_damping", "output_scale"):
                if key not in node:
                    problems.append(f"{path}.{key}: required (Inox2D)")
            if node.get("model_type") not in ("Pendulum", "SpringPendulum"):
                problems.append(f"{path}.model_type: expected Pendulum or SpringPendulum")
            if node.get("map_mode") not in ("AngleLength", "XY"):
                problems.append(f"{path}.map_mode: expected AngleLength or XY (older Session builds)")
            if not _is_vec(node.get("output_scale"), 2):
                problems.append(f"{path}.output_scale: expected [x, y]")
    # masks reference existing drawables
    for node, path in nodes.values():
        for i, m in enumerate(node.get("masks") or []):
            src = m.get("source") if isinstance(m, dict) else None
            if src not in nodes or nodes[src][0].get("type") not in ("Part", "MeshGroup"):
                problems.append(f"{path}.masks[{i}].source: expected a Part/MeshGroup uuid, found {src!r}")
    # parameters
    params: list[Any] = p["param"] if isinstance(p.get("param"), list) else []
    param_ids: set[int] = set()
    for k, prm in enumerate(params):
        path = f"$.param[{k}]"
        if not isinstance(prm, dict):
            problems.append(f"{path}: expected an object")
            continue
        uid = prm.get("uuid")
        if not _is_u32(uid):
            problems.append(f"{path}.uuid: required u32 integer literal")
        elif uid in nodes or uid in param_ids:
            problems.append(f"{path}.uuid: {uid} is already used by a node or parameter")
        else:
            param_ids.add(int(uid))
        if not isinstance(prm.get("name"), str):
            problems.append(f"{path}.name: required string")
        vec2 = prm.get("is_vec2")
        if not isinstance(vec2, bool):
            problems.append(f"{path}.is_vec2: required bool (Inox2D)")
        for key in ("min", "max", "defaults"):
            if not _is_vec(prm.get(key), 2):
                problems.append(f"{path}.{key}: required [x, y] numbers")
        if (_is_vec(prm.get("min"), 2) and _is_vec(prm.get("max"), 2)
                and not all(hi > lo for lo, hi in zip(prm["min"], prm["max"], strict=True))):
                problems.append(f"{path}: max must exceed min on both axes (a zero range makes NaN)")
        pts = prm.get("axis_points")
        shape = None
        if not (isinstance(pts, list) and len(pts) == 2 and all(isinstance(a, list) for a in pts)):
            problems.append(f"{path}.axis_points: required [[x points], [y points]]")
        else:
            for ai, a in enumerate(pts):
                used = ai == 0 or vec2
                if used and (len(a) < 2 or a[0] != 0 or a[-1] != 1
                             or any(not _is_num(v) for v in a) or any(x >= y for x, y in itertools.pairwise(a))):
                    problems.append(f"{path}.axis_points[{ai}]: expected >= 2 ascending points from 0 to 1, "
                                    f"found {a}")
            if not vec2 and pts[1] != [0] and pts[1] != [0.0]:
                problems.append(f"{path}.axis_points[1]: a 1-D parameter needs [0] "
                                "(else the loader assumes 2 Y points)")
            shape = (len(pts[0]), len(pts[1]))
        if prm.get("merge_mode", "Additive") not in MERGE_MODES:
            problems.append(f"{path}.merge_mode: {prm.get('merge_mode')!r} not in {sorted(MERGE_MODES)}")
        if not isinstance(prm.get("bindings"), list):
            problems.append(f"{path}.bindings: required array (Inox2D)")
            continue
        for bi, b in enumerate(prm["bindings"]):
            problems += _check_binding(b, f"{path}.bindings[{bi}]", shape, nodes)
    for node, path in nodes.values():
        if node.get("type") == "SimplePhysics" and node.get("param") not in param_ids:
            problems.append(f"{path}.param: {node.get('param')!r} is not a parameter uuid")
    # animations
    anims = p.get("animations", {})
    if not isinstance(anims, dict):
        problems.append("$.animations: expected an object")
    else:
        for name, an in anims.items():
            for key in ("timestep", "additive", "length", "leadIn", "leadOut", "lanes"):
                if not isinstance(an, dict) or key not in an:
                    problems.append(f"$.animations.{name}.{key}: required when an animation is present")
    # EXT payloads
    for key, blob in inp.extensions.items():
        try:
            ext = json.loads(blob.decode("utf-8"), parse_float=_Float, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"EXT {key}: Inox2D parses every payload as JSON ({exc})")
            continue
        if key == SESSION_EXT:
            problems += _check_session(ext, param_ids)
    return problems


def _check_part(node: dict[str, Any], path: str, n_tex: int) -> list[str]:
    problems = []
    mesh = node.get("mesh")
    n_verts = None
    if not isinstance(mesh, dict):
        problems.append(f"{path}.mesh: required object")
    else:
        verts, uvs, idx = mesh.get("verts"), mesh.get("uvs"), mesh.get("indices")
        if not (isinstance(verts, list) and len(verts) % 2 == 0 and len(verts) >= 6
                and all(_is_num(v) for v in verts)):
            problems.append(f"{path}.mesh.verts: expected a flat, even-length list of >= 3 vertices")
        else:
            n_verts = len(verts) // 2
        if not (isinstance(uvs, list) and isinstance(verts, list) and len(uvs) == len(verts)
                and all(_is_num(v) for v in uvs)):
            problems.append(f"{path}.mesh.uvs: expected a flat list as long as verts")
        if not (isinstance(idx, list) and len(idx) > 0 and len(idx) % 3 == 0):
            problems.append(f"{path}.mesh.indices: expected a non-empty multiple of 3")
        elif not all(_is_u32(i) and i <= 65535 and (n_verts is None or i < n_verts) for i in idx):
            problems.append(f"{path}.mesh.indices: expected integer literals < min(65536, vertex count)")
        if "origin" in mesh and not _is_vec(mesh["origin"], 2):
            problems.append(f"{path}.mesh.origin: expected [x, y]")
    tex = node.get("textures")
    if not (isinstance(tex, list) and 1 <= len(tex) <= 3 and all(_is_u32(t) for t in tex)):
        problems.append(f"{path}.textures: expected 1-3 u32 slot indices")
    elif not (tex[0] < n_tex) or any(t != NO_TEXTURE and t >= n_tex for t in tex):
        problems.append(f"{path}.textures: {tex} refers past the {n_tex} texture slots")
    if node.get("blend_mode") not in BLEND_MODES:
        problems.append(f"{path}.blend_mode: {node.get('blend_mode')!r} not a blend mode name")
    for key in ("opacity", "mask_threshold"):
        if not _is_num(node.get(key)):
            problems.append(f"{path}.{key}: required number")
    for i, m in enumerate(node.get("masks") or []):
        if not isinstance(m, dict) or "source" not in m or m.get("mode") not in MASK_MODES:
            problems.append(f"{path}.masks[{i}]: expected {{source, mode: Mask|DodgeMask}}")
    node["_n_verts"] = n_verts
    return problems


def _check_binding(b: Any, path: str, shape: tuple[int, int] | None,
                   nodes: dict[int, tuple[dict[str, Any], str]]) -> list[str]:
    if not isinstance(b, dict):
        return [f"{path}: expected an object"]
    problems = []
    for key in ("node", "param_name", "values", "isSet"):
        if key not in b:
            problems.append(f"{path}.{key}: required")
    if problems:
        return problems
    target = b["param_name"]
    if b.get("interpolate_mode") not in INTERPOLATE_MODES:
        problems.append(f"{path}.interpolate_mode: {b.get('interpolate_mode')!r}; use Linear or Nearest")
    node_entry = nodes.get(b["node"])
    if node_entry is None:
        return problems + [f"{path}.node: {b['node']!r} is not a node uuid (the binding would be dropped)"]
    node = node_entry[0]
    kind = node.get("type")
    ok = (target in VALUE_TARGETS or (target == "deform" and kind in ("Part", "MeshGroup"))
          or (target in PART_TARGETS and kind == "Part") or (target in PHYSICS_TARGETS and kind == "SimplePhysics"))
    if not ok:
        problems.append(f"{path}.param_name: {target!r} does not apply to a {kind} node")
    if shape is None:
        return problems
    nx, ny = shape
    for key in ("values", "isSet"):
        v = b[key]
        if not (isinstance(v, list) and len(v) == nx and all(isinstance(r, list) and len(r) == ny for r in v)):
            problems.append(f"{path}.{key}: expected shape {nx} x {ny} (axis points), outer index X")
            return problems
    if not all(isinstance(x, bool) for r in b["isSet"] for x in r):
        problems.append(f"{path}.isSet: expected bools")
    n_verts = node.get("_n_verts")
    for i, row in enumerate(b["values"]):
        for j, cell in enumerate(row):
            if target == "deform":
                if not (isinstance(cell, list) and len(cell) == n_verts
                        and all(_is_vec(d, 2) for d in cell)):
                    problems.append(f"{path}.values[{i}][{j}]: expected {n_verts} [dx, dy] pairs (one per vertex)")
                    return problems
            elif not _is_num(cell):
                problems.append(f"{path}.values[{i}][{j}]: expected a finite number")
    return problems


def _check_session(ext: Any, param_ids: set[int]) -> list[str]:
    if not isinstance(ext, list):
        return [f"EXT {SESSION_EXT}: expected a JSON array of bindings"]
    problems = []
    for i, b in enumerate(ext):
        path = f"EXT {SESSION_EXT}[{i}]"
        if not isinstance(b, dict):
            problems.append(f"{path}: expected an object")
            continue
        for key in ("name", "sourceName", "sourceType", "bindingType", "param"):
            if key not in b:
                problems.append(f"{path}.{key}: required")
        if b.get("sourceType") not in SOURCE_TYPES:
            problems.append(f"{path}.sourceType: {b.get('sourceType')!r} not in {sorted(SOURCE_TYPES)}")
        if b.get("bindingType") not in BINDING_TYPES:
            problems.append(f"{path}.bindingType: {b.get('bindingType')!r} not in {sorted(BINDING_TYPES)}")
        if b.get("param") not in param_ids:
            problems.append(f"{path}.param: {b.get('param')!r} is not a parameter uuid")
        if b.get("axis", 0) not in (0, 1):
            problems.append(f"{path}.axis: expected 0 or 1")
        if b.get("bindingType") == "RatioBinding":
            if not isinstance(b.get("inverse"), bool):
                problems.append(f"{path}.inverse: required bool for a RatioBinding")
            for key in ("inRange", "outRange"):
                if not _is_vec(b.get(key), 2):
                    problems.append(f"{path}.{key}: required [a, b] for a RatioBinding")
    return problems
