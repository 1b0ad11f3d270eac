"""Review 121 (adversarial): attacks on the fixes and refactors landed since c3a3ecb, at e5fdc03.

Resolved (the tests assert them): the medium and the first low. ``guard_routes._has_route``
and ``_beyond_catch_all`` answer True for a path too ambiguous to read, so ``paths_of`` keeps it
among the readings and it is judged, and refused, behind a base-path mapping too.
``hmac_secrets`` looks for PEM and OpenSSH text in a secret's base64 and hex decodings.
Declined, documented in ``hmac_secrets``: a compressed EC point cannot be told from a random
secret of its length (about 1 in 256), so it is accepted (the test asserts that).

Attacked: the ambiguous-segment cap (route_table.MAX_AMBIGUOUS_SEGMENTS: RouteTable.lookup
returning None and every caller of it: Routes.resolve, Grants.allows_segments,
guard_routes._has_route / paths_of behind a base-path mapping, the policy planner, the
Authorizer's fresh and cached answers), guard_context.same_caller's issuer comparison,
hmac_secrets' new refusals (PEM anywhere, JSON members, EC points, one byte repeated),
with differential runs of the same events against a c3a3ecb worktree.

Held: Routes.decide and Grants refuse a path over the cap even under default=public();
the Authorizer's fresh answer denies it and its cached policy never allows a spelling
of a deep admin route (checked under IAM's case-sensitive matching); a path at the cap
is still read (six ambiguous segments: no false refusal); same_caller tells issuers
and kinds apart and accepts a context naming no issuer; PEM after a comment, a key in
a nested JSON member and an uncompressed P-256 point are refused as HMAC secrets.

Findings:

* MEDIUM (regression): guard_routes.paths_of behind a base-path mapping decides whether
  to read the path as sent (with the mapping's prefix) with _has_route/_beyond_catch_all,
  which now treat "too ambiguous" as "no route". A path whose as-sent spelling has 7
  case variants of a prefixed admin route's literals (its routed spelling has none) is
  then decided on the routed path alone: an anonymous caller passes a Guard whose
  c3a3ecb refused it (the backend may route on the path as sent). Same for a table with
  a prefixed catch-all: the too-ambiguous routed path is dropped and only the prefixed
  one is judged.
* LOW: hmac_secrets.looks_like_public_key does not look for PEM text inside its base64
  or hex decodings: base64(PEM public key), the spelling of a Kubernetes secret or a
  one-line env var, is accepted as an HMAC secret (DER so encoded is refused).
* LOW: a compressed EC point (0x02/0x03 + x, 33 bytes for P-256), a public key spelling
  as public as the uncompressed one, is accepted as an HMAC secret.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from guard_events import VERIFIER, token

from secauth import Authorizer, Guard, Routes, authenticated, public, roles
from secauth.errors import ConfigurationError, SecAuthError
from secauth.guard_context import same_caller
from secauth.hmac_secrets import secret_bytes
from secauth.principal import Principal
from secauth.route_table import MAX_AMBIGUOUS_SEGMENTS
from secauth.testing_events import rest_proxy
from secauth.testing_policy import iam_allows

PREFIX = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/"
DEEP = ["admin", "a", "b", "c", "d", "e", "f"]  # seven literals: one more than the cap


def _spelled(segments: list[str], upper: int) -> str:
    """The path with its first ``upper`` segments in upper case (ambiguous spellings)."""
    return "/" + "/".join(s.upper() if i < upper else s for i, s in enumerate(segments))


def _mapped_event(routed: str, prefix: str = "/v1") -> dict[str, Any]:
    """A REST proxy event behind a custom domain's base-path mapping ``prefix``."""
    event = rest_proxy("GET", routed, resource="/{proxy+}", path_params={"proxy": routed[1:]})
    event["requestContext"].update(domainName="api.example.com", path=prefix + routed)
    event["path"] = prefix + routed
    return event


def _admitted(guard: Guard, event: dict[str, Any]) -> bool:
    try:
        guard.check(event)
    except SecAuthError:
        return False
    return True


# --- (a) the cap: callers that refuse ----------------------------------------------------------


def test_routes_refuse_a_path_over_the_cap_even_under_a_public_default() -> None:
    routes = Routes({"GET /" + "/".join(DEEP): roles("admin")}, default=public())
    anonymous = Principal.anonymous()
    assert MAX_AMBIGUOUS_SEGMENTS == 6
    assert not routes.decide(anonymous, "GET", _spelled(DEEP, 7)).allowed
    assert not routes.grants(anonymous).allows("GET", _spelled(DEEP, 7))
    # The reading with the literal is the admin route: six variants are still read, and
    # refused for what that reading reaches, not for the count.
    assert not routes.decide(anonymous, "GET", _spelled(DEEP, 6)).allowed
    admin = Principal("root", roles=["admin"])
    assert routes.decide(admin, "GET", _spelled(DEEP, 6)).allowed  # no false refusal


def test_a_plain_guard_refuses_a_path_over_the_cap_under_a_public_default() -> None:
    routes = Routes({"GET /" + "/".join(DEEP): roles("admin")}, default=public())
    guard = Guard(trust_authorizer=True, routes=routes, decision_log=None)
    path = _spelled(DEEP, 7)
    event = rest_proxy("GET", path, resource="/{proxy+}", path_params={"proxy": path[1:]})
    assert not _admitted(guard, event)


def test_authorizer_fresh_and_cached_answers_never_open_a_deep_admin_route() -> None:
    routes = Routes(
        {"GET /" + "/".join(DEEP): roles("admin"), "GET /users/{id}": authenticated()},
        default=public(),
    )
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300)
    bearer = f"Bearer {token('u')}"
    for upper in (0, 6, 7):
        arn = f"{PREFIX}GET{_spelled(DEEP, upper)}"
        fresh = authorizer.handler(
            {"type": "TOKEN", "authorizationToken": bearer, "methodArn": arn}, None
        )
        assert not iam_allows(fresh, arn), upper
    cached = authorizer.handler(
        {"type": "TOKEN", "authorizationToken": bearer, "methodArn": f"{PREFIX}GET/users/7"},
        None,
    )
    assert iam_allows(cached, f"{PREFIX}GET/users/7")
    for upper in range(8):  # every spelling: a reading of each is the admin route
        assert not iam_allows(cached, f"{PREFIX}GET{_spelled(DEEP, upper)}"), upper


# --- (a) the cap behind a base-path mapping (paths_of) -----------------------------------------


def test_mapping_prefix_path_under_the_cap_is_refused() -> None:
    """Control: six variants; the path as sent is read and its admin reading refuses."""
    routes = Routes({"GET /v1/" + "/".join(DEEP): roles("admin"), "GET /{proxy+}": public()})
    guard = Guard(trust_authorizer=True, routes=routes, decision_log=None)
    assert not _admitted(guard, _mapped_event(_spelled(DEEP, 6)))


# fmt: off
def test_mapping_prefix_path_over_the_cap_is_refused() -> None:
    # c3a3ecb refused this request: the path as sent, /v1/ADMIN/A/.../F, reaches the admin
    # route in its literal reading. Now _beyond_catch_all reads "too ambiguous" as "no
    # route", the path as sent is not judged, and /{proxy+} (public) lets it through.
    routes = Routes({"GET /v1/" + "/".join(DEEP): roles("admin"), "GET /{proxy+}": public()})
    guard = Guard(trust_authorizer=True, routes=routes, decision_log=None)
    assert not _admitted(guard, _mapped_event(_spelled(DEEP, 7)))
# fmt: on


# fmt: off
def test_mapping_routed_path_over_the_cap_is_refused() -> None:
    # The routed path /ADMIN/A/.../F is too ambiguous, so _has_route(VERBS, routed) is
    # False and paths_of takes the table as "written with the mapping's prefix": only
    # /v1/ADMIN/... is judged (public /v1/{proxy+}). c3a3ecb judged the routed path too.
    routes = Routes({"GET /" + "/".join(DEEP): roles("admin"), "GET /v1/{proxy+}": public()})
    guard = Guard(trust_authorizer=True, routes=routes, decision_log=None)
    assert not _admitted(guard, _mapped_event(_spelled(DEEP, 7)))
# fmt: on


# --- (b) same_caller ---------------------------------------------------------------------------


def test_same_caller_tells_issuers_and_kinds_apart() -> None:
    ann_a = Principal("ann", issuer="https://a.example/")
    assert same_caller(ann_a, Principal("ann"))  # a context naming no issuer
    assert not same_caller(ann_a, Principal("ann", issuer="https://b.example/"))
    assert not same_caller(Principal("ann"), Principal("ann", issuer="https://a.example/"))
    assert not same_caller(ann_a, Principal("ann", kind="api_key"))
    assert not same_caller(ann_a, Principal("ann", issuer="https://a.example/", tenant="t"))


# --- (c) HMAC secrets --------------------------------------------------------------------------


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _ec_point(compressed: bool) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    formats = serialization.PublicFormat
    point = formats.CompressedPoint if compressed else formats.UncompressedPoint
    return key.public_bytes(serialization.Encoding.X962, point)


def test_the_new_refusals_hold() -> None:
    pem = _rsa_pem()
    for secret in (
        b"# ops key\n" + pem,
        b'{"cfg": {"inner": ["' + pem.replace(b"\n", b"\\n") + b'"]}}',
        _ec_point(compressed=False),
        base64.b64encode(_ec_point(compressed=False)),
        b"\x07" * 64,
    ):
        with pytest.raises(ConfigurationError):
            secret_bytes(secret)


def test_random_looking_secrets_are_still_accepted() -> None:
    # 65 bytes starting 0x04 that are no curve point, and base64 text of random bytes.
    not_a_point = b"\x04" + bytes(range(1, 65))
    assert secret_bytes(not_a_point) == not_a_point
    text = base64.b64encode(bytes(range(7, 71)))
    assert secret_bytes(text) == text


# fmt: off
def test_base64_of_a_pem_public_key_is_refused() -> None:
    pem = _rsa_pem()
    for secret in (base64.b64encode(pem), pem.hex().encode()):
        with pytest.raises(ConfigurationError):
            secret_bytes(secret)
# fmt: on


def test_a_compressed_ec_point_is_accepted_as_documented() -> None:
    """Declined (documented in hmac_secrets): a compressed point cannot be told from a random
    secret of its length (0x02 or 0x03, then an x on the curve: about 1 in 256 random
    33-byte secrets), and refusing those would refuse good secrets for nothing. JOSE keys
    travel as JWKs (x and y), PEM or DER, all refused."""
    assert secret_bytes(_ec_point(compressed=True))
