"""Review 97 (adversarial): do secrets reach an HTTP response or a log, through features added
since reviews 24, 55 and 2 (CLI redaction)?

Both findings are resolved (the tests assert it): a rate-limit store failure is logged by a
``StoreError``'s own reason, else by the exception's type alone (never another exception's
``.reason``), and ``secauth authorize`` redacts the headers of an Authorizer's token sources too.

Attacked, through the real entry points (``Authorizer(...).handler``, ``Guard(...)(handler)``,
Powertools ``guard_middleware``, ``secauth authorize``), with every output captured (the
``on_decision`` sink, ``decision_log="logging"``, stdout, all ``logging`` records and their
extras, the response's body and headers):

* bearer tokens refused in every source (Authorization header, ``authorizationToken``, cookie,
  query, ``Sec-WebSocket-Protocol``), forged, expired, for another audience, oversized;
* token headers carrying a victim's token or a secret in ``kid``, ``jku``, ``x5u``, ``typ``,
  ``alg`` and unregistered members;
* unknown, malformed and repeated API keys; DynamoDB and Secrets Manager key stores whose
  clients raise with the key in the message;
* rule functions and handlers raising with a token in the message (Authorizer, Guard,
  Powertools), custom rate-limit stores raising with a password in their message;
* DPoP proofs carrying a private key (``d``) in their ``jwk`` or a secret in their claims;
* client certificates whose PEM is a secret marker;
* tenant rules (header spellings, undecided denials) fed a token as the tenant value;
* ``secauth authorize`` with tokens in configured sources a user's rule prints.

What held: every refusal record carries fixed problem words, class names and bounded
(120-character) header values; responses carry class titles only; key-store and rule
exceptions are reduced to their type or AWS error code; DPoP private keys and proof claims,
API keys and client certificate PEMs never appear.

Findings (xfail, strict):

* Low: the rate limiter logs an exception attribute named ``reason`` verbatim
  (``ratelimit.policy.Resilience.failed``), so a custom store whose error carries a secret
  there (a connection string with a password) writes it to the ``secauth.ratelimit`` logger.
* Low: ``secauth authorize`` redacts fixed header names, cookies, query values and JWT-shaped
  text only (``_invoke.event_secrets``, ``load_app`` takes just the API key header): an
  opaque token read through a custom header ``TokenSource`` of the very Authorizer it runs is
  printed as is when the app prints it (a debug print in a rule).
"""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from secauth import (
    ApiKeyEntry,
    Authorizer,
    ClientCertEntry,
    ClientCertificates,
    Guard,
    JwtVerifier,
    Routes,
    StaticApiKeys,
    TokenSource,
    hash_api_key,
    rule,
    tenant,
)
from secauth.policy import Unauthorized
from secauth.ratelimit import RateLimiter
from secauth.testing import KeyPair, encode_segment, sign_compact
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    token_authorizer,
    websocket_connect,
)

ISS, AUD = "https://idp.example/", "orders-api"
PAIR = KeyPair.generate("ES256", kid="k1")
OTHER = KeyPair.generate("ES256", kid="k1")  # same kid, another key: a forged signature
JWKS = {"keys": [PAIR.public_jwk]}
SECRET = "S3CR3T-review97-0b1c2d3e4f5a6978"
FAR = 4_000_000_000


def _token(pair: KeyPair = PAIR, *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
    body = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": FAR, **claims}
    return pair.sign({k: v for k, v in body.items() if v is not None}, headers=headers)


VICTIM = _token(sub="victim", secret=SECRET)  # somebody's valid token, smuggled elsewhere


def _verifier(**options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks=JWKS, **options)


def _pieces(token: str) -> list[str]:
    """The parts of a token that must not be echoed: the whole, its payload and signature."""
    parts = token.split(".")
    return [token, *[p for p in parts[1:] if len(p) >= 16]]


class Spy:
    """Everything secauth wrote: decision records (sink and logging), every log record with
    its extras, stdout/stderr, and the responses it returned."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
        self.caplog = caplog
        self.capsys = capsys
        self.records: list[dict[str, Any]] = []
        self.answers: list[Any] = []
        caplog.set_level(logging.DEBUG)

    def sink(self, record: Any) -> None:
        self.records.append(dict(record))

    def text(self) -> str:
        parts = [json.dumps(self.records, default=repr), repr(self.answers)]
        for record in self.caplog.records:
            parts.append(record.getMessage())
            parts.append(repr(record.__dict__))
            if record.exc_info:
                parts.append(logging.Formatter().formatException(record.exc_info))
        out = self.capsys.readouterr()
        parts += [out.out, out.err]
        return "\n".join(parts)

    def assert_clean(self, *secrets: str) -> None:
        text = self.text()
        for secret in secrets:
            assert secret not in text, f"leaked {secret[:24]}..."


@pytest.fixture
def spy(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Spy:
    return Spy(caplog, capsys)


def _authorize(authorizer: Authorizer, event: dict[str, Any], spy: Spy) -> Any:
    try:
        answer = authorizer.handler(event, None)
    except Unauthorized as exc:  # API Gateway's 401: the exception text is its answer
        answer = {"raised": type(exc).__name__, "text": str(exc), "args": exc.args}
    spy.answers.append(answer)
    return answer


# == the Authorizer: tokens refused in every source =============================================

BAD_TOKENS = {
    "forged": _token(OTHER, secret=SECRET),
    "expired": _token(exp=1_000, secret=SECRET),
    "other_audience": _token(aud="someone-else", secret=SECRET),
    "other_issuer": _token(iss="https://evil.example/", secret=SECRET),
    "unknown_kid": _token(KeyPair.generate("ES256", kid="nope"), secret=SECRET),
    "opaque": "opaque-" + SECRET,
    "oversized": _token(secret=SECRET, pad="x" * 20_000),
    "two_dots_garbage": f"{SECRET}.{SECRET}.{SECRET}",
}

SOURCES: dict[str, tuple[list[TokenSource] | None, Callable[[str], dict[str, Any]]]] = {
    "token_authorizer": (None, lambda t: token_authorizer("GET", "/orders", token=t)),
    "http_v2_header": (None, lambda t: http_authorizer_v2("GET", "/orders", token=t)),
    "request_cookie": (
        [TokenSource.cookie("session")],
        lambda t: request_authorizer("GET", "/orders", cookies=[f"session={t}"]),
    ),
    "http_v2_query": (
        [TokenSource.query("access_token")],
        lambda t: http_authorizer_v2("GET", "/orders", query={"access_token": t}),
    ),
    "websocket_query": (
        [TokenSource.query("token")],
        lambda t: websocket_connect(query={"token": t}),
    ),
    "websocket_protocol": (
        [TokenSource.websocket_protocol()],
        lambda t: websocket_connect(headers={"Sec-WebSocket-Protocol": f"bearer, {t}"}),
    ),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_authorizer_never_echoes_a_refused_token(spy: Spy, source: str, kind: str) -> None:
    sources, build = SOURCES[source]
    options: dict[str, Any] = {"token_sources": sources} if sources else {}
    authorizer = Authorizer(_verifier(), decision_log="logging", on_decision=spy.sink, **options)
    token = BAD_TOKENS[kind]
    _authorize(authorizer, build(token), spy)
    assert spy.records
    assert spy.records[-1]["decision"] == "unauthorized"
    spy.assert_clean(SECRET, *_pieces(token))


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_authorizer_allow_response_and_record_hold_no_token(spy: Spy, source: str) -> None:
    sources, build = SOURCES[source]
    options: dict[str, Any] = {"token_sources": sources} if sources else {}
    authorizer = Authorizer(_verifier(), decision_log="logging", on_decision=spy.sink, **options)
    good = _token(sub="ann", note="n0t-" + SECRET)
    _authorize(authorizer, build(good), spy)
    assert spy.records[-1]["decision"] == "allow"
    # The claims may travel in the context on purpose; the token itself never does.
    text = spy.text().replace("n0t-" + SECRET, "")
    assert good not in text
    assert good.split(".")[2] not in text


# == token headers carrying secrets ==============================================================

HEADER_ATTACKS: dict[str, dict[str, Any]] = {
    "jku": {"jku": f"https://u:{SECRET}@evil.example/jwks?sig={SECRET}"},
    "x5u": {"x5u": f"https://evil.example/cert?sig={SECRET}"},
    "unregistered": {"x-note": SECRET, "cty": "text/" + SECRET},
    "kid_victim": {"kid": VICTIM},
    "typ_victim": {"typ": VICTIM},
    "alg_victim": {"alg": VICTIM},
    "jwk_private": {"jwk": {**OTHER.public_jwk, "d": SECRET}},
    "crit": {"crit": [SECRET], SECRET: True},
}


@pytest.mark.parametrize("attack", sorted(HEADER_ATTACKS))
@pytest.mark.parametrize("verifying", [{}, {"token_type": "at+jwt"}])
def test_header_members_are_not_echoed_beyond_a_bounded_value(
    spy: Spy, attack: str, verifying: dict[str, Any]
) -> None:
    header = {"alg": "ES256", "kid": "k1", **HEADER_ATTACKS[attack]}
    claims = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": FAR}
    token = sign_compact(header, claims, PAIR.private_key, "ES256")
    guard = Guard(_verifier(**verifying), decision_log="logging", on_decision=spy.sink)
    spy.answers.append(guard(lambda e, c: {"statusCode": 200})(http_proxy(token=token), None))
    authorizer = Authorizer(_verifier(**verifying), decision_log="logging", on_decision=spy.sink)
    _authorize(authorizer, http_authorizer_v2(token=token), spy)
    text = spy.text()
    assert all(r["status"] == 401 for r in spy.records), spy.records
    for piece in _pieces(VICTIM):
        assert piece not in text
    assert token not in text
    if not attack.endswith("_victim"):
        assert SECRET not in text


def test_an_unsigned_token_with_a_secret_header_is_refused_silently(spy: Spy) -> None:
    token = ".".join([encode_segment({"alg": "none", "x": SECRET}), encode_segment({}), ""])
    authorizer = Authorizer(_verifier(), decision_log="logging", on_decision=spy.sink)
    _authorize(authorizer, token_authorizer(token=token), spy)
    spy.assert_clean(SECRET)


# == API keys ==================================================================================

API_KEY = "pk-live-" + SECRET


def _key_authorizer(spy: Spy, store: Any = None) -> Authorizer:
    keys = store or StaticApiKeys({hash_api_key(API_KEY): ApiKeyEntry("partner-a")})
    return Authorizer(
        _verifier(), api="rest", api_keys=keys, decision_log="logging", on_decision=spy.sink
    )


@pytest.mark.parametrize(
    "presented",
    [
        ["pk-live-unknown-" + SECRET],
        ["short-" + SECRET[:4]],
        [f" {SECRET} with spaces "],
        [SECRET + "\u00e9\u0000"],
        [API_KEY, API_KEY],
        [API_KEY, "pk-live-other-" + SECRET],
        ["x" * 4000 + SECRET],
    ],
    ids=["unknown", "short", "spaces", "non_ascii", "twice", "two_keys", "huge"],
)
def test_refused_api_keys_are_never_echoed(spy: Spy, presented: list[str]) -> None:
    headers = {"x-api-key": presented if len(presented) > 1 else presented[0]}
    answer = _authorize(_key_authorizer(spy), request_authorizer(headers=headers), spy)
    assert "raised" in answer, answer
    spy.assert_clean(SECRET, *presented)


def test_an_accepted_api_key_goes_only_in_usage_identifier_key(spy: Spy) -> None:
    answer = _authorize(
        _key_authorizer(
            spy, StaticApiKeys({hash_api_key(API_KEY): ApiKeyEntry("p", usage_plan=True)})
        ),
        request_authorizer(headers={"x-api-key": API_KEY}),
        spy,
    )
    # API Gateway needs the key there to apply the usage plan; it never reaches the client.
    assert answer.pop("usageIdentifierKey") == API_KEY
    spy.answers[-1] = answer
    spy.assert_clean(SECRET)


class _ThrottledError(RuntimeError):
    """As botocore's ClientError: an error code in ``response``, anything in the message."""

    response: ClassVar[dict[str, Any]] = {"Error": {"Code": "ProvisionedThroughputExceeded"}}


class _RaisingDynamoClient:
    def get_item(self, **kwargs: Any) -> Any:
        raise _ThrottledError(f"could not read {json.dumps(kwargs)} with password {SECRET}")


class _SecretsClient:
    def __init__(self, value: str | None) -> None:
        self.value = value

    def get_secret_value(self, **kwargs: Any) -> Any:
        if self.value is None:
            raise RuntimeError(f"secretsmanager://{kwargs}?token={SECRET}")
        return {"SecretString": self.value, "Name": kwargs.get("SecretId")}


@pytest.mark.parametrize("source", ["dynamodb", "secretsmanager", "secret_value"])
def test_key_store_failures_are_reduced_to_codes(spy: Spy, source: str) -> None:
    from secauth import DynamoDBApiKeys, SecretsManagerApiKeys

    if source == "dynamodb":
        store: Any = DynamoDBApiKeys("keys", client=_RaisingDynamoClient())
    elif source == "secretsmanager":
        store = SecretsManagerApiKeys("partner-keys", client=_SecretsClient(None))
    else:  # a secret whose value is not the expected document: plain keys, say
        plain = json.dumps({API_KEY: {"principal_id": SECRET}})
        store = SecretsManagerApiKeys("partner-keys", client=_SecretsClient(plain))
    _authorize(_key_authorizer(spy, store), request_authorizer(headers={"x-api-key": API_KEY}), spy)
    assert spy.records[-1]["reason"] == "keys_unavailable", spy.records
    spy.assert_clean(SECRET, API_KEY)


# == rule functions and handlers raising with a token in the message ===========================


@rule
def leaky_rule(principal: Any, context: Any) -> bool:
    raise RuntimeError("rule saw " + context.request.headers.get("authorization", "") + SECRET)


@rule
def rule_returning_secret(principal: Any, context: Any) -> Any:
    return SECRET  # not True: a denial whose detail is the rule's name, not its value


@pytest.mark.parametrize("check", [leaky_rule, rule_returning_secret], ids=["raises", "returns"])
def test_rule_exceptions_and_values_stay_out_of_authorizer_output(spy: Spy, check: Any) -> None:
    token = _token()
    authorizer = Authorizer(
        _verifier(), routes=Routes({"GET /orders": check}), decision_log="logging",
        on_decision=spy.sink,
    )  # fmt: skip
    _authorize(authorizer, request_authorizer("GET", "/orders", token=token), spy)
    spy.assert_clean(SECRET, *_pieces(token))


@pytest.mark.parametrize("check", [leaky_rule, rule_returning_secret], ids=["raises", "returns"])
def test_rule_exceptions_and_values_stay_out_of_guard_output(spy: Spy, check: Any) -> None:
    token = _token()
    guard = Guard(_verifier(), routes=Routes({"GET /orders": check}), decision_log="logging",
                  on_decision=spy.sink)  # fmt: skip
    answer = guard(lambda e, c: {"statusCode": 200})(
        http_proxy("GET", "/orders", token=token), None
    )
    spy.answers.append(answer)
    assert answer["statusCode"] in (403, 500)
    spy.assert_clean(SECRET, *_pieces(token))


class _Boom(Exception):
    def __init__(self, token: str) -> None:
        super().__init__(f"token={token}")
        self.token = token
        self.reason = f"token={token}"

    def __repr__(self) -> str:
        return f"_Boom({self.token})"


def _handlers(token: str) -> dict[str, Callable[..., Any]]:
    from secauth.errors import Forbidden, InvalidClaims

    def raises_plain(event: Any, context: Any) -> Any:
        raise ValueError(f"bad token {token} {SECRET}")

    def raises_chained(event: Any, context: Any) -> Any:
        try:
            raise _Boom(token)
        except _Boom as exc:
            raise KeyError(SECRET) from exc

    def raises_secauth(event: Any, context: Any) -> Any:
        raise Forbidden(f"{token} {SECRET}")  # a message: never shown

    def raises_invalid(event: Any, context: Any) -> Any:
        raise InvalidClaims(f"{SECRET}")

    return {
        "plain": raises_plain,
        "chained": raises_chained,
        "secauth": raises_secauth,
        "invalid": raises_invalid,
    }


@pytest.mark.parametrize("name", ["plain", "chained", "secauth", "invalid"])
@pytest.mark.parametrize("build", [http_proxy, rest_proxy], ids=["http", "rest"])
def test_guard_handler_exceptions_never_reach_response_or_logs(
    spy: Spy, name: str, build: Callable[..., dict[str, Any]]
) -> None:
    token = _token()
    guard = Guard(_verifier(), decision_log="logging", on_decision=spy.sink)
    answer = guard(_handlers(token)[name])(build("GET", "/orders", token=token), None)
    spy.answers.append(answer)
    assert answer["statusCode"] in (401, 403, 500)
    spy.assert_clean(SECRET, *_pieces(token))


@pytest.mark.parametrize("name", ["plain", "chained", "secauth"])
def test_powertools_routes_raising_with_the_token_are_sanitized(spy: Spy, name: str) -> None:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from secauth.integrations.powertools import PowertoolsDecisions, guard_middleware

    token = _token()
    logger = logging.getLogger("review97.powertools")
    hook = PowertoolsDecisions(logger=logger)

    def sink(record: Any) -> None:
        spy.sink(record)
        hook(record)

    guard = Guard(_verifier(), decision_log="logging", on_decision=sink)
    app = APIGatewayHttpResolver()
    app.use([guard_middleware(guard)])
    handler = _handlers(token)[name]
    app.get("/orders")(lambda: handler(None, None))
    answer = app.resolve(http_proxy("GET", "/orders", token=token), None)
    spy.answers.append(answer)
    assert answer["statusCode"] in (403, 500)
    spy.assert_clean(SECRET, *_pieces(token))


# == rate-limit stores that fail with a password in their error ================================


class _FailingStore:
    is_async = False
    shared = True
    algorithms = ("fixed_window", "sliding_window", "token_bucket", "gcra")

    def __init__(self, error: Exception) -> None:
        self.error = error

    def hit(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    usage = hit

    def blocked_for(self, subject: str) -> float:
        raise self.error

    def record(self, *args: Any, **kwargs: Any) -> float:
        raise self.error


def _limited_guard(spy: Spy, error: Exception) -> Any:
    from secauth.ratelimit.keys import by_principal

    limiter = RateLimiter("10/minute", key=by_principal, store=_FailingStore(error))
    guard = Guard(_verifier(), rate_limit=limiter, decision_log="logging", on_decision=spy.sink)
    return guard(lambda e, c: {"statusCode": 200, "body": "ok"})


def test_a_failing_rate_limit_store_is_logged_by_type_only(spy: Spy) -> None:
    wrapped = _limited_guard(spy, ConnectionError(f"redis://:{SECRET}@cache:6379 refused"))
    spy.answers.append(wrapped(http_proxy(token=_token()), None))
    spy.assert_clean(SECRET)


# fmt: off
def test_a_store_error_with_a_reason_attribute_is_not_logged_verbatim(spy: Spy) -> None:
    # urllib's URLError, and many client libraries' errors, carry a .reason; a store of your
    # own over HTTP (Upstash, a sidecar) raises them with whatever the connection held.
    import urllib.error

    error = urllib.error.URLError(f"https://default:{SECRET}@cache.example/pipeline refused")
    wrapped = _limited_guard(spy, error)
    spy.answers.append(wrapped(http_proxy(token=_token()), None))
    assert spy.answers[-1]["statusCode"] == 200  # on_store_error="memory": still answered
    spy.assert_clean(SECRET)
# fmt: on


# == DPoP proofs carrying secrets ==============================================================


def _dpop_guard(spy: Spy) -> Any:
    from dpop_parties import VERIFIER

    from secauth.dpop import DpopVerifier
    from secauth.dpop_replay import MemoryReplayStore
    from secauth.sender_constraint import SenderConstraint

    dpop = SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore()))
    guard = Guard(VERIFIER, decision_log="logging", on_decision=spy.sink, sender_constraint=dpop)
    return guard(lambda e, c: {"statusCode": 200})


@pytest.mark.parametrize("attack", ["private_jwk", "claims", "wrong_url", "bearer", "garbage"])
def test_dpop_proofs_and_keys_are_never_echoed(spy: Spy, attack: str) -> None:
    from dpop_parties import CLIENT, TOKEN, URL

    scheme = "DPoP"
    if attack == "private_jwk":
        private = {**CLIENT.public_jwk, "d": SECRET}
        proof = CLIENT.proof("GET", URL, access_token=TOKEN, header={"jwk": private})
    elif attack == "claims":
        proof = CLIENT.proof("GET", URL, access_token=TOKEN, claims={"htm": SECRET, "x": SECRET})
    elif attack == "wrong_url":
        proof = CLIENT.proof("GET", f"https://{SECRET}.example/orders/7", access_token=TOKEN)
    elif attack == "bearer":  # a DPoP-bound token sent as Bearer, with a proof anyway
        proof, scheme = CLIENT.proof("GET", URL, access_token=TOKEN, jti=SECRET), "Bearer"
    else:
        proof = f"{SECRET}.{SECRET}.{SECRET}"
    event = http_proxy("GET", "/orders/7",
                       headers={"authorization": f"{scheme} {TOKEN}", "dpop": proof})  # fmt: skip
    answer = _dpop_guard(spy)(event, None)
    spy.answers.append(answer)
    assert answer["statusCode"] == 401, spy.records
    spy.assert_clean(SECRET, *_pieces(proof), *_pieces(TOKEN))


# == client certificates and tenants ===========================================================


def test_a_refused_client_certificate_pem_is_never_echoed(spy: Spy) -> None:
    pem = f"-----BEGIN CERTIFICATE-----\n{SECRET}\n-----END CERTIFICATE-----"
    certs = ClientCertificates({"CN=partner-a,O=A": ClientCertEntry("partner-a")})
    authorizer = Authorizer(client_certs=certs, decision_log="logging", on_decision=spy.sink)
    event = request_authorizer("GET", "/orders")
    event["requestContext"]["identity"] = {
        "clientCert": {
            "clientCertPem": pem,
            "subjectDN": "CN=intruder,O=" + SECRET,
            "issuerDN": "CN=CA",
            "serialNumber": "01",
            "validity": {"notBefore": "May 28 12:30:02 2019 GMT",
                         "notAfter": "Aug  5 09:36:04 2031 GMT"},
        }
    }  # fmt: skip
    _authorize(authorizer, event, spy)
    spy.assert_clean(SECRET)


@pytest.mark.parametrize(
    "value",
    [VICTIM, f"{VICTIM},{VICTIM}", f"%25{VICTIM}", f" {VICTIM} ", "acme"],
    ids=["token", "twice", "encoded", "padded", "other_tenant"],
)
@pytest.mark.parametrize("spelling", ["X-Tenant-Id", "x_tenant_id", "X_Tenant-Id"])
def test_tenant_values_are_not_echoed(spy: Spy, value: str, spelling: str) -> None:
    token = _token(tenant="globex")
    guard = Guard(_verifier(), decision_log="logging", on_decision=spy.sink,
                  rule=tenant(header="x-tenant-id"))  # fmt: skip
    event = http_proxy("GET", "/orders", token=token, headers={spelling: value})
    spy.answers.append(guard(lambda e, c: {"statusCode": 200})(event, None))
    spy.assert_clean(SECRET, *_pieces(VICTIM), *_pieces(token))


# == secauth authorize ===========================================================================


def _cli_module(tmp_path: Path, name: str) -> str:
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            from secauth import Authorizer, JwtVerifier, Routes, TokenSource, rule

            @rule
            def debugging(principal, context):
                print("headers seen:", dict(context.request.headers))
                return True

            verifier = JwtVerifier(issuer={ISS!r}, audience={AUD!r},
                                   jwks={{"keys": [{PAIR.public_jwk!r}]}})
            authorizer = Authorizer(
                verifier,
                routes=Routes({{"GET /orders": debugging}}),
                token_sources=[TokenSource.header("x-access-token")],
            )

            class OpaqueVerifier:  # as an introspecting verifier answers for a live token
                def verify(self, token):
                    if not token.startswith("opaque-at-"):
                        raise ValueError("unknown token")
                    return {{"iss": {ISS!r}, "sub": "ann", "exp": {FAR}}}

                async def verify_async(self, token):
                    return self.verify(token)

                def hydrate(self, *, strict=False):
                    return True

            opaque = Authorizer(
                OpaqueVerifier(),
                routes=Routes({{"GET /orders": debugging}}),
                token_sources=[TokenSource.header("x-access-token")],
            )
            """
        ),
        "utf-8",
    )
    return f"{name}:authorizer"


@pytest.fixture
def cli_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "review97_cli_app"
    yield _cli_module(tmp_path, name)
    sys.modules.pop(name, None)


def _run_cli(tmp_path: Path, spec: str, event: dict[str, Any], capsys: Any) -> str:
    from secauth import cli

    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), "utf-8")
    cli.main(["authorize", "--app", spec, "--event", str(path)])
    out = capsys.readouterr()
    return out.out + out.err


def test_cli_redacts_a_jwt_in_a_custom_header(
    cli_app: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _token()
    event = request_authorizer("GET", "/orders", headers={"x-access-token": token})
    text = _run_cli(tmp_path, cli_app, event, capsys)
    assert "headers seen" in text
    for piece in _pieces(token):
        assert piece not in text


# fmt: off
def test_cli_redacts_the_authorizers_own_custom_header_token(
    cli_app: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The authorizer reads its token from x-access-token; an opaque (introspected, or simply
    # not JWT-shaped) value there is a credential of the event like an Authorization value.
    opaque = "opaque-at-" + SECRET
    event = request_authorizer("GET", "/orders", headers={"x-access-token": opaque})
    text = _run_cli(tmp_path, cli_app.replace(":authorizer", ":opaque"), event, capsys)
    assert "headers seen" in text
    assert SECRET not in text
# fmt: on
