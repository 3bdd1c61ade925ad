"""The Sans-I/O VTube Studio client, driven with plain strings (no sockets)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatar_plugin.errors import ProtocolError
from avatar_plugin.live.vts_protocol import (
    TRANSITIONS,
    APIStateReply,
    Authenticated,
    AuthenticationRejected,
    ConnState,
    CustomParameter,
    HotkeyList,
    InjectionScheduler,
    ParameterCreated,
    ParameterValue,
    PluginInfo,
    Reply,
    RequestFailed,
    RequestTimedOut,
    ServerEvent,
    TokenDenied,
    TokenGranted,
    UnmatchedReply,
    VTSClient,
    VTSMessageError,
    VTSStateError,
    custom_parameter_name,
    parse_discovery,
)

PLUGIN = PluginInfo("avatar-plugin", "avatar-plugin devs", icon_b64="aWNvbg==")


def reply(rid: str, mtype: str, data: dict[str, Any] | None = None) -> str:
    return json.dumps({"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "timestamp": 1625405710728,
                       "requestID": rid, "messageType": mtype, "data": data or {}})


def error(rid: str, error_id: int, message: str = "nope") -> str:
    return reply(rid, "APIError", {"errorID": error_id, "message": message})


def sent(client: VTSClient) -> list[dict[str, Any]]:
    return [json.loads(t) for t in client.data_to_send()]


def authenticated_client(token: str = "tok") -> VTSClient:
    c = VTSClient(PLUGIN, token=token)
    c.connection_made()
    (auth,) = sent(c)
    c.receive_text(reply(auth["requestID"], "AuthenticationResponse", {"authenticated": True, "reason": "ok"}))
    assert c.state is ConnState.AUTHENTICATED
    return c


def test_first_run_requests_a_token_then_authenticates_with_it() -> None:
    c = VTSClient(PLUGIN)
    c.connection_made()
    (req,) = sent(c)
    assert req["messageType"] == "AuthenticationTokenRequest"
    assert req["apiName"] == "VTubeStudioPublicAPI" and req["apiVersion"] == "1.0"
    assert req["data"] == {"pluginName": "avatar-plugin", "pluginDeveloper": "avatar-plugin devs",
                           "pluginIcon": "aWNvbg=="}
    assert c.state is ConnState.REQUESTING_TOKEN
    events = c.receive_text(reply(req["requestID"], "AuthenticationTokenResponse",
                                  {"authenticationToken": "adcd-123"}))
    assert TokenGranted("adcd-123") in events
    assert c.token == "adcd-123" and c.state is ConnState.AUTHENTICATING
    (auth,) = sent(c)
    assert auth["messageType"] == "AuthenticationRequest"
    assert auth["data"]["authenticationToken"] == "adcd-123"
    assert auth["requestID"] != req["requestID"]
    events = c.receive_text(reply(auth["requestID"], "AuthenticationResponse", {"authenticated": True}))
    assert Authenticated() in events and c.state is ConnState.AUTHENTICATED


def test_stored_token_is_reused_without_a_token_request() -> None:
    c = VTSClient(PLUGIN, token="stored")
    c.connection_made()
    (auth,) = sent(c)
    assert auth["messageType"] == "AuthenticationRequest"
    assert auth["data"]["authenticationToken"] == "stored"


def test_revoked_token_is_forgotten_and_requested_again_once() -> None:
    c = VTSClient(PLUGIN, token="old")
    c.connection_made()
    (auth,) = sent(c)
    events = c.receive_text(reply(auth["requestID"], "AuthenticationResponse",
                                  {"authenticated": False, "reason": "Token invalid"}))
    rejected = [e for e in events if isinstance(e, AuthenticationRejected)]
    assert rejected and rejected[0].token_requested_again
    assert c.token is None and c.state is ConnState.REQUESTING_TOKEN
    (req,) = sent(c)
    assert req["messageType"] == "AuthenticationTokenRequest"


def test_access_revoked_while_connected_asks_for_a_new_token() -> None:
    c = authenticated_client()
    rid = c.inject([ParameterValue("FaceAngleX", 1.0)], face_found=True)
    sent(c)
    events = c.receive_text(error(rid, 50, "User has denied API access for your plugin."))
    assert any(isinstance(e, RequestFailed) and e.error_id == 50 for e in events)
    assert c.token is None and c.state is ConnState.REQUESTING_TOKEN
    assert sent(c)[0]["messageType"] == "AuthenticationTokenRequest"


def test_user_clicks_deny_gives_denied_state_and_event() -> None:
    c = VTSClient(PLUGIN)
    c.connection_made()
    (req,) = sent(c)
    events = c.receive_text(error(req["requestID"], 50, "User has denied API access for your plugin."))
    assert TokenDenied(50, "User has denied API access for your plugin.") in events
    assert c.state is ConnState.DENIED
    with pytest.raises(VTSStateError) as info:
        c.inject([ParameterValue("MouthOpen", 0.5)], face_found=False)
    assert info.value.state is ConnState.DENIED and info.value.event == "send_request"
    assert "DENIED" in str(info.value) and "send_request" in str(info.value)


def test_a_token_granted_after_revocation_in_same_connection_is_not_requested_twice() -> None:
    c = VTSClient(PLUGIN)
    c.connection_made()
    (req,) = sent(c)
    c.receive_text(reply(req["requestID"], "AuthenticationTokenResponse", {"authenticationToken": "t1"}))
    (auth,) = sent(c)
    events = c.receive_text(reply(auth["requestID"], "AuthenticationResponse", {"authenticated": False}))
    (rej,) = [e for e in events if isinstance(e, AuthenticationRejected)]
    assert not rej.token_requested_again and c.state is ConnState.CONNECTED and sent(c) == []


def test_revocation_after_a_first_run_token_asks_again_on_the_same_connection() -> None:
    c = VTSClient(PLUGIN)
    c.connection_made()
    (req,) = sent(c)
    c.receive_text(reply(req["requestID"], "AuthenticationTokenResponse", {"authenticationToken": "t1"}))
    (auth,) = sent(c)
    c.receive_text(reply(auth["requestID"], "AuthenticationResponse", {"authenticated": True}))
    rid = c.inject([ParameterValue("FaceAngleX", 1.0)], face_found=True)
    sent(c)
    c.receive_text(error(rid, 50))
    assert c.state is ConnState.REQUESTING_TOKEN and sent(c)[0]["messageType"] == "AuthenticationTokenRequest"


def test_token_request_never_expires_while_the_user_decides() -> None:
    c = VTSClient(PLUGIN)
    c.connection_made(now=0.0)
    (req,) = sent(c)
    assert c.expire(now=600.0, timeout=5.0) == []
    c.receive_text(reply(req["requestID"], "AuthenticationTokenResponse", {"authenticationToken": "late"}))
    assert c.token == "late"


def test_illegal_moves_raise_naming_state_and_event() -> None:
    c = VTSClient(PLUGIN)
    with pytest.raises(VTSStateError, match="DISCONNECTED"):
        c.create_parameter(CustomParameter("APBreath", 0, 1, 0))
    c.connection_made()
    with pytest.raises(VTSStateError) as info:
        c.connection_made()
    assert info.value.state is ConnState.REQUESTING_TOKEN and info.value.event == "connection_made"
    # every state can lose its connection; nothing else moves out of DISCONNECTED but connection_made
    assert {e for (s, e) in TRANSITIONS if s is ConnState.DISCONNECTED} == {"connection_made"}
    for s in ConnState:
        if s is not ConnState.DISCONNECTED:
            assert TRANSITIONS[(s, "connection_lost")] is ConnState.DISCONNECTED


def test_replies_are_matched_by_id_even_out_of_order_and_events_kept_apart() -> None:
    c = authenticated_client()
    r1 = c.create_parameter(CustomParameter("APBreath", 0, 1, 0, "breathing"))
    r2 = c.request_api_state()
    r3 = c.inject([ParameterValue("FaceAngleX", 3.0)], face_found=True)
    msgs = sent(c)
    assert len({m["requestID"] for m in msgs}) == 3
    assert msgs[0]["data"] == {"parameterName": "APBreath", "min": 0.0, "max": 1.0, "defaultValue": 0.0,
                               "explanation": "breathing"}
    ev = c.receive_text(reply("someone-else", "TestEvent", {"yourTestMessage": "hi"}))
    assert ev == [ServerEvent("TestEvent", {"yourTestMessage": "hi"})]
    assert c.receive_text(reply(r3, "InjectParameterDataResponse")) == [
        Reply(r3, "InjectParameterDataRequest", "InjectParameterDataResponse", {})]
    assert c.receive_text(reply(r2, "APIStateResponse", {"active": True, "vTubeStudioVersion": "1.28",
                                                         "currentSessionAuthenticated": True})) == [
        APIStateReply(True, "1.28", True)]
    assert c.receive_text(reply(r1, "ParameterCreationResponse", {"parameterName": "APBreath"})) == [
        ParameterCreated("APBreath")]
    assert c.receive_text(reply(r1, "ParameterCreationResponse", {"parameterName": "APBreath"})) == [
        UnmatchedReply(r1, "ParameterCreationResponse")]
    assert c.pending == 0


def test_reply_of_the_wrong_type_is_a_protocol_error() -> None:
    c = authenticated_client()
    rid = c.request_api_state()
    with pytest.raises(VTSMessageError, match="expected 'APIStateResponse'"):
        c.receive_text(reply(rid, "StatisticsResponse", {}))


def test_inject_message_set_and_add_modes() -> None:
    c = authenticated_client()
    c.inject([ParameterValue("FaceAngleX", 12.31), ParameterValue("APBreath", 0.7, weight=0.8)],
             face_found=False)
    (m,) = sent(c)
    assert m["messageType"] == "InjectParameterDataRequest"
    assert m["data"] == {"faceFound": False, "mode": "set", "parameterValues": [
        {"id": "FaceAngleX", "value": 12.31}, {"id": "APBreath", "value": 0.7, "weight": 0.8}]}
    c.inject([ParameterValue("APBreath", 0.7, weight=0.8)], face_found=True, mode="add")
    (m,) = sent(c)
    assert m["data"] == {"faceFound": True, "mode": "add", "parameterValues": [{"id": "APBreath", "value": 0.7}]}
    with pytest.raises(ValueError, match="mode"):
        c.inject([ParameterValue("APBreath", 0.7)], face_found=True, mode="mix")
    with pytest.raises(ValueError, match="450"):
        c.inject([], face_found=True)


def test_inject_errors_pass_through_with_vts_error_ids() -> None:
    c = authenticated_client()
    rid = c.inject([ParameterValue("Nope", 1.0)], face_found=True)
    assert c.receive_text(error(rid, 453, "param not found")) == [
        RequestFailed(rid, "InjectParameterDataRequest", 453, "param not found")]
    rid = c.inject([ParameterValue("FaceAngleX", 1.0)], face_found=True)
    (ev,) = c.receive_text(error(rid, 454, "controlled by other plugin"))
    assert isinstance(ev, RequestFailed) and ev.error_id == 454
    assert c.state is ConnState.AUTHENTICATED


def test_values_and_names_follow_vts_rules() -> None:
    with pytest.raises(ValueError, match="1e6"):
        ParameterValue("FaceAngleX", 2e6)
    with pytest.raises(ValueError, match="weight"):
        ParameterValue("FaceAngleX", 1.0, weight=1.5)
    with pytest.raises(ValueError, match=r"4\.\.32"):
        CustomParameter("AP", 0, 1, 0)
    with pytest.raises(ValueError, match=r"4\.\.32"):
        CustomParameter("AP Breath", 0, 1, 0)
    with pytest.raises(ValueError, match="default VTS input"):
        CustomParameter("MouthOpen", 0, 1, 0)
    with pytest.raises(ValueError, match=r"3\.\.32"):
        PluginInfo("ab", "dev")
    for pid in ["ParamBreath", "ParamA", "ParamBodyAngleX", "ParamEyeLSmile", "X", "Param_Weird-Name"]:
        name = custom_parameter_name(pid)
        CustomParameter(name, 0, 1, 0)  # valid by VTS's rules
        assert name.startswith("AP")
    assert custom_parameter_name("ParamBreath") == "APBreath"
    assert custom_parameter_name("ParamA") == "APVowelA"
    assert len(custom_parameter_name("Param" + "Long" * 20)) == 32


def test_hotkeys_and_timeouts() -> None:
    c = authenticated_client()
    rid = c.request_hotkeys(now=1.0)
    sent(c)
    (ev,) = c.receive_text(reply(rid, "HotkeysInCurrentModelResponse", {"modelLoaded": True, "availableHotkeys": [
        {"name": "Smile", "type": "ToggleExpression", "hotkeyID": "h1", "file": "s.exp3.json"}]}))
    assert isinstance(ev, HotkeyList) and ev.hotkeys[0].hotkey_id == "h1" and ev.model_loaded
    rid = c.trigger_hotkey("Smile", now=2.0)
    assert json.loads(c.data_to_send()[0])["data"] == {"hotkeyID": "Smile"}
    assert c.expire(now=2.5, timeout=1.0) == []
    assert c.expire(now=3.5, timeout=1.0) == [RequestTimedOut(rid, "HotkeyTriggerRequest")]


def test_connection_lost_drops_pending_and_reconnect_authenticates_again() -> None:
    c = authenticated_client("tok")
    c.inject([ParameterValue("FaceAngleX", 1.0)], face_found=True)
    c.connection_lost()
    assert c.state is ConnState.DISCONNECTED and c.pending == 0 and c.data_to_send() == []
    c.connection_lost()  # harmless twice
    c.connection_made()
    assert sent(c)[0]["messageType"] == "AuthenticationRequest"


def test_discovery_broadcast_parses() -> None:
    d = parse_discovery(json.dumps({
        "apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "timestamp": 1630159656406,
        "messageType": "VTubeStudioAPIStateBroadcast", "requestID": "VTubeStudioAPIStateBroadcast",
        "data": {"active": False, "port": 8001, "instanceID": "93aa", "windowTitle": "VTube Studio"}}).encode())
    assert (d.active, d.port, d.instance_id, d.window_title) == (False, 8001, "93aa", "VTube Studio")
    with pytest.raises(VTSMessageError):
        parse_discovery(b"hello")
    with pytest.raises(VTSMessageError):
        parse_discovery(reply("x", "VTubeStudioAPIStateBroadcast", {"active": True, "port": 0}).encode())


def test_scheduler_sends_changes_now_and_unchanged_values_before_one_second() -> None:
    s = InjectionScheduler(keepalive_s=0.5)
    a, b = ParameterValue("FaceAngleX", 1.0), ParameterValue("MouthOpen", 0.2)
    assert s.due([a, b], 0.0) == [a, b]
    assert s.due([a, b], 0.1) == []
    b2 = ParameterValue("MouthOpen", 0.3)
    assert s.due([a, b2], 0.2) == [b2]
    assert s.due([a, b2], 0.5) == [a]
    assert s.due([a, b2], 0.75) == [b2]
    # over a long run at 30 Hz, no id goes a second without being sent
    s = InjectionScheduler()
    last: dict[str, float] = {}
    worst = 0.0
    for i in range(300):
        t = i / 30
        for v in s.due([a, b], t):
            worst = max(worst, t - last.get(v.id, 0.0))
            last[v.id] = t
    assert worst <= 0.55
    with pytest.raises(ValueError):
        InjectionScheduler(keepalive_s=1.0)


# --------------------------------------------------------------------------------- fuzzing

_json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_json = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_types = st.sampled_from(["AuthenticationTokenResponse", "AuthenticationResponse", "APIError",
                          "APIStateResponse", "ParameterCreationResponse", "InjectParameterDataResponse",
                          "HotkeysInCurrentModelResponse", "TestEvent", "StatisticsResponse"])


@st.composite
def _vts_like(draw: st.DrawFn) -> str:
    msg: dict[str, Any] = {}
    if draw(st.booleans()):
        msg["apiName"] = draw(st.sampled_from(["VTubeStudioPublicAPI", "x"]))
    msg["messageType"] = draw(_types | _json)
    msg["requestID"] = draw(st.sampled_from(["ap1", "ap2", "ap3", "ap4", "other"]) | _json)
    msg["data"] = draw(st.dictionaries(
        st.sampled_from(["authenticationToken", "authenticated", "errorID", "message", "active",
                         "currentSessionAuthenticated", "parameterName", "availableHotkeys", "reason"]),
        _json, max_size=4) | _json)
    return json.dumps(msg)


@settings(max_examples=400, deadline=None)
@given(texts=st.lists(_vts_like() | st.text(max_size=40) | st.binary(max_size=40).map(repr), max_size=4),
       start=st.sampled_from(["token", "fresh", "authed"]))
def test_any_reply_parses_or_raises_our_protocol_error(texts: list[str], start: str) -> None:
    if start == "authed":
        c = authenticated_client()
        c.request_api_state()
        c.inject([ParameterValue("FaceAngleX", 1.0)], face_found=True)
        c.request_hotkeys()
    else:
        c = VTSClient(PLUGIN, token="t" if start == "token" else None)
        c.connection_made()
    for text in texts:
        with contextlib.suppress(ProtocolError):  # documented: VTSMessageError / VTSStateError
            c.receive_text(text)
        c.data_to_send()


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64) | _vts_like().map(str.encode))
def test_any_datagram_is_a_discovery_or_our_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        d = parse_discovery(data)
        assert 1 <= d.port <= 65535
