"""Pack a puppet's per-part textures into power-of-two atlas pages (``pack_atlas(puppet) -> Puppet``).

Rules: every page is a power of two on each side and at most :data:`MAX_SIZE`; every image keeps
:data:`PADDING` transparent pixels on all sides (so bilinear sampling never reads a neighbour); UVs are remapped,
vertices untouched. When one image is larger than a page allows, all images are scaled down by the same factor
(the on-screen size stays the same: vertices are in canvas pixels). Shelf packing, tallest first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from avatar_plugin.puppet.model import Mesh, NodeKind, Puppet, Texture

__all__ = ["MAX_SIZE", "PADDING", "Placement", "pack_atlas", "plan_pages"]

MAX_SIZE = 4096
PADDING = 2


@dataclass(frozen=True)
class Placement:
    page: int
    x: int  # top-left of the image (padding excluded)
    y: int
    w: int
    h: int


def _shelf(sizes: list[tuple[int, int]], page_w: int, page_h: int, order: list[int]
           ) -> tuple[dict[int, tuple[int, int]], list[int]]:
    """Place what fits on one page; returns placements and the indices left over."""
    placed: dict[int, tuple[int, int]] = {}
    left: list[int] = []
    x = y = shelf_h = 0
    for i in order:
        w, h = sizes[i][0] + 2 * PADDING, sizes[i][1] + 2 * PADDING
        if w > page_w or h > page_h:
            left.append(i)
            continue
        if x + w > page_w:
            x, y, shelf_h = 0, y + shelf_h, 0
        if y + h > page_h:
            left.append(i)
            continue
        placed[i] = (x + PADDING, y + PADDING)
        x += w
        shelf_h = max(shelf_h, h)
    return placed, left


def plan_pages(sizes: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[Placement]]:
    """Page sizes and one placement per image (sizes already scaled to fit a page)."""
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i][1], -sizes[i][0]))
    area = sum((w + 2 * PADDING) * (h + 2 * PADDING) for w, h in sizes)
    pages: list[tuple[int, int]] = []
    placements: dict[int, Placement] = {}
    remaining = order
    while remaining:
        chosen = None
        side = 64
        while side <= MAX_SIZE:
            for pw, ph in ((side, side // 2), (side, side)):
                if pw * ph < min(area, MAX_SIZE * MAX_SIZE) or ph < 1:
                    continue
                placed, left = _shelf(sizes, pw, ph, remaining)
                if not left:
                    chosen = (pw, ph, placed, left)
                    break
            if chosen:
                break
            side *= 2
        if chosen is None:  # fill a full-size page and continue on the next one
            placed, left = _shelf(sizes, MAX_SIZE, MAX_SIZE, remaining)
            if not placed:
                raise ValueError(f"atlas: an image of {sizes[remaining[0]]} px does not fit a {MAX_SIZE} px page")
            chosen = (MAX_SIZE, MAX_SIZE, placed, left)
        pw, ph, placed, left = chosen
        for i, (x, y) in placed.items():
            placements[i] = Placement(page=len(pages), x=x, y=y, w=sizes[i][0], h=sizes[i][1])
        pages.append((pw, ph))
        remaining = [i for i in remaining if i in left]
        area = sum((sizes[i][0] + 2 * PADDING) * (sizes[i][1] + 2 * PADDING) for i in remaining)
    return pages, [placements[i] for i in range(len(sizes))]


def pack_atlas(puppet: Puppet, file_prefix: str = "atlas") -> Puppet:
    """The same puppet with its textures packed into atlas pages ``atlas0.png``, ``atlas1.png``, ..."""
    images: list[Any] = [t.image for t in puppet.textures]
    largest = max(max(i.shape[0], i.shape[1]) for i in images)
    scale = min(1.0, (MAX_SIZE - 2 * PADDING) / largest)
    if scale < 1.0:
        images = [cv2.resize(np.ascontiguousarray(i), (max(1, round(i.shape[1] * scale)),
                                                       max(1, round(i.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA) for i in images]
    sizes = [(int(i.shape[1]), int(i.shape[0])) for i in images]
    pages, places = plan_pages(sizes)
    canvases: list[NDArray[np.uint8]] = [np.zeros((ph, pw, 4), np.uint8) for pw, ph in pages]
    for img, pl in zip(images, places, strict=True):
        canvases[pl.page][pl.y:pl.y + pl.h, pl.x:pl.x + pl.w] = img
    textures = tuple(Texture(file=f"{file_prefix}{k}.png", image=c) for k, c in enumerate(canvases))
    nodes = []
    for n in puppet.nodes:
        if n.kind is NodeKind.PART and n.mesh is not None:
            pl = places[n.texture]
            pw, ph = pages[pl.page]
            uv = n.mesh.uvs.astype(np.float64)
            new_uv = np.stack([(pl.x + uv[:, 0] * pl.w) / pw, (pl.y + uv[:, 1] * pl.h) / ph], axis=1)
            mesh = Mesh(vertices=n.mesh.vertices, uvs=new_uv.astype(np.float32), triangles=n.mesh.triangles)
            n = dataclasses.replace(n, mesh=mesh, texture=pl.page)
        nodes.append(n)
    return dataclasses.replace(puppet, nodes=tuple(nodes), textures=textures)
