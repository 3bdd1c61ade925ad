"""Config: strict keys, plug-in sections, example file; /api wire types (parse, fuzz)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatar_plugin.errors import ConfigError, ProtocolError
from avatar_plugin.live import api
from avatar_plugin.live.config import default_registry, example_config, load_config, parse_config
from avatar_plugin.live.interfaces import ConfigKey, ConfigSection

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_and_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[daemon]\ntick_hz = 30\n[server]\nport = 9000\nallowed_origins = ["http://localhost:3000"]\n'
                 '[expressions.wink]\nParamEyeLOpen = 0\nParamMouthForm = 1\n')
    c = load_config(f, default_registry(discover=False))
    assert c["daemon"]["tick_hz"] == 30.0 and c["server"]["port"] == 9000
    assert c["server"]["allowed_origins"] == ("http://localhost:3000",)
    assert c["idle"]["blink_min_s"] == 2.0
    assert c.presets["wink"] == {"ParamEyeLOpen": 0.0, "ParamMouthForm": 1.0}


@pytest.mark.parametrize(("text", "needle"), [
    ("[daemon]\ntick_hz_ = 30\n", "[daemon] tick_hz_: unknown key; known keys are"),
    ("[nope]\nx = 1\n", "unknown table [nope]"),
    ("[daemon]\ntick_hz = \"fast\"\n", "[daemon] tick_hz = 'fast': expected a number"),
    ("[daemon]\ntick_hz = 1000\n", "expected a value in 1.0..240.0"),
    ("[idle]\nenabled = 1\n", "expected true or false"),
    ("[daemon]\nlog_level = \"loud\"\n", "expected one of"),
    ("[idle]\nblink_min_s = 9\nblink_max_s = 3\n", "blink_min_s"),
    ("[expressions]\nwink = 3\n", "user expressions are tables"),
    ("[expressions.wink]\nParamEyeLOpen = \"closed\"\n", "[expressions.wink] ParamEyeLOpen"),
    ("[server]\nallowed_origins = [1]\n", "allowed_origins[0]"),
    ("daemon = 3\n", "expected a table"),
])
def test_bad_config_names_the_key(tmp_path, text, needle):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f, default_registry(discover=False))
    assert needle in str(err.value)


def test_bad_toml_and_missing_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[daemon\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(f)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")


def test_plugin_section_registration():
    registry = default_registry(discover=False)
    calls = []
    section = ConfigSection("mic", "Microphone.", (
        ConfigKey("enabled", bool, False, "on"), ConfigKey("gain", float, 1.0, "gain", min=0.0, max=10.0)))
    registry.add_section(section, lambda cfg, ctx: calls.append(cfg))
    c = parse_config({"mic": {"gain": 2}}, registry)
    assert c["mic"]["gain"] == 2.0 and c["mic"]["enabled"] is False
    with pytest.raises(ConfigError, match=r"\[mic\] gian: unknown key"):
        parse_config({"mic": {"gian": 2}}, registry)
    with pytest.raises(ValueError, match="twice"):
        registry.add_section(section)
    assert "[mic]" in example_config(registry)


def test_example_config_is_complete_and_valid():
    """config.example.toml documents every key of every registered section and loads as is."""
    text = (ROOT / "config.example.toml").read_text()
    registry = default_registry()
    for name, (section, _) in registry.sections.items():
        if name in ("daemon", "server", "mixer", "idle", "expressions"):
            assert f"[{name}]" in text
            for key in section.keys:
                assert f"\n{key.name} = " in text, f"[{name}] {key.name} missing from config.example.toml"
    load_config(ROOT / "config.example.toml", registry)


# --- /api wire types ---------------------------------------------------------------------------------------
def test_parse_builtin_messages():
    m = api.parse_builtin({"type": "set", "params": {"ParamAngleX": 10}, "hold": 2})
    assert isinstance(m, api.SetMessage) and m.params == {"ParamAngleX": 10.0} and m.hold == 2.0
    assert api.SetMessage.parse(m.serialize()) == m
    e = api.parse_builtin({"type": "expression", "name": "happy", "fade": 0.3, "duration": 3.0})
    assert api.ExpressionMessage.parse(e.serialize()) == e
    assert api.parse_builtin({"type": "clear"}) == api.ClearMessage(None)
    assert api.parse_builtin({"type": "status", "id": 3}) == api.StatusMessage()


@pytest.mark.parametrize(("obj", "needle"), [
    ({"type": "set"}, "missing field 'params'"),
    ({"type": "set", "params": {}}, "non-empty object"),
    ({"type": "set", "params": {"A": "x"}}, "params.A = 'x'"),
    ({"type": "set", "params": {"A": 1}, "hold": -1}, "hold"),
    ({"type": "set", "params": {"A": 1}, "hodl": 1}, "unknown field 'hodl'"),
    ({"type": "expression", "name": ""}, "expression name"),
    ({"type": "clear", "params": "all"}, "list of parameter ids"),
])
def test_bad_messages(obj, needle):
    with pytest.raises(ProtocolError) as err:
        api.parse_builtin(obj)
    assert needle in str(err.value)


def test_decode_limits():
    with pytest.raises(ProtocolError, match="over the limit"):
        api.decode_json("x" * 100, 50)
    with pytest.raises(ProtocolError, match="not valid JSON"):
        api.decode_json("{", 50)
    with pytest.raises(ProtocolError, match="JSON list"):
        api.decode_json("[1]", 50)
    with pytest.raises(ProtocolError, match="not valid JSON"):
        api.decode_json('{"a": NaN}', 50)
    with pytest.raises(ProtocolError, match="id"):
        api.request_id({"id": {"x": 1}})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(api.BUILTIN_TYPES)), st.dictionaries(
    st.sampled_from(["params", "hold", "name", "fade", "duration", "id", "x"]), json_values, max_size=4))
def test_fuzz_builtin_parsers(type_, fields):
    """Any JSON object is either accepted (and round-trips) or rejected with a ProtocolError."""
    obj = {**fields, "type": type_}
    text = json.dumps(obj)
    try:
        msg = api.parse_builtin(api.decode_json(text, 1 << 20))
    except ProtocolError:
        return
    assert type(msg).parse(msg.serialize()) == msg
