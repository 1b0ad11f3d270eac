"""Stacked Powertools guards compare callers by issuer too (maintainability review, session
of 2026-12-06): a route guard that identifies the caller itself must find the one the guards
before it admitted. ``powertools_stack`` compared id, tenant and kind only, while
``guard_context.agreeing`` (the Guard against its authorizer's context) compares the issuer
as well: a subject is unique within its issuer only, so ann of the partner's issuer is not
ann of ours. Both now use ``guard_context.same_caller``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from guard_callers import AUD, ISS, JWT, MAPPER, OTHER, PARTNER, PARTNER_JWT, partner_token, token
from limit_callers import ORDERS, PUBLIC_ORDERS

from secauth import Guard, JwtVerifier, current_principal
from secauth.guard_context import same_caller
from secauth.integrations.powertools import guard_middleware
from secauth.principal import Principal
from secauth.testing import KeyPair
from secauth.testing_events import http_proxy


def app_with(outer: Guard, *route_guards: Guard, seen: list[Any]) -> Any:
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders", middlewares=[guard_middleware(g) for g in route_guards])
    def list_orders() -> dict[str, str]:
        seen.append((current_principal().id, current_principal().issuer))
        return {"ok": "orders"}

    return app


def status(app: Any, **headers: str) -> int:
    return int(app.resolve(http_proxy("GET", "/orders", headers=headers), None)["statusCode"])


def test_route_guards_finding_one_subject_of_two_issuers_are_refused() -> None:
    seen: list[Any] = []
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    ours = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    theirs = Guard(PARTNER_JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                   token_sources=OTHER)  # fmt: skip
    app = app_with(outer, ours, theirs, seen=seen)
    mixed = {"x-partner-token": token("ann", tenant="acme"),
             "x-other-token": partner_token("ann", tenant="acme")}  # fmt: skip
    assert status(app, **mixed) in (401, 403)
    assert seen == []


def test_route_guards_finding_one_caller_of_one_issuer_run_the_route() -> None:
    seen: list[Any] = []
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    first = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    # Another verifier object for the same issuer: it identifies the caller itself.
    pair = KeyPair.generate("ES256", kid="second")
    second_jwt = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]})
    second = Guard(second_jwt, claims=MAPPER, routes=ORDERS, decision_log=None,
                   token_sources=OTHER)  # fmt: skip
    app = app_with(outer, first, second, seen=seen)
    other = pair.sign({"iss": ISS, "aud": AUD, "sub": "ann", "tenant": "acme", "exp": 4e9})
    assert status(app, **{"x-partner-token": token("ann", tenant="acme"), "x-other-token": other}) == 200
    assert seen == [("ann", ISS)]


def test_same_caller_compares_id_kind_tenant_and_issuer() -> None:
    ann = Principal("ann", tenant="acme", issuer=ISS)
    assert same_caller(ann, Principal("ann", tenant="acme", issuer=ISS))
    assert not same_caller(ann, Principal("ann", tenant="acme", issuer="https://other/"))
    assert not same_caller(ann, Principal("ann", tenant="globex", issuer=ISS))
    assert not same_caller(ann, Principal("ann", tenant="acme", issuer=ISS, kind="api_key"))
    # A context written before secauth_issuer existed names none: the others decide.
    assert same_caller(ann, Principal("ann", tenant="acme"))
