"""Shared fixtures. Tests never download anything: model hubs are switched off for the whole run."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def sample_puppet():
    from avatar_plugin.puppet.sample import build_sample_puppet

    return build_sample_puppet()


@pytest.fixture
def sample_dir(tmp_path, sample_puppet):
    from avatar_plugin.puppet.io import write_puppet

    folder = tmp_path / "sample"
    write_puppet(sample_puppet, folder)
    return folder
