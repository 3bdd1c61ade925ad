// Puppet evaluation in the browser, GL-free: the twin of avatar_plugin/puppet/evaluate.py (same maths, same
// steps, same names). Held equal by tests/test_web_parity.py (Chromium pixels vs the Python renderer).
//
// 1. Every axis value is clamped to its range; missing axes take their default; unknown ids are ignored.
// 2. For each parameter, the value falls in one keypoint segment per axis; linear weights on each axis,
//    bilinear for a 2-D parameter (at most 4 grid corners).
// 3. Each binding's value is the weighted sum of its values at those corners. Bindings add up: deforms add
//    per-vertex offsets; transform channels add to the node's rest transform (translate, rotate in degrees,
//    scale), opacity adds to the rest opacity and is clamped to 0..1.
// 4. Local transform: p' = translate + pivot + R(rotate) @ S(scale) @ (p - pivot); a node's world transform
//    is its parent's world transform times its own. Opacity multiplies down the tree.
// 5. Parts are emitted sorted by draw_order (ties keep file order) with world-space vertices.

/**
 * @typedef {{part: string, vertices: Float32Array, uvs: Float32Array, triangles: Uint32Array,
 *   texture: number, opacity: number, blendMode: string, clip: number[], visible: boolean}} DrawItem
 * @typedef {{canvasSize: [number, number], items: DrawItem[]}} DrawList
 */

const CHANNELS = { translate_x: 0, translate_y: 1, rotate: 2, scale_x: 3, scale_y: 4, opacity: 5 };

/** Flatten nested arrays of numbers (C order) into a typed array. */
function flat(nested, Type) {
  const out = [];
  const walk = (v) => { if (Array.isArray(v)) { for (const x of v) walk(x); } else { out.push(v); } };
  walk(nested);
  return Type.from(out);
}

/** Segment index i and fraction f with value = k[i] + f (k[i+1] - k[i]); value already clamped. */
export function interpolationWeights(keypoints, value) {
  const n = keypoints.length;
  let i = 0;
  while (i < n && keypoints[i] <= value) i++; // searchsorted(side="right")
  i = Math.min(Math.max(i - 1, 0), n - 2);
  const span = keypoints[i + 1] - keypoints[i];
  const f = (value - keypoints[i]) / span;
  return [i, Math.min(Math.max(f, 0.0), 1.0)];
}

/**
 * Precompile a parsed puppet.json for fast evaluation (the Python _Plan).
 * @param {any} puppet the parsed puppet.json object
 */
export function compile(puppet) {
  const paramIndex = new Map(puppet.parameters.map((p, i) => [p.id, i]));
  const nodeIndex = new Map(puppet.nodes.map((n, i) => [n.id, i]));
  const parents = puppet.nodes.map((n) => (n.parent != null ? nodeIndex.get(n.parent) : -1));
  const depth = parents.map((_, i) => {
    let d = 0;
    for (let cur = parents[i]; cur >= 0; cur = parents[cur]) d++;
    return d;
  });
  const order = [...puppet.nodes.keys()].sort((a, b) => depth[a] - depth[b]); // stable, like sorted()
  const rest = new Float64Array(puppet.nodes.length * 8);
  puppet.nodes.forEach((n, i) => {
    const t = n.transform || {};
    const tr = t.translate || [0, 0], sc = t.scale || [1, 1], pv = t.pivot || [0, 0];
    rest.set([tr[0], tr[1], t.rotate || 0, sc[0], sc[1], n.opacity ?? 1.0, pv[0], pv[1]], i * 8);
  });
  const gridShapes = puppet.parameters.map((p) => p.axes.map((a) => a.keypoints.length));
  const deforms = [], channels = [];
  for (const b of puppet.bindings) {
    const pi = paramIndex.get(b.param), ni = nodeIndex.get(b.node);
    if (b.target === "deform") deforms.push([pi, ni, flat(b.values, Float32Array)]);
    else channels.push([pi, ni, CHANNELS[b.target], flat(b.values, Float64Array)]);
  }
  const parts = [];
  puppet.nodes.forEach((n, i) => { if (n.kind === "part") parts.push(i); });
  parts.sort((a, b) => (puppet.nodes[a].draw_order - puppet.nodes[b].draw_order) || (a - b));
  const meshes = puppet.nodes.map((n) => n.mesh ? {
    vertices: flat(n.mesh.vertices, Float32Array),
    uvs: flat(n.mesh.uvs, Float32Array),
    triangles: flat(n.mesh.triangles, Uint32Array),
  } : null);
  return {
    puppet,
    canvasSize: /** @type {[number, number]} */ (puppet.meta.canvas_size),
    axisIds: puppet.parameters.map((p) => p.axes.map((a) => a.id)),
    axisRanges: puppet.parameters.map((p) => p.axes.map((a) => [a.min, a.max, a.default])),
    keypoints: puppet.parameters.map((p) => p.axes.map((a) => a.keypoints)),
    gridShapes,
    nodeIds: puppet.nodes.map((n) => n.id),
    parents, order, rest, deforms, channels,
    partNodes: parts,
    clipNodes: puppet.nodes.map((n) => (n.clip || []).map((c) => nodeIndex.get(c))),
    meshes,
  };
}

/** Per parameter: [flat grid index, weight] of the <= 4 grid corners with a non-zero weight. */
function corners(plan, values) {
  const result = [];
  for (let p = 0; p < plan.axisIds.length; p++) {
    const axisIds = plan.axisIds[p], ranges = plan.axisRanges[p], keypoints = plan.keypoints[p];
    const shape = plan.gridShapes[p];
    let cs = [[0, 1.0]];
    let stride = 1;
    // Flat indices in C order: the last axis varies fastest.
    for (let axis = axisIds.length - 1; axis >= 0; axis--) {
      const [lo, hi, def] = ranges[axis];
      let v = values[axisIds[axis]];
      v = (v == null || !Number.isFinite(v)) ? def : Math.min(hi, Math.max(lo, Number(v)));
      const [i, f] = interpolationWeights(keypoints[axis], v);
      const next = [];
      for (const [fl, w] of cs) {
        if (f < 1.0) next.push([fl + i * stride, w * (1.0 - f)]);
        if (f > 0.0) next.push([fl + (i + 1) * stride, w * f]);
      }
      cs = next;
      stride *= shape[axis];
    }
    result.push(cs);
  }
  return result;
}

/** 3x3 affine as [a, b, tx, c, d, ty] (row major, last row 0 0 1). */
function localMatrix(tx, ty, rotDeg, sx, sy, px, py) {
  const r = rotDeg * Math.PI / 180;
  const c = Math.cos(r), s = Math.sin(r);
  const a = c * sx, b = -s * sy, cc = s * sx, d = c * sy;
  return [a, b, tx + px - (a * px + b * py), cc, d, ty + py - (cc * px + d * py)];
}

function mul(m, n) {
  return [
    m[0] * n[0] + m[1] * n[3], m[0] * n[1] + m[1] * n[4], m[0] * n[2] + m[1] * n[5] + m[2],
    m[3] * n[0] + m[4] * n[3], m[3] * n[1] + m[4] * n[4], m[3] * n[2] + m[4] * n[5] + m[5],
  ];
}

const isIdentity = (m) => m[0] === 1 && m[1] === 0 && m[2] === 0 && m[3] === 0 && m[4] === 1 && m[5] === 0;

/**
 * The puppet's draw list at `values` (axis id -> value). Pure: the plan is not changed.
 * @param {ReturnType<typeof compile>} plan
 * @param {Record<string, number>} values
 * @returns {DrawList}
 */
export function evaluate(plan, values = {}) {
  const cs = corners(plan, values);
  const nNodes = plan.nodeIds.length;

  // 3. bindings
  const offsets = new Float64Array(nNodes * 8);
  for (const [pi, ni, channel, table] of plan.channels) {
    let sum = 0;
    for (const [fl, w] of cs[pi]) sum += w * table[fl];
    offsets[ni * 8 + channel] += sum;
  }
  /** @type {Map<number, Float32Array>} */
  const deform = new Map();
  for (const [pi, ni, table] of plan.deforms) {
    const n2 = plan.meshes[ni].vertices.length;
    let acc = deform.get(ni);
    for (const [fl, w] of cs[pi]) {
      const fw = Math.fround(w), base = fl * n2;
      if (!acc) { acc = new Float32Array(n2); }
      for (let j = 0; j < n2; j++) acc[j] += table[base + j] * fw;
    }
    if (acc) deform.set(ni, acc);
  }

  // 4. transforms, parents first
  const world = new Array(nNodes);
  const opacity = new Float64Array(nNodes).fill(1.0);
  for (const ni of plan.order) {
    const o = ni * 8, t = (k) => plan.rest[o + k] + offsets[o + k];
    const local = localMatrix(t(0), t(1), t(2), t(3), t(4), t(6), t(7));
    const parent = plan.parents[ni];
    const own = Math.min(1.0, Math.max(0.0, t(5)));
    if (parent >= 0) {
      world[ni] = mul(world[parent], local);
      opacity[ni] = opacity[parent] * own;
    } else {
      world[ni] = local;
      opacity[ni] = own;
    }
  }

  // 5. parts in draw order
  const position = new Map(plan.partNodes.map((ni, k) => [ni, k]));
  const items = [];
  for (const ni of plan.partNodes) {
    const node = plan.puppet.nodes[ni];
    const mesh = plan.meshes[ni];
    let verts = mesh.vertices;
    const d = deform.get(ni);
    if (d) {
      verts = new Float32Array(verts.length);
      for (let j = 0; j < verts.length; j++) verts[j] = mesh.vertices[j] + d[j];
    }
    const m = world[ni];
    if (!isIdentity(m)) {
      const src = verts;
      verts = new Float32Array(src.length);
      for (let j = 0; j < src.length; j += 2) {
        const x = src[j], y = src[j + 1];
        verts[j] = x * m[0] + y * m[1] + m[2];
        verts[j + 1] = x * m[3] + y * m[4] + m[5];
      }
    }
    items.push({
      part: node.id,
      vertices: verts,
      uvs: mesh.uvs,
      triangles: mesh.triangles,
      texture: node.texture,
      opacity: opacity[ni],
      blendMode: node.blend_mode || "normal",
      clip: plan.clipNodes[ni].map((c) => position.get(c)),
      visible: node.visible ?? true,
    });
  }
  return { canvasSize: plan.canvasSize, items };
}

/** Every input axis of the puppet: id -> {min, max, default} (what the studio builds sliders from). */
export function axes(puppet) {
  const out = {};
  for (const p of puppet.parameters) for (const a of p.axes) out[a.id] = { min: a.min, max: a.max, default: a.default };
  return out;
}

/** Fit the whole canvas into size (w, h) keeping the aspect ratio, centred (raster.fit_view). */
export function fitView(canvasSize, size) {
  const [cw, ch] = canvasSize, [w, h] = size;
  const scale = Math.min(w / cw, h / ch);
  return { size: [w, h], scale, offsetX: (w - cw * scale) / 2, offsetY: (h - ch * scale) / 2 };
}
