"""The software renderer: coverage rule, sampling, blending, clip masks, and previews that change where
they should and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_plugin.puppet.evaluate import DrawItem, DrawList
from avatar_plugin.puppet.model import BlendMode, Texture
from avatar_plugin.puppet.raster import View, fit_view, raster, render


def _quad(x0, y0, x1, y1, texture=0, opacity=1.0, blend=BlendMode.NORMAL, clip=(), uv=(0, 0, 1, 1)):
    u0, v0, u1, v1 = uv
    return DrawItem(
        part=f"q{x0}{y0}", vertices=np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32),
        uvs=np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], np.float32),
        triangles=np.array([[0, 1, 2], [0, 2, 3]], np.int32), texture=texture, opacity=opacity, blend_mode=blend,
        clip=clip, visible=True)


def _solid(rgba):
    return Texture("s.png", np.full((4, 4, 4), rgba, np.uint8))


def test_pixel_centre_coverage_rule():
    img = raster(DrawList((10, 10), (_quad(2.0, 3.0, 5.0, 7.0),)), [_solid((255, 0, 0, 255))])
    covered = img[..., 3] > 0
    ys, xs = np.nonzero(covered)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (2, 4, 3, 6)
    assert covered.sum() == 3 * 4  # shared diagonal edge covered once, no holes
    # half-pixel offsets: centre 2.5 is inside [2.4, 5.4] but 5.5 is not
    img = raster(DrawList((10, 10), (_quad(2.4, 3.0, 5.4, 7.0),)), [_solid((255, 0, 0, 255))])
    assert np.nonzero(img[..., 3].any(axis=0))[0].tolist() == [2, 3, 4]


def test_texture_is_sampled_with_uvs():
    tex = np.zeros((2, 2, 4), np.uint8)
    tex[:, 0] = (255, 0, 0, 255)
    tex[:, 1] = (0, 0, 255, 255)
    img = raster(DrawList((8, 8), (_quad(0, 0, 8, 8),)), [Texture("t.png", tex)])
    assert tuple(img[4, 0]) == (255, 0, 0, 255)
    assert tuple(img[4, 7]) == (0, 0, 255, 255)
    mid = img[4, 3:5, :3].astype(int)  # bilinear in between
    assert (mid[:, 0] > 0).all() and (mid[:, 2] > 0).all()


def test_premultiplied_normal_blending_and_opacity():
    red, blue = _solid((255, 0, 0, 255)), _solid((0, 0, 255, 128))
    img = raster(DrawList((4, 4), (_quad(0, 0, 4, 4, 0), _quad(0, 0, 4, 4, 1))), [red, blue])
    r, _g, b, a = img[1, 1].astype(int)
    assert a == 255 and abs(r - 127) <= 2 and abs(b - 128) <= 2
    img = raster(DrawList((4, 4), (_quad(0, 0, 4, 4, 0, opacity=0.5),)), [red])
    assert tuple(img[1, 1]) == (255, 0, 0, 128)  # straight alpha out: colour stays, alpha halves


def test_multiply_and_add_blend_modes():
    grey, half_red = _solid((128, 128, 128, 255)), _solid((255, 0, 0, 255))
    img = raster(DrawList((4, 4), (_quad(0, 0, 4, 4, 0), _quad(0, 0, 4, 4, 1, blend=BlendMode.MULTIPLY))),
                 [grey, half_red])
    assert tuple(img[1, 1, :3]) == (128, 0, 0)
    img = raster(DrawList((4, 4), (_quad(0, 0, 4, 4, 0), _quad(0, 0, 4, 4, 0, blend=BlendMode.ADD))), [grey])
    assert tuple(img[1, 1, :3]) == (255, 255, 255)


def test_clip_mask_limits_a_part_to_its_mask():
    white, green = _solid((255, 255, 255, 255)), _solid((0, 255, 0, 255))
    items = (_quad(0, 0, 4, 8, 0), _quad(0, 0, 8, 8, 1, clip=(0,)))
    img = raster(DrawList((8, 8), items), [white, green])
    assert tuple(img[4, 2]) == (0, 255, 0, 255)  # inside the mask: green drawn
    assert img[4, 6, 3] == 0  # outside the mask: nothing


def test_view_scales_and_centres():
    view = fit_view((100, 50), (200, 200))
    assert view.scale == 2.0 and view.offset_y == 50.0
    img = raster(DrawList((100, 50), (_quad(0, 0, 100, 50),)), [_solid((9, 9, 9, 255))], view)
    assert img.shape == (200, 200, 4)
    assert img[49, 100, 3] == 0 and img[50, 100, 3] == 255 and img[149, 100, 3] == 255 and img[150, 100, 3] == 0
    img = raster(DrawList((4, 4), ()), [], View((4, 4)), background=(10, 20, 30, 255))
    assert tuple(img[0, 0]) == (10, 20, 30, 255)


# ---- previews differ where they should and nowhere else ---------------------------------------------------
def _changed(a, b):
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 8


def _box_of(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_mouth_open_changes_only_the_mouth(sample_puppet):
    rest = render(sample_puppet)
    opened = render(sample_puppet, {"ParamMouthOpenY": 1.0})
    changed = _changed(rest, opened)
    assert changed.sum() > 200
    mx, my = sample_puppet.meta.landmarks.mouth
    x0, y0, x1, y1 = _box_of(changed)
    assert mx - 40 <= x0 and x1 <= mx + 40 and my - 15 <= y0 and y1 <= my + 40
    # the opened mouth is darker than the skin it covers
    assert opened[int(my) + 10, int(mx), :3].mean() < rest[int(my) + 10, int(mx), :3].mean() - 40


def test_closing_the_characters_left_eye_changes_only_the_image_right_eye(sample_puppet):
    rest = render(sample_puppet)
    closed = render(sample_puppet, {"ParamEyeLOpen": 0.0})
    changed = _changed(rest, closed)
    ex, ey = sample_puppet.meta.landmarks.eye_l
    assert ex > sample_puppet.meta.canvas_size[0] / 2  # character's left = image right
    x0, y0, x1, y1 = _box_of(changed)
    assert ex - 35 <= x0 and x1 <= ex + 35 and ey - 30 <= y0 and y1 <= ey + 30
    # no eye white or iris left: the centre of the eye now shows skin
    assert closed[int(ey) + 8, int(ex)][:3].tolist() != rest[int(ey) + 8, int(ex)][:3].tolist()


@pytest.mark.parametrize("values", [{"ParamAngleX": 30.0}, {"ParamEyeBallX": 1.0}, {"ParamCheek": 1.0},
                                    {"ParamBreath": 1.0}, {"ParamHairBack": 1.0}, {"ParamBrowLY": 1.0}])
def test_every_parameter_changes_something(sample_puppet, values):
    assert _changed(render(sample_puppet), render(sample_puppet, values)).sum() > 20


def test_gaze_keeps_the_iris_inside_the_eye_white(sample_puppet):
    img = render(sample_puppet, {"ParamEyeBallX": 1.0})
    ex, _ey = sample_puppet.meta.landmarks.eye_r
    # iris green never appears outside the eye-white ellipse's box
    green = (img[..., 1].astype(int) - img[..., 0].astype(int) > 60) & (img[..., 3] > 0)
    gx0, _, gx1, _ = _box_of(green[:, : int(sample_puppet.meta.canvas_size[0] / 2)])
    assert ex - 27 <= gx0 and gx1 <= ex + 27
