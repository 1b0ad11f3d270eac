"""Review 90: tenant values a backend may read as the caller's own, against ``~tenant(...)`` after
e1e7fe5 (review 89). Rules ``roles("auditor") & ~tenant(header="x-tenant" | query="tenant" |
path="tenantId")`` in a ``Guard``, acme's auditor, REST, HTTP API, Function URL and ALB events. Real
objects only (KeyPair, secauth.testing_events, Werkzeug as Flask reads a request); no network.

All four findings are resolved after the review (the tests assert it): a header's ``_`` spelling
counts as the same name (both given: a repeat, undecided), and a tenant value padded with
whitespace is undecided (``_Tenant.check``).

Finding (medium): a header named with ``_`` for ``-`` aliases the tenant header in every WSGI backend.
PEP 3333 names a header ``HTTP_`` + upper-case + ``-``→``_``, so WSGI adapters for Lambda (apig-wsgi,
serverless-wsgi, as ``wsgi_environ`` below) write ``X-Tenant`` and ``X_Tenant`` to the same
``HTTP_X_TENANT``, the later one winning; API Gateway and ALB pass both names. ``X-Tenant: globex`` then
``X_Tenant: acme`` is one decided "another tenant" (globex) for secauth, so ``~`` allows, and Flask or
Django reads acme. ``_Tenant._value`` matches the name exactly; read ``_`` and ``-`` alike there (the
alias beside the name is then a repeat: undecided).

Finding (medium): a tenant value padded with whitespace is decided. ``?tenant=acme%20`` (REST, HTTP API,
Function URL decode it to ``acme ``; ALB's ``acme%20`` is decoded by secauth), ``%20acme`` or ``acme%09``
compares as another tenant, so ``~`` allows; Django forms (``CharField(strip=True)``) and DRF serializers
(``trim_whitespace=True``), both defaults, read acme. A padded value is as ambiguous as an empty one.
(On HTTP APIs a backend parsing ``rawQueryString`` reads ``acme+`` as ``acme `` too.)

Finding (low): the same padding in a header (``X-Tenant: acme%20``, decoded by secauth only) or a path
segment (``/t/acme%20``; Flask, Django and FastAPI path converters do not strip) is decided; only a
backend that both decodes and strips it reads acme.

Held: ``%2c`` (lower case) and ``%2C`` after decoding are undecided in headers and ALB queries, as is
``%252C`` (still encoded after one decoding) and a lone ``%``; an underscore alias alone is a missing
tenant (undecided). Path values holding ``;`` (also ``%3B``/``%3b``) are read both ways, and ``a%63me``
is decoded to acme, so ``~`` refuses; ``%2F`` and ``%252F`` in a segment never reach a route.
Not acme for any common backend, so ``~``'s allow is right: ``ACME`` (exact comparison), full-width
letters or comma (no Python framework applies NFKC to values), ``globex;acme``, ``globex acme``,
``globex+acme`` as values; ``tenant=globex;tenant=acme`` (``;`` is no query separator since CPython
3.9.2, every Lambda runtime, nor in Werkzeug); ``/t/acme.json`` (Werkzeug keeps ``acme.json``).
"""

from __future__ import annotations

from typing import Any

import pytest
from tenant_review_fixtures import CLAIMS, ISS, PAIR, VERIFIER
from werkzeug.routing import Map
from werkzeug.routing import Rule as WerkzeugRule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

import secauth.testing_events as te
from secauth import Guard, Routes, roles, tenant
from secauth.events import Request
from secauth.principal import Principal
from secauth.rules import AccessContext, Denial, Rule

AUDITOR = Principal("ann", tenant="acme", roles={"auditor"})
OTHER_H = roles("auditor") & ~tenant(header="x-tenant")
OTHER_Q = roles("auditor") & ~tenant(query="tenant")
OTHER_P = roles("auditor") & ~tenant(path="tenantId")
KINDS = [te.rest_proxy, te.http_proxy, te.function_url, te.alb]
KIND_IDS = ["rest", "http_api", "function_url", "alb"]


def token() -> str:
    claims = {"iss": ISS, "aud": "api", "sub": "ann", "tenant": "acme", "roles": ["auditor"]}
    return PAIR.sign({**claims, "exp": 4_000_000_000})


def run(rule_: Rule, route: str, event: dict[str, Any]) -> int:
    """The status a guarded handler answers ``event`` with (200: it ran)."""
    guard = Guard(VERIFIER, routes=Routes({route: rule_}), claims=CLAIMS, decision_log=None)
    handler = guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})
    return int(handler(event, None)["statusCode"])


def checked(rule_: Rule, event: dict[str, Any]) -> Denial | None:
    request = Request.from_event(event)
    return rule_.check(AUDITOR, AccessContext(request.method, request.path, {}, request))


def path_event(make: Any, segment: str) -> dict[str, Any]:
    params = {"tenantId": segment}
    if make is te.rest_proxy:
        return make(
            "GET", f"/t/{segment}", resource="/t/{tenantId}", path_params=params, token=token()
        )
    if make is te.http_proxy:
        return make("GET", f"/t/{segment}", route_key="GET /t/{tenantId}", path_params=params,
                    token=token())  # fmt: skip
    return make("GET", f"/t/{segment}", token=token())


def wsgi_environ(event: dict[str, Any]) -> dict[str, Any]:
    """The WSGI environ a Lambda WSGI adapter builds: each header as PEP 3333 names it."""
    environ = EnvironBuilder(path="/audit").get_environ()
    for name, value in (event.get("headers") or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


# -- findings --------------------------------------------------------------------------------------
# fmt: off


@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_an_underscore_alias_of_the_tenant_header_stays_a_refusal_under_negation(make: Any) -> None:
    event = make("GET", "/audit", token=token(), headers={"X-Tenant": "globex", "X_Tenant": "acme"})
    assert run(OTHER_H, "GET /audit", event) != 200


@pytest.mark.parametrize("value", ["acme ", " acme", "acme\t"], ids=["trailing", "leading", "tab"])
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_a_whitespace_padded_query_tenant_stays_a_refusal_under_negation(make: Any, value: str) -> None:
    event = make("GET", "/audit", token=token(), query={"tenant": value})
    assert run(OTHER_Q, "GET /audit", event) != 200


@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_a_whitespace_padded_header_tenant_stays_a_refusal_under_negation(make: Any) -> None:
    event = make("GET", "/audit", token=token(), headers={"x-tenant": "acme%20"})
    assert run(OTHER_H, "GET /audit", event) != 200


@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_a_whitespace_padded_path_tenant_stays_a_refusal_under_negation(make: Any) -> None:
    # HTTP APIs decode the path and its parameters once before the event.
    segment = "acme " if make is te.http_proxy else "acme%20"
    assert run(OTHER_P, "GET /t/{tenantId}", path_event(make, segment)) != 200


# fmt: on
# -- what held -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["globex%2cacme", "globex%2Cacme", "globex%252Cacme", "acme%"])
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_encoded_lists_and_stray_percents_in_a_header_are_undecided(make: Any, value: str) -> None:
    event = make("GET", "/audit", token=token(), headers={"x-tenant": value})
    denial = checked(OTHER_H, event)
    assert denial is not None
    assert denial.undecided
    assert run(OTHER_H, "GET /audit", event) == 403


@pytest.mark.parametrize("multi_value", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("value", ["globex%2cacme", "globex%2Cacme", "globex%252Cacme"])
def test_encoded_lists_in_an_alb_query_are_undecided(value: str, multi_value: bool) -> None:
    event = te.alb("GET", "/audit", token=token(), query={"tenant": "x"}, multi_value=multi_value)
    key = "multiValueQueryStringParameters" if multi_value else "queryStringParameters"
    event[key] = {"tenant": [value] if multi_value else value}
    assert run(OTHER_Q, "GET /audit", event) == 403


@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_a_wsgi_backend_reads_the_later_underscore_alias(make: Any) -> None:
    event = make("GET", "/audit", token=token(), headers={"X-Tenant": "globex", "X_Tenant": "acme"})
    assert WerkzeugRequest(wsgi_environ(event)).headers.get("X-Tenant") == "acme"
    assert Request.from_event(event).header_values("x-tenant") == ("globex",)  # what secauth judges


@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_an_underscore_alias_alone_is_a_missing_tenant(make: Any) -> None:
    event = make("GET", "/audit", token=token(), headers={"X_Tenant": "acme"})
    assert run(OTHER_H, "GET /audit", event) == 403


@pytest.mark.parametrize("segment", ["acme", "acme;x", "acme%3Bx", "acme%3b", "a%63me"])
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_path_spellings_of_acme_are_refused_under_negation(make: Any, segment: str) -> None:
    assert run(OTHER_P, "GET /t/{tenantId}", path_event(make, segment)) == 403


@pytest.mark.parametrize("segment", ["acme%2F", "acme%252F", "acme%2fx"])
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_encoded_slashes_in_a_path_tenant_reach_no_route(make: Any, segment: str) -> None:
    assert run(OTHER_P, "GET /t/{tenantId}", path_event(make, segment)) != 200


@pytest.mark.parametrize(
    "value",
    [
        "ACME",
        "\uff41\uff43\uff4d\uff45",
        "globex\uff0cacme",
        "globex;acme",
        "globex acme",
        "globex+acme",
    ],
)
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_values_no_common_backend_reads_as_acme_name_another_tenant(make: Any, value: str) -> None:
    for rule_, sent in (
        (tenant(header="x-tenant"), {"headers": {"x-tenant": value}}),
        (tenant(query="tenant"), {"query": {"tenant": value}}),
    ):
        denial = checked(rule_, make("GET", "/audit", token=token(), **sent))
        assert denial is not None
        assert not denial.undecided


def test_a_semicolon_is_no_query_separator_for_werkzeug() -> None:
    environ = EnvironBuilder(path="/audit", query_string="tenant=globex;tenant=acme").get_environ()
    assert WerkzeugRequest(environ).args.getlist("tenant") == ["globex;tenant=acme"]
    event = te.http_proxy("GET", "/audit", token=token(), query={"tenant": "globex;tenant=acme"})
    assert checked(OTHER_Q, event) is None  # another tenant: ~ allows, and so does the backend


def test_a_dotted_suffix_stays_in_a_werkzeug_path_parameter() -> None:
    adapter = Map([WerkzeugRule("/t/<tenant_id>", endpoint="t")]).bind("example.com")
    assert adapter.match("/t/acme.json") == ("t", {"tenant_id": "acme.json"})
    assert adapter.match("/t/acme;x") == ("t", {"tenant_id": "acme;x"})
