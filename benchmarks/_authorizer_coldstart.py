"""Whole-authorizer cold-start child, run by benchmarks/run.py in a fresh interpreter (not imported).

Usage: _authorizer_coldstart.py MODE ISSUER AUDIENCE

The environment holds ``BENCH_JWKS`` (the issuer's public JWKS, the seeded keys)
and ``BENCH_TOKEN`` (an RS256 token the parent signed). No network is used.

MODE ``secauth`` is a Lambda authorizer module written with secauth: a
``JwtVerifier`` on ``StaticKeys.from_env``, a 50-route ``Routes`` table (10
resources x 5 routes, the shapes of benchmarks/access.py) and an ``Authorizer``
(``decision_log=None``: the hand-written contender logs nothing either).
MODE ``powertools`` is the same authorizer written by hand: PyJWT with a ``PyJWK``
from the same JWKS, the same route rules as a hand-written check, and the answer
built with Powertools' ``APIGatewayAuthorizerResponse``.

Each sends one REST TOKEN event for ``GET /r3/7`` through its handler, checks the
first statement is Allow, and prints one JSON line: ``ms`` (from the start of this
script to the decision), ``phases`` (ms per setup step, in order) and ``effect``.
"""

import time

_T0 = time.perf_counter()

import os  # noqa: E402  (already loaded by the interpreter; costs nothing)
import sys  # noqa: E402

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/r3/7"
RESOURCES = tuple(f"r{i}" for i in range(10))


def secauth_authorizer(issuer, audience, mark):
    from secauth import (
        Authorizer,
        JwtVerifier,
        Routes,
        StaticKeys,
        authenticated,
        roles,
        scopes,
        tenant,
    )

    mark("import secauth + modules")
    verifier = JwtVerifier(
        issuer=issuer,
        audience=audience,
        jwks=StaticKeys.from_env("BENCH_JWKS"),
        algorithms=["RS256"],
    )
    mark("build verifier (keys from env)")
    table = {}
    for name in RESOURCES:
        table[f"GET /{name}"] = scopes(f"{name}.read")
        table[f"POST /{name}"] = scopes(f"{name}.write") & roles("member")
        table[f"GET /{name}/{{id}}"] = authenticated()
        table[f"DELETE /{name}/{{id}}"] = roles("admin")
        table[f"ANY /tenants/{{tenantId}}/{name}/{{proxy+}}"] = tenant(path="tenantId") & roles(
            "member"
        )
    routes = Routes(table)
    assert len(routes) == 50
    mark("build 50 routes")
    authorizer = Authorizer(verifier, routes=routes, decision_log=None)  # the contender logs nothing
    mark("build Authorizer")
    return authorizer.handler


def powertools_authorizer(issuer, audience, mark):
    import json

    import jwt
    from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
        APIGatewayAuthorizerResponse,
        APIGatewayAuthorizerTokenEvent,
    )

    mark("import jwt + Powertools")
    keys = {jwk["kid"]: jwt.PyJWK(jwk) for jwk in json.loads(os.environ["BENCH_JWKS"])["keys"]}
    mark("load keys (PyJWK from env)")

    def allowed(method, parts, claims):
        """The 50-route table's rules, by hand."""
        granted = set(claims.get("scope", "").split())
        held = set(claims.get("roles", ()))
        if len(parts) >= 4 and parts[0] == "tenants" and parts[2] in RESOURCES:
            return parts[1] == claims.get("tenant") and "member" in held
        if parts[0] not in RESOURCES:
            return False
        if len(parts) == 1:
            if method == "GET":
                return f"{parts[0]}.read" in granted
            return method == "POST" and f"{parts[0]}.write" in granted and "member" in held
        if len(parts) == 2:
            return method == "GET" or (method == "DELETE" and "admin" in held)
        return False

    def handler(event, context):
        event = APIGatewayAuthorizerTokenEvent(event)
        scheme, _, token = event.authorization_token.partition(" ")
        arn = event.parsed_arn
        principal, claims = "anonymous", None
        if scheme == "Bearer":
            try:
                key = keys[jwt.get_unverified_header(token)["kid"]]
                claims = jwt.decode(
                    token, key.key, algorithms=["RS256"], audience=audience, issuer=issuer
                )
                principal = claims["sub"]
            except (jwt.InvalidTokenError, KeyError):
                claims = None
        response = APIGatewayAuthorizerResponse(
            principal, arn.region, arn.aws_account_id, arn.api_id, arn.stage
        )
        if claims is not None and allowed(arn.http_method, arn.resource.split("/"), claims):
            response.allow_route(arn.http_method, arn.resource)
        else:
            response.deny_all_routes()
        return response.asdict()

    return handler


def main() -> None:
    mode, issuer, audience = sys.argv[1:4]
    phases = {}
    last = [_T0]

    def mark(phase):
        now = time.perf_counter()
        phases[phase] = (now - last[0]) * 1000.0
        last[0] = now

    build = {"secauth": secauth_authorizer, "powertools": powertools_authorizer}.get(mode)
    if build is None:
        raise SystemExit(f"unknown mode {mode!r}")
    handler = build(issuer, audience, mark)
    event = {
        "type": "TOKEN",
        "authorizationToken": "Bearer " + os.environ["BENCH_TOKEN"],
        "methodArn": METHOD_ARN,
    }
    answer = handler(event, None)
    mark("first call")
    elapsed_ms = (time.perf_counter() - _T0) * 1000.0
    effect = answer["policyDocument"]["Statement"][0]["Effect"]
    assert effect == "Allow", answer
    import json

    print(json.dumps({"ms": elapsed_ms, "phases": phases, "effect": effect}))


main()
