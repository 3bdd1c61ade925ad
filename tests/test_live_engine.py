"""The daemon's pure core: mixer priorities and fades, idle life, expressions, API holds, physics."""

from __future__ import annotations

import itertools
import math

import pytest

from avatar_plugin.live.engine import Engine, EngineOptions, SourceSlot
from avatar_plugin.live.expressions import ExpressionLayer
from avatar_plugin.live.idle import IdleLife, IdleOptions, blink_closure
from avatar_plugin.live.interfaces import (
    AvatarParams,
    Mailbox,
    SourceUpdate,
    priority,
)

STILL = IdleOptions(enabled=False)


def engine(puppet, **kw):
    return Engine(puppet, EngineOptions(idle=kw.pop("idle", STILL), **kw))


def slot(name, kind):
    return SourceSlot(name, kind, lambda p, k=kind: priority(k, p))


def run(e, t0, t1, feed, dt=1 / 60):
    """Step ``e`` from t0 to t1; ``feed(t)`` returns {source: SourceUpdate | None}. Returns [(t, params)]."""
    out = []
    n = round((t1 - t0) / dt)
    for i in range(n + 1):
        t = t0 + i * dt
        out.append((t, e.tick(t, feed(t))))
    return out


def test_priority_table():
    assert priority("tts", "ParamMouthOpenY") > priority("mic", "ParamMouthOpenY")
    assert priority("mic", "ParamMouthOpenY") > priority("webcam", "ParamMouthOpenY")
    assert priority("webcam", "ParamAngleX") > priority("idle", "ParamAngleX")
    assert priority("api", "ParamAngleX") > priority("tts", "ParamAngleX")


def test_tts_beats_mic_and_fades_back(sample_puppet):
    e = engine(sample_puppet)
    e.add_source(slot("mic", "mic"))
    e.add_source(slot("tts", "tts"))

    def feed(t):
        tts_active = t < 1.0
        return {"mic": SourceUpdate("mic", t, {"ParamMouthOpenY": 0.2}),
                "tts": SourceUpdate("tts", t, {"ParamMouthOpenY": 0.9}, active=tts_active)}

    frames = dict((round(t, 3), p) for t, p in run(e, 0.0, 2.0, feed))
    assert frames[0.9].values["ParamMouthOpenY"] == pytest.approx(0.9)
    assert frames[0.9].speaking
    # after TTS stops, the mouth fades to the mic's value over ~0.3 s, not instantly
    mid = frames[round(1.0 + 0.15, 3)].values["ParamMouthOpenY"]
    assert 0.3 < mid < 0.8
    assert frames[1.4].values["ParamMouthOpenY"] == pytest.approx(0.2)
    assert not frames[1.4].speaking


def test_stale_source_fades_out(sample_puppet):
    e = engine(sample_puppet, fade_in_s=0.0)
    e.add_source(slot("webcam", "webcam"))
    first = SourceUpdate("webcam", 0.0, {"ParamAngleX": 20.0}, face_found=True)
    p0 = e.tick(0.0, {"webcam": first})
    assert p0.values["ParamAngleX"] == pytest.approx(20.0) and p0.face_found
    # no more updates: after stale_after_s (0.5 s) it fades out over 0.3 s
    values = {round(t, 3): p.values["ParamAngleX"] for t, p in run(e, 1 / 60, 1.2, lambda t: {})}
    assert values[0.4] == pytest.approx(20.0)
    assert 0.0 < values[0.65] < 20.0
    assert values[1.0] == pytest.approx(0.0)


def test_webcam_mouth_below_mic_but_head_above_idle(sample_puppet):
    e = engine(sample_puppet, fade_in_s=0.0, idle=IdleOptions(sway=1.0))
    e.add_source(slot("webcam", "webcam"))
    e.add_source(slot("mic", "mic"))
    p = e.tick(10.0, {"webcam": SourceUpdate("webcam", 10.0, {"ParamAngleX": -7.0, "ParamMouthOpenY": 0.1}),
                      "mic": SourceUpdate("mic", 10.0, {"ParamMouthOpenY": 0.6})})
    assert p.values["ParamAngleX"] == pytest.approx(-7.0)
    assert p.values["ParamMouthOpenY"] == pytest.approx(0.6)


def test_values_clamped_and_extras_pass(sample_puppet):
    e = engine(sample_puppet, fade_in_s=0.0)
    e.add_source(slot("x", "mic"))
    p = e.tick(0.0, {"x": SourceUpdate("x", 0.0, {"ParamMouthOpenY": 3.0, "VoiceVolume": 0.7})})
    assert p.values["ParamMouthOpenY"] == 1.0
    assert p.values["VoiceVolume"] == pytest.approx(0.7)


def test_api_hold_then_fade(sample_puppet):
    e = engine(sample_puppet, physics=False)
    e.tick(0.0, {})
    e.set_params({"ParamAngleX": 10.0}, 0.0, hold=1.0)
    values = {round(t, 3): p.values["ParamAngleX"] for t, p in run(e, 0.0, 1.5, lambda t: {})}
    assert values[0.5] == pytest.approx(10.0)
    assert 0.0 < values[1.15] < 10.0
    assert values[1.4] == pytest.approx(0.0)
    e.set_params({"ParamAngleZ": -5.0}, 2.0)  # no hold: until cleared
    assert e.tick(100.0, {}).values["ParamAngleZ"] == pytest.approx(-5.0)
    e.clear(100.0)
    assert e.tick(101.0, {}).values["ParamAngleZ"] == pytest.approx(0.0)


def test_expression_fades_in_holds_and_out(sample_puppet):
    e = engine(sample_puppet, physics=False)
    e.expressions.trigger("happy", 0.0, fade=0.5, duration=1.0)
    v = {round(t, 3): p.values["ParamMouthForm"] for t, p in run(e, 0.0, 2.5, lambda t: {})}
    assert v[0.0] == pytest.approx(0.0)
    assert v[0.25] == pytest.approx(0.5, abs=0.05)
    assert v[1.0] == pytest.approx(1.0)
    assert v[1.75] == pytest.approx(0.5, abs=0.05)
    assert v[2.1] == pytest.approx(0.0)


def test_expression_crossfade_and_eyes_multiply(sample_puppet):
    layer = ExpressionLayer({"wink": {"ParamEyeLOpen": 0.0}})
    layer.trigger("sad", 0.0, fade=0.2)
    assert layer.current(1.0) == "sad"
    layer.trigger("happy", 1.0, fade=0.2)
    assert layer.current(1.3) == "happy"
    assert all(name != "sad" for name in [layer.current(2.0)])
    # "sad" eyes multiply: a blink (idle 0) stays closed under the expression
    e = engine(sample_puppet, physics=False, fade_in_s=0.0)
    e.expressions.trigger("sad", 0.0, fade=0.0)
    e.add_source(slot("cam", "webcam"))
    p = e.tick(1.0, {"cam": SourceUpdate("cam", 1.0, {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 1.0})})
    assert p.values["ParamEyeLOpen"] == pytest.approx(0.0)
    p = e.tick(1.5, {"cam": SourceUpdate("cam", 1.5, {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 1.0})})
    assert p.values["ParamEyeROpen"] == pytest.approx(0.7)
    with pytest.raises(KeyError):
        layer.trigger("nope", 0.0)


def test_idle_blinks_breath_sway_saccades():
    idle = IdleLife(IdleOptions(), seed=3)
    dt = 1 / 60
    starts, closed_prev = [], False
    gaze = set()
    lo, hi = 1.0, 0.0
    for i in range(int(120 / dt)):
        t = i * dt
        v = idle.update(t)
        closed = v["ParamEyeLOpen"] < 0.5
        if closed and not closed_prev:
            starts.append(t)
        closed_prev = closed
        gaze.add(round(v["ParamEyeBallX"], 2))
        lo, hi = min(lo, v["ParamBreath"]), max(hi, v["ParamBreath"])
        assert abs(v["ParamAngleX"]) < 6 and abs(v["ParamBodyAngleZ"]) < 3
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    singles = [g for g in gaps if g > 1.0]
    doubles = [g for g in gaps if g < 0.6]
    assert 15 <= len(starts) <= 60
    assert all(1.7 <= g <= 6.3 for g in singles)
    assert doubles, "expected at least one double blink in two minutes"
    assert lo < 0.02 and hi > 0.98
    assert len(gaze) > 20


def test_blink_shape():
    assert blink_closure(-0.1) == 0.0 and blink_closure(0.08) == 1.0 and blink_closure(1.0) == 0.0
    assert 0.0 < blink_closure(0.03) < 1.0


def test_idle_same_seed_same_motion():
    a, b = IdleLife(seed=7), IdleLife(seed=7)
    assert [a.update(i / 30) for i in range(300)] == [b.update(i / 30) for i in range(300)]


def test_physics_moves_hair_when_head_turns(sample_puppet):
    e = engine(sample_puppet)
    e.tick(0.0, {})
    e.set_params({"ParamAngleX": 30.0}, 0.0)
    hair = [p.values["ParamHairBack"] for _, p in run(e, 1 / 60, 1.0, lambda t: {})]
    assert max(abs(h) for h in hair) > 0.05
    assert all(math.isfinite(h) and -1 <= h <= 1 for h in hair)


def test_mailbox_latest_wins():
    import asyncio

    async def main():
        box: Mailbox[int] = Mailbox()
        assert box.get_nowait() is None
        for i in range(5):
            box.put(i)
        assert box.dropped == 4
        assert await box.get() == 4
        assert box.get_nowait() is None and box.peek() == 4
        waiter = asyncio.ensure_future(box.get())
        await asyncio.sleep(0)
        box.put(9)
        assert await asyncio.wait_for(waiter, 1) == 9

    asyncio.run(main())


def test_update_and_params_are_checked():
    with pytest.raises(ValueError, match="finite"):
        SourceUpdate("mic", 0.0, {"ParamMouthOpenY": float("nan")})
    p = AvatarParams(0.0, {"A": 1})
    with pytest.raises(TypeError):
        p.values["A"] = 2.0  # type: ignore[index]
