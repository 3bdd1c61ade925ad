"""Benchmark: evaluate and software-render a 1024 x 1024 puppet of ~5,000 vertices.

Targets (issue 2): evaluate <= 1 ms, render <= 150 ms on this machine. Baselines in the same run, so the
ratios survive a noisy machine:

- evaluate, cold: the same evaluation with the precompiled plan thrown away each call;
- render, per-triangle warp: the classic Python way (one ``cv2.warpAffine`` + ``fillConvexPoly`` mask per
  triangle, as face-morphing scripts do), on the same draw list.

Run: ``python benchmarks/bench_puppet.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from avatar_plugin.puppet.evaluate import _PLANS, DrawList, evaluate
from avatar_plugin.puppet.model import (
    Binding,
    BindingTarget,
    Meta,
    Node,
    NodeKind,
    Puppet,
    Texture,
    Transform,
)
from avatar_plugin.puppet.raster import premultiplied, raster
from avatar_plugin.puppet.sample import grid_mesh
from avatar_plugin.puppet.standard import parameters


def build_big_puppet(parts: int = 24, grid: int = 14, canvas: int = 1024) -> Puppet:
    """``parts`` overlapping textured parts of (grid+1)^2 vertices each, with 2-D and 1-D bindings."""
    rng = np.random.default_rng(0)
    atlas = rng.integers(0, 255, (1024, 1024, 4), dtype=np.uint8)
    atlas[..., 3] = 255
    atlas[::7, :, 3] = 120
    params = parameters(["ParamAngleX", "ParamAngleY", "ParamMouthOpenY", "ParamEyeLOpen", "ParamBreath"])
    nodes = [Node(id="root", kind=NodeKind.GROUP), Node(id="head", kind=NodeKind.GROUP, parent="root",
                                                           transform=Transform(pivot=(512.0, 700.0)))]
    bindings = []
    for k in range(parts):
        x, y = rng.uniform(0, canvas * 0.55, 2)
        w, h = rng.uniform(canvas * 0.2, canvas * 0.45, 2)
        ux, uy = rng.uniform(0, 0.6, 2)
        mesh = grid_mesh(x, y, w, h, grid, grid, (ux, uy, ux + 0.35, uy + 0.35))
        nodes.append(Node(id=f"p{k}", kind=NodeKind.PART, parent="head", mesh=mesh, draw_order=float(k),
                          clip=("p0",) if k % 6 == 5 else ()))
        n = len(mesh.vertices)
        bindings.append(Binding("ParamAngle", f"p{k}", BindingTarget.DEFORM,
                                rng.normal(0, 5, (3, 3, n, 2)).astype(np.float32)))
        if k % 3 == 0:
            bindings.append(Binding("ParamMouthOpenY", f"p{k}", BindingTarget.DEFORM,
                                    rng.normal(0, 3, (2, n, 2)).astype(np.float32)))
    bindings.append(Binding("ParamBreath", "head", BindingTarget.TRANSLATE_Y, np.array([0.0, -4.0])))
    bindings.append(Binding("ParamEyeLOpen", "p3", BindingTarget.SCALE_Y, np.array([-0.9, 0.0])))
    return Puppet(meta=Meta("bench", (canvas, canvas)), parameters=tuple(params), nodes=tuple(nodes),
                  bindings=tuple(bindings), physics=(), textures=(Texture("atlas0.png", atlas),))


def raster_per_triangle_warp(draw_list: DrawList, textures: list[Texture]) -> np.ndarray:
    """Baseline: one affine warp per triangle (normal blending only)."""
    w, h = draw_list.canvas_size
    canvas = np.zeros((h, w, 4), np.float32)
    for item in draw_list.items:
        tex = premultiplied(textures[item.texture]).astype(np.float32) / 255.0
        th, tw = tex.shape[:2]
        for tri in item.triangles:
            dst = item.vertices[tri].astype(np.float32)
            src = (item.uvs[tri] * [tw, th]).astype(np.float32)
            x0, y0 = np.floor(dst.min(axis=0)).astype(int)
            x1, y1 = np.ceil(dst.max(axis=0)).astype(int)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if x1 <= x0 or y1 <= y0:
                continue
            m = cv2.getAffineTransform(src, (dst - [x0, y0]).astype(np.float32))
            patch = cv2.warpAffine(tex, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillConvexPoly(mask, np.round(dst - [x0, y0]).astype(np.int32), 1)
            region = canvas[y0:y1, x0:x1]
            sel = mask.astype(bool)
            region[sel] = patch[sel] + region[sel] * (1 - patch[sel][:, 3:4])
    return canvas


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    puppet = build_big_puppet()
    n_vertices = sum(len(n.mesh.vertices) for n in puppet.parts())  # type: ignore[union-attr]
    n_tris = sum(len(n.mesh.triangles) for n in puppet.parts())  # type: ignore[union-attr]
    values = {"ParamAngleX": 12.0, "ParamAngleY": -7.0, "ParamMouthOpenY": 0.6, "ParamBreath": 0.3}
    evaluate(puppet, values)  # warm the plan

    def cold() -> None:
        _PLANS.clear()
        evaluate(puppet, values)

    warm = timed(lambda: evaluate(puppet, values), args.repeat * 10)
    cold_t = timed(cold, args.repeat)
    draw_list = evaluate(puppet, values)
    raster(draw_list, puppet.textures)
    render_t = timed(lambda: raster(draw_list, puppet.textures), args.repeat)
    base_t = timed(lambda: raster_per_triangle_warp(draw_list, list(puppet.textures)), max(2, args.repeat // 5))

    med = statistics.median
    print(f"puppet: 1024x1024 canvas, {len(puppet.parts())} parts, {n_vertices} vertices, {n_tris} triangles, "
          f"{len(puppet.bindings)} bindings")
    print(f"{'case':<42}{'median ms':>10}{'p90 ms':>10}{'target':>10}{'vs baseline':>13}")
    rows = [
        ("evaluate (precompiled plan)", warm, "<= 1", med(cold_t) / med(warm)),
        ("  baseline: evaluate, plan rebuilt each call", cold_t, "", 1.0),
        ("render (vectorised raster)", render_t, "<= 150", med(base_t) / med(render_t)),
        ("  baseline: per-triangle cv2.warpAffine", base_t, "", 1.0),
    ]
    for name, times, target, ratio in rows:
        p90 = float(np.percentile(times, 90))
        print(f"{name:<42}{med(times):>10.2f}{p90:>10.2f}{target:>10}{ratio:>12.1f}x")


if __name__ == "__main__":
    main()
