"""Every module imports cleanly and its ``__all__`` names exist (a findable package, STYLE.md lesson 9)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import avatar_plugin

MODULES = sorted(m.name for m in pkgutil.walk_packages(avatar_plugin.__path__, "avatar_plugin.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_and_exports_what_it_lists(name):
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no docstring"
    for export in getattr(module, "__all__", []):
        assert hasattr(module, export), f"{name}.__all__ lists {export!r}, which it does not define"


def test_public_modules_declare_all():
    missing = [n for n in MODULES if not n.rsplit(".", 1)[-1].startswith("_")
               and not hasattr(importlib.import_module(n), "__all__")]
    assert not missing, f"public modules without __all__: {missing}"


def test_top_level_version():
    assert avatar_plugin.__version__.count(".") == 2
