"""MediaPipe FaceMesh on synthesised videos of a real face (scikit-image's astronaut) with known motion."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from avatar_plugin.live.face import FaceParams, SolverOptions, head_pose
from avatar_plugin.live.face_synth import FramePlan, face_frame
from avatar_plugin.live.tracking import FaceMeshDetector, FacePipeline, make_detector

FPS = 30.0


@pytest.fixture()
def pipeline() -> Iterable[FacePipeline]:
    pipe = FacePipeline(make_detector())
    yield pipe
    pipe.close()


def _run(pipe: FacePipeline, plans: list[FramePlan], t0: float = 0.0) -> list[FaceParams]:
    return [pipe.process(face_frame(p), t0 + i / FPS) for i, p in enumerate(plans)]


def _sweep(*targets: float, step: float = 1.5) -> list[float]:
    out = [0.0]
    for target in targets:
        while abs(out[-1] - target) > 1e-9:
            out.append(out[-1] + max(-step, min(step, target - out[-1])))
    return out


def test_roll_angles_within_3_degrees(pipeline: FacePipeline) -> None:
    rolls = _sweep(30, -30, 0)
    errors = []
    base = None
    for i, roll in enumerate(rolls):
        feats = pipeline.features(face_frame(FramePlan(roll=roll)), i / FPS)
        assert feats is not None, f"face lost at roll {roll}"
        if base is None:
            base = feats.head.roll  # the astronaut's own head tilt (~3 degrees)
        errors.append(feats.head.roll - base - roll)
    err = np.abs(errors)
    print(f"roll sweep +-30 deg, {len(rolls)} frames: mean |error| {err.mean():.2f}, max {err.max():.2f} deg")
    assert err.max() <= 3.0


def test_angle_z_parameter_after_calibration(pipeline: FacePipeline) -> None:
    """ParamAngleZ itself (filtered, calibrated at the neutral start) holds a known tilt within 3 degrees."""
    plans = [FramePlan()] * 10 + [FramePlan(roll=r) for r in _sweep(20)] + [FramePlan(roll=20)] * 25
    plans += [FramePlan(roll=r) for r in _sweep(20, -15)[len(_sweep(20)):]] + [FramePlan(roll=-15)] * 25
    pipeline.solver.calibrate()
    out = _run(pipeline, plans)
    at_20 = out[10 + len(_sweep(20)) + 20]
    at_m15 = out[-1]
    assert at_20.angle_z == pytest.approx(20, abs=3) and at_m15.angle_z == pytest.approx(-15, abs=3)
    assert at_20.body_angle_z == pytest.approx(0.3 * at_20.angle_z, abs=1e-6)
    assert all(p.tracking for p in out)


def test_mirror_flips_yaw_and_roll_signs() -> None:
    det = FaceMeshDetector(static=True)
    try:
        def pose(plan: FramePlan) -> tuple[float, float]:
            found = det.detect(face_frame(plan))
            assert found is not None
            h = head_pose(found.points)
            return h.yaw, h.roll

        yaw_r, roll_r = pose(FramePlan(yaw=20, roll=12))
        yaw_rf, roll_rf = pose(FramePlan(yaw=20, roll=12, flip=True))
        yaw_l, _ = pose(FramePlan(yaw=-20))
        yaw_0, _ = pose(FramePlan())
    finally:
        det.close()
    print(f"cylinder yaw +20: {yaw_r:.1f}, mirrored {yaw_rf:.1f}; yaw -20: {yaw_l:.1f}; frontal {yaw_0:.1f}")
    assert yaw_r > yaw_0 + 3 and yaw_l < yaw_0 - 3  # right sign (a flat photo gives ~1/3 of the angle)
    assert yaw_rf < -3 and yaw_r > 3
    assert roll_r > 10 and roll_rf < -10


def test_mirror_option_equals_flipped_video() -> None:
    plans = [FramePlan(roll=r, eyes=0.0 if 18 <= i <= 21 else 1.0) for i, r in enumerate(_sweep(15))]
    a = FacePipeline(make_detector(), SolverOptions(mirror=True))
    b = FacePipeline(make_detector())
    try:
        pa = _run(a, plans)
        pb = _run(b, [FramePlan(roll=p.roll, eyes=p.eyes, flip=True) for p in plans])
    finally:
        a.close()
        b.close()
    assert pa[-1].angle_z < -10 and pb[-1].angle_z < -10
    assert pa[-1].angle_z == pytest.approx(pb[-1].angle_z, abs=3)


def test_shift_and_scale_do_not_move_the_angles(pipeline: FacePipeline) -> None:
    n = 60
    plans = [FramePlan(roll=10, dx=120 * np.sin(i / 8), dy=40 * np.cos(i / 11), scale=1.7 + 0.9 * (i / n))
             for i in range(n)]
    rolls = []
    for i, plan in enumerate(plans):
        feats = pipeline.features(face_frame(plan), i / FPS)
        assert feats is not None
        rolls.append(feats.head.roll)
    print(f"shift/scale: roll spread {np.ptp(rolls):.2f} deg over {n} frames")
    assert np.ptp(rolls) < 3.0


def test_covered_eyes_are_blinks(pipeline: FacePipeline) -> None:
    plans = []
    for _ in range(6):  # six blinks, one per second, eyes shut for 4 frames (~130 ms)
        plans += [FramePlan()] * 26 + [FramePlan(eyes=0.0)] * 4
    out = _run(pipeline, plans)
    shut = [min(out[30 * k + 27].eye_l_open, out[30 * k + 28].eye_l_open) for k in range(1, 6)]
    shut_r = [min(out[30 * k + 27].eye_r_open, out[30 * k + 28].eye_r_open) for k in range(1, 6)]
    opened = [out[30 * k + 20].eye_l_open for k in range(1, 6)]
    print(f"blinks: shut eye values {np.round(shut, 2)}, open {np.round(opened, 2)}")
    assert max(shut) < 0.3 and max(shut_r) < 0.3, "a blink was missed"
    assert min(opened) > 0.8


def test_blank_frames_lose_tracking_then_recover(pipeline: FacePipeline) -> None:
    plans = [FramePlan(roll=r) for r in _sweep(15)] + [FramePlan(blank=True)] * 60 + [FramePlan()] * 15
    out = _run(pipeline, plans)
    k = len(_sweep(15))
    assert out[k - 1].tracking and out[k - 1].angle_z > 10
    held = out[k + 10]  # 0.33 s after the loss: held
    assert not held.tracking and held.weight == 1.0 and held.angle_z == pytest.approx(out[k - 1].angle_z)
    faded = out[k + 59]  # 2 s after the loss: back to idle
    assert faded.weight == 0.0 and faded.angle_z == 0.0 and faded.eye_l_open == 1.0
    assert out[-1].tracking and out[-1].weight == 1.0
