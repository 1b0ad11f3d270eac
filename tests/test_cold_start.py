"""The cold-start budget: what ``import secauth``, each public name and each cold path load.

A Lambda pays for every module its init phase imports. secauth's promise (docs/index.md,
``secauth/__init__.py``): ``import secauth`` loads nothing but itself; the optional heavy
dependencies (``httpx``, ``redis``, ``boto3``/``botocore``, ``aws_lambda_powertools``) load
only on the path that uses them; ``cryptography`` loads only with key handling.

Each check runs in a fresh interpreter (a module imported once stays imported), started
from an empty directory so only the installed package can be imported. Speed itself is
measured by ``benchmarks/`` (cold start rows), never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import secauth
from secauth.testing import KeyPair, LocalIssuer

OPTIONAL = ("httpx", "redis", "boto3", "botocore", "aws_lambda_powertools")
# The public names whose job is key handling: they may (must) load cryptography.
KEY_NAMES = frozenset(
    {"JwtVerifier", "MultiIssuerVerifier", "JwksCache", "KeySet", "KeySource", "StaticKeys",
     "VerificationKey", "CognitoVerifier", "AlbVerifier"}
)
WATCHED = (*OPTIONAL, "cryptography", "ssl", "asyncio", "logging", "http.client")

PUBLIC = sorted(n for n in secauth.__all__ if n != "__version__")


def fresh(code: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run ``code`` in a new interpreter; it sets ``result``; returns it and the watched
    modules that ended up loaded."""
    script = (
        "import sys, json\n"
        f"{code}\n"
        f"loaded = [m for m in {WATCHED!r} if m in sys.modules]\n"
        "print(json.dumps({'result': result, 'loaded': loaded}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    parsed: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


@pytest.fixture(scope="module")
def signed() -> tuple[str, str]:
    """A JWKS (as JSON) and a valid ES256 token for it, made in this process."""
    pair = KeyPair.generate("ES256", kid="k1")
    token = pair.sign({"iss": "https://idp/", "aud": "api", "sub": "ann", "roles": ["admin"],
                       "exp": 4102444800})
    return json.dumps({"keys": [pair.public_jwk]}), token


# --- imports --------------------------------------------------------------------------------


def test_import_secauth_loads_only_itself(tmp_path: Path) -> None:
    """``import secauth`` adds no module but the package itself (and ``__future__``)."""
    run = fresh(
        "before = set(sys.modules)\nimport secauth\n"
        "result = sorted(set(sys.modules) - before)",
        tmp_path,
    )
    assert run["result"] == ["__future__", "secauth"]
    assert run["loaded"] == []


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_stays_light(name: str, tmp_path: Path) -> None:
    """``from secauth import <name>`` loads no optional dependency and no ssl; only the
    key-handling names load cryptography."""
    run = fresh(f"from secauth import {name}\nresult = {name}.__name__", tmp_path)
    assert run["result"] == name
    assert [m for m in run["loaded"] if m in (*OPTIONAL, "ssl")] == []
    assert ("cryptography" in run["loaded"]) == (name in KEY_NAMES)


def test_key_names_are_public() -> None:
    """The cryptography allowance names real public names (it cannot go stale silently)."""
    assert set(PUBLIC) >= KEY_NAMES


def test_the_usual_imports_together_stay_light(tmp_path: Path) -> None:
    """The imports of a typical authorizer and guarded handler, plus the rate-limit and
    Powertools-integration modules, load no optional dependency."""
    run = fresh(
        "from secauth import JwtVerifier, Routes, Authorizer, Guard, RateLimiter, roles\n"
        "import secauth.ratelimit, secauth.integrations.powertools\n"
        "result = True",
        tmp_path,
    )
    assert [m for m in run["loaded"] if m in OPTIONAL] == []


# --- cold paths: import plus the first decision ------------------------------------------------


def test_first_verification_with_seeded_keys(tmp_path: Path, signed: tuple[str, str]) -> None:
    """Static keys: the first verification loads cryptography and nothing optional, no
    ssl, no http client."""
    jwks, token = signed
    run = fresh(
        "from secauth import JwtVerifier\n"
        "v = JwtVerifier(issuer='https://idp/', audience='api', jwks=json.loads(sys.argv[1]))\n"
        "result = v.verify(sys.argv[2])['sub']",
        tmp_path, jwks, token,
    )
    assert run["result"] == "ann"
    assert [m for m in run["loaded"] if m in (*OPTIONAL, "ssl", "http.client")] == []
    assert "cryptography" in run["loaded"]


def test_first_verification_with_fetched_keys(tmp_path: Path) -> None:
    """Keys fetched from an issuer (discovery, then JWKS): the sync path uses the standard
    library's http.client, never httpx."""
    with LocalIssuer(algs=("ES256",)) as idp:
        token = idp.token(sub="bob", aud="api")
        run = fresh(
            "from secauth import JwtVerifier\n"
            "v = JwtVerifier.from_discovery(sys.argv[1], audience='api', allow_http=True)\n"
            "result = v.verify(sys.argv[2])['sub']",
            tmp_path, idp.issuer, token,
        )
        assert (idp.discovery_fetches, idp.fetches) == (1, 1)
    assert run["result"] == "bob"
    assert "http.client" in run["loaded"]
    assert [m for m in run["loaded"] if m in OPTIONAL] == []


def test_first_async_verification_with_seeded_keys(tmp_path: Path, signed: tuple[str, str]) -> None:
    """verify_async with static keys never needs httpx (nothing to fetch)."""
    jwks, token = signed
    run = fresh(
        "import asyncio\nfrom secauth import JwtVerifier\n"
        "v = JwtVerifier(issuer='https://idp/', audience='api', jwks=json.loads(sys.argv[1]))\n"
        "result = asyncio.run(v.verify_async(sys.argv[2]))['sub']",
        tmp_path, jwks, token,
    )
    assert run["result"] == "ann"
    assert [m for m in run["loaded"] if m in OPTIONAL] == []


def test_first_async_fetch_loads_httpx(tmp_path: Path) -> None:
    """The positive control: the first async fetch is where httpx loads (so the checks
    above would see it if another path loaded it)."""
    with LocalIssuer(algs=("ES256",)) as idp:
        token = idp.token(sub="cy", aud="api")
        run = fresh(
            "import asyncio\nfrom secauth import JwtVerifier\n"
            "v = JwtVerifier(issuer=sys.argv[1], audience='api', jwks_uri=sys.argv[2],"
            " allow_http=True)\n"
            "result = asyncio.run(v.verify_async(sys.argv[3]))['sub']",
            tmp_path, idp.issuer, idp.jwks_uri, token,
        )
    assert run["result"] == "cy"
    assert "httpx" in run["loaded"]
    assert [m for m in run["loaded"] if m in ("redis", "boto3", "aws_lambda_powertools")] == []


def test_first_authorizer_decision(tmp_path: Path, signed: tuple[str, str]) -> None:
    """An Authorizer answering its first TOKEN event loads nothing optional and no ssl."""
    jwks, token = signed
    run = fresh(
        "from secauth import Authorizer, JwtVerifier, Routes, roles\n"
        "v = JwtVerifier(issuer='https://idp/', audience='api', jwks=json.loads(sys.argv[1]))\n"
        "a = Authorizer(v, routes=Routes({'DELETE /users/{id}': roles('admin')}))\n"
        "event = {'type': 'TOKEN', 'authorizationToken': 'Bearer ' + sys.argv[2],\n"
        "         'methodArn': 'arn:aws:execute-api:us-east-1:123456789012:abc/prod/DELETE/users/7'}\n"
        "result = a.handler(event, None)['policyDocument']['Statement'][0]['Effect']",
        tmp_path, jwks, token,
    )
    assert run["result"] == "Allow"
    assert [m for m in run["loaded"] if m in (*OPTIONAL, "ssl")] == []


def test_first_guarded_request(tmp_path: Path, signed: tuple[str, str]) -> None:
    """A guarded handler serving its first request (token verified here, per-IP rate limit
    in memory) loads nothing optional and no ssl."""
    jwks, token = signed
    run = fresh(
        "from secauth import Guard, JwtVerifier, RateLimiter, roles\n"
        "v = JwtVerifier(issuer='https://idp/', audience='api', jwks=json.loads(sys.argv[1]))\n"
        "guard = Guard(v, rate_limit=RateLimiter.per_ip('100/minute'), decision_log=None)\n"
        "@guard.require(roles('admin'))\n"
        "def handler(event, context, principal):\n"
        "    return {'statusCode': 200, 'body': principal.id}\n"
        "event = {'version': '2.0', 'rawPath': '/x', 'routeKey': '$default',\n"
        "         'headers': {'authorization': 'Bearer ' + sys.argv[2]},\n"
        "         'requestContext': {'http': {'method': 'GET', 'path': '/x',\n"
        "                                     'sourceIp': '203.0.113.7'}, 'stage': '$default'}}\n"
        "response = handler(event, None)\n"
        "result = [response['statusCode'], response['body']]",
        tmp_path, jwks, token,
    )
    assert run["result"] == [200, "ann"]
    assert [m for m in run["loaded"] if m in (*OPTIONAL, "ssl")] == []


PLANNING = ("secauth.policy.cached", "secauth.policy.planner", "secauth.policy.proof",
            "secauth.policy.route_lists")
FETCHING = ("secauth.jwks", "secauth._fetch", "secauth._fetch_async", "secauth._urls")
AUTHORIZER_CODE = (
    "from secauth import Authorizer, JwtVerifier, Routes, StaticKeys, roles\n"
    "v = JwtVerifier(issuer='https://idp/', audience='api', jwks={source})\n"
    "a = Authorizer(v, routes=Routes({{'DELETE /users/{{id}}': roles('admin')}}),"
    " cache_ttl={ttl}, decision_log=None)\n"
    "event = {{'type': 'TOKEN', 'authorizationToken': 'Bearer ' + sys.argv[2],\n"
    "         'methodArn': 'arn:aws:execute-api:us-east-1:123456789012:abc/prod/DELETE/users/7'}}\n"
    "effect = a.handler(event, None)['policyDocument']['Statement'][0]['Effect']\n"
    "result = [effect, sorted(m for m in sys.modules if m in {watched!r})]"
)


@pytest.mark.parametrize("source", ["json.loads(sys.argv[1])", "StaticKeys(json.loads(sys.argv[1]))"])
def test_an_authorizer_without_caching_loads_no_planner_and_no_fetcher(
    tmp_path: Path, signed: tuple[str, str], source: str
) -> None:
    """Seeded keys and cache_ttl=0 (the default): the first decision loads neither the
    cached-policy planner nor the JWKS fetch machinery, which it never uses."""
    jwks, token = signed
    code = AUTHORIZER_CODE.format(source=source, ttl=0, watched=(*PLANNING, *FETCHING))
    run = fresh(code, tmp_path, jwks, token)
    assert run["result"] == ["Allow", []]


def test_the_planner_loads_with_cached_policies(tmp_path: Path, signed: tuple[str, str]) -> None:
    """The positive control: with cache_ttl > 0 the planner loads (and plans: the Allow),
    still without the fetch machinery for seeded keys."""
    jwks, token = signed
    code = AUTHORIZER_CODE.format(
        source="json.loads(sys.argv[1])", ttl=300, watched=(*PLANNING, *FETCHING)
    )
    run = fresh(code, tmp_path, jwks, token)
    assert run["result"] == ["Allow", sorted(PLANNING)]


def test_a_jwks_url_loads_the_fetcher(tmp_path: Path) -> None:
    """The other positive control: a verifier with a JWKS URL loads the fetch machinery
    when it is built (nothing is fetched here)."""
    run = fresh(
        "from secauth import JwtVerifier\n"
        "v = JwtVerifier(issuer='https://idp/', audience='api', jwks_uri='https://idp/jwks')\n"
        f"result = sorted(m for m in sys.modules if m in {FETCHING!r})",
        tmp_path,
    )
    assert run["result"] == sorted(FETCHING)


def test_the_planning_names_of_secauth_policy_load_on_first_use(tmp_path: Path) -> None:
    """``secauth.policy`` exports the planner's names lazily: each resolves to the object
    of its module, ``dir()`` lists it, and a misspelt name is still an AttributeError."""
    run = fresh(
        "import secauth.policy as policy\n"
        "before = 'secauth.policy.planner' in sys.modules\n"
        "from secauth.policy import plan_policy, route_policy, COLON_PATHS\n"
        "from secauth.policy.planner import plan_policy as planner_plan\n"
        "names = [n for n in policy.__all__ if not hasattr(policy, n)]\n"
        "listed = set(policy.__all__) <= set(dir(policy))\n"
        "try:\n    policy.plan_policies\n    missing = 'no error'\n"
        "except AttributeError as exc:\n    missing = str(exc)\n"
        "result = [before, plan_policy is planner_plan, names, listed, missing]",
        tmp_path,
    )
    assert run["result"] == [
        False, True, [], True, "module 'secauth.policy' has no attribute 'plan_policies'"
    ]
