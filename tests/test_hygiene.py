"""Tests of ``secauth.hygiene.json_body``: a public registration endpoint's body checks.

Every refusal is checked for its exact error class and problem, and for the body never
coming back: a marker planted in the body must appear in no error message, repr,
detail or log field, nor in the guarded response or anything the guard writes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from guard_events import KINDS, Event, http_v2
from hypothesis import given, settings
from hypothesis import strategies as st

import secauth
from secauth import Guard, Routes, public
from secauth.errors import (
    BadRequest,
    ConfigurationError,
    PayloadTooLarge,
    Reason,
    SecAuthError,
    UnsupportedMediaType,
)
from secauth.hygiene import FieldError, InvalidFields, json_body

MARK = "ECHO-5d1f"
SIGNUP: dict[str, Any] = {"email": str, "password": str, "name": str}
REQUIRED = {"email", "password"}
JSON_TYPE = {"Content-Type": "application/json"}


def post(body: str | bytes | None, kind: str = "http_v2", headers: dict[str, str] | None = None) -> Event:
    return KINDS[kind][0]("POST", "/signup", body=body, headers=JSON_TYPE if headers is None else headers)


def signup(event: Event, **kwargs: Any) -> dict[str, Any]:
    return json_body(event, fields=SIGNUP, required=REQUIRED, **kwargs)


def assert_no_echo(error: SecAuthError) -> None:
    """Nothing from the body in the error's message, repr, detail or log form."""
    for text in (str(error), repr(error), json.dumps(error.detail), json.dumps(error.to_log()),
                 error.public_message):  # fmt: skip
        assert MARK not in text
    assert error.public_message == type(error).default_message


UNCLEAN = "body holds a lone surrogate or a non-finite number"
GOOD = {"email": "ann@example.com", "password": "correct horse battery", "name": "Ann"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_valid_body_in_every_event_kind(kind: str) -> None:
    """A valid body is returned as a plain dict, from text or base64 bodies, in every kind."""
    text = json.dumps(GOOD)
    assert signup(post(text, kind)) == GOOD
    assert signup(post(text.encode(), kind)) == GOOD  # base64 (isBase64Encoded)
    assert signup(post(json.dumps({"email": "a@b", "password": "p"}), kind)) == {
        "email": "a@b", "password": "p"
    }


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (f'{{"email": "{MARK}"', "body is not strict JSON"),
        (f"{MARK}", "body is not strict JSON"),
        (f'{{"email": "a", "email": "{MARK}", "password": "p"}}', "body is not strict JSON"),
        ('{"email": "a", "password": NaN}', "body is not strict JSON"),
        ('{"email": "a", "password": Infinity}', "body is not strict JSON"),
        ('{"email": "a", "password": -Infinity}', "body is not strict JSON"),
        ("\ufeff" + json.dumps(GOOD), "body is not strict JSON"),
        ("1" * 5000, "body is not strict JSON"),
        (f'["{MARK}"]', "body is not a JSON object"),
        (f'"{MARK}"', "body is not a JSON object"),
        ("42", "body is not a JSON object"),
        ("null", "body is not a JSON object"),
        ("true", "body is not a JSON object"),
        ('{"email": "a", "password": "p", "name": 1e400}', UNCLEAN),
        ('{"email": "\\ud800", "password": "p"}', UNCLEAN),
        (json.dumps({**GOOD, MARK: 1}), "invalid fields"),
        (json.dumps({**GOOD, "admin": True, "role": MARK}), "invalid fields"),
        ("", "empty body"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)  # fmt: skip
def test_refusals_are_400_and_echo_nothing(body: str, problem: str) -> None:
    with pytest.raises(BadRequest) as caught:
        signup(post(body))
    assert caught.value.reason is Reason.BAD_REQUEST
    assert caught.value.detail["problem"] == problem
    assert_no_echo(caught.value)


def test_unexpected_fields_are_reported_not_named() -> None:
    with pytest.raises(InvalidFields) as caught:
        signup(post(json.dumps({**GOOD, MARK: 1, "x" + MARK: 2})))
    assert caught.value.field_errors == (FieldError(None, "unexpected_fields"),)
    assert caught.value.detail == {"problem": "invalid fields",
                                   "errors": [{"rule": "unexpected_fields"}]}  # fmt: skip
    assert_no_echo(caught.value)


@pytest.mark.parametrize(
    ("fields", "value", "ok"),
    [
        (int, 42, True), (int, "42", False), (int, True, False), (int, 1.5, False),
        (int, 1.0, False), (float, 1.5, True), (float, 2, True), (float, False, False),
        (float, "1.5", False), (bool, True, True), (bool, 1, False), (bool, "true", False),
        (str, "x", True), (str, 1, False), (str, None, False), (str, ["x"], False),
        (list, [1, "a"], True), (list, {"a": 1}, False), (dict, {"a": 1}, True),
        (dict, [], False), ((str, type(None)), None, True), ((str, type(None)), 0, False),
        (type(None), None, True), ((str, None), None, True), (None, None, True),
        (None, "x", False),
    ],
)  # fmt: skip
def test_types_are_strict(fields: Any, value: Any, ok: bool) -> None:
    """No coercion: "42" is not an int, true is not an int, 1 is not a bool; int fits float."""
    event = post(json.dumps({"v": value}))
    if ok:
        assert json_body(event, fields={"v": fields}) == {"v": value}
        return
    with pytest.raises(InvalidFields) as caught:
        json_body(event, fields={"v": fields})
    assert caught.value.field_errors == (FieldError("v", "type"),)


def test_required_fields() -> None:
    """A missing required field, or a null one, breaks rule "required"; every one is listed."""
    for body, missing in [({"password": "p"}, ["email"]), ({"email": "a"}, ["password"]),
                          ({"email": None, "password": "p"}, ["email"]),
                          ({}, ["email", "password"])]:  # fmt: skip
        with pytest.raises(InvalidFields) as caught:
            signup(post(json.dumps(body)))
        assert caught.value.field_errors == tuple(FieldError(f, "required") for f in missing)
    assert signup(post(json.dumps({"email": "a", "password": "p"}))) == {"email": "a", "password": "p"}


def test_nesting_depth() -> None:
    fields = {"v": (list, dict)}
    assert json_body(post('{"v": [[[1]]]}'), fields=fields, max_depth=4) == {"v": [[[1]]]}
    for body in ('{"v": [[[[1]]]]}', '{"v": ' + "[" * 100_000 + "]" * 100_000 + "}"):
        with pytest.raises(BadRequest) as caught:
            json_body(post(body), fields=fields, max_depth=4, max_bytes=1_000_000)
        assert caught.value.detail["problem"] == "body nests too deep"


def test_body_size_limit_counts_bytes() -> None:
    """413 above max_bytes, counted in UTF-8 bytes after base64 decoding; the limit itself passes."""
    body = json.dumps({"email": "é" * 10, "password": "p"}, ensure_ascii=False)
    size = len(body.encode())
    assert len(body) < size
    assert signup(post(body), max_bytes=size)["email"] == "é" * 10
    assert signup(post(body.encode()), max_bytes=size)["email"] == "é" * 10
    for event in (post(body), post(body.encode())):
        with pytest.raises(PayloadTooLarge) as caught:
            signup(event, max_bytes=size - 1)
        assert caught.value.status == 413
    with pytest.raises(PayloadTooLarge):
        signup(post("x" * 100_000))  # default limit: 64 KiB


def test_content_type() -> None:
    text = json.dumps(GOOD)
    for headers in ({"Content-Type": "application/json; charset=utf-8"},
                    {"content-type": "APPLICATION/JSON"}):  # fmt: skip
        assert signup(post(text, headers=headers)) == GOOD
    for headers in ({}, {"Content-Type": "text/plain"},
                    {"Content-Type": "application/x-www-form-urlencoded"}):  # fmt: skip
        with pytest.raises(UnsupportedMediaType) as caught:
            signup(post(text, headers=headers))
        assert caught.value.status == 415
    assert signup(post(text, headers={}), content_type=None) == GOOD
    multi = post(text, kind="alb_multi")
    assert "headers" not in multi
    assert signup(multi) == GOOD


def test_bad_body_encodings() -> None:
    cases: list[Event] = [
        {**post(None)},
        {**post("x"), "body": 42},
        {**post("x"), "body": "not base64!!", "isBase64Encoded": True},
        {**post(b"\xff\xfe{}")},  # base64 of bytes that are not UTF-8
        {**post("x"), "body": '{"email": "\ud800", "password": "p"}'},  # a raw lone surrogate
    ]
    problems = ["empty body", "body is not text", "body is not valid base64",
                "body is not strict JSON", "body is not valid UTF-8"]  # fmt: skip
    for event, problem in zip(cases, problems, strict=True):
        with pytest.raises(BadRequest) as caught:
            signup(event)
        assert caught.value.detail["problem"] == problem
    with pytest.raises(BadRequest):
        signup(["not", "an", "event"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fields": {"a": "str"}}, "field 'a': types are"),
        ({"fields": {"a": set}}, "types are"),
        ({"fields": {"a": ()}}, "types are"),
        ({"fields": [("a", str)]}, "fields maps"),
        ({"fields": {"a": str}, "required": "a"}, "collection"),
        ({"fields": {"a": str}, "required": {"b"}}, "not in fields"),
        ({"fields": {"a": str}, "max_bytes": 0}, "max_bytes"),
    ],
)
def test_configuration_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        json_body(post("{}"), **kwargs)


def test_exported_lazily_from_secauth() -> None:
    assert secauth.json_body is json_body
    assert "json_body" in secauth.__all__


# --- through Guard: a public registration endpoint ------------------------------------------------


def _registration(capsys: pytest.CaptureFixture[str]) -> Any:
    guard = Guard(routes=Routes({"POST /signup": public()}))

    @guard
    def register(event: Event, context: Any) -> dict[str, Any]:
        data = json_body(event, fields=SIGNUP, required=REQUIRED)
        return {"statusCode": 201, "body": json.dumps({"email": data["email"]})}

    return register


def test_registration_endpoint_through_guard(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad body is a 400 problem response; nothing of it in the response or the output."""
    register = _registration(capsys)
    created = register(post(json.dumps(GOOD)), None)
    assert (created["statusCode"], json.loads(created["body"])) == (201, {"email": GOOD["email"]})
    bodies = {  # body -> the errors member of its problem response (None: no such member)
        json.dumps({**GOOD, "is_admin": MARK}): [{"rule": "unexpected_fields"}],
        f'{{"email": "{MARK}"': None,
        f'["{MARK}"]': None,
        json.dumps({"email": 7, "password": MARK}): [{"field": "email", "rule": "type"}],
    }
    for body, errors in bodies.items():
        response = register(post(body), None)
        assert response["statusCode"] == 400
        problem = {"type": "about:blank", "title": "bad request", "status": 400,
                   "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}  # fmt: skip
        if errors is not None:
            problem["errors"] = errors
        assert json.loads(response["body"]) == problem
        assert MARK not in json.dumps(response)
    too_big = register(post(json.dumps({**GOOD, "name": MARK * 20_000})), None)
    assert too_big["statusCode"] == 413
    wrong_type = register(post(json.dumps(GOOD), headers={"Content-Type": "text/plain"}), None)
    assert wrong_type["statusCode"] == 415
    out = capsys.readouterr()
    assert MARK not in out.out + out.err
    assert out.out.count('"reason":"bad_request"') == len(bodies)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10).map(lambda s: MARK + s),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    value=st.dictionaries(st.sampled_from(["email", "password", "name", MARK, "x"]), JSON_VALUES,
                          max_size=5) | JSON_VALUES,
    raw=st.none() | st.binary(max_size=64),
)  # fmt: skip
def test_random_bodies_either_pass_the_schema_or_are_refused_cleanly(value: Any, raw: bytes | None) -> None:
    """Any body: a dict that matches the schema exactly, or a BadRequest/413 that echoes nothing."""
    text = json.dumps(value) if raw is None else None
    event = post(text if raw is None else raw)
    try:
        data = signup(event, max_bytes=512)
    except (BadRequest, PayloadTooLarge) as err:
        assert_no_echo(err)
        return
    assert set(data) <= set(SIGNUP)
    assert set(data) >= REQUIRED
    assert all(type(v) is str for v in data.values())


def test_refused_bodies_are_not_kept_in_the_error_chain() -> None:
    """The JSON error (which quotes the document) is dropped: no __cause__ or __context__ text."""
    with pytest.raises(BadRequest) as caught:
        signup(post(f'{{"email": "{MARK}", }}'))
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_http_v2_helper_event_has_no_surprises() -> None:
    assert http_v2("POST", "/signup", body="{}", headers=JSON_TYPE)["body"] == "{}"
    assert base64.b64decode(post(b"{}")["body"]) == b"{}"
