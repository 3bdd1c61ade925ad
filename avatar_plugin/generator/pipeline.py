"""The whole generator: picture -> avatar folder, stage by stage (``generate(picture, out_dir, options)``).

Steps, each timed into ``report.json``::

    1-2  segment + complete   (avatar_plugin.generator.stages12)   picture -> Layers
    3    mesh                 (.mesh)                               Layers -> Meshes
    4    rig                  (.rig)                                Meshes -> Rig (a Puppet)
    5    export               (.export)                             Rig -> puppet.json + atlas, .inp, .psd, previews

A tqdm progress bar per stage goes to stderr (``progress=False`` silences it). ``generate_from_layers`` starts
at stage 3 (tests, layered PSDs already split).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from avatar_plugin._version import __version__
from avatar_plugin.generator import export, mesh, rig
from avatar_plugin.generator.types import Layers

__all__ = ["REPORT_FILE", "GenerateOptions", "GenerateResult", "generate", "generate_from_layers"]

REPORT_FILE = "report.json"


@dataclass(frozen=True)
class GenerateOptions:
    name: str = "avatar"
    face_box: tuple[float, float, float, float] | None = None
    landmarks_file: str | None = None
    foreground_model: str | None = None  # ISNet-style ONNX file for opaque pictures (None: classical cut-out)
    inpainter: str = "classical"  # stage-2 fill backend: classical | lama | sd
    inpainter_model: str | None = None  # LaMa .onnx file or local diffusers folder
    mesh: mesh.MeshOptions = field(default_factory=mesh.MeshOptions)
    rig: rig.RigOptions = field(default_factory=rig.RigOptions)
    export: export.ExportOptions | None = None  # default: ExportOptions(name=name)
    progress: bool = True


@dataclass(frozen=True, eq=False)
class GenerateResult:
    folder: Path
    files: dict[str, Path]
    report: dict[str, Any]


class _Stages:
    """Times each stage and shows one progress bar per stage."""

    def __init__(self, progress: bool) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, label: str, key: str, total: int = 1) -> Iterator[Callable[[int, int], None]]:
        bar = tqdm(total=total, desc=label, disable=not self.progress, file=sys.stderr, leave=True,
                   bar_format="{desc:<28} {bar:20} {n_fmt}/{total_fmt} [{elapsed}]")

        def tick(done: int, total_: int) -> None:
            if bar.total != total_:
                bar.total = total_
            bar.n = done + 1
            bar.refresh()

        t0 = time.perf_counter()
        try:
            yield tick
        finally:
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0
            bar.n = bar.total
            bar.refresh()
            bar.close()


def generate(picture: str | Path, out_dir: str | Path, options: GenerateOptions | None = None) -> GenerateResult:
    """Run stages 1-5 on ``picture`` and write the avatar folder ``out_dir`` (see :mod:`.export`)."""
    from avatar_plugin.generator.complete import CompleteOptions
    from avatar_plugin.generator.load import LoadOptions
    from avatar_plugin.generator.stages12 import Stages12Options, segment_and_complete_verbose

    opts = options or GenerateOptions()
    stages = _Stages(opts.progress)
    with stages.stage("[1-2/5] segment + complete", "segment+complete"):
        s12 = Stages12Options.with_user_landmarks(opts.face_box, opts.landmarks_file)
        s12 = dataclasses.replace(
            s12, load=LoadOptions(foreground_model=opts.foreground_model),
            complete=CompleteOptions(inpainter=opts.inpainter, model_path=opts.inpainter_model))
        result = segment_and_complete_verbose(picture, s12)
    stages.seconds.pop("segment+complete")
    stages.seconds.update(result.timings)
    warnings = list(result.masks.warnings) if result.masks is not None else []
    return _stages_3_to_5(result.layers, out_dir, opts, stages, str(picture), warnings)


def generate_from_layers(layers: Layers, out_dir: str | Path, options: GenerateOptions | None = None
                         ) -> GenerateResult:
    """Stages 3-5 on layers already made (tests; callers with their own stages 1-2)."""
    opts = options or GenerateOptions()
    return _stages_3_to_5(layers, out_dir, opts, _Stages(opts.progress), layers.source_path, [])


def _stages_3_to_5(layers: Layers, out_dir: str | Path, opts: GenerateOptions, stages: _Stages, source: str,
                   warnings: list[str]) -> GenerateResult:
    t_start = time.perf_counter() - sum(stages.seconds.values())
    with stages.stage("[3/5] mesh", "mesh"):
        meshes = mesh.run(layers, opts.mesh)
    with stages.stage("[4/5] rig", "rig"):
        rigged = rig.run(meshes, opts.rig)
    export_opts = opts.export or export.ExportOptions(name=opts.name)
    with stages.stage("[5/5] export", "export") as tick:
        exported = export.run(rigged, meshes.layers, out_dir, export_opts, progress=tick)
    warnings = list(dict.fromkeys([*warnings, *layers.warnings, *rigged.warnings]))  # stage 1's reach Layers too
    if exported.inp_problems:
        warnings.append(f"{export_opts.name}.inp: {len(exported.inp_problems)} problems: "
                        + "; ".join(exported.inp_problems[:5]))
    lm = meshes.layers.landmarks
    report: dict[str, Any] = {
        "generator": f"avatar-plugin {__version__}",
        "source": source,
        "name": export_opts.name,
        "canvas_size": list(layers.canvas_size),
        "seconds": {k: round(v, 4) for k, v in stages.seconds.items()},
        "total_seconds": round(time.perf_counter() - t_start, 4),
        "vertices": {p.value: int(len(m.vertices)) for p, m in meshes.meshes.items()},
        "triangles": {p.value: int(len(m.triangles)) for p, m in meshes.meshes.items()},
        "total_vertices": int(sum(len(m.vertices) for m in meshes.meshes.values())),
        "landmarks": {
            "face_box": [round(float(v), 2) for v in lm.face_box], "eye_l": [round(float(v), 2) for v in lm.eye_l],
            "eye_r": [round(float(v), 2) for v in lm.eye_r], "mouth": [round(float(v), 2) for v in lm.mouth],
            "source": lm.source,
        },
        "parameters": [a for p in exported.puppet.parameters for a in (x.id for x in p.axes)],
        "files": {k: v.name for k, v in exported.files.items()},
        "inp_problems": list(exported.inp_problems),
        "warnings": warnings,
    }
    path = Path(out_dir) / REPORT_FILE
    path.write_text(json.dumps(report, indent=2, allow_nan=False), encoding="utf-8")
    files = {**exported.files, "report": path}
    return GenerateResult(folder=Path(out_dir), files=files, report=report)
