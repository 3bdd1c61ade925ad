"""Write the code-built sample puppet and a strip of previews at a few parameter values.

    python examples/make_sample_puppet.py [OUT_DIR]

The puppet is built in `avatar_plugin/puppet/sample.py`: every binding type, a 2-D parameter, clip masks,
a multiply-blended blush and a physics chain, with textures drawn by code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from avatar_plugin.puppet import render, write_puppet
from avatar_plugin.puppet.sample import build_sample_puppet

POSES = [
    {},
    {"ParamAngleX": 30.0, "ParamEyeBallX": 0.6},
    {"ParamMouthOpenY": 1.0, "ParamMouthForm": 1.0, "ParamCheek": 1.0},
    {"ParamEyeLOpen": 0.0, "ParamAngleZ": 15.0, "ParamHairBack": 0.8},
    {"ParamAngleY": 30.0, "ParamBrowLY": 1.0, "ParamBrowRY": 1.0},
]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "sample-puppet")
    puppet = build_sample_puppet()
    write_puppet(puppet, out)
    frames = [render(puppet, pose, background=(236, 236, 240, 255)) for pose in POSES]
    strip = np.concatenate([f[40:470] for f in frames], axis=1)
    Image.fromarray(strip).resize((strip.shape[1] // 2, strip.shape[0] // 2), Image.Resampling.LANCZOS).save(
        out / "poses.png")
    print(f"wrote {out}/puppet.json and {out}/poses.png")


if __name__ == "__main__":
    main()
