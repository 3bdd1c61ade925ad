"""The bundled renderer in real headless Chromium: pixel parity with the Python renderer, reconnection, studio.

One browser for the module (Debian's /usr/bin/chromium through Playwright's Python API; never downloaded).
"""

from __future__ import annotations

import io
import json as _json
import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from avatar_plugin.puppet.raster import render

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--use-angle=swiftshader"]

PARAM_SETS = [
    {},
    {"ParamAngleX": 20, "ParamAngleY": -10, "ParamEyeBallX": 0.8, "ParamCheek": 1.0, "ParamMouthOpenY": 0.7},
    {"ParamAngleZ": -15, "ParamEyeLOpen": 0.3, "ParamHairBack": 0.6, "ParamBreath": 1.0, "ParamEyeBallY": -1},
    {"ParamAngleX": -30, "ParamAngleY": 30, "ParamEyeBallX": -1, "ParamMouthForm": -1, "ParamBodyAngleZ": 8,
     "ParamBodyAngleX": -10, "ParamBrowLY": 1, "ParamCheek": 0.5},
]


def start_daemon(folder, port: int = 0, config=None) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    extra = ["--config", str(config)] if config else []
    proc = subprocess.Popen([sys.executable, "-m", "avatar_plugin", "live", str(folder), "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "studio" in line and "http://" in line and line.startswith("avatar-plugin"):
            return proc, line.split()[-1].rsplit("/studio", 1)[0]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("daemon did not start")


def stop_daemon(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    from avatar_plugin.puppet.io import write_puppet
    from avatar_plugin.puppet.sample import build_sample_puppet

    folder = tmp_path_factory.mktemp("web") / "sample"
    write_puppet(build_sample_puppet(), folder)
    proc, base = start_daemon(folder)
    yield folder, base, proc
    stop_daemon(proc)


def open_avatar(browser, base, size=512):
    page = browser.new_page(viewport={"width": size, "height": size}, device_scale_factor=1)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/?w={size}&h={size}&noretry=1")
    page.wait_for_function("window.avatarReady || window.avatarError", timeout=30000)
    assert page.evaluate("window.avatarError || null") is None
    return page, errors


def premultiplied(img: np.ndarray) -> np.ndarray:
    out = img.astype(np.float64)
    out[..., :3] *= out[..., 3:4] / 255.0
    return out


def browser_frame(page, values) -> np.ndarray:
    """The page's avatar drawn at exactly ``values`` (no idle life), as straight RGBA."""
    page.evaluate("v => window.avatar.renderFixed(v)", values)
    return np.asarray(Image.open(io.BytesIO(page.screenshot(omit_background=True))).convert("RGBA"))


def mean_abs_diff(got: np.ndarray, want: np.ndarray, *, over_box: bool = True) -> float:
    """Mean absolute premultiplied difference (0..255), over the box of what either drew (or the whole image)."""
    assert got.shape == want.shape
    box: tuple[slice, ...] = (slice(None), slice(None))
    if over_box:
        ys, xs = np.nonzero((want[..., 3] > 0) | (got[..., 3] > 0))
        box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    return float(np.abs(premultiplied(got)[box] - premultiplied(want)[box]).mean())


def test_parity_with_python_renderer(browser, daemon, sample_puppet):
    _, base, _ = daemon
    page, errors = open_avatar(browser, base)
    for values in PARAM_SETS:
        got, want = browser_frame(page, values), render(sample_puppet, values)
        mad = mean_abs_diff(got, want)
        assert mad <= 2.0, f"{values}: mean abs difference {mad:.3f}/255 over the puppet's box"
        # the irises are clipped by the eye whites: nothing of the iris outside them
        assert np.abs(got[..., 3].astype(int) - want[..., 3].astype(int)).mean() < 1.0
    assert not errors
    page.close()


def test_clip_mask_really_clips(browser, daemon, sample_puppet):
    """Looking hard right pushes the iris past the eye white; the clipped part must not show there."""
    _, base, _ = daemon
    page, _ = open_avatar(browser, base)
    values = {"ParamEyeBallX": 1.0, "ParamEyeBallY": 1.0}
    got, want = browser_frame(page, values), render(sample_puppet, values)
    eye = (slice(205, 262), slice(270, 335))  # character's left eye region
    assert np.abs(premultiplied(got)[eye] - premultiplied(want)[eye]).mean() <= 2.0
    page.close()


def test_page_follows_stream_and_reconnects_after_restart(browser, tmp_path, sample_puppet):
    from avatar_plugin.puppet.io import write_puppet

    folder = tmp_path / "p"
    write_puppet(sample_puppet, folder)
    proc, base = start_daemon(folder)
    port = int(base.rsplit(":", 1)[1])
    try:
        page, errors = open_avatar(browser, base, size=256)
        page.wait_for_function("window.avatar.frames > 5", timeout=10000)
        stop_daemon(proc)
        page.wait_for_timeout(700)
        proc, base = start_daemon(folder, port)
        frames = page.evaluate("window.avatar.frames")
        req = urllib.request.Request(f"{base}/api/set", data=_json.dumps({"params": {"ParamAngleZ": 21.0}}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        page.wait_for_function("Math.abs((window.avatar.values().ParamAngleZ || 0) - 21) < 0.01", timeout=15000)
        assert page.evaluate("window.avatar.frames") > frames
        assert not errors
        page.close()
    finally:
        stop_daemon(proc)


def test_studio_loads_and_drives(browser, daemon, tmp_path):
    _, base, _ = daemon
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/studio")
    page.wait_for_function("window.studioReady", timeout=30000)
    page.wait_for_selector("#expressions button")
    assert page.locator(".param input[type=range]").count() >= 15
    page.click("#expressions button[data-name=happy]")
    page.wait_for_function("document.getElementById('expression-badge').textContent === 'happy'", timeout=5000)
    assert page.input_value("#obs-url") == f"{base}/"
    page.screenshot(path=str(tmp_path / "studio.png"))
    assert not errors
    page.close()


def test_studio_offers_webcam_calibration(browser, tmp_path, sample_puppet):
    """A webcam source (here one whose camera is missing: it shows as retrying) gets a Calibrate button that
    sends the webcam_calibrate control message."""
    from avatar_plugin.puppet.io import write_puppet

    folder = tmp_path / "sample"
    write_puppet(sample_puppet, folder)
    config = tmp_path / "config.toml"
    config.write_text('[webcam]\nenabled = true\ndevice = "/dev/video57"\n')
    proc, base = start_daemon(folder, config=config)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/studio")
        page.wait_for_function("window.studioReady", timeout=30000)
        button = page.locator("#components li.retrying button.calibrate, #components li button.calibrate")
        button.first.wait_for(timeout=10000)
        button.first.click()
        page.wait_for_function(
            "[...document.querySelectorAll('button.calibrate')].some(b => b.textContent.includes('Calibrated'))",
            timeout=5000)
        page.close()
    finally:
        stop_daemon(proc)


def test_parity_on_a_generated_avatar(browser, tmp_path):
    """A generated puppet uses what the sample does not: 2-D eye grids (open x smile), dense deforms on every
    part, packed atlases. The browser must draw it like the Python renderer at extremes too."""
    from avatar_plugin.generator._testing import CharacterStyle, draw_character
    from avatar_plugin.generator.export import ExportOptions
    from avatar_plugin.generator.pipeline import GenerateOptions, generate_from_layers
    from avatar_plugin.puppet.io import read_puppet

    folder = tmp_path / "gen"
    opts = GenerateOptions(name="gen", progress=False,
                           export=ExportOptions(name="gen", gif=False, psd=False, inp=False))
    generate_from_layers(draw_character(CharacterStyle(size=384)), folder, opts)
    puppet = read_puppet(folder)
    proc, base = start_daemon(folder)
    try:
        page, errors = open_avatar(browser, base, size=384)
        for values in [{}, {"ParamAngleX": 30, "ParamAngleY": -20, "ParamEyeLOpen": 0.0, "ParamMouthOpenY": 1.0},
                       {"ParamAngleX": -25, "ParamAngleZ": 20, "ParamEyeRSmile": 1.0, "ParamMouthForm": 1.0,
                        "ParamEyeBallX": 1.0, "ParamHairFront": 1.0, "ParamBodyAngleX": 10, "ParamCheek": 1.0}]:
            mad = mean_abs_diff(browser_frame(page, values), render(puppet, values))
            assert mad <= 2.0, f"{values}: mean abs difference {mad:.3f}/255 over the puppet's box"
        assert not errors
        page.close()
    finally:
        stop_daemon(proc)


def test_parity_at_texture_edges(browser, tmp_path):
    """UVs that reach the texture's border sample the edge texel (clamp to edge) in both renderers."""
    from avatar_plugin.puppet.io import write_puppet
    from avatar_plugin.puppet.model import Axis, Binding, BindingTarget, Meta, Node, NodeKind, Parameter, Puppet
    from avatar_plugin.puppet.model import Texture as Tex
    from avatar_plugin.puppet.sample import grid_mesh

    tex = np.zeros((2, 2, 4), np.uint8)
    tex[:, 0] = (255, 0, 0, 255)
    tex[:, 1] = (0, 0, 255, 255)
    puppet = Puppet(
        meta=Meta("edges", (64, 64)),
        parameters=(Parameter("ParamAngleX", (Axis("ParamAngleX", -30.0, 30.0, 0.0, (-30.0, 0.0, 30.0)),)),),
        nodes=(Node("quad", NodeKind.PART, mesh=grid_mesh(4, 4, 56, 56, 2, 2, (0.0, 0.0, 1.0, 1.0)), draw_order=0),),
        bindings=(Binding("ParamAngleX", "quad", BindingTarget.ROTATE, np.array([-20.0, 0.0, 20.0])),),
        physics=(), textures=(Tex("t.png", tex),))
    folder = tmp_path / "edges"
    write_puppet(puppet, folder)
    proc, base = start_daemon(folder)
    try:
        page, errors = open_avatar(browser, base, size=64)
        for values in [{}, {"ParamAngleX": 30.0}]:
            got, want = browser_frame(page, values), render(puppet, values)
            assert tuple(want[30, 5]) == (255, 0, 0, 255)  # the edge texel, not a fade to transparent
            mad = mean_abs_diff(got, want, over_box=False)
            assert mad <= 2.0, f"{values}: mean abs difference {mad:.3f}/255"
        assert not errors
        page.close()
    finally:
        stop_daemon(proc)
