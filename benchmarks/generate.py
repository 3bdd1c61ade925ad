"""End-to-end ``generate`` time for a 1024 x 1024 picture, per stage (target: <= 10 s on the 2-core machine).

Baseline in the same run: the same pipeline writing only the puppet folder (no .inp, .psd, preview GIF), so the
cost of the extra outputs is visible. Usage: ``python benchmarks/generate.py [--repeat N] [--size 1024]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()

    from avatar_plugin.generator import synth
    from avatar_plugin.generator.export import ExportOptions
    from avatar_plugin.generator.pipeline import GenerateOptions, generate

    ch = synth.make_character(synth.with_size(synth.example_character().spec, args.size))
    rows: dict[str, list[dict[str, float]]] = {"full": [], "baseline": []}
    with tempfile.TemporaryDirectory() as tmp:
        picture = Path(tmp) / "character.png"
        Image.fromarray(ch.rgba).save(picture)
        for k in range(args.repeat):
            for case, export in (("full", ExportOptions(name="bench")),
                                 ("baseline", ExportOptions(name="bench", gif=False, psd=False, inp=False))):
                out = Path(tmp) / f"{case}{k}"
                t0 = time.perf_counter()
                result = generate(picture, out, GenerateOptions(name="bench", export=export, progress=False))
                wall = time.perf_counter() - t0
                rows[case].append({**result.report["seconds"], "wall": wall})
        report = json.loads((Path(tmp) / "full0" / "report.json").read_text())

    stages = ["load", "segment", "complete", "mesh", "rig", "export", "wall"]
    print(f"generate, {args.size}x{args.size} synthetic character, {report['total_vertices']} vertices, "
          f"median of {args.repeat}")
    print("| case | " + " | ".join(stages) + " |")
    print("|---|" + "---:|" * len(stages))
    for case, label in (("full", "full (puppet + .inp + .psd + GIF)"), ("baseline", "baseline: puppet folder only")):
        med = {s: statistics.median(r.get(s, 0.0) for r in rows[case]) for s in stages}
        print(f"| {label} | " + " | ".join(f"{med[s]:.2f}" for s in stages) + " |")
    full = statistics.median(r["wall"] for r in rows["full"])
    print(f"\nfull end to end: {full:.2f} s (target <= 10 s) {'OK' if full <= 10 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
