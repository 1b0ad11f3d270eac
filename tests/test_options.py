"""Option values of the wrong type are refused when an object is built (``secauth.options``).

A flag given as a string (``"false"``, an environment variable read as it is) is truthy,
and a lone string given for a list of names iterates as its characters: every public
constructor refuses both with a ConfigurationError naming the option, and accepts the
right types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from secauth import (
    ApiKeyEntry,
    Authorizer,
    ClaimMapper,
    Cors,
    Guard,
    JwksCache,
    JwtVerifier,
    PolicyBuilder,
    ProtectedResource,
    RateLimiter,
    Routes,
    authenticated,
    roles,
    scopes,
)
from secauth.access import client_cert
from secauth.alb_keys import AlbKeys
from secauth.client_auth import ClientAuth
from secauth.errors import ConfigurationError
from secauth.introspection import IntrospectionVerifier
from secauth.options import flag, names
from secauth.sender_constraint import SenderConstraint
from secauth.testing import KeyPair

PAIR = KeyPair.generate("ES256", kid="k1")
JWKS = {"keys": [PAIR.public_jwk]}
ISS = "https://idp.example.com/"
ROUTES = Routes({"GET /a": authenticated()})


def verifier(**options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience="api", jwks=JWKS, **options)


def introspection(**options: Any) -> IntrospectionVerifier:
    return IntrospectionVerifier(issuer=ISS, audience="api", endpoint=ISS + "introspect",
                                 client=ClientAuth.basic("c", "s"), **options)  # fmt: skip


def resource(**options: Any) -> ProtectedResource:
    return ProtectedResource(resource="https://api.example.com",
                             authorization_servers=[ISS], **options)  # fmt: skip


# (option, a builder taking the option's value as a keyword); each also built with True and
# False below, so a check cannot pass by refusing everything.
FLAGS: list[tuple[str, Callable[[Any], object]]] = [
    ("simple_responses", lambda v: Authorizer(verifier(), simple_responses=v)),
    ("cache_key_covers_request", lambda v: Authorizer(verifier(), cache_key_covers_request=v)),
    ("cache_key_covers_route", lambda v: Authorizer(verifier(), cache_key_covers_route=v)),
    ("context_token_claims", lambda v: Authorizer(verifier(), context_token_claims=v)),
    ("simple_responses", lambda v: PolicyBuilder(simple_responses=v)),
    ("require_exp", lambda v: verifier(require_exp=v)),
    ("require_exp", lambda v: introspection(require_exp=v)),
    ("allow_http", lambda v: verifier(allow_http=v)),
    ("allow_http", lambda v: JwtVerifier(issuer=ISS, audience="api",
                                         jwks_uri="https://idp.example.com/jwks", allow_http=v)),
    ("allow_http", lambda v: JwksCache("https://idp.example.com/jwks", allow_http=v)),
    ("allow_http", lambda v: AlbKeys("https://public-keys.example.com", allow_http=v)),
    ("allow_http", lambda v: introspection(allow_http=v)),
    ("allow_http", lambda v: resource(allow_http=v)),
    ("respect_cache_control",
     lambda v: JwksCache("https://idp.example.com/jwks", respect_cache_control=v)),
    ("dpop_bound_access_tokens_required",
     lambda v: resource(dpop_bound_access_tokens_required=v)),
    ("tls_client_certificate_bound_access_tokens",
     lambda v: resource(tls_client_certificate_bound_access_tokens=v)),
    ("groups_are_roles", lambda v: ClaimMapper(groups_are_roles=v)),
    ("Cors allow_credentials",
     lambda v: Cors(allow_origins=["https://app.example.com"], allow_credentials=v)),
    ("deny_cache", lambda v: RateLimiter.per_ip("10/minute", deny_cache=v)),
    ("SenderConstraint mtls", lambda v: SenderConstraint(mtls=v)),
    ("all_of", lambda v: roles("a", all_of=v)),
    ("all_of", lambda v: scopes("a", all_of=v)),
    ("usage_plan", lambda v: ApiKeyEntry("partner", usage_plan=v)),
    ("integration_per_route", lambda v: Routes({"GET /a": authenticated()},
                                               integration_per_route=v)),
]  # fmt: skip


@pytest.mark.parametrize(("option", "build"), FLAGS, ids=[f"{i}-{o}" for i, (o, _) in
                                                          enumerate(FLAGS)])  # fmt: skip
@pytest.mark.parametrize("value", ["false", "true", 0, 1, None])
def test_a_flag_is_true_or_false(option: str, build: Callable[[Any], object], value: Any) -> None:
    for good in (True, False):
        build(good)
    with pytest.raises(ConfigurationError, match=f"{option.rsplit(maxsplit=1)[-1]} must be True or False"):
        build(value)


NAMES: list[tuple[str, Callable[[Any], object]]] = [
    ("required_claims", lambda v: verifier(required_claims=v)),
    ("client_cert subjects", lambda v: client_cert(subjects=v)),
    ("client_cert issuers", lambda v: client_cert(subjects=["CN=a"], issuers=v)),
    ("content_types", lambda v: Guard(verifier(), content_types=v)),
    ("Cors allow_origins", lambda v: Cors(allow_origins=v)),
    ("Cors allow_methods", lambda v: Cors(allow_origins=["https://a.example"], allow_methods=v)),
    ("authorization_servers",
     lambda v: ProtectedResource(resource="https://api.example.com", authorization_servers=v)),
    ("roles", lambda v: ApiKeyEntry("partner", roles=v)),
    ("scopes", lambda v: ApiKeyEntry("partner", scopes=v)),
]  # fmt: skip


@pytest.mark.parametrize(("option", "build"), NAMES, ids=[o for o, _ in NAMES])
def test_a_list_of_names_is_not_one_string(option: str, build: Callable[[Any], object]) -> None:
    good = ["https://app.example.com"] if option == "Cors allow_origins" else ["GET"]
    if option == "authorization_servers":
        good = [ISS]
    build(good)
    with pytest.raises(ConfigurationError, match=option.rsplit(maxsplit=1)[-1]):
        build(good[0])


def test_the_checks_themselves() -> None:
    assert flag("x", True) is True
    assert flag("x", False) is False
    assert names("x", {"a"}) == ("a",)
    for bad in ("a", b"a", 7, ["a", 1]):
        with pytest.raises(ConfigurationError, match="x must be a list of strings"):
            names("x", bad)


def test_an_api_key_entry_is_checked_when_built() -> None:
    """Every field a request would build a principal from is checked with the entry."""
    with pytest.raises(ConfigurationError, match="ApiKeyEntry 'partner'"):
        ApiKeyEntry("partner", tenant=7)  # type: ignore[arg-type]
    assert ApiKeyEntry("partner", roles=("reader",)).principal().roles == {"reader"}
