"""Field rules of ``json_body`` (issue 16, section 3): ``Field(...)`` beside plain types.

Each rule is checked at its boundaries; a failing body raises ``InvalidFields`` listing
every broken rule by declared field path, and its problem response carries exactly that
list, never a value from the body and never an undeclared field's name.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from guard_events import KINDS
from hypothesis import given, settings
from hypothesis import strategies as st

from secauth import Guard, Routes, public
from secauth.errors import BadRequest, ConfigurationError
from secauth.events import EventKind
from secauth.hygiene import RULES, Field, FieldError, InvalidFields, json_body
from secauth.responses import error_response

MARK = "ECHO-77ab"
JSON_TYPE = {"Content-Type": "application/json"}


def post(body: Any, kind: str = "http_v2") -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return KINDS[kind][0]("POST", "/signup", body=text, headers=JSON_TYPE)


def broken(fields: dict[str, Any], body: Any, **kwargs: Any) -> tuple[FieldError, ...]:
    """The errors ``json_body`` finds in ``body`` (empty when it is accepted as is)."""
    try:
        assert json_body(post(body), fields=fields, **kwargs) == body
    except InvalidFields as err:
        return err.field_errors
    return ()


@pytest.mark.parametrize(
    ("spec", "value", "rule"),
    [
        (Field(str, min_length=2), "ab", None),
        (Field(str, min_length=2), "a", "min_length"),
        (Field(str, max_length=3), "abc", None),
        (Field(str, max_length=3), "abcd", "max_length"),
        (Field(str, max_length=3), "\u00e9\u00e9\u00e9", None),  # characters, not bytes
        (Field(str, max_length=1), "\U0001f600", None),  # one code point
        (Field(str, pattern="[a-z]+"), "abc", None),
        (Field(str, pattern="[a-z]+"), "abc1", "pattern"),  # a full match, not a search
        (Field(str, pattern="[a-z]+"), "1abc", "pattern"),
        (Field(str, pattern="[a-z]+"), "abc\n", "pattern"),  # no `$` before a final newline
        (Field(str, choices={"red", "green"}), "red", None),
        (Field(str, choices={"red", "green"}), "Red", "choices"),
        (Field(int, choices=(1, 2)), 2, None),
        (Field(int, choices=(1, 2)), 3, "choices"),
        (Field((int, bool), choices={1}), True, None),  # a bool is not a choice: not checked
        (Field((int, bool), choices={1}), 1, None),
        (Field(int, minimum=0, maximum=10), 0, None),
        (Field(int, minimum=0, maximum=10), 10, None),
        (Field(int, minimum=0, maximum=10), -1, "minimum"),
        (Field(int, minimum=0, maximum=10), 11, "maximum"),
        (Field(float, minimum=0.5), 0.5, None),
        (Field(float, minimum=0.5), 0.4999, "minimum"),
        (Field(float, maximum=2), 2, None),  # an int where a float is declared
        (Field(float, maximum=2), 2.0001, "maximum"),
        (Field(int, minimum=0), 1.5, "type"),  # the type comes first
        (Field(int, minimum=0), True, "type"),
        (Field(list, min_items=1, max_items=2), ["a"], None),
        (Field(list, min_items=1, max_items=2), [], "min_items"),
        (Field(list, min_items=1, max_items=2), [1, 2, 3], "max_items"),
        (Field(list, items=str), ["a", "b"], None),
        (Field(list, items=str), ["a", 2], "type"),  # reported at the item: v[1]
        (Field((str, None), max_length=2), None, None),  # rules apply to their own kind
        (Field((str, None), max_length=2), "abc", "max_length"),
        (Field(str, max_length=5, pattern="(a+)+$"), "a" * 50 + "!", "max_length"),
    ],
)  # fmt: skip
def test_each_rule_at_its_boundaries(spec: Field, value: Any, rule: str | None) -> None:
    errors = broken({"v": spec}, {"v": value})
    if rule is None:
        assert errors == ()
    elif spec.items is not None:
        assert errors == (FieldError("v[1]", rule),)
    else:
        assert errors == (FieldError("v", rule),)


SIGNUP = {
    "email": Field(str, max_length=254, pattern="[^@ ]+@[^@ ]+"),
    "password": Field(str, min_length=12, max_length=200),
    "plan": Field(str, choices={"free", "pro"}),
    "age": Field(int, minimum=13, maximum=150),
    "tags": Field(list, max_items=3, items=Field(str, max_length=10)),
    "address": Field(dict, required={"zip"}, fields={
        "zip": Field(str, pattern="[0-9]{5}"),
        "lines": Field(list, min_items=1, items=str),
    }),
    "newsletter": bool,
}  # fmt: skip
REQUIRED = {"email", "password"}
GOOD = {"email": "ann@example.com", "password": "correct horse battery", "plan": "pro",
        "age": 30, "tags": ["a", "b"], "address": {"zip": "12345", "lines": ["1 Main St"]},
        "newsletter": False}  # fmt: skip


def test_a_valid_body_passes_every_rule() -> None:
    assert json_body(post(GOOD), fields=SIGNUP, required=REQUIRED) == GOOD


def test_every_failure_is_listed_in_declaration_order() -> None:
    body = {"email": f"{MARK} at example", "password": "short", "plan": MARK, "age": 12,
            "tags": ["ok", MARK * 2, MARK * 3], "address": {"lines": []}, "newsletter": "yes"}  # fmt: skip
    assert broken(SIGNUP, body, required=REQUIRED) == (
        FieldError("email", "pattern"),
        FieldError("password", "min_length"),
        FieldError("plan", "choices"),
        FieldError("age", "minimum"),
        FieldError("tags[1]", "max_length"),  # the first bad item only
        FieldError("address.zip", "required"),
        FieldError("address.lines", "min_items"),
        FieldError("newsletter", "type"),
    )


def test_nested_objects_have_their_own_required_and_unexpected_fields() -> None:
    body = {**GOOD, "address": {"zip": None, "lines": ["x"], MARK: "y"}}
    errors = broken(SIGNUP, body, required=REQUIRED)
    assert errors == (FieldError("address", "unexpected_fields"),
                      FieldError("address.zip", "required"))  # fmt: skip
    assert broken(SIGNUP, {**GOOD, "address": ["12345"]}) == (FieldError("address", "type"),)
    # Lists of objects: each item is checked against the nested fields.
    orders = {"items": Field(list, items=Field(dict, fields={"sku": str, "qty": Field(int, minimum=1)},
                                                required={"sku", "qty"}))}  # fmt: skip
    assert broken(orders, {"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 0}]}) == (
        FieldError("items[1].qty", "minimum"),
    )
    assert broken(orders, {"items": [{"sku": "a", "qty": 1, MARK: 1}]}) == (
        FieldError("items[0]", "unexpected_fields"),
    )
    # Field(dict) without fields is any object, as a plain dict; fields={} is an empty one.
    assert broken({"meta": Field(dict)}, {"meta": {MARK: 1}}) == ()
    assert broken({"meta": Field(dict, fields={})}, {"meta": {MARK: 1}}) == (
        FieldError("meta", "unexpected_fields"),
    )


def test_plain_types_and_fields_mix() -> None:
    fields = {"name": str, "nick": (str, None), "email": Field(str, max_length=5)}
    assert broken(fields, {"name": "a", "nick": None, "email": "a@b"}) == ()
    assert broken(fields, {"name": 1, "email": "a@b.example"}) == (
        FieldError("name", "type"), FieldError("email", "max_length"),
    )  # fmt: skip


def test_a_field_is_reusable_and_immutable() -> None:
    email = Field(str, max_length=254, pattern="[^@ ]+@[^@ ]+")
    assert broken({"from": email, "to": email}, {"from": "a@b", "to": "c"}) == (
        FieldError("to", "pattern"),
    )
    with pytest.raises(AttributeError):
        email.max_length = 10  # type: ignore[misc]
    assert email == Field(str, max_length=254, pattern="[^@ ]+@[^@ ]+")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Field(str, pattern="("), "pattern '(' is not a valid regular expression"),
        (lambda: Field(str, pattern=b"x"), "pattern is a regular expression"),
        (lambda: Field(str, min_length=3, max_length=2), "min_length 3 is above max_length 2"),
        (lambda: Field(str, min_length=-1), "min_length must be an int >= 0"),
        (lambda: Field(str, max_length=2.5), "max_length must be an int >= 0"),
        (lambda: Field(list, min_items=True), "min_items must be an int >= 0"),
        (lambda: Field(list, min_items=3, max_items=1), "min_items 3 is above max_items 1"),
        (lambda: Field(int, minimum=5, maximum=1), "minimum 5 is above maximum 1"),
        (lambda: Field(float, minimum=float("nan")), "minimum must be a finite int or float"),
        (lambda: Field(int, maximum="9"), "maximum must be a finite int or float"),
        (lambda: Field("str"), "types are str, int, float, bool, list, dict or None"),
        (lambda: Field(set), "types are"),
        (lambda: Field(()), "types are"),
        (lambda: Field(int, pattern="[0-9]+"), "pattern applies only to str fields"),
        (lambda: Field(str, minimum=0), "minimum applies only to int or float fields"),
        (lambda: Field(str, items=str), "items applies only to list fields"),
        (lambda: Field(list, fields={"a": str}), "fields applies only to dict fields"),
        (lambda: Field(str, min_length=1, max_length=2, pattern="x", minimum=1),
         "minimum applies only"),
        (lambda: Field(dict, required={"a"}), "give fields"),
        (lambda: Field(dict, fields={"a": str}, required={"b"}), "required fields ['b']"),
        (lambda: Field(dict, fields={"a": "int"}), "field 'a': types are"),
        (lambda: Field(dict, fields=[("a", str)]), "fields maps each field name"),
        (lambda: Field(dict, fields={1: str}), "field names are strings"),
        (lambda: Field(dict, fields={"a": str}, required="a"), "required is a collection"),
        (lambda: Field(list, items=dict[str, int]), "Field items: types are"),
        (lambda: Field(str, choices="red"), "choices is a non-empty collection"),
        (lambda: Field(str, choices=[]), "choices is a non-empty collection"),
        (lambda: Field(str, choices={1}), "choice 1 is not a str or int of the field's type"),
        (lambda: Field(int, choices={"1"}), "choice '1' is not"),
        (lambda: Field(float, choices={1.5}), "choice 1.5 is not"),
        (lambda: Field((int, bool), choices={True}), "choice True is not"),
    ],
)  # fmt: skip
def test_configuration_errors_at_construction(build: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("(", r"\(")):
        build()


def test_json_body_names_the_field_of_a_bad_declaration() -> None:
    with pytest.raises(ConfigurationError, match="field 'age': types are"):
        json_body(post({}), fields={"age": "int"})
    with pytest.raises(ConfigurationError, match=r"required fields \['b'\] are not in fields"):
        json_body(post({}), fields={"a": Field(str)}, required={"b"})


def test_invalid_fields_takes_known_rules_only() -> None:
    assert InvalidFields(errors=[FieldError("a", "pattern")]).public_errors() == [
        {"field": "a", "rule": "pattern"}
    ]
    for errors in ([FieldError("a", "string_too_short")], [("a", "pattern", "x")]):
        with pytest.raises(ConfigurationError, match="InvalidFields takes FieldError"):
            InvalidFields(errors=errors)  # type: ignore[arg-type]
    assert InvalidFields().public_errors() == []  # as any SecAuthError, it takes no arguments
    assert InvalidFields(detail={"form": "signup"}).detail["form"] == "signup"
    assert issubclass(InvalidFields, BadRequest)
    assert InvalidFields(errors=[FieldError(None, "unexpected_fields")]).status == 400


# --- the client-safe channel: the problem response ---------------------------------------------


def test_problem_response_lists_the_errors_and_nothing_else() -> None:
    error = InvalidFields(errors=[FieldError("email", "pattern"), FieldError("address.zip", "max_length"),
                           FieldError(None, "unexpected_fields")])  # fmt: skip
    response = error_response(error, EventKind.HTTP_V2, request_id="r-1")
    assert json.loads(response["body"]) == {
        "type": "about:blank", "title": "bad request", "status": 400, "request_id": "r-1",
        "errors": [{"field": "email", "rule": "pattern"},
                   {"field": "address.zip", "rule": "max_length"},
                   {"rule": "unexpected_fields"}],
    }  # fmt: skip
    # Only this error has the member: a BadRequest's detail stays in the logs.
    plain = error_response(BadRequest(detail={"field": "email", "rule": "pattern"}),
                           EventKind.HTTP_V2)  # fmt: skip
    assert "errors" not in json.loads(plain["body"])


def _signup_handler(**guard_options: Any) -> Any:
    guard = Guard(routes=Routes({"POST /signup": public()}), **guard_options)

    @guard
    def register(event: dict[str, Any], context: Any) -> dict[str, Any]:
        data = json_body(event, fields=SIGNUP, required=REQUIRED)
        return {"statusCode": 201, "body": json.dumps({"email": data["email"]})}

    return register


@pytest.mark.parametrize("kind", list(KINDS))
def test_through_guard_the_client_learns_fields_and_rules_only(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    register = _signup_handler()
    assert register(post(GOOD, kind), None)["statusCode"] == 201
    body = {**GOOD, "email": MARK, "age": 7, "address": {"zip": MARK, MARK: MARK}, MARK: 1}
    response = register(post(body, kind), None)
    assert response["statusCode"] == 400
    problem = json.loads(response["body"])
    assert problem["type"] == "about:blank"
    assert problem["errors"] == [
        {"rule": "unexpected_fields"},
        {"field": "email", "rule": "pattern"},
        {"field": "age", "rule": "minimum"},
        {"field": "address", "rule": "unexpected_fields"},
        {"field": "address.zip", "rule": "pattern"},
    ]
    assert MARK not in json.dumps(response)
    out = capsys.readouterr().out
    assert MARK not in out
    record = json.loads(out.splitlines()[-1])
    assert (record["reason"], record["status"]) == ("bad_request", 400)


def test_through_guard_with_a_configured_problem_type() -> None:
    register = _signup_handler(decision_log=None,
                               problem_type_base="https://errors.example.com/problems/")  # fmt: skip
    problem = json.loads(register(post({**GOOD, "plan": "gold"}), None)["body"])
    assert problem["type"] == "https://errors.example.com/problems/bad_request"
    assert problem["errors"] == [{"field": "plan", "rule": "choices"}]


# --- any body: accepted only when every rule holds; errors name declared paths only ------------

PATHS = {"email", "password", "plan", "age", "tags", "newsletter", "address", "address.zip",
         "address.lines"}  # fmt: skip
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-20, 200) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["free", "pro", "12345", "a@b", "correct horse battery"])
    | st.text(max_size=14).map(lambda s: MARK + s),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["zip", "lines", MARK]), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


def _holds(body: dict[str, Any]) -> bool:
    """The rules of SIGNUP, written out plainly, for the property test."""
    if not set(body) <= set(SIGNUP) or not set(body) >= REQUIRED:
        return False
    email, password = body["email"], body["password"]
    tags, address = body.get("tags", []), body.get("address", {"zip": "00000"})
    return (
        type(email) is str and "@" in email and " " not in email
        and email.count("@") == 1 and not email.startswith("@") and not email.endswith("@")
        and type(password) is str and 12 <= len(password) <= 200
        and body.get("plan", "free") in ("free", "pro")
        and type(body.get("age", 13)) is int and 13 <= body.get("age", 13) <= 150
        and type(tags) is list and len(tags) <= 3
        and all(type(t) is str and len(t) <= 10 for t in tags)
        and type(body.get("newsletter", True)) is bool
        and type(address) is dict and set(address) <= {"zip", "lines"}
        and type(address.get("zip")) is str and len(address["zip"]) == 5
        and all(c in "0123456789" for c in address["zip"])
        and type(address.get("lines", ["x"])) is list and len(address.get("lines", ["x"])) >= 1
        and all(type(line) is str for line in address.get("lines", []))
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(body=st.dictionaries(st.sampled_from([*SIGNUP, MARK]), VALUES, max_size=6)
       | st.fixed_dictionaries({"email": st.just("a@b"), "password": st.just("correct horse battery")},
                               optional={"address": VALUES, "tags": VALUES, "age": VALUES}))  # fmt: skip
def test_any_body_passes_exactly_when_the_rules_hold(body: dict[str, Any]) -> None:
    try:
        data = json_body(post(body), fields=SIGNUP, required=REQUIRED)
    except InvalidFields as err:
        refused = err
    else:
        assert data == body
        assert _holds(body)
        return
    assert not _holds(body)
    for error in refused.field_errors:
        assert error.rule in RULES
        assert error.field is None or error.field.split("[")[0] in PATHS
    seen = [json.dumps(refused.public_errors()), repr(refused), json.dumps(refused.detail)]
    assert all(MARK not in text for text in seen)
