"""Review 91: the header alias and padding checks of 851e79f (``_Tenant._value``, ``_Tenant.check``).
Rules ``roles("auditor") & tenant(...)`` and ``& ~tenant(...)`` in a ``Guard``, acme's auditor, REST,
HTTP API, Function URL and ALB (single- and multi-value) events; Werkzeug as Flask reads a WSGI request.
Real objects only; no network.

Resolved after the review (the tests assert it): a tenant header is read under every spelling
that differs in ``-`` and ``_`` (``secauth.events.header_spellings``), so two of them are a repeat.

Finding (medium): the alias is one spelling, not every spelling WSGI maps to the same name. The name is
translated ``-``<->``_`` as a whole, so for ``tenant(header="x-tenant-id")`` only ``x_tenant_id`` is read
beside it; ``X-Tenant_Id`` and ``X_Tenant-Id`` are also ``HTTP_X_TENANT_ID`` (PEP 3333 maps every ``-``).
``X-Tenant-Id: globex`` then ``X-Tenant_Id: acme`` is one decided "another tenant" for secauth, so
``~tenant(header="x-tenant-id")`` allows while Flask/Django read acme. Likewise a configured
``x-tenant_id`` misses ``x-tenant-id``. Compare names with every ``_`` read as ``-`` instead.
``x-tenant`` itself (one separator) has only the two spellings and is covered.

Held (no regression): a single header is counted once for every event shape, in any case, for names
without a separator, with one or several ``-``, ``_``, or both mixed; sent under the configured name or
its full alias, it is acme (200) or globex (403) as before. Query and path tenants are unchanged, and a
tenant value with inner spaces is decided as before. For ``~tenant(header="x-tenant")``: ``X-Tenant`` beside
``X_Tenant`` in any case and order is refused in every event shape, including ALB multi-value; padded
values (space, tab, encoded) are refused. Starlette/ASGI keep ``_`` distinct, so there the pair refusal
only fails closed. (A header named with a mixed spelling alone, e.g. ``X-Tenant_Id`` for ``x-tenant-id``,
is a missing tenant: refused undecided, fails closed; no common client sends it.)
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from tenant_review_fixtures import CLAIMS, ISS, PAIR, VERIFIER
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

import secauth.testing_events as te
from secauth import Guard, Routes, roles, tenant
from secauth.events import Request
from secauth.rules import AccessContext, Rule

KINDS = [te.rest_proxy, te.http_proxy, te.function_url, te.alb, partial(te.alb, multi_value=True)]
KIND_IDS = ["rest", "http_api", "function_url", "alb", "alb_multi"]


def token() -> str:
    claims = {"iss": ISS, "aud": "api", "sub": "ann", "tenant": "acme", "roles": ["auditor"]}
    return PAIR.sign({**claims, "exp": 4_000_000_000})


def run(rule_: Rule, route: str, event: dict[str, Any]) -> int:
    """The status a guarded handler answers ``event`` with (200: it ran)."""
    guard = Guard(VERIFIER, routes=Routes({route: rule_}), claims=CLAIMS, decision_log=None)
    handler = guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})
    return int(handler(event, None)["statusCode"])


def value_read(rule_: Any, event: dict[str, Any]) -> str | None:
    """The one tenant value ``_Tenant`` reads from ``event`` (None: none, or several)."""
    request = Request.from_event(event)
    value: str | None = rule_._value(AccessContext(request.method, request.path, {}, request))
    return value


def wsgi_reads(event: dict[str, Any], name: str) -> str | None:
    """What Flask reads for header ``name`` behind a Lambda WSGI adapter (PEP 3333 names)."""
    environ = EnvironBuilder(path="/audit").get_environ()
    for key, value in (event.get("headers") or {}).items():
        environ["HTTP_" + key.upper().replace("-", "_")] = value
    return WerkzeugRequest(environ).headers.get(name)


# -- findings --------------------------------------------------------------------------------------
# fmt: off


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [("x-tenant-id", "X-Tenant-Id", "X-Tenant_Id"), ("x-tenant-id", "X-Tenant-Id", "X_Tenant-Id"),
     ("x-tenant_id", "X-Tenant_Id", "X-Tenant-Id"), ("x_tenant_id", "X_Tenant_Id", "X-Tenant_Id")],
)
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_a_mixed_spelling_of_a_multi_separator_header_stays_a_refusal_under_negation(
    make: Any, name: str, first: str, second: str
) -> None:
    event = make("GET", "/audit", token=token(), headers={first: "globex", second: "acme"})
    if "headers" in event:  # WSGI adapters read the single-value map
        assert wsgi_reads(event, name) == "acme"
    assert run(roles("auditor") & ~tenant(header=name), "GET /audit", event) != 200


# fmt: on
# -- what held -------------------------------------------------------------------------------------

NAMES = ["tenant", "x-tenant", "x_tenant", "x-tenant-id", "x-tenant_id", "x__tenant--id"]


@pytest.mark.parametrize("spell", [str, str.upper, str.title], ids=["as_is", "upper", "title"])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_a_single_legitimate_header_is_read_once_and_decided(
    make: Any, name: str, spell: Any
) -> None:
    rule_ = tenant(header=name)
    for sent in {name, name.translate(str.maketrans("-_", "_-"))}:
        acme = make("GET", "/audit", token=token(), headers={spell(sent): "acme"})
        assert value_read(rule_, acme) == "acme"
        assert run(roles("auditor") & rule_, "GET /audit", acme) == 200
        globex = make("GET", "/audit", token=token(), headers={spell(sent): "globex"})
        assert run(roles("auditor") & rule_, "GET /audit", globex) == 403


@pytest.mark.parametrize("name", ["tenant", "tenant_id", "tenant-id"])
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_query_tenants_are_unchanged(make: Any, name: str) -> None:
    rule_ = roles("auditor") & tenant(query=name)
    assert (
        run(rule_, "GET /audit", make("GET", "/audit", token=token(), query={name: "acme"})) == 200
    )
    assert (
        run(rule_, "GET /audit", make("GET", "/audit", token=token(), query={name: "globex"}))
        == 403
    )
    spaced = make("GET", "/audit", token=token(), query={name: "globex acme"})
    assert run(roles("auditor") & ~tenant(query=name), "GET /audit", spaced) == 200


@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_path_tenants_are_unchanged(make: Any) -> None:
    rule_ = roles("auditor") & tenant(path="tenantId")
    for segment, status in [("acme", 200), ("globex", 403)]:
        params = {"tenantId": segment}
        if make is te.rest_proxy:
            event = make(
                "GET", f"/t/{segment}", resource="/t/{tenantId}", path_params=params, token=token()
            )
        elif make is te.http_proxy:
            event = make("GET", f"/t/{segment}", route_key="GET /t/{tenantId}", path_params=params,
                         token=token())  # fmt: skip
        else:
            event = make("GET", f"/t/{segment}", token=token())
        assert run(rule_, "GET /t/{tenantId}", event) == status


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("X-Tenant", "X_Tenant"),
        ("x_tenant", "x-tenant"),
        ("X-TENANT", "x_TeNaNt"),
        ("x_TENANT", "X-tenant"),
    ],
)
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_the_two_spellings_of_x_tenant_stay_a_refusal_under_negation(
    make: Any, first: str, second: str
) -> None:
    event = make("GET", "/audit", token=token(), headers={first: "globex", second: "acme"})
    assert value_read(tenant(header="x-tenant"), event) is None
    assert run(roles("auditor") & ~tenant(header="x-tenant"), "GET /audit", event) == 403


@pytest.mark.parametrize("value", ["acme ", " acme", "acme\t", "acme%20", "%09acme"])
@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_padded_header_values_stay_a_refusal_under_negation(make: Any, value: str) -> None:
    event = make("GET", "/audit", token=token(), headers={"X-Tenant": value})
    assert run(roles("auditor") & ~tenant(header="x-tenant"), "GET /audit", event) == 403


def test_a_lone_header_of_another_tenant_is_still_allowed_under_negation() -> None:
    for make in KINDS:
        event = make("GET", "/audit", token=token(), headers={"X_Tenant": "globex"})
        assert run(roles("auditor") & ~tenant(header="x-tenant"), "GET /audit", event) == 200
