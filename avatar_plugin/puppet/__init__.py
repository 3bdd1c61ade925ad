"""The puppet: format (version 1), evaluation, physics and software rendering.

- :mod:`.model` -- the frozen definition (:class:`Puppet`, :class:`Node`, :class:`Binding`, ...).
- :mod:`.io` -- :func:`read_puppet` / :func:`write_puppet` for a puppet folder (strict, versioned JSON + PNGs).
- :mod:`.evaluate` -- :func:`evaluate` parameters -> :class:`DrawList` (pure numpy).
- :mod:`.physics` -- :class:`PhysicsState` pendulum chains (runtime state).
- :mod:`.raster` -- :func:`raster` / :func:`render`, the software renderer for previews and tests.
- :mod:`.standard` -- the Live2D standard parameter ids and ranges.
- :mod:`.sample` -- a puppet built in code (test fixture, first example).
"""

from avatar_plugin.puppet.evaluate import DrawItem, DrawList, evaluate
from avatar_plugin.puppet.io import read_puppet, write_puppet
from avatar_plugin.puppet.model import (
    FORMAT_VERSION,
    Axis,
    Binding,
    BindingTarget,
    BlendMode,
    Landmarks,
    Mesh,
    Meta,
    Node,
    NodeKind,
    Parameter,
    PhysicsChain,
    PhysicsInput,
    PhysicsOutput,
    Puppet,
    Texture,
    Transform,
)
from avatar_plugin.puppet.physics import PhysicsState
from avatar_plugin.puppet.raster import View, fit_view, raster, render

__all__ = [
    "FORMAT_VERSION",
    "Axis",
    "Binding",
    "BindingTarget",
    "BlendMode",
    "DrawItem",
    "DrawList",
    "Landmarks",
    "Mesh",
    "Meta",
    "Node",
    "NodeKind",
    "Parameter",
    "PhysicsChain",
    "PhysicsInput",
    "PhysicsOutput",
    "PhysicsState",
    "Puppet",
    "Texture",
    "Transform",
    "View",
    "evaluate",
    "fit_view",
    "raster",
    "read_puppet",
    "render",
    "write_puppet",
]
