"""Stage 5: export one folder per avatar (``run(rig, layers, out_dir, options) -> Exported``).

The folder::

    puppet.json, atlas0.png ...   our puppet format (power-of-two atlas pages, 2 px padding), validate-clean
    <name>.inp                    Inochi2D 0.8 puppet with Inochi Session tracking bindings (checked strictly)
    <name>.psd                    layered PSD with Cubism-friendly names and groups, source resolution
    preview.png, preview.gif      rest pose and the scripted ``--animate`` sequence
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from avatar_plugin.generator.atlas import pack_atlas
from avatar_plugin.generator.inochi import check_inp, write_inp
from avatar_plugin.generator.psd_export import ExtraLayer, write_psd
from avatar_plugin.generator.rig import Rig
from avatar_plugin.generator.types import Layers
from avatar_plugin.puppet.io import write_puppet
from avatar_plugin.puppet.model import Puppet
from avatar_plugin.puppet.raster import View, fit_view, render

__all__ = ["ExportOptions", "Exported", "run", "write_preview_gif"]


@dataclass(frozen=True)
class ExportOptions:
    name: str = "avatar"
    gif: bool = True
    gif_size: int = 240  # longest side of the preview GIF
    gif_fps: float = 8.0
    psd: bool = True
    inp: bool = True


@dataclass(frozen=True, eq=False)
class Exported:
    puppet: Puppet  # the packed puppet as written
    folder: Path
    files: dict[str, Path]
    inp_problems: tuple[str, ...]


def write_preview_gif(puppet: Puppet, path: Path, size: int = 240, fps: float = 8.0,
                      progress: Callable[[int, int], None] | None = None) -> Path:
    """The scripted animation (:mod:`avatar_plugin.puppet.animate`) as a looping GIF on a light background."""
    from avatar_plugin.puppet.animate import animate

    w, h = puppet.meta.canvas_size
    k = size / max(w, h)
    view: View = fit_view((w, h), (max(1, round(w * k)), max(1, round(h * k))))
    frames: list[NDArray[np.uint8]] = list(animate(puppet, fps=fps, view=view, background=(236, 236, 240, 255),
                                                   progress=progress))
    images = [Image.fromarray(f[..., :3]).quantize(colors=255, method=Image.Quantize.MEDIANCUT,
                                                   dither=Image.Dither.NONE) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0,
                   optimize=False, disposal=1)
    return path


def run(rig: Rig, layers: Layers, out_dir: str | Path, options: ExportOptions | None = None,
        progress: Callable[[int, int], None] | None = None) -> Exported:
    """Write every file of the avatar folder; the ``.inp`` is checked and its problems returned."""
    opts = options or ExportOptions()
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    puppet = pack_atlas(rig.puppet)
    puppet = dataclasses.replace(puppet, meta=dataclasses.replace(puppet.meta, name=opts.name))
    files = {"puppet": write_puppet(puppet, folder)}
    Image.fromarray(render(puppet)).save(folder / "preview.png")
    files["preview_png"] = folder / "preview.png"
    problems: list[str] = []
    if opts.inp:
        files["inp"] = write_inp(puppet, folder / f"{opts.name}.inp", opts.name)
        problems = check_inp(files["inp"])
    if opts.psd:
        extras = {}
        cheek = next((n for n in rig.puppet.nodes if n.id == "cheek"), None)
        if cheek is not None and cheek.mesh is not None:
            tex = rig.puppet.textures[cheek.texture].image
            x0, y0 = (int(round(v)) for v in cheek.mesh.vertices.min(axis=0))
            extras["Cheek"] = ExtraLayer(name="Cheek", image=tex, offset=(x0, y0), hidden=True)
        files["psd"] = write_psd(layers, folder / f"{opts.name}.psd", extras)
    if opts.gif:
        files["preview_gif"] = write_preview_gif(puppet, folder / "preview.gif", opts.gif_size, opts.gif_fps,
                                                 progress)
    return Exported(puppet=puppet, folder=folder, files=files, inp_problems=tuple(problems))
