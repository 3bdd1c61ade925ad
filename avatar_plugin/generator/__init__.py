"""The generator: one picture -> a rigged avatar folder. Stages, one file each (``run(previous, options)``):

- :mod:`.load` -- picture loading and validation, foreground cut-out -> ``SourceImage``
- :mod:`.landmarks` -- face box, eye and mouth centres (animeface, fallbacks, user override)
- :mod:`.segment` -- stage 1: parts with depth order -> ``PartMasks``
- :mod:`.complete` -- stage 2: amodal completion of hidden regions -> ``Layers`` (backends in :mod:`.backends`)
- :mod:`.psd_input` -- a layered PSD straight to ``Layers`` (skips stages 1-2)
- :mod:`.mesh` -- stage 3: constrained triangle meshes per layer
- :mod:`.rig` / :mod:`.rig_model` -- stage 4: deformers and keyforms for the Live2D standard parameters, physics
- :mod:`.export`, :mod:`.atlas`, :mod:`.inochi`, :mod:`.psd_export` -- stage 5: puppet folder, Inochi2D ``.inp``
  (with a strict checker), layered PSD for Cubism Editor, previews
- :mod:`.pipeline` -- ``generate(picture, out_dir, options)``: the stages in order with progress and a report
- :mod:`.stages12` -- stages 1-2 in one call; :mod:`.types` -- the stage outputs (the contract between stages)
- :mod:`.synth` -- synthetic characters with ground truth (benchmarks, tests, the example picture)
"""

__all__: list[str] = []
