// The avatar view shared by / and /studio: loads the puppet from the daemon, follows the /ws stream and
// draws with WebGL2. URL options (for /): scale (1 = fit the window), x / y (offset in CSS pixels),
// bg (transparent | a CSS hex colour such as 00ff00), fps (cap, default: every display frame), token.

import { compile, evaluate, fitView, axes } from "./puppet-eval.js";
import { createRenderer, loadImage } from "./gl-renderer.js";
import { connectStream, withToken } from "./stream.js";

export function parseBackground(text) {
  if (!text || text === "transparent") return null;
  const hex = text.replace(/^#/, "");
  if (!/^[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(hex)) return null;
  const n = (i) => parseInt(hex.slice(i, i + 2), 16) / 255;
  return [n(0), n(2), n(4), hex.length === 8 ? n(6) : 1];
}

async function loadPuppet() {
  const response = await fetch(withToken("/puppet/puppet.json"), { cache: "no-cache" });
  if (!response.ok) throw new Error(`puppet.json: HTTP ${response.status}`);
  const puppet = await response.json();
  const images = await Promise.all(puppet.textures.map((t) => loadImage(withToken(`/puppet/${t.file}`))));
  return { puppet, images };
}

/**
 * Mount an avatar view on `canvas`.
 * @param {HTMLCanvasElement} canvas
 * @param {{scale?: number, x?: number, y?: number, background?: number[] | null, fps?: number,
 *   onFrame?: (frame: any) => void, onState?: (state: string) => void, onPuppet?: (p: any) => void,
 *   fixedSize?: [number, number] | null}} options
 */
export async function mountAvatar(canvas, options = {}) {
  const gl = canvas.getContext("webgl2", {
    alpha: true, premultipliedAlpha: true, stencil: true, antialias: false, depth: false,
    preserveDrawingBuffer: true,
  });
  if (!gl) throw new Error("this browser has no WebGL2");
  let plan = null, renderer = null, etag = null;
  let values = {};
  let fixed = false;
  let dirty = true;
  let lastDraw = 0;
  const minGap = options.fps ? 1000 / options.fps : 0;
  const state = { puppet: null, values: () => values, frames: 0, lastDrawMs: 0 };

  async function reload() {
    const { puppet, images } = await loadPuppet();
    renderer?.dispose();
    plan = compile(puppet);
    renderer = createRenderer(gl, plan, images);
    state.puppet = puppet;
    options.onPuppet?.(puppet, axes(puppet));
    dirty = true;
  }

  function resize() {
    const dpr = options.fixedSize ? 1 : (window.devicePixelRatio || 1);
    const [cw, ch] = options.fixedSize || [canvas.clientWidth, canvas.clientHeight];
    const w = Math.max(1, Math.round(cw * dpr)), h = Math.max(1, Math.round(ch * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; dirty = true; }
    return dpr;
  }

  function viewFor(dpr) {
    const base = fitView(plan.canvasSize, [canvas.width, canvas.height]);
    const s = options.scale ?? 1;
    const scale = base.scale * s;
    const [cw, ch] = plan.canvasSize;
    return {
      size: [canvas.width, canvas.height], scale,
      offsetX: (canvas.width - cw * scale) / 2 + (options.x || 0) * dpr,
      offsetY: (canvas.height - ch * scale) / 2 + (options.y || 0) * dpr,
    };
  }

  /** Evaluate and draw now; returns milliseconds spent (evaluate + draw calls). */
  function drawNow() {
    if (!plan) return 0;
    const t0 = performance.now();
    const dpr = resize();
    renderer.draw(evaluate(plan, values), viewFor(dpr), options.background ?? null);
    state.frames++;
    state.lastDrawMs = performance.now() - t0;
    dirty = false;
    return state.lastDrawMs;
  }

  function loop(now) {
    if (dirty && now - lastDraw >= minGap - 1) { lastDraw = now; drawNow(); }
    requestAnimationFrame(loop);
  }

  await reload();
  window.addEventListener("resize", () => { dirty = true; });
  requestAnimationFrame(loop);
  const stream = connectStream({
    onHello: (hello) => {
      if (etag !== null && hello.puppet !== etag) reload().catch((e) => console.error(e));
      etag = hello.puppet;
    },
    onFrame: (frame) => {
      options.onFrame?.(frame);
      if (!fixed) { values = frame.params; dirty = true; }
    },
    onState: (s) => options.onState?.(s),
  });

  return Object.assign(state, {
    stream,
    /** Freeze the view at `v` (stream frames ignored) and draw at once: for tests and screenshots. */
    renderFixed(v) { fixed = true; values = { ...v }; return drawNow(); },
    follow() { fixed = false; },
    /** Draw `n` frames back to back with changing values; mean ms per frame including GPU completion. */
    benchmark(n = 120) {
      const px = new Uint8Array(4);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const ph = i / n * Math.PI * 2;
        values = { ParamAngleX: 25 * Math.sin(ph), ParamAngleY: 15 * Math.cos(ph), ParamMouthOpenY: (i % 10) / 10,
                   ParamEyeLOpen: 1 - (i % 7) / 7, ParamHairBack: Math.sin(ph * 3) };
        drawNow();
        gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
      }
      return (performance.now() - t0) / n;
    },
  });
}
