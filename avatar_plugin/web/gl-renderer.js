// WebGL2 drawing of a draw list (from puppet-eval.js), with the rules of avatar_plugin/puppet/raster.py:
// - a pixel is covered when its centre is inside a triangle (GL's rasterisation rule);
// - textures are sampled bilinearly at (u * W - 0.5, v * H - 0.5) texels with texelFetch, premultiplied in the
//   shader from straight-alpha texels, clamped to the edge texel outside the texture (GL CLAMP_TO_EDGE);
// - parts are composited back to front with premultiplied blending per blend mode, times opacity:
//     normal   src + dst (1 - src_a)          ONE, ONE_MINUS_SRC_ALPHA
//     multiply src dst + dst (1 - src_a)      DST_COLOR, ONE_MINUS_SRC_ALPHA
//     screen   src + dst (1 - src)            ONE, ONE_MINUS_SRC_COLOR
//     add      min(src + dst, 1)              ONE, ONE (8-bit framebuffer clamps)
// - clip masks: a clipped part is drawn only where one of its mask parts has alpha > 0.5 (stencil buffer).
// `gl` is passed explicitly; shader compile errors are thrown with line numbers.

export const MASK_THRESHOLD = 0.5;

const VERTEX = `#version 300 es
in vec2 a_pos;
in vec2 a_uv;
uniform vec2 u_size;   // drawing buffer size, pixels
uniform vec3 u_view;   // scale, offset x, offset y (canvas px -> buffer px)
out vec2 v_uv;
void main() {
  vec2 p = a_pos * u_view.x + u_view.yz;
  gl_Position = vec4(p.x / u_size.x * 2.0 - 1.0, 1.0 - p.y / u_size.y * 2.0, 0.0, 1.0);
  v_uv = a_uv;
}`;

const FRAGMENT = `#version 300 es
precision highp float;
precision highp int;
in vec2 v_uv;
uniform highp sampler2D u_tex;
uniform float u_opacity;
uniform int u_mask;     // 1: stencil pass, discard where alpha <= threshold
uniform float u_threshold;
out vec4 outColor;
vec4 texel(ivec2 p, ivec2 size) {
  vec4 c = texelFetch(u_tex, clamp(p, ivec2(0), size - 1), 0);
  return vec4(c.rgb * c.a, c.a);
}
void main() {
  ivec2 size = textureSize(u_tex, 0);
  vec2 t = v_uv * vec2(size) - 0.5;
  vec2 f0 = floor(t);
  vec2 f = t - f0;
  ivec2 i = ivec2(f0);
  vec4 c = mix(mix(texel(i, size), texel(i + ivec2(1, 0), size), f.x),
               mix(texel(i + ivec2(0, 1), size), texel(i + ivec2(1, 1), size), f.x), f.y);
  if (u_mask == 1) {
    if (c.a <= u_threshold) discard;
    outColor = vec4(0.0);
    return;
  }
  outColor = c * u_opacity;
}`;

function compileShader(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    const log = gl.getShaderInfoLog(shader) || "";
    const numbered = source.split("\n").map((line, i) => `${String(i + 1).padStart(3)}: ${line}`).join("\n");
    throw new Error(`shader compile failed:\n${log}\n${numbered}`);
  }
  return shader;
}

function createProgram(gl) {
  const program = gl.createProgram();
  gl.attachShader(program, compileShader(gl, gl.VERTEX_SHADER, VERTEX));
  gl.attachShader(program, compileShader(gl, gl.FRAGMENT_SHADER, FRAGMENT));
  gl.bindAttribLocation(program, 0, "a_pos");
  gl.bindAttribLocation(program, 1, "a_uv");
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
    throw new Error(`program link failed: ${gl.getProgramInfoLog(program)}`);
  }
  const u = (name) => gl.getUniformLocation(program, name);
  return { program, size: u("u_size"), view: u("u_view"), tex: u("u_tex"), opacity: u("u_opacity"),
           mask: u("u_mask"), threshold: u("u_threshold") };
}

/**
 * Load a texture from a URL as straight-alpha RGBA8 texels (no browser premultiplication or colour
 * conversion, so texel values equal the PNG's bytes, as in Python).
 */
export async function loadImage(url) {
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const blob = await response.blob();
  return createImageBitmap(blob, { premultiplyAlpha: "none", colorSpaceConversion: "none" });
}

/**
 * A renderer for one puppet.
 * @param {WebGL2RenderingContext} gl a context made with {alpha: true, premultipliedAlpha: true, stencil: true}
 * @param {ReturnType<import("./puppet-eval.js").compile>} plan
 * @param {ImageBitmap[]} images one per puppet texture
 */
export function createRenderer(gl, plan, images) {
  const prog = createProgram(gl);
  gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
  gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
  gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
  const textures = images.map((image) => {
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, image);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return tex;
  });
  // One VAO per part: static UVs and indices, a dynamic position buffer.
  const meshes = new Map();
  for (const ni of plan.partNodes) {
    const mesh = plan.meshes[ni];
    const vao = gl.createVertexArray();
    gl.bindVertexArray(vao);
    const pos = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, pos);
    gl.bufferData(gl.ARRAY_BUFFER, mesh.vertices.byteLength, gl.DYNAMIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    const uv = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, uv);
    gl.bufferData(gl.ARRAY_BUFFER, mesh.uvs, gl.STATIC_DRAW);
    gl.enableVertexAttribArray(1);
    gl.vertexAttribPointer(1, 2, gl.FLOAT, false, 0, 0);
    const index = gl.createBuffer();
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, index);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, mesh.triangles, gl.STATIC_DRAW);
    gl.bindVertexArray(null);
    meshes.set(plan.nodeIds[ni], { vao, pos, count: mesh.triangles.length, uploaded: null });
  }

  function bindPart(item) {
    const m = meshes.get(item.part);
    gl.bindVertexArray(m.vao);
    if (m.uploaded !== item.vertices) {
      gl.bindBuffer(gl.ARRAY_BUFFER, m.pos);
      gl.bufferSubData(gl.ARRAY_BUFFER, 0, item.vertices);
      m.uploaded = item.vertices;
    }
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, textures[item.texture]);
    return m;
  }

  function blend(mode) {
    switch (mode) {
      case "multiply": gl.blendFuncSeparate(gl.DST_COLOR, gl.ONE_MINUS_SRC_ALPHA, gl.DST_ALPHA, gl.ONE_MINUS_SRC_ALPHA); break;
      case "screen": gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_COLOR); break;
      case "add": gl.blendFunc(gl.ONE, gl.ONE); break;
      default: gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    }
  }

  /**
   * Draw `drawList` into the current framebuffer.
   * @param {import("./puppet-eval.js").DrawList} drawList
   * @param {{size: [number, number], scale: number, offsetX: number, offsetY: number}} view
   * @param {[number, number, number, number] | null} background straight RGBA 0..1, or null = transparent
   */
  function draw(drawList, view, background = null) {
    const [w, h] = view.size;
    gl.viewport(0, 0, w, h);
    if (background) {
      const a = background[3];
      gl.clearColor(background[0] * a, background[1] * a, background[2] * a, a);
    } else {
      gl.clearColor(0, 0, 0, 0);
    }
    gl.clearStencil(0);
    gl.colorMask(true, true, true, true);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.STENCIL_BUFFER_BIT);
    gl.useProgram(prog.program);
    gl.uniform2f(prog.size, w, h);
    gl.uniform3f(prog.view, view.scale, view.offsetX, view.offsetY);
    gl.uniform1i(prog.tex, 0);
    gl.uniform1f(prog.threshold, MASK_THRESHOLD);
    gl.enable(gl.BLEND);
    gl.disable(gl.DEPTH_TEST);
    gl.disable(gl.CULL_FACE);
    const items = drawList.items;
    for (let k = 0; k < items.length; k++) {
      const item = items[k];
      if (!item.visible || item.opacity <= 0.0) continue;
      if (item.clip.length) {
        // Stencil = 1 where any mask part's alpha > threshold (mask opacity and visibility do not matter).
        gl.clear(gl.STENCIL_BUFFER_BIT);
        gl.enable(gl.STENCIL_TEST);
        gl.colorMask(false, false, false, false);
        gl.stencilFunc(gl.ALWAYS, 1, 0xff);
        gl.stencilOp(gl.KEEP, gl.KEEP, gl.REPLACE);
        gl.uniform1i(prog.mask, 1);
        for (const c of item.clip) {
          const mask = items[c];
          const m = bindPart(mask);
          gl.drawElements(gl.TRIANGLES, m.count, gl.UNSIGNED_INT, 0);
        }
        gl.colorMask(true, true, true, true);
        gl.stencilFunc(gl.EQUAL, 1, 0xff);
        gl.stencilOp(gl.KEEP, gl.KEEP, gl.KEEP);
      }
      gl.uniform1i(prog.mask, 0);
      gl.uniform1f(prog.opacity, item.opacity);
      blend(item.blendMode);
      const m = bindPart(item);
      gl.drawElements(gl.TRIANGLES, m.count, gl.UNSIGNED_INT, 0);
      if (item.clip.length) gl.disable(gl.STENCIL_TEST);
    }
    gl.bindVertexArray(null);
  }

  function dispose() {
    for (const t of textures) gl.deleteTexture(t);
    for (const m of meshes.values()) gl.deleteVertexArray(m.vao);
    gl.deleteProgram(prog.program);
  }

  return { draw, dispose };
}
