"""Pure face maths: head pose with exact truth, features, filters, calibration, lost tracking, motion files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatar_plugin.errors import InputError
from avatar_plugin.live.face import (
    FaceFeatures,
    FaceParams,
    FaceSolver,
    OneEuroFilter,
    RangeCalibrator,
    SolverOptions,
    TrackingLostPolicy,
    check_points,
    face_features,
    features_from_blendshapes,
    head_pose,
    mirror_params,
    rotation_from_angles,
)
from avatar_plugin.live.motion_file import (
    Track,
    read_track,
    simplify_linear,
    track_to_motion3,
    write_track_file,
)


@pytest.fixture(scope="module")
def astronaut_points() -> np.ndarray:
    """Real landmarks: MediaPipe FaceMesh on scikit-image's astronaut photo (pixels)."""
    from avatar_plugin.live.face_synth import astronaut_bgr
    from avatar_plugin.live.tracking import FaceMeshDetector

    det = FaceMeshDetector(static=True)
    try:
        found = det.detect(astronaut_bgr())
    finally:
        det.close()
    assert found is not None
    return found.points


def _frontal(points: np.ndarray) -> np.ndarray:
    pose = head_pose(points)
    return (points - pose.origin) @ pose.rotation  # the face in its own frame: angles 0, 0, 0


def _posed(frontal: np.ndarray, yaw: float, pitch: float, roll: float, scale: float = 1.0,
           shift: tuple[float, float] = (320.0, 240.0)) -> np.ndarray:
    r = rotation_from_angles(yaw, pitch, roll)
    return scale * frontal @ r.T + np.array([shift[0], shift[1], 0.0])


def test_astronaut_is_nearly_frontal(astronaut_points: np.ndarray) -> None:
    pose = head_pose(astronaut_points)
    assert abs(pose.yaw) < 5 and abs(pose.pitch) < 8 and abs(pose.roll) < 6
    assert 40 < pose.scale < 80  # eye-corner distance in pixels of a 512-pixel photo


@settings(max_examples=60, deadline=None)
@given(yaw=st.floats(-45, 45), pitch=st.floats(-40, 40), roll=st.floats(-45, 45),
       scale=st.floats(0.3, 4.0), dx=st.floats(-300, 300), dy=st.floats(-300, 300))
def test_head_pose_recovers_known_rotations(astronaut_points: np.ndarray, yaw: float, pitch: float, roll: float,
                                            scale: float, dx: float, dy: float) -> None:
    pts = _posed(_frontal(astronaut_points), yaw, pitch, roll, scale, (dx, dy))
    pose = head_pose(pts)
    assert pose.yaw == pytest.approx(yaw, abs=1e-6)
    assert pose.pitch == pytest.approx(pitch, abs=1e-6)
    assert pose.roll == pytest.approx(roll, abs=1e-6)


def test_signs_follow_live2d(astronaut_points: np.ndarray) -> None:
    """Check the signs against the picture, not against our own formula."""
    f = _frontal(astronaut_points)
    # Head top toward the image's right: the forehead (landmark 10) moves right of the chin (152).
    p = _posed(f, 0, 0, 20)
    assert p[10, 0] > p[152, 0] and head_pose(p).roll > 0
    # Face toward the image's right: the nose tip (1) moves right of the eye-corner midpoint, and comes nearer.
    p = _posed(f, 20, 0, 0)
    assert p[1, 0] > 0.5 * (p[33, 0] + p[263, 0]) and head_pose(p).yaw > 0
    # Looking up: the nose tip moves up (smaller y) relative to the eye corners... and the chin forward.
    p = _posed(f, 0, 20, 0)
    assert p[152, 2] < p[10, 2] and head_pose(p).pitch > 0


def test_features_do_not_depend_on_pose(astronaut_points: np.ndarray) -> None:
    f = _frontal(astronaut_points)
    a = face_features(_posed(f, 0, 0, 0, 1.0))
    b = face_features(_posed(f, 25, -15, 30, 2.5, (100, 50)))
    for name in ("eye_ratio_left", "eye_ratio_right", "gaze_x", "gaze_y", "brow_left", "mouth_open",
                 "mouth_width", "mouth_corners"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), abs=1e-9), name
    assert 0.2 < a.eye_ratio_left < 0.5 and 0.2 < a.eye_ratio_right < 0.5  # open eyes


def test_check_points_names_the_problem() -> None:
    with pytest.raises(ValueError, match=r"\(478, 3\).*found shape \(468, 3\)"):
        check_points(np.zeros((468, 3)))
    bad = np.zeros((478, 3))
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        check_points(bad)


def test_mirror_params_swaps_sides_and_flips_x() -> None:
    p = FaceParams(angle_x=10, angle_y=5, angle_z=-7, body_angle_x=3, body_angle_z=-2, eye_l_open=0.1,
                   eye_r_open=0.9, eye_ball_x=0.5, eye_ball_y=0.2, brow_l_y=0.3, brow_r_y=-0.3)
    m = mirror_params(p)
    assert (m.angle_x, m.angle_y, m.angle_z, m.eye_ball_x, m.eye_ball_y) == (-10, 5, 7, -0.5, 0.2)
    assert (m.eye_l_open, m.eye_r_open, m.brow_l_y, m.brow_r_y) == (0.9, 0.1, -0.3, 0.3)
    assert mirror_params(m) == p
    assert set(p.to_params()) >= {"ParamAngleX", "ParamEyeLOpen", "ParamMouthForm", "ParamBodyAngleZ"}


# --- filters ---------------------------------------------------------------------------------------------------


def test_one_euro_smooths_rest_and_follows_motion() -> None:
    rng = np.random.default_rng(1)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    noisy = 10 + rng.normal(0, 0.5, 300)  # half a degree of landmark jitter at 30 fps
    out = np.array([f.update(x, i / 30) for i, x in enumerate(noisy)])
    assert np.std(out[60:]) < 0.4 * np.std(noisy[60:])
    assert abs(np.mean(out[60:]) - 10) < 0.3
    # A fast 30-degree turn is followed within ~5 frames (beta raises the cutoff with speed).
    f = OneEuroFilter(min_cutoff=1.0, beta=0.3)
    ramp = [min(30.0, 6.0 * i) for i in range(30)]
    out = [f.update(x, i / 30) for i, x in enumerate(ramp)]
    assert out[10] > 25
    assert f.update(30.0, 1.0) == pytest.approx(30.0, abs=0.5)
    assert OneEuroFilter().update(3.5, 0.0) == 3.5
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0)


def test_range_calibrator_learns_a_users_own_eyes() -> None:
    """A user with narrow eyes (open 0.17, shut 0.035) still gets the full 0..1 range after a few blinks."""
    cal = RangeCalibrator(0.06, 0.3)
    rng = np.random.default_rng(2)
    for i in range(600):
        blink = i % 90 in (40, 41, 42)
        cal.push((0.035 if blink else 0.17) + rng.normal(0, 0.004))
    assert cal.normalize(0.17) > 0.9
    assert cal.normalize(0.035) < 0.1
    assert cal.low < 0.06 and cal.high < 0.2


def _features(eye_l: float = 0.3, eye_r: float = 0.3, mouth: float = 0.0, yaw: float = 0.0,
              gaze_x: float = 0.0, brow: float = 0.22) -> FaceFeatures:
    from avatar_plugin.live.face import HeadPose

    pose = HeadPose(yaw=yaw, pitch=0.0, roll=0.0, rotation=np.eye(3), origin=np.zeros(3), scale=100.0)
    return FaceFeatures(head=pose, eye_ratio_left=eye_l, eye_ratio_right=eye_r, gaze_x=gaze_x, gaze_y=0.05,
                        brow_left=brow, brow_right=brow, mouth_open=mouth, mouth_width=0.58,
                        mouth_corners=-0.04)


def test_solver_catches_every_blink_and_allows_winks() -> None:
    solver = FaceSolver()
    fps = 30.0
    lows, highs = [], []
    for i in range(int(20 * fps)):
        t = i / fps
        phase = i % 75  # a blink (4 frames ~ 130 ms) every 2.5 s
        shut = phase in (30, 31, 32, 33)
        ratio = {30: 0.12, 31: 0.05, 32: 0.05, 33: 0.14}.get(phase, 0.26) if shut else 0.26
        p = solver.update(_features(ratio, ratio), t)
        if i > 150 and phase in (31, 32):
            lows.append(p.eye_l_open)
        if i > 150 and phase in (10, 60):
            highs.append(min(p.eye_l_open, p.eye_r_open))
    assert max(lows) < 0.3, "a blink was missed"
    assert min(highs) > 0.85
    # A wink: only the user's left eye closes -> only ParamEyeLOpen (no mirror) drops.
    for i in range(15):
        p = solver.update(_features(0.05, 0.26), 20 + i / fps)
    assert p.eye_l_open < 0.25 and p.eye_r_open > 0.8
    mirrored = FaceSolver(SolverOptions(mirror=True))
    for i in range(200):
        q = mirrored.update(_features(0.26 if i < 180 else 0.05, 0.26, yaw=10), i / fps)
    assert q.eye_r_open < 0.3 and q.eye_l_open > 0.8 and q.angle_x < -5


def test_solver_mouth_brows_gaze_and_calibrate() -> None:
    solver = FaceSolver()
    for i in range(300):
        p = solver.update(_features(yaw=12.0), i / 30)
    assert p.mouth_open_y < 0.05 and abs(p.mouth_form) < 0.1 and abs(p.brow_l_y) < 0.1
    assert p.angle_x == pytest.approx(12.0, abs=0.1) and p.body_angle_x == pytest.approx(3.6, abs=0.1)
    for i in range(20):
        p = solver.update(_features(yaw=12.0, mouth=0.5, brow=0.27, gaze_x=0.1), 10 + i / 30)
    assert p.mouth_open_y > 0.9 and p.brow_l_y > 0.6 and p.eye_ball_x > 0.5
    solver.calibrate()
    for i in range(60):
        p = solver.update(_features(yaw=12.0), 11 + i / 30)
    assert abs(p.angle_x) < 0.5 and solver.pose_offset[0] == pytest.approx(12.0)


def test_tracking_lost_holds_then_eases_to_idle() -> None:
    policy = TrackingLostPolicy(hold_s=0.5, ease_s=1.0)
    assert policy.update(None, 0.0).weight == 0.0  # nothing seen yet: idle
    seen = FaceParams(angle_x=20, eye_l_open=0.2, mouth_open_y=0.8)
    assert policy.update(seen, 1.0) == seen
    held = policy.update(None, 1.4)
    assert held.angle_x == 20 and held.weight == 1.0 and not held.tracking
    mid = policy.update(None, 2.0)
    assert 0 < mid.angle_x < 20 and 0 < mid.weight < 1
    done = policy.update(None, 2.95)  # lost at 1.4: hold to 1.9, ease to 2.9
    assert done.angle_x == 0 and done.eye_l_open == 1.0 and done.mouth_open_y == 0 and done.weight == 0
    assert policy.update(seen, 3.1) == seen  # back at once


def test_blendshapes_path_maps_into_the_same_solver() -> None:
    from avatar_plugin.live.face import HeadPose

    pose = HeadPose(yaw=0, pitch=0, roll=0, rotation=np.eye(3), origin=np.zeros(3), scale=100)
    solver = FaceSolver()
    for i in range(200):
        p = solver.update(features_from_blendshapes({"eyeBlinkLeft": 0.02, "eyeBlinkRight": 0.03}, pose), i / 30)
    for i in range(6):
        p = solver.update(features_from_blendshapes({"eyeBlinkLeft": 0.95, "eyeBlinkRight": 0.03, "jawOpen": 0.9,
                                                     "mouthSmileLeft": 0.8, "mouthSmileRight": 0.8,
                                                     "eyeLookOutLeft": 0.7, "eyeLookInRight": 0.7}, pose),
                          7 + i / 30)
    assert p.eye_l_open < 0.25 and p.eye_r_open > 0.8
    assert p.mouth_open_y > 0.8 and p.mouth_form > 0.3 and p.eye_ball_x > 0.3


# --- motion files ----------------------------------------------------------------------------------------------


def test_track_json_round_trip_and_errors(tmp_path: Path) -> None:
    track = Track.from_samples([0.0, 0.05, 0.5], [{"ParamAngleX": 0}, {"ParamAngleX": 3},
                                                  {"ParamAngleX": 30, "ParamMouthOpenY": 1}], fps=60)
    assert track.frames == 31 and track.params["ParamAngleX"][3] == pytest.approx(3.0)
    out = write_track_file(track, tmp_path / "a" / "track.json")
    obj = json.loads(out.read_text())
    assert obj["fps"] == 60 and set(obj["params"]) == {"ParamAngleX", "ParamMouthOpenY"}
    again = read_track(out)
    assert again.frames == track.frames
    assert np.allclose(again.params["ParamAngleX"], track.params["ParamAngleX"], atol=1e-5)
    for text, match in [("[]", "top level"), ('{"fps": 30}', "top level"),
                        ('{"fps": 30, "params": {"A": [1, "x"]}}', "holds 'x'"),
                        ('{"fps": 0, "params": {}}', "fps"),
                        ('{"fps": 30, "params": {"A": [1], "B": [1, 2]}}', "same number of frames"),
                        ('{"fps": 30, "params": {}, "extra": 1}', "top level"), ("{", "not JSON")]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(InputError, match=match):
            read_track(bad)
    with pytest.raises(InputError, match="unknown output format"):
        write_track_file(track, tmp_path / "x.csv")


def test_motion3_is_consistent_and_compact(tmp_path: Path) -> None:
    n = 120
    track = Track(fps=30, params={"ParamAngleX": [10 * math.sin(i / 10) for i in range(n)],
                                  "ParamEyeLOpen": [1.0] * n})
    m = track_to_motion3(track)
    assert m["Version"] == 3 and m["Meta"]["CurveCount"] == 2
    assert m["Meta"]["Duration"] == pytest.approx((n - 1) / 30, abs=1e-3)
    segs = sum((len(c["Segments"]) - 2) // 3 for c in m["Curves"])
    pts = sum(1 + (len(c["Segments"]) - 2) // 3 for c in m["Curves"])
    assert m["Meta"]["TotalSegmentCount"] == segs and m["Meta"]["TotalPointCount"] == pts
    still = next(c for c in m["Curves"] if c["Id"] == "ParamEyeLOpen")
    assert len(still["Segments"]) == 5  # two points: a still parameter costs one segment
    # Values between kept keyframes stay within the tolerance (0.2 % of the 60-degree range).
    curve = next(c for c in m["Curves"] if c["Id"] == "ParamAngleX")["Segments"]
    times = [curve[0]] + curve[3::3]
    values = [curve[1]] + curve[4::3]
    approx = np.interp(np.arange(n) / 30, times, values)
    assert np.max(np.abs(approx - track.params["ParamAngleX"])) < 0.13
    path = write_track_file(track, tmp_path / "take.motion3.json")
    assert json.loads(path.read_text())["Curves"][0]["Target"] == "Parameter"


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=80), st.floats(0.001, 1.0))
def test_simplify_linear_stays_within_tolerance(values: list[float], tol: float) -> None:
    keep = simplify_linear(values, tol)
    assert keep[0] == 0 and keep[-1] == len(values) - 1 and keep == sorted(set(keep))
    approx = np.interp(np.arange(len(values)), keep, [values[i] for i in keep])
    assert np.max(np.abs(approx - np.array(values))) <= tol + 1e-9
