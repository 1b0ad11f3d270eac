"""The SAM example (``examples/sam/``): the template passes cfn-lint and agrees with the code,
and each authorizer of ``app/authorizers.py`` answers a real event.

The example modules are imported as Lambda would import them, with their configuration in
environment variables: static keys through ``SECAUTH_JWKS`` (no network), and for the
partner API keys a real dynalite on loopback reached through ``AWS_ENDPOINT_URL_DYNAMODB``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rl_services import dynalite_server, dynamodb_client

from secauth import ApiKeyEntry, DynamoDBApiKeys
from secauth._invoke import policy_allows
from secauth.policy import Unauthorized
from secauth.testing import KeyPair

SAM = Path(__file__).resolve().parent.parent / "examples" / "sam"
TEMPLATE = SAM / "template.yaml"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
ISSUER, AUDIENCE = "https://idp.example/", "secauth-example"
REST_ARN = "arn:aws:execute-api:us-east-1:123456789012:rest123/prod/{verb}/{path}"
HTTP_ARN = "arn:aws:execute-api:us-east-1:123456789012:http123/$default/{verb}/{path}"
PAIR = KeyPair.generate("RS256", kid="example-1")
PARTNER_KEY = "partner-example-key-0123456789"
_modules = itertools.count()


def token(**claims: Any) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "tenant": "acme", "exp": 4_000_000_000}
    body.update(claims)
    return PAIR.sign(body)


def template() -> dict[str, Any]:
    """The template as cfn-lint reads it (CloudFormation tags become ``Ref``/``Fn::`` dicts)."""
    from cfnlint.decode import decode

    parsed, problems = decode(str(TEMPLATE))
    assert not problems
    assert parsed is not None
    return dict(parsed)


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], ModuleType]]:
    """Import ``examples/sam/app/<name>.py`` under a fresh name, with the example's
    environment: issuer, audience, static keys (``SECAUTH_JWKS``) and the token cache TTL."""
    monkeypatch.setenv("SECAUTH_ISSUER", ISSUER)
    monkeypatch.setenv("SECAUTH_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("SECAUTH_JWKS", json.dumps({"keys": [PAIR.public_jwk]}))
    monkeypatch.setenv("SECAUTH_JWKS_URI", "https://idp.example/jwks.json")  # unused
    monkeypatch.setenv("SECAUTH_TOKEN_CACHE_TTL", "300")
    monkeypatch.delenv("SECAUTH_API_KEYS_TABLE", raising=False)
    loaded: list[str] = []

    def importer(name: str) -> ModuleType:
        module_name = f"sam_example_{name}_{next(_modules)}"
        spec = importlib.util.spec_from_file_location(module_name, SAM / "app" / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        loaded.append(module_name)
        spec.loader.exec_module(module)
        return module

    yield importer
    for name in loaded:
        sys.modules.pop(name, None)


def token_event(bearer: str, verb: str, path: str) -> dict[str, Any]:
    arn = REST_ARN.format(verb=verb, path=path)
    return {"type": "TOKEN", "authorizationToken": f"Bearer {bearer}", "methodArn": arn}


def rest_request_event(headers: dict[str, str], verb: str, path: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": REST_ARN.format(verb=verb, path=path),
        "resource": f"/{path}",
        "path": f"/{path}",
        "httpMethod": verb,
        "headers": headers,
        "requestContext": {
            "requestId": "r-1",
            "stage": "prod",
            "identity": {"sourceIp": "203.0.113.9"},
        },
    }


def http_v2_event(bearer: str | None) -> dict[str, Any]:
    headers = {} if bearer is None else {"authorization": f"Bearer {bearer}"}
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": HTTP_ARN.format(verb="GET", path="v2/whoami"),
        "identitySource": list(headers.values()),
        "routeKey": "GET /v2/whoami",
        "rawPath": "/v2/whoami",
        "headers": headers,
        "requestContext": {
            "http": {"method": "GET", "path": "/v2/whoami", "sourceIp": "203.0.113.9"},
            "requestId": "r-2",
            "stage": "$default",
        },
    }


def backend_event(context: dict[str, Any], *, http_api: bool = False) -> dict[str, Any]:
    """A proxy event carrying an authorizer's context as API Gateway passes it on."""
    if http_api:
        return {"version": "2.0", "requestContext": {"authorizer": {"lambda": context}}}
    return {"httpMethod": "GET", "resource": "/", "requestContext": {"authorizer": context}}


# --- the template --------------------------------------------------------------------------


def test_sam_template_passes_cfn_lint() -> None:
    """``cfn-lint examples/sam/template.yaml`` (the venv's) exits 0 with nothing to report."""
    result = subprocess.run(
        [str(CFN_LINT), str(TEMPLATE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_template_and_code_agree(load: Callable[[str], ModuleType]) -> None:
    """The template's authorizers are the ones the code expects: the TOKEN authorizer's TTL and
    the function's SECAUTH_TOKEN_CACHE_TTL are the same parameter; the REQUEST and HTTP API
    authorizers are not cached (simple responses, payload 2.0); every Handler exists."""
    parsed = template()
    resources = parsed["Resources"]
    rest_auth = resources["RestApi"]["Properties"]["Auth"]["Authorizers"]
    ttl_ref = {"Ref": "TokenCacheTtl"}
    assert rest_auth["TokenAuthorizer"]["Identity"]["ReauthorizeEvery"] == ttl_ref
    token_env = resources["TokenAuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert token_env["SECAUTH_TOKEN_CACHE_TTL"] == ttl_ref
    assert parsed["Parameters"]["TokenCacheTtl"]["Default"] == 300
    assert rest_auth["RequestAuthorizer"]["FunctionPayloadType"] == "REQUEST"
    assert rest_auth["RequestAuthorizer"]["Identity"]["ReauthorizeEvery"] == 0
    assert resources["RestApi"]["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    http_auth = resources["HttpApi"]["Properties"]["Auth"]["Authorizers"]["LambdaAuthorizer"]
    assert http_auth["AuthorizerPayloadFormatVersion"] == "2.0"
    assert http_auth["EnableSimpleResponses"] is True
    assert http_auth["Identity"]["ReauthorizeEvery"] == 0
    handlers = {
        resource["Properties"]["Handler"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert handlers == {
        "authorizers.token_authorizer",
        "authorizers.request_authorizer",
        "authorizers.http_authorizer",
        "handlers.list_orders",
        "handlers.delete_user",
        "handlers.whoami",
    }
    modules = {"authorizers": load("authorizers"), "handlers": load("handlers")}
    for handler in handlers:
        module, _, name = handler.partition(".")
        assert callable(getattr(modules[module], name))


# --- the authorizers, driven with events ---------------------------------------------------


def test_token_authorizer_policy_covers_the_callers_routes(
    load: Callable[[str], ModuleType],
) -> None:
    """The cached TOKEN authorizer (cache_ttl from the environment): a reader calling GET
    /orders gets a policy that also allows GET /whoami (reused from the cache) and does not
    allow DELETE /users/{id}; the backend reads the principal from the context."""
    authorizers, handlers = load("authorizers"), load("handlers")
    assert authorizers.TOKEN_AUTHORIZER.cache_ttl == 300
    bearer = token(roles=["reader"])
    response = authorizers.token_authorizer(token_event(bearer, "GET", "orders"), None)
    policy = response["policyDocument"]
    assert response["principalId"] == "ann"
    assert policy_allows(policy, REST_ARN.format(verb="GET", path="orders"))
    assert policy_allows(policy, REST_ARN.format(verb="GET", path="whoami"))
    assert not policy_allows(policy, REST_ARN.format(verb="DELETE", path="users/7"))
    reply = handlers.list_orders(backend_event(response["context"]), None)
    body = json.loads(reply["body"])
    assert reply["statusCode"] == 200
    assert body["principal"] == {
        "sub": "ann",
        "kind": "user",
        "tenant": "acme",
        "roles": ["reader"],
        "scopes": [],
    }


def test_token_authorizer_refuses_a_forged_token(load: Callable[[str], ModuleType]) -> None:
    """A token signed by another key: Unauthorized (401), never a policy."""
    authorizers = load("authorizers")
    forged = KeyPair.generate("RS256", kid="example-1").sign(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "eve", "roles": ["admin"], "exp": 4_000_000_000}
    )
    with pytest.raises(Unauthorized):
        authorizers.token_authorizer(token_event(forged, "DELETE", "users/7"), None)


def test_request_authorizer_with_a_bearer_token(load: Callable[[str], ModuleType]) -> None:
    """The REQUEST authorizer (no key table configured) accepts a bearer token with the
    partner role on GET /partner/orders and denies one without it (403)."""
    authorizers = load("authorizers")
    assert authorizers.REQUEST_AUTHORIZER.api_keys is None
    partner = {"Authorization": f"Bearer {token(roles=['partner'])}"}
    response = authorizers.request_authorizer(
        rest_request_event(partner, "GET", "partner/orders"), None
    )
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    other = {"Authorization": f"Bearer {token(roles=['reader'])}"}
    denied = authorizers.request_authorizer(
        rest_request_event(other, "GET", "partner/orders"), None
    )
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_http_authorizer_simple_responses(load: Callable[[str], ModuleType]) -> None:
    """The HTTP API authorizer answers payload 2.0 events with isAuthorized and the principal
    in the context, which the backend reads from ``authorizer.lambda``; no token: false."""
    authorizers, handlers = load("authorizers"), load("handlers")
    response = authorizers.http_authorizer(http_v2_event(token(scope="orders:read")), None)
    assert response["isAuthorized"] is True
    reply = handlers.whoami(backend_event(response["context"], http_api=True), None)
    assert json.loads(reply["body"])["scopes"] == ["orders:read"]
    assert authorizers.http_authorizer(http_v2_event(None), None) == {"isAuthorized": False}


def test_backends_refuse_a_request_without_authorizer_context(
    load: Callable[[str], ModuleType],
) -> None:
    """A backend reached without a secauth context (route deployed without its authorizer)
    answers 401, not 200 and not a traceback."""
    handlers = load("handlers")
    for handler in (handlers.list_orders, handlers.delete_user, handlers.whoami):
        reply = handler({"httpMethod": "GET", "resource": "/", "requestContext": {}}, None)
        assert reply["statusCode"] == 401
        assert json.loads(reply["body"]) == {"message": "Unauthorized"}


def test_request_authorizer_with_a_partner_key_in_dynamodb(
    load: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SECAUTH_API_KEYS_TABLE set (as the template does) and boto3 pointed at a real
    dynalite, a partner key stored as a hash is accepted on GET /partner/orders and returned
    as usageIdentifierKey for the usage plan; an unknown key is a 401."""
    server = dynalite_server().start()
    try:
        client = dynamodb_client(server.port)
        client.create_table(
            TableName="sam-example-keys",
            AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        entry = ApiKeyEntry("partner-a", roles=("partner",), tenant="acme", usage_plan=True)
        client.put_item(TableName="sam-example-keys", Item=DynamoDBApiKeys.item(PARTNER_KEY, entry))
        for name, value in {
            "SECAUTH_API_KEYS_TABLE": "sam-example-keys",
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{server.port}",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }.items():
            monkeypatch.setenv(name, value)
        authorizers = load("authorizers")
        event = rest_request_event({"X-Api-Key": PARTNER_KEY}, "GET", "partner/orders")
        response = authorizers.request_authorizer(event, None)
        assert response["principalId"] == "partner-a"
        assert response["usageIdentifierKey"] == PARTNER_KEY
        assert response["context"]["secauth_kind"] == "api_key"
        unknown = rest_request_event({"X-Api-Key": "x" * 30}, "GET", "partner/orders")
        with pytest.raises(Unauthorized):
            authorizers.request_authorizer(unknown, None)
    finally:
        server.stop()
