"""Review 20: the review-19 changes to cookie reading and ``Cors`` origins, attacked.

The findings' tests failed before their fixes (they were ``xfail(strict=True)`` until
then); the other tests pin attacks that held. Events come from :mod:`secauth.testing_events`, keys from
:class:`secauth.testing.KeyPair` (static JWKS, nothing served).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Routes, authenticated
from secauth._invoke import invoke
from secauth.errors import AmbiguousCredentials, ConfigurationError, MissingToken
from secauth.events import Request
from secauth.policy import Unauthorized
from secauth.responses import Cors
from secauth.testing import KeyPair
from secauth.testing_events import (
    alb,
    function_url,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
)
from secauth.token_sources import TokenSource, read_token

ISS, AUD = "https://idp.example/", "web"
PAIR = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
COOKIE = TokenSource.cookie("session")


def token(sub: str) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000})


ANN, EVE = token("ann"), token("eve")


def read(event: dict[str, Any]) -> str:
    return read_token(Request.from_event(event), [COOKIE]).token


def url_event(header: str, listed: list[str]) -> dict[str, Any]:
    """A Function URL event whose ``Cookie`` header and ``cookies`` list are given apart."""
    event = function_url("GET", "/whoami")
    event["headers"]["cookie"] = header
    event["cookies"] = listed
    return event


def whoami(event: dict[str, Any], context: Any, principal: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


GUARD = Guard(VERIFIER, token_sources=[COOKIE], decision_log=None)(whoami)


def http_authorizer() -> Authorizer:
    routes = Routes({"GET /whoami": authenticated()})
    return Authorizer(VERIFIER, routes=routes, token_sources=[COOKIE], api="http",
                      simple_responses=True, decision_log=None)  # fmt: skip


# == Findings ==============================================================================


@pytest.mark.parametrize(
    "origin",
    [
        "capacitor://localhost",  # Capacitor iOS WebView
        "ionic://localhost",  # Ionic iOS WebView
        "tauri://localhost",  # Tauri (macOS, Linux)
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
        "moz-extension://0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
    ],
)
def test_cors_accepts_origins_webviews_and_extensions_send(origin: str) -> None:
    """These are serialized origins a browser or WebView puts in ``Origin``; before
    5f81a83 ``Cors`` took them, now it raises ConfigurationError (a regression)."""
    cors = Cors(allow_origins=[origin], allow_credentials=True)
    assert cors.allowed_origin(origin) == origin


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com:",  # empty port: browsers drop the ':'
        "https://app.example.com:08443",  # browsers send ':8443'
        "https://bücher.example",  # browsers send the punycode 'xn--bcher-kva.example'
        "https://app example.com",
        "https://app.example.com\x00",
        "https://app.example.com;x",
        "https://app.example.com\\",
        "https://[::ffff:127.0.0.1]",  # browsers send '[::ffff:7f00:1]'
    ],
)
def test_cors_refuses_every_origin_no_browser_sends(origin: str) -> None:
    """docs/guard.md: "any other spelling could never match and is refused when ``Cors``
    is built"."""
    with pytest.raises(ConfigurationError):
        Cors(allow_origins=[origin])


@pytest.mark.parametrize(
    "options",
    [
        {"allow_origins": None},
        {"allow_origins": 1},
        {"allow_origins": ["https://app.example.com"], "allow_methods": [None]},
        {"allow_origins": ["https://app.example.com"], "allow_headers": [1]},
        {"allow_origins": ["https://app.example.com"], "allow_methods": "GET"},  # {G, E, T}
        {"allow_origins": ["https://app.example.com"], "expose_headers": ["X\r\nSet-Cookie: a=b"]},
    ],
)
def test_cors_refuses_odd_input_with_a_configuration_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Cors(**options)


def test_function_url_builder_keeps_a_cookie_header_the_test_sends() -> None:
    """``headers={"Cookie": ...}`` beside ``cookies=`` is silently replaced by the
    ``cookies`` join: a test of a header that differs from the list passes vacuously."""
    try:
        event = function_url("GET", "/", cookies=[f"session={ANN}"],
                             headers={"Cookie": f"session={EVE}"})  # fmt: skip
    except ValueError:
        return  # refusing the combination is fine too
    sent = event["headers"].get("cookie", "") + json.dumps(event.get("cookies"))
    assert EVE in sent
    assert GUARD(event, None)["statusCode"] == 401  # two session cookies: ambiguous


def test_secauth_authorize_redacts_a_quoted_cookie_token() -> None:
    """The reader strips the quotes of ``session="<opaque token>"``; the ``secauth
    authorize`` redactor keeps them, so the bare token a handler prints is not redacted."""
    opaque = "opaque-0123456789abcdef"

    def handler(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError(f"introspection refused {read(event)}")

    for event in (
        http_proxy("GET", "/", cookies=[f'session="{opaque}"']),
        rest_proxy("GET", "/", cookies=[f'session="{opaque}"']),
    ):
        run = invoke(handler, event)
        assert run.error_message is not None
        assert opaque not in run.redact(run.error_message)


# == Attacks that held =====================================================================

# -- the header copy: never a value dropped --------------------------------------------------


@pytest.mark.parametrize(
    ("header", "listed"),
    [
        (f"session={EVE}", [f"session={ANN}"]),  # another value
        (f"session={ANN}", [f"session={ANN}", f"session={ANN}"]),  # twice in the list
        (f"session={ANN}; session={ANN}", [f"session={ANN}"]),  # twice in the header
        (f"session={ANN}; session={EVE}", [f"session={EVE}", f"session={ANN}"]),
        (f"session={ANN}", [f"session={ANN}", "theme=dark"]),  # header a subset
        (f"session={ANN}; theme=dark", [f"session={ANN}"]),  # list a subset
        (f"session ={ANN}", [f"session={ANN}"]),  # a space before '='
        (f'session="{ANN}"', [f"session={ANN}"]),  # quoted in one only
        (f"session={ANN},theme=dark", [f"session={ANN}", "theme=dark"]),  # comma-joined
    ],
)
def test_a_header_that_is_not_exactly_the_list_counts(header: str, listed: list[str]) -> None:
    with pytest.raises(AmbiguousCredentials):
        read(url_event(header, listed))


@pytest.mark.parametrize(
    ("header", "listed"),
    [
        (f"session={ANN}; theme=dark", ["theme=dark", f"session={ANN}"]),  # order
        (f"session={ANN};theme=dark;;", [f"session={ANN}", "theme=dark"]),  # empty pairs
        (f" session={ANN}\t; theme=dark ", [f"session={ANN}", " theme=dark"]),  # space, tab
        (f"session={ANN}; theme=dark", [f"session={ANN}; theme=dark"]),  # one list item
    ],
)
def test_the_exact_copy_is_read_once(header: str, listed: list[str]) -> None:
    assert read(url_event(header, listed)) == ANN


def test_identical_repeats_in_header_and_list_stay_ambiguous() -> None:
    """Two cookies of one name (other Path or Domain) with equal values: still twice."""
    with pytest.raises(AmbiguousCredentials):
        read(url_event(f"session={ANN}; session={ANN}", [f"session={ANN}", f"session={ANN}"]))


def test_case_and_whitespace_variants_are_other_names_or_the_same_cookie() -> None:
    # Another case is another cookie: the header counts, but names no 'session'.
    assert read(url_event(f"SESSION={EVE}", [f"session={ANN}"])) == ANN
    # A space or tab around the name trims as browsers and backends do.
    assert read(http_proxy("GET", "/", cookies=[f"session\t= {ANN}"])) == ANN
    # '=' inside a value is kept; no token has one, so the verifier refuses it.
    assert read(http_proxy("GET", "/", cookies=[f"session={ANN}=x"])) == f"{ANN}=x"
    with pytest.raises(MissingToken):
        read(http_proxy("GET", "/", cookies=["session=", "session", "=session"]))


# -- where the list comes from ------------------------------------------------------------


def test_a_body_or_header_named_cookies_is_not_the_cookie_list() -> None:
    """A client controls the body and header names, never the event's top-level keys."""
    body = json.dumps({"cookies": [f"session={EVE}"]})
    for event in (
        rest_proxy("POST", "/", body=body, cookies=[f"session={ANN}"]),
        alb("POST", "/", body=body, cookies=[f"session={ANN}"]),
        rest_proxy("GET", "/", cookies=[f"session={ANN}"], headers={"Cookies": f"session={EVE}"}),
        http_proxy("GET", "/", cookies=[f"session={ANN}"], headers={"cookies": f"session={EVE}"}),
    ):
        assert read(event) == ANN


def test_rest_repeated_cookie_headers_are_ambiguous() -> None:
    event = rest_proxy("GET", "/", headers={"Cookie": [f"session={ANN}", f"session={EVE}"]})
    with pytest.raises(AmbiguousCredentials):
        read(event)
    single = alb("GET", "/", cookies=[f"session={ANN}"])
    assert read(single) == ANN


# -- the Authorizer reads cookies as the Guard does ----------------------------------------


def test_http_authorizer_and_guard_agree_on_the_header_copy() -> None:
    auth = http_authorizer()
    same = http_authorizer_v2("GET", "/whoami", route_key="GET /whoami",
                              cookies=[f"session={ANN}", "theme=dark"])  # fmt: skip
    same["headers"]["cookie"] = f"session={ANN}; theme=dark"
    assert auth.handler(same, None)["isAuthorized"] is True
    guarded = function_url("GET", "/whoami", cookies=[f"session={ANN}", "theme=dark"])
    assert GUARD(guarded, None)["body"] == "ann"

    other = http_authorizer_v2("GET", "/whoami", route_key="GET /whoami",
                               cookies=[f"session={ANN}"])  # fmt: skip
    other["headers"]["cookie"] = f"session={EVE}"
    assert auth.handler(other, None) == {"isAuthorized": False}  # simple: refused, no 401
    assert GUARD(url_event(f"session={EVE}", [f"session={ANN}"]), None)["statusCode"] == 401


def test_rest_request_authorizer_and_guard_agree_on_cookie_headers() -> None:
    routes = Routes({"GET /whoami": authenticated()})
    auth = Authorizer(VERIFIER, routes=routes, token_sources=[COOKIE], decision_log=None)
    ok = request_authorizer("GET", "/whoami", cookies=[f"session={ANN}"])
    assert auth.handler(ok, None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert GUARD(rest_proxy("GET", "/whoami", cookies=[f"session={ANN}"]), None)["body"] == "ann"
    twice = {"Cookie": [f"session={ANN}", f"session={EVE}"]}
    with pytest.raises(Unauthorized):
        auth.handler(request_authorizer("GET", "/whoami", headers=twice), None)
    assert GUARD(rest_proxy("GET", "/whoami", headers=twice), None)["statusCode"] == 401


# -- Cors origins ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost",
        "http://localhost:3000",
        "http://127.0.0.1:5173",
        "http://[::1]",
        "http://[::1]:8080",
        "https://[2001:db8::1]:8443",
        "https://xn--bcher-kva.example",
        "https://app.example.com.",
        "https://app.example.com:8443",
    ],
)
def test_cors_accepts_origins_browsers_send(origin: str) -> None:
    cors = Cors(allow_origins=[origin], allow_credentials=True)
    assert cors.headers({"origin": origin})["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "file://",
        "HTTPS://app.example.com",
        "https://App.example.com",
        "https://[::1",
        "https://[::ABCD]",
        "https://app.example.com:443",
        "http://app.example.com:80",
        "https://app.example.com:65536",
        "https://app.example.com\n",
        " https://app.example.com",
        "https://user@app.example.com",
        "https://app.example.com#",
        "https://",
        "",
        None,
        b"https://app.example.com",
        ["https://app.example.com"],
    ],
)
def test_cors_refuses_what_never_matches_without_crashing(origin: Any) -> None:
    with pytest.raises(ConfigurationError):
        Cors(allow_origins=[origin])
