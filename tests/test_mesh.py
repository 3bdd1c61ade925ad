"""Stage 3: meshes cover every visible pixel, stay within one pixel of the alpha, keep to the budgets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar_plugin.generator import mesh as M
from avatar_plugin.generator._testing import CharacterStyle, draw_character, layers_from_full
from avatar_plugin.generator.types import Layer, Layers, Part


def _synth_layers(seed: int | None, size: int = 512):
    from avatar_plugin.generator import synth

    ch = synth.example_character() if seed is None else synth.make_character(synth.random_spec(seed, size))
    return layers_from_full(ch.layers, ch.landmarks, (ch.rgba.shape[1], ch.rgba.shape[0]))


def _check_layer(layer: Layer, m: M.PartMesh) -> tuple[int, int]:
    h, w = layer.image.shape[:2]
    pad = 4
    cov = M.covered_pixels(m.vertices, m.triangles, (w + 2 * pad, h + 2 * pad),
                           (layer.offset[0] - pad, layer.offset[1] - pad))
    mask = np.pad(layer.image[..., 3] > M.ALPHA_VISIBLE, pad)
    near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return int((mask & ~cov).sum()), int((cov & ~near).sum())


@pytest.mark.parametrize("source", ["drawn-512", "drawn-1024", "synth-example", "synth-5"])
def test_every_mesh_covers_its_layer_tightly_within_budget(source):
    if source.startswith("drawn"):
        layers = draw_character(CharacterStyle(size=int(source.split("-")[1])))
    else:
        layers = _synth_layers(None if source.endswith("example") else 5, 768)
    meshes = M.run(layers)
    assert set(meshes.meshes) == set(meshes.layers.layers)
    for part, m in meshes.meshes.items():
        uncovered, outside = _check_layer(meshes.layers.layers[part], m)
        assert uncovered == 0, f"{part.value}: {uncovered} visible pixels not covered"
        if m.tight:
            assert outside == 0, f"{part.value}: {outside} covered pixels more than 1 px outside the alpha"
        budget = M.SMALL_BUDGET if part in M.SMALL_PARTS else M.LARGE_BUDGET
        assert 12 <= len(m.vertices) <= budget, f"{part.value}: {len(m.vertices)} vertices"
        # counter-clockwise on screen (y down), no degenerate triangle
        v = m.vertices.astype(np.float64)[m.triangles]
        e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
        area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        assert (area > 0).all(), part


def test_big_parts_get_more_vertices_than_small_ones():
    meshes = M.run(draw_character(CharacterStyle(size=1024)))
    n = {p: len(m.vertices) for p, m in meshes.meshes.items()}
    assert n[Part.FACE] >= 200 and n[Part.FRONT_HAIR] >= 200
    assert 50 <= n[Part.EYE_WHITE_L] <= 200 and 50 <= n[Part.BROW_L] <= 200


def test_hair_tips_are_denser_than_roots():
    layers = draw_character()
    m = M.run(layers).meshes[Part.FRONT_HAIR]
    y = m.vertices[:, 1]
    y0, y1 = float(y.min()), float(y.max())
    top = (y < y0 + 0.4 * (y1 - y0)).sum()
    tips = (y > y0 + 0.6 * (y1 - y0)).sum()
    layer = layers.layers[Part.FRONT_HAIR]
    a = layer.image[..., 3] > 8
    rows = np.arange(a.shape[0]) + layer.offset[1]
    area_top = a[rows < y0 + 0.4 * (y1 - y0)].sum()
    area_tips = a[rows > y0 + 0.6 * (y1 - y0)].sum()
    assert tips / area_tips > 1.5 * top / area_top


def test_mouth_is_cut_at_the_lip_seam():
    layers = draw_character()
    m = M.run(layers).meshes[Part.MOUTH]
    assert m.seam_y is not None and m.lower.any() and (~m.lower).any()
    # no triangle mixes the two pieces; the seam vertices exist in both
    pieces = m.lower[m.triangles]
    assert (pieces.all(axis=1) | (~pieces).all(axis=1)).all()
    assert (m.vertices[m.lower, 1] >= m.seam_y - 1e-3).all()
    assert (m.vertices[~m.lower, 1] <= m.seam_y + 1e-3).all()


def test_noisy_alpha_is_meshed_within_budget_and_still_covered():
    rng = np.random.default_rng(3)
    img = np.zeros((300, 300, 4), np.uint8)
    cv2.circle(img, (150, 150), 110, (200, 100, 50, 255), -1)
    specks = rng.integers(0, 300, size=(400, 2))
    for x, y in specks:
        img[y, x] = (200, 100, 50, 255)
    holes = rng.integers(60, 240, size=(60, 2))
    for x, y in holes:
        img[y, x, 3] = 0
    layer = Layer(part=Part.BODY, image=img, offset=(10, 20), visible=img[..., 3] > 0)
    m = M.mesh_layer(layer)
    assert len(m.vertices) <= M.LARGE_BUDGET
    assert _check_layer(layer, m)[0] == 0


def test_a_missing_mouth_interior_is_drawn():
    layers = draw_character(CharacterStyle(with_interior=False))
    meshes = M.run(layers)
    assert Part.MOUTH_INTERIOR in meshes.layers.layers
    order = meshes.layers.depth_order
    assert order.index(Part.MOUTH_INTERIOR) == order.index(Part.MOUTH) - 1
    assert any("interior" in w for w in meshes.warnings)


def test_an_empty_layer_is_refused_by_name():
    layer = Layer(part=Part.BROW_L, image=np.zeros((5, 5, 4), np.uint8), offset=(0, 0), visible=np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="brow_l"):
        M.mesh_layer(layer)


def test_face_skin_that_stage_1_gave_to_the_body_moves_with_the_face():
    """Pixels inside the face that stage 1 assigned to a layer behind it (the body) become the face's, in the
    picture's colour, so a turning head carries them instead of leaving holes of the back layer's fill."""
    layers = draw_character(CharacterStyle(size=384))
    W, H = layers.canvas_size
    face, body = layers.layers[Part.FACE], layers.layers[Part.BODY]
    lm = layers.landmarks
    cx, cy = int(lm.mouth[0]) - 30, int(lm.mouth[1]) - 12  # a cheek patch
    f_full, b_full = face.full((W, H)), body.full((W, H))
    f_vis, b_vis = np.zeros((H, W), bool), np.zeros((H, W), bool)
    M._paste(f_vis, face.visible, face.offset)
    M._paste(b_vis, body.visible, body.offset)
    patch = np.zeros((H, W), bool)
    patch[cy - 6:cy + 6, cx - 6:cx + 6] = True
    assert (f_vis[patch]).all()
    b_full[patch] = f_full[patch]
    b_vis |= patch
    f_full[patch] = 0
    f_vis &= ~patch
    new = dict(layers.layers)
    new[Part.FACE] = Layer(part=Part.FACE, image=f_full, offset=(0, 0), visible=f_vis)
    new[Part.BODY] = Layer(part=Part.BODY, image=b_full, offset=(0, 0), visible=b_vis)
    broken = Layers(canvas_size=(W, H), layers=new, depth_order=layers.depth_order, landmarks=lm)
    fitted = M.fit_to_picture(broken).layers[Part.FACE]
    got = fitted.full((W, H))
    vis = np.zeros((H, W), bool)
    M._paste(vis, fitted.visible, fitted.offset)
    assert vis[patch].all() and (got[patch][:, 3] == 255).all()
    assert np.abs(got[patch][:, :3].astype(int) - layers.layers[Part.FACE].full((W, H))[patch][:, :3]).max() <= 2


def test_eye_parts_wider_than_the_lash_line_go_to_the_face():
    """Iris pixels far beside the eye (a strand stage 1 called iris) are the face's: a closing lid cannot
    uncover a patch wider than the eye."""
    layers = draw_character(CharacterStyle(size=384))
    W, H = layers.canvas_size
    iris = layers.layers[Part.IRIS_R]
    lashes = layers.layers[Part.LASHES_R]
    cols = np.nonzero((lashes.image[..., 3] > 64).any(axis=0))[0] + lashes.offset[0]
    full = iris.full((W, H))
    vis = np.zeros((H, W), bool)
    M._paste(vis, iris.visible, iris.offset)
    y = int(layers.landmarks.eye_r[1])
    x = int(cols.min()) - 7
    full[y - 3:y + 3, x - 3:x + 3] = (90, 60, 40, 255)
    vis[y - 3:y + 3, x - 3:x + 3] = True
    new = dict(layers.layers)
    new[Part.IRIS_R] = Layer(part=Part.IRIS_R, image=full, offset=(0, 0), visible=vis)
    fitted = M.fit_to_picture(Layers(canvas_size=(W, H), layers=new, depth_order=layers.depth_order,
                                     landmarks=layers.landmarks))
    assert (fitted.layers[Part.IRIS_R].full((W, H))[y - 3:y + 3, x - 3:x + 3, 3] == 0).all()
    face = fitted.layers[Part.FACE].full((W, H))
    got = (face[y - 3:y + 3, x - 3:x + 3, :3] == (90, 60, 40)).all(axis=2)
    assert got.mean() > 0.7  # (the side lock owns a corner of the block)
