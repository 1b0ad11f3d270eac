"""ProtectedResource (RFC 9728 metadata, RFC 8707 audience) and what Guard does with it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from secauth import Guard, JwtVerifier, Routes, scopes
from secauth.client_auth import ClientAuth
from secauth.combined_verifier import CombinedVerifier
from secauth.errors import ConfigurationError
from secauth.integrations.powertools import guard_middleware, protected_resource_routes
from secauth.introspection import IntrospectionVerifier
from secauth.multi_issuer import MultiIssuerVerifier
from secauth.protected_resource import WELL_KNOWN, ProtectedResource
from secauth.responses import Cors
from secauth.testing import KeyPair
from secauth.testing_events import alb, function_url, http_proxy, rest_proxy, websocket_message

AS = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"
PAIR = KeyPair.generate("ES256", kid="k1")
JWKS = {"keys": [PAIR.public_jwk]}
PR = ProtectedResource(resource=RESOURCE, authorization_servers=[AS], scopes_supported=["mcp"])
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"


def token(**claims: Any) -> str:
    return PAIR.sign({"iss": AS, "aud": RESOURCE, "sub": "ann", "exp": 4e9, **claims})


def guard(**options: Any) -> Guard:
    return Guard(
        PR.verifier(issuer=AS, jwks=JWKS),
        protected_resource=PR,
        routes=Routes({"POST /mcp": scopes("mcp")}),
        decision_log=None,
        **options,
    )


@guard()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def params(header: str) -> list[str]:
    return [part.strip() for part in header.removeprefix("Bearer ").split(",")]


# -- construction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        ("http://mcp.example.com/mcp", "https URL"),
        ("http://127.0.0.1:8000/mcp", "https URL"),  # loopback http needs allow_http
        ("https://mcp.example.com/mcp#frag", "fragment"),
        ("https://mcp.example.com/mcp#", "fragment"),
        ("https://mcp.example.com/mcp?x=1", "query"),
        ("https://user@mcp.example.com/mcp", "host"),
        ("/mcp", "host"),
        ("https://MCP.example.com/mcp", "lowercase"),
        ("https://mcp.example.com/a b", "character"),
        ('https://mcp.example.com/"', "character"),
        ("https://mcp.example.com:x/", "port"),
        ("", "URL"),
    ],
)
def test_resource_uri_is_checked(resource: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        ProtectedResource(resource=resource, authorization_servers=[AS])


def test_loopback_http_by_opt_in_only() -> None:
    for resource in ("http://127.0.0.1:8000/mcp", "http://localhost/mcp", "http://[::1]:9/mcp"):
        pr = ProtectedResource(resource=resource, authorization_servers=[AS], allow_http=True)
        assert pr.resource == resource
    with pytest.raises(ConfigurationError, match="https URL"):
        ProtectedResource(
            resource="http://mcp.example.com/mcp", authorization_servers=[AS], allow_http=True
        )


def test_other_members_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        ProtectedResource(resource=RESOURCE, authorization_servers=[])
    with pytest.raises(ConfigurationError, match="list of strings"):
        ProtectedResource(resource=RESOURCE, authorization_servers=AS)
    with pytest.raises(ConfigurationError, match="https URL"):
        ProtectedResource(resource=RESOURCE, authorization_servers=["http://auth.example.com"])
    with pytest.raises(ConfigurationError, match="not a scope"):
        ProtectedResource(resource=RESOURCE, authorization_servers=[AS], scopes_supported=["a b"])
    with pytest.raises(ConfigurationError, match="not a scope"):
        ProtectedResource(resource=RESOURCE, authorization_servers=[AS], required_scopes=['a"'])
    with pytest.raises(ConfigurationError, match="bearer_methods_supported"):
        ProtectedResource(
            resource=RESOURCE, authorization_servers=[AS], bearer_methods_supported=["cookie"]
        )
    with pytest.raises(ConfigurationError, match="resource_name"):
        ProtectedResource(resource=RESOURCE, authorization_servers=[AS], resource_name="a\nb")


def test_metadata_document_and_urls() -> None:
    pr = ProtectedResource(
        resource=RESOURCE,
        authorization_servers=[AS],
        scopes_supported=["tools.read", "tools.call"],
        required_scopes=["tools.read"],
        dpop_bound_access_tokens_required=True,
        resource_name="Example",
        resource_documentation="https://docs.example.com/mcp",
    )
    assert pr.metadata() == {
        "resource": RESOURCE,
        "authorization_servers": [AS],
        "scopes_supported": ["tools.read", "tools.call"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Example",
        "resource_documentation": "https://docs.example.com/mcp",
        "dpop_bound_access_tokens_required": True,
    }
    assert json.loads(pr.metadata_body) == pr.metadata()
    assert pr.metadata_paths == (METADATA_PATH, WELL_KNOWN)
    assert pr.challenge == {
        "resource_metadata": "https://mcp.example.com" + METADATA_PATH,
        "scope": "tools.read",
    }
    root = ProtectedResource(resource="https://mcp.example.com/", authorization_servers=[AS])
    assert root.metadata_url == "https://mcp.example.com" + WELL_KNOWN
    assert root.metadata_paths == (WELL_KNOWN,)
    assert "scope" not in root.challenge  # no scopes known: no scope parameter
    deep = ProtectedResource(resource="https://h.example:8443/v1/mcp", authorization_servers=[AS])
    assert deep.metadata_url == "https://h.example:8443/.well-known/oauth-protected-resource/v1/mcp"


# -- the audience (RFC 8707) --------------------------------------------------------------


def test_verifier_checks_the_resource_as_audience() -> None:
    verifier = PR.verifier(issuer=AS, jwks=JWKS)
    assert verifier.verify(token())["sub"] == "ann"
    with pytest.raises(Exception, match="audience"):
        verifier.verify(token(aud="https://other.example.com/mcp"))
    with pytest.raises(ConfigurationError, match="sets the audience"):
        PR.verifier(issuer=AS, jwks=JWKS, audience="api")


@pytest.mark.parametrize(
    "verifier",
    [
        JwtVerifier(issuer=AS, audience="api", jwks=JWKS),
        JwtVerifier(issuer=AS, audience=None, jwks=JWKS),
        JwtVerifier(issuer=AS, audience=RESOURCE, audience_claim="client_id", jwks=JWKS),
        MultiIssuerVerifier(
            [
                JwtVerifier(issuer=AS, audience=RESOURCE, jwks=JWKS),
                JwtVerifier(issuer="https://b.example.com", audience="api", jwks=JWKS),
            ]
        ),
        CombinedVerifier(
            jwt=JwtVerifier(issuer=AS, audience=RESOURCE, jwks=JWKS),
            introspection=IntrospectionVerifier(
                issuer=AS,
                audience="api",
                endpoint=f"{AS}/introspect",
                client=ClientAuth.basic("rs", "secret"),
            ),
        ),
        object(),
    ],
)
def test_guard_refuses_a_verifier_that_accepts_other_resources(verifier: Any) -> None:
    with pytest.raises(ConfigurationError):
        Guard(verifier, protected_resource=PR, decision_log=None)


def test_guard_accepts_verifiers_of_the_resource() -> None:
    Guard(JwtVerifier(issuer=AS, audience=[RESOURCE], jwks=JWKS), protected_resource=PR)
    with pytest.raises(ConfigurationError, match="audiences"):  # tokens for "mcp" alone
        Guard(JwtVerifier(issuer=AS, audience=[RESOURCE, "mcp"], jwks=JWKS), protected_resource=PR)
    Guard(
        MultiIssuerVerifier(
            [
                JwtVerifier(issuer=AS, audience=RESOURCE, jwks=JWKS),
                JwtVerifier(issuer="https://b.example.com", audience=RESOURCE, jwks=JWKS),
            ]
        ),
        protected_resource=PR,
    )
    # Behind an authorizer, the authorizer's verifier checks the audience.
    Guard(trust_authorizer=True, protected_resource=PR)


# -- the guard: metadata and challenges ---------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda path: function_url("GET", path),
        lambda path: http_proxy("GET", path),
        lambda path: rest_proxy("GET", path),
        lambda path: alb("GET", path),
    ],
)
@pytest.mark.parametrize("path", [METADATA_PATH, WELL_KNOWN])
def test_guard_serves_the_metadata_without_a_token(build: Any, path: str) -> None:
    response = handler(build(path), None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == PR.metadata()
    headers = response.get("headers") or {k: v[0] for k, v in response["multiValueHeaders"].items()}
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "public, max-age=3600"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_only_a_get_of_the_exact_paths_is_metadata() -> None:
    for method, path in [
        ("POST", METADATA_PATH),
        ("GET", METADATA_PATH + "/"),
        ("GET", WELL_KNOWN + "/other"),
        ("GET", "/.well-known/oauth-authorization-server"),
    ]:
        response = handler(function_url(method, path), None)
        assert response["statusCode"] == 401, (method, path)


def test_401_and_403_carry_the_challenge() -> None:
    url = "https://mcp.example.com" + METADATA_PATH
    missing = handler(function_url("POST", "/mcp", body="{}"), None)
    assert missing["statusCode"] == 401
    assert missing["headers"]["WWW-Authenticate"] == (
        f'Bearer resource_metadata="{url}", scope="mcp"'
    )
    expired = handler(function_url("POST", "/mcp", token=token(exp=1)), None)
    assert params(expired["headers"]["WWW-Authenticate"]) == [
        'error="invalid_token"',
        'error_description="token expired"',
        f'resource_metadata="{url}"',
        'scope="mcp"',
    ]
    scopeless = handler(function_url("POST", "/mcp", token=token(scope="other")), None)
    assert scopeless["statusCode"] == 403
    assert params(scopeless["headers"]["WWW-Authenticate"])[0] == 'error="insufficient_scope"'
    assert f'resource_metadata="{url}"' in scopeless["headers"]["WWW-Authenticate"]
    ok = handler(function_url("POST", "/mcp", token=token(scope="mcp")), None)
    assert ok["statusCode"] == 200
    assert "WWW-Authenticate" not in ok["headers"]


def test_without_a_protected_resource_nothing_changes() -> None:
    plain = Guard(JwtVerifier(issuer=AS, audience="api", jwks=JWKS), decision_log=None)
    wrapped = plain(lambda event, context: {"statusCode": 200, "body": "ok"})
    assert wrapped(function_url("GET", METADATA_PATH), None)["statusCode"] == 401
    assert wrapped(function_url("GET", "/x"), None)["headers"]["WWW-Authenticate"] == "Bearer"


def test_websocket_messages_are_not_metadata() -> None:
    event = websocket_message("sendMessage", body="{}")
    assert handler(event, None)["statusCode"] == 401


def test_preflights_still_come_first() -> None:
    cors = Cors(allow_origins=["https://app.example.com"])
    wrapped = guard(cors=cors)(lambda event, context: {"statusCode": 200, "body": "ok"})
    preflight = function_url(
        "OPTIONS",
        METADATA_PATH,
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert wrapped(preflight, None)["statusCode"] == 204
    assert wrapped(function_url("GET", METADATA_PATH), None)["statusCode"] == 200


def test_decision_record_of_a_metadata_request() -> None:
    records: list[Any] = []
    wrapped = guard(on_decision=records.append)(lambda event, context: "ok")
    wrapped(function_url("GET", METADATA_PATH), None)
    assert records[0]["decision"] == "allow"
    assert records[0]["status"] == 200
    assert records[0]["path"] == METADATA_PATH


# -- Powertools --------------------------------------------------------------------------


@pytest.mark.parametrize("global_guard", [False, True])
def test_powertools_routes_serve_the_metadata(global_guard: bool) -> None:
    app = APIGatewayHttpResolver()
    if global_guard:
        app.use(middlewares=[guard_middleware(guard())])
    protected_resource_routes(app, PR)

    @app.post("/mcp", middlewares=[] if global_guard else [guard_middleware(guard())])
    def mcp() -> dict[str, str]:
        return {"ok": "yes"}

    for path in PR.metadata_paths:
        response = app.resolve(http_proxy("GET", path), None)
        assert response["statusCode"] == 200
        assert json.loads(response["body"]) == PR.metadata()
        assert response["headers"]["Cache-Control"] == "public, max-age=3600"
    refused = app.resolve(http_proxy("POST", "/mcp", body="{}"), None)
    assert refused["statusCode"] == 401
    assert refused["headers"]["WWW-Authenticate"].startswith('Bearer resource_metadata="https://')
    allowed = app.resolve(http_proxy("POST", "/mcp", token=token(scope="mcp")), None)
    assert allowed["statusCode"] == 200
