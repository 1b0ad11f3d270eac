"""Review 117: packaging, optional dependencies and import-time behaviour.

Resolved (the tests assert them): all four findings. Guarding an async handler with a
verifier needs httpx: ``wrap_handler`` calls ``_fetch_async.require_httpx``, a
``ConfigurationError`` naming ``secauth[async]`` at decoration; a fetch without httpx fails
with the cause ``missing_dependency`` naming the extra (log and ``keys_unavailable`` detail);
``guard_handler`` left ``__all__`` and, without Powertools, raises ``ImportError``
naming ``secauth[powertools]``; plan names moved to ``secauth.plan_names`` (no dataclasses),
so a rate limiter loads no ``inspect``.

Commit 0534f60 (the working tree, with other sessions' uncommitted edits, is what gets built).

What this checks, against a wheel and an sdist built (``python -m build``) from a copy of the
working tree, and a fresh venv holding that wheel WITHOUT extras (core: cryptography only).
``scripts/release-check.sh`` (not run by pytest) and ``tests/test_cold_start.py`` (the dev venv,
where every extra is installed) cover part of this; here the extras are really absent.

* the wheel: every module of ``src/secauth`` and ``py.typed``; nothing else (no tests,
  benchmarks, ``.pyc`` although the tree has ``__pycache__``, no private keys or AWS keys);
  core Requires-Dist is cryptography only; the extras the docs, README and error messages
  name all exist and pull what the docs say; the sdist has LICENSE and no tests.
* core venv: every module imports; ``secauth``/``ratelimit``/``policy`` public names resolve;
  JwtVerifier (static JWKS), Authorizer (REST TOKEN), Guard (REST proxy) and in-memory rate
  limits work; Redis/DynamoDB stores, revocation and replay stores, DynamoDB and Secrets
  Manager API keys fail at construction with ConfigurationError naming the extra; so does
  the ``secauth revoke`` CLI (exit 2, no traceback); an async handler without httpx is
  refused (503), never allowed.
* import time: ``-X importtime -c "import secauth"`` imports only ``secauth`` and
  ``__future__``; building an Authorizer and a Guard (keys from a URL) loads no optional
  package, no ``logging.handlers``, ``inspect``, ``asyncio``, ``ssl`` or ``http.client``;
  deciding (TOKEN and proxy events, in-memory limits) loads none of them but ``inspect``.

Held: all of the above.

Findings:

* Medium: ``Guard`` accepts an async handler over a ``jwks_uri`` verifier in a core install
  (no httpx); nothing fails until traffic, then every request answers 503 keys_unavailable.
* Low: that failure is logged as ``unexpected error=ImportError``: the message written in
  ``_fetch_async.py`` (``pip install 'secauth[async]'``) is dropped, so it reads like an IdP
  outage.
* Low: ``secauth.integrations.powertools.guard_handler`` (in ``__all__``) raises a bare
  ``ModuleNotFoundError`` without Powertools: ``from ... import *`` fails, and the error does
  not name ``secauth[powertools]``.
* Low (cold start): ``from secauth import RateLimiter`` loads ``inspect`` (with ast, dis,
  tokenize): ``ratelimit/plans.py`` imports ``api_keys`` for ``plan_problem``, and
  ``api_keys`` imports ``dataclasses``. A JWT-only Authorizer or Guard without limits does not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest

from secauth.testing import KeyPair
from secauth.testing_events import rest_proxy, token_authorizer

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "secauth"
OPTIONAL = ("httpx", "redis", "boto3", "botocore", "aws_lambda_powertools")
# Not optional packages, but a cold start should not pay for them on the usual paths.
AVOIDABLE = ("logging.handlers", "inspect", "asyncio", "ssl", "http.client")
USER_EXTRAS = {
    "async": {"httpx"},
    "redis": {"redis"},
    "dynamodb": {"boto3"},
    "powertools": {"aws-lambda-powertools"},
    "secretsmanager": {"aws-lambda-powertools", "boto3"},
}
COPY_IGNORE = shutil.ignore_patterns(
    ".venv",
    ".git",
    ".cache",
    "build",
    "dist",
    "site",
    "node_modules",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "*.egg-info",
)


def _unreachable(what: str, out: subprocess.CompletedProcess[str]) -> None:
    """Skip (locally) or fail (CI) when a step needing the package registry fails."""
    message = f"{what} failed (package registry unreachable?): {(out.stderr or out.stdout)[-800:]}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A wheel and an sdist built from a copy of the working tree (the tree stays untouched)."""
    root = tmp_path_factory.mktemp("review117")
    tree = root / "tree"
    shutil.copytree(REPO, tree, ignore=COPY_IGNORE)
    dist = root / "dist"
    try:
        import build  # noqa: F401

        cmd = [sys.executable, "-m", "build", "--outdir", str(dist), str(tree)]
    except ImportError:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(tree)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    if out.returncode != 0:
        _unreachable("building the wheel", out)
    wheels = sorted(dist.glob("secauth-*.whl"))
    sdists = sorted(dist.glob("secauth-*.tar.gz"))
    assert len(wheels) == 1, out.stdout[-2000:]
    return {"root": root, "wheel": wheels[0], "sdist": sdists[0] if sdists else Path()}


@pytest.fixture(scope="module")
def core(built: dict[str, Path]) -> Path:
    """The python of a fresh venv with the wheel installed without extras."""
    venv = built["root"] / "core-venv"
    out = subprocess.run(
        [sys.executable, "-m", "venv", str(venv)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    python = venv / "bin" / "python"
    out = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(built["wheel"]),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if out.returncode != 0:
        _unreachable("installing the wheel's core dependencies", out)
    return python


@pytest.fixture(scope="module")
def empty_dir(built: dict[str, Path]) -> Path:
    here = built["root"] / "cwd"
    here.mkdir(exist_ok=True)
    return here


def run_core(python: Path, cwd: Path, code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` (it sets ``result``) isolated (-I) in the core venv; return ``result``
    plus ``modules``, the names in ``sys.modules`` at the end."""
    tail = "print(json.dumps({'result': result, 'modules': sorted(sys.modules)}))\n"
    script = f"import sys, json\n{code}\n{tail}"
    out = subprocess.run(
        [str(python), "-I", "-c", script, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    parsed["stderr"] = out.stderr
    parsed["stdout"] = out.stdout
    return parsed


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in OPTIONAL or m in AVOIDABLE]


def metadata(wheel: Path) -> Any:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(name).decode())


@pytest.fixture(scope="module")
def signed() -> dict[str, Any]:
    pair = KeyPair.generate("ES256", kid="k1")
    claims = {"iss": "https://idp/", "aud": "api", "exp": 4102444800}
    admin = pair.sign({**claims, "sub": "ann", "roles": ["admin"]})
    user = pair.sign({**claims, "sub": "bob", "roles": ["user"]})
    other = KeyPair.generate("ES256", kid="k1").sign({**claims, "sub": "eve", "roles": ["admin"]})
    return {"jwks": {"keys": [pair.public_jwk]}, "admin": admin, "user": user, "forged": other}


# --- the wheel and the sdist -----------------------------------------------------------------


def test_wheel_carries_every_module_and_py_typed(built: dict[str, Path]) -> None:
    names = zipfile.ZipFile(built["wheel"]).namelist()
    in_wheel = {n for n in names if n.startswith("secauth/") and n.endswith(".py")}
    in_tree = {
        "secauth/" + p.relative_to(SRC).as_posix()
        for p in SRC.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert in_tree - in_wheel == set()
    assert in_wheel - in_tree == set()
    assert "secauth/py.typed" in names
    packages = {p.parent.relative_to(SRC.parent).as_posix() for p in SRC.rglob("__init__.py")}
    assert packages == {"secauth", "secauth/integrations", "secauth/policy", "secauth/ratelimit"}


def test_wheel_carries_nothing_else(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as zf:
        names = zf.namelist()
        blobs = {n: zf.read(n) for n in names}
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"secauth"}
    assert [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))] == []
    assert [n for n in names if re.search(r"(^|/)(tests?|benchmarks|examples|scripts)/", n)] == []
    assert [n for n in names if n.endswith((".pem", ".key", ".p12", ".env", ".crt"))] == []
    secretish = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b")
    assert [n for n, blob in blobs.items() if secretish.search(blob)] == []
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    entry = next(v for n, v in blobs.items() if n.endswith("entry_points.txt")).decode()
    assert "secauth = secauth.cli:main" in entry


def test_wheel_metadata_core_is_cryptography_only(built: dict[str, Path]) -> None:
    meta = metadata(built["wheel"])
    requires = meta.get_all("Requires-Dist") or []
    core = [r for r in requires if "extra ==" not in r]
    assert core == ["cryptography>=43"]
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "Apache-2.0"
    extras = set(meta.get_all("Provides-Extra") or [])
    assert set(USER_EXTRAS) <= extras
    for extra, wanted in USER_EXTRAS.items():
        pulled = {
            re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]
            for r in requires
            if re.search(rf"extra == \"{extra}\"", r)
        }
        assert pulled == wanted, extra


def test_every_extra_the_docs_and_errors_name_exists(built: dict[str, Path]) -> None:
    """Each ``secauth[...]`` in README, docs/*.md and the sources is a real extra, and the
    README's extras table lists exactly the user-facing extras."""
    extras = set(metadata(built["wheel"]).get_all("Provides-Extra") or [])
    texts = [
        REPO / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
        *sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts),
    ]
    named: set[str] = set()
    for path in texts:
        for group in re.findall(r"secauth\[([a-z,]+)\]", path.read_text(encoding="utf-8")):
            named.update(group.split(","))
    assert named, "no extra named anywhere: the regex went stale"
    assert named - extras == set()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `([a-z]+)` \|", readme, flags=re.MULTILINE))
    assert table == set(USER_EXTRAS)


def test_sdist_has_license_and_no_tests(built: dict[str, Path]) -> None:
    if not built["sdist"].name:
        pytest.skip("built with pip wheel: no sdist")
    with tarfile.open(built["sdist"]) as tar:
        members = tar.getnames()
    rel = {m.split("/", 1)[1] for m in members if "/" in m}
    assert {"LICENSE", "README.md", "pyproject.toml", "src/secauth/py.typed"} <= rel
    assert {
        f"src/secauth/{p.relative_to(SRC).as_posix()}"
        for p in SRC.rglob("*.py")
        if "__pycache__" not in p.parts
    } <= rel
    assert [m for m in rel if m.startswith(("tests/", "benchmarks/", ".venv/", "build/"))] == []
    assert [m for m in rel if "__pycache__" in m or m.endswith(".pyc")] == []


# --- the core venv: no extras ---------------------------------------------------------------


def test_core_venv_really_lacks_the_extras(core: Path, empty_dir: Path) -> None:
    run = run_core(
        core,
        empty_dir,
        "import importlib.util, pathlib, secauth\n"
        f"missing = [m for m in {OPTIONAL!r} if importlib.util.find_spec(m) is None]\n"
        "result = [missing, 'site-packages' in pathlib.Path(secauth.__file__).parts]",
    )
    assert run["result"] == [list(OPTIONAL), True]


def test_every_module_and_public_name_imports(core: Path, empty_dir: Path) -> None:
    run = run_core(
        core,
        empty_dir,
        "import importlib, pkgutil, secauth\n"
        "bad = {}\n"
        "names = [m.name for m in pkgutil.walk_packages(secauth.__path__, 'secauth.')]\n"
        "for name in names:\n"
        "    if name == 'secauth.__main__': continue\n"
        "    try: importlib.import_module(name)\n"
        "    except BaseException as exc: bad[name] = repr(exc)\n"
        "for pkg in ('secauth', 'secauth.ratelimit', 'secauth.policy'):\n"
        "    mod = importlib.import_module(pkg)\n"
        "    for attr in mod.__all__:\n"
        "        try: getattr(mod, attr)\n"
        "        except BaseException as exc: bad[pkg + '.' + attr] = repr(exc)\n"
        "result = [len(names), bad]",
    )
    count, bad = run["result"]
    assert count > 100
    assert bad == {}
    assert [m for m in run["modules"] if m.split(".")[0] in OPTIONAL] == []


def test_core_flows_work_and_stay_light(
    core: Path, empty_dir: Path, signed: dict[str, Any]
) -> None:
    """JwtVerifier (static JWKS), Authorizer on REST TOKEN events, Guard on REST proxy events
    with an in-memory per-IP limit: right answers, and no optional or avoidable module."""
    events = {
        "tok_admin": token_authorizer("DELETE", "/users/7", token=signed["admin"]),
        "tok_user": token_authorizer("DELETE", "/users/7", token=signed["user"]),
        "tok_forged": token_authorizer("DELETE", "/users/7", token=signed["forged"]),
        "proxy_admin": rest_proxy("GET", "/x", token=signed["admin"]),
        "proxy_user": rest_proxy("GET", "/x", token=signed["user"]),
        "proxy_none": rest_proxy("GET", "/x"),
    }
    code = (
        "a = json.loads(sys.argv[1])\n"
        "from secauth import Authorizer, Guard, JwtVerifier, RateLimiter, Routes, roles\n"
        "from secauth.errors import SecAuthError\n"
        "v = JwtVerifier(issuer='https://idp/', audience='api', jwks=a['jwks'])\n"
        "out = {'sub': v.verify(a['admin'])['sub']}\n"
        "try:\n    v.verify(a['forged']); out['forged'] = 'accepted'\n"
        "except SecAuthError as exc: out['forged'] = type(exc).__name__\n"
        "auth = Authorizer(v, routes=Routes({'DELETE /users/{id}': roles('admin')}),"
        " decision_log=None)\n"
        "def effect(e):\n"
        "    try: return auth.handler(e, None)['policyDocument']['Statement'][0]['Effect']\n"
        "    except Exception as exc: return type(exc).__name__\n"
        "ev = a['events']\n"
        "out['authz'] = [effect(ev[k]) for k in ('tok_admin', 'tok_user', 'tok_forged')]\n"
        "guard = Guard(v, rate_limit=RateLimiter.per_ip('3/minute'), decision_log=None)\n"
        "@guard.require(roles('admin'))\n"
        "def handler(event, context, principal):\n"
        "    return {'statusCode': 200, 'body': principal.id}\n"
        "out['guard'] = [handler(ev[k], None)['statusCode']"
        " for k in ('proxy_admin', 'proxy_user', 'proxy_none', 'proxy_admin', 'proxy_admin')]\n"
        "result = out"
    )
    arg = json.dumps({**signed, "events": events})
    run = run_core(core, empty_dir, code, arg)
    result = run["result"]
    assert result["sub"] == "ann"
    assert result["forged"] != "accepted"
    assert result["authz"][0] == "Allow"
    assert result["authz"][1] in ("Deny", "Unauthorized")
    assert result["authz"][2] in ("Deny", "Unauthorized")
    # admin 200, user 403, no token 401, then the 3/minute per-IP limit answers 429
    assert result["guard"][:3] == [200, 403, 401]
    assert result["guard"][-1] == 429
    # inspect: see test_rate_limiter_loads_no_inspect (a finding of its own)
    assert [m for m in heavy(run["modules"]) if m != "inspect"] == []


STORES = {
    "RedisStore": (
        "from secauth.ratelimit import RedisStore as C",
        "C('redis://127.0.0.1:1/0')",
        "redis",
    ),
    "AsyncRedisStore": (
        "from secauth.ratelimit import AsyncRedisStore as C",
        "C('redis://127.0.0.1:1/0')",
        "redis",
    ),
    "DynamoDBStore": (
        "from secauth.ratelimit import DynamoDBStore as C",
        "C('secauth-limits', region='us-east-1')",
        "dynamodb",
    ),
    "AsyncDynamoDBStore": (
        "from secauth.ratelimit import AsyncDynamoDBStore as C",
        "C('secauth-limits', region='us-east-1')",
        "dynamodb",
    ),
    "RedisRevocationStore": (
        "from secauth.revocation_stores import RedisRevocationStore as C",
        "C('redis://127.0.0.1:1/0')",
        "redis",
    ),
    "DynamoDBRevocationStore": (
        "from secauth.revocation_stores import DynamoDBRevocationStore as C",
        "C('secauth-revoked', region='us-east-1')",
        "dynamodb",
    ),
    "RedisReplayStore": (
        "from secauth.dpop_replay import RedisReplayStore as C",
        "C('redis://127.0.0.1:1/0')",
        "redis",
    ),
    "DynamoDBReplayStore": (
        "from secauth.dpop_replay import DynamoDBReplayStore as C",
        "C('secauth-replay', region='us-east-1')",
        "dynamodb",
    ),
    "DynamoDBApiKeys": (
        "from secauth.dynamodb_api_keys import DynamoDBApiKeys as C",
        "C('secauth-keys', region='us-east-1')",
        "dynamodb",
    ),
    "SecretsManagerApiKeys": (
        "from secauth.secretsmanager_api_keys import SecretsManagerApiKeys as C",
        "C('prod/api-keys', region='us-east-1')",
        "secretsmanager",
    ),
}


def test_optional_stores_fail_at_construction_naming_the_extra(core: Path, empty_dir: Path) -> None:
    lines = ["from secauth.errors import ConfigurationError", "out = {}"]
    for name, (imp, build, _) in STORES.items():
        lines += [
            imp,
            "try:",
            f"    {build}; out[{name!r}] = ['built', '']",
            "except BaseException as exc:",
            f"    out[{name!r}] = [type(exc).__name__, str(exc),"
            " isinstance(exc, ConfigurationError)]",
        ]
    lines.append("result = out")
    run = run_core(core, empty_dir, "\n".join(lines))
    for name, (_, _, extra) in STORES.items():
        kind, message, *config = run["result"][name]
        assert kind == "ConfigurationError", (name, kind, message)
        assert config == [True], name
        assert f"pip install 'secauth[{extra}]'" in message, (name, message)
    assert [m for m in run["modules"] if m.split(".")[0] in OPTIONAL] == []


@pytest.mark.parametrize(
    ("store", "extra"),
    [
        (["--redis", "redis://127.0.0.1:1/0"], "redis"),
        (["--dynamodb", "secauth-revoked"], "dynamodb"),
    ],
)
def test_revoke_cli_names_the_extra(
    core: Path, empty_dir: Path, store: list[str], extra: str
) -> None:
    out = subprocess.run(
        [
            str(core),
            "-I",
            "-m",
            "secauth",
            "revoke",
            "token",
            "abc",
            *store,
            "--region",
            "us-east-1",
            "--issuer",
            "https://idp/",
            "--max-token-lifetime",
            "3600",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=empty_dir,
        timeout=60,
    )
    assert out.returncode == 2
    assert f"pip install 'secauth[{extra}]'" in out.stderr
    assert "Traceback" not in out.stderr


ASYNC_GUARD = (
    "import asyncio, logging\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)\n"
    "from secauth import Guard, JwtVerifier\n"
    "from secauth.errors import ConfigurationError\n"
    "from secauth.testing import LocalIssuer\n"
    "from secauth.testing_events import rest_proxy\n"
    "ran = []\n"
    "with LocalIssuer(algs=('ES256',)) as idp:\n"
    "    token = idp.token(sub='bob', aud='api')\n"
    "    v = JwtVerifier(issuer=idp.issuer, audience='api', jwks_uri=idp.jwks_uri,"
    " allow_http=True)\n"
    "    guard = Guard(v)\n"
    "    async def handler(event, context, principal):\n"
    "        ran.append(principal.id)\n"
    "        return {'statusCode': 200, 'body': principal.id}\n"
    "    try:\n"
    "        wrapped = guard(handler)\n"
    "    except ConfigurationError as exc:\n"
    "        result = {'configuration_error': str(exc)}\n"
    "    else:\n"
    "        answer = wrapped(rest_proxy('GET', '/x', token=token), None)\n"
    "        if asyncio.iscoroutine(answer): answer = asyncio.run(answer)\n"
    "        result = {'status': answer['statusCode'], 'ran': ran, 'fetches': idp.fetches}\n"
)


@pytest.fixture(scope="module")
def async_guard(core: Path, empty_dir: Path) -> dict[str, Any]:
    return run_core(core, empty_dir, ASYNC_GUARD)


def test_async_handler_without_httpx_is_never_allowed(async_guard: dict[str, Any]) -> None:
    """Whatever else happens, a core install never lets the async handler run unverified."""
    result = async_guard["result"]
    if "configuration_error" in result:
        assert "secauth[async]" in result["configuration_error"]
    else:
        assert result["ran"] == []
        assert result["status"] in (500, 503)
    assert "httpx" not in async_guard["modules"]


# fmt: off
def test_async_handler_without_httpx_fails_at_configuration(async_guard: dict[str, Any]) -> None:
    """Decorating an async handler whose verifier must fetch keys, with httpx missing, should
    raise ConfigurationError naming the extra (at init, not on each request)."""
    assert "secauth[async]" in async_guard["result"].get("configuration_error", "")
# fmt: on


ASYNC_VERIFY = (
    "import asyncio, logging\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)\n"
    "from secauth import JwtVerifier\n"
    "from secauth.errors import KeysUnavailable\n"
    "from secauth.testing import LocalIssuer\n"
    "with LocalIssuer(algs=('ES256',)) as idp:\n"
    "    token = idp.token(sub='bob', aud='api')\n"
    "    v = JwtVerifier(issuer=idp.issuer, audience='api', jwks_uri=idp.jwks_uri,"
    " allow_http=True)\n"
    "    try:\n"
    "        asyncio.run(v.verify_async(token))\n"
    "        result = {'verified': True}\n"
    "    except KeysUnavailable as exc:\n"
    "        result = {'refused': exc.reason.value, 'cause': exc.detail.get('cause')}\n"
)


# fmt: off
def test_async_fetch_without_httpx_logs_the_extra(core: Path, empty_dir: Path) -> None:
    """When the async fetch fails for want of httpx (``verify_async`` called directly, no
    Guard to refuse it at startup), the operator's log and the refusal's cause say what to
    install."""
    run = run_core(core, empty_dir, ASYNC_VERIFY)
    assert run["result"]["refused"] == "keys_unavailable"
    assert run["result"]["cause"]["kind"] == "missing_dependency"
    assert "secauth[async]" in run["stdout"] + run["stderr"]
# fmt: on


# fmt: off
def test_powertools_module_without_powertools(core: Path, empty_dir: Path) -> None:
    """The module promises it imports without Powertools: its star-import must work, and the
    Powertools-only name must say which extra to install."""
    run = run_core(
        core, empty_dir,
        "out = {}\n"
        "try:\n    exec('from secauth.integrations.powertools import *', {}); out['star'] = 'ok'\n"
        "except BaseException as exc: out['star'] = type(exc).__name__\n"
        "import secauth.integrations.powertools as pt\n"
        "try:\n    pt.guard_handler; out['guard_handler'] = 'resolved'\n"
        "except BaseException as exc: out['guard_handler'] = str(exc)\n"
        "result = out",
    )
    assert run["result"]["star"] == "ok"
    assert "secauth[powertools]" in run["result"]["guard_handler"]
# fmt: on


# --- import time ------------------------------------------------------------------------------


def _importtime_names(core: Path, cwd: Path, code: str) -> set[str]:
    out = subprocess.run(
        [str(core), "-I", "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return {
        line.rsplit("|", 1)[1].strip()
        for line in out.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    } - {"imported package"}


def test_importtime_import_secauth_loads_only_itself(core: Path, empty_dir: Path) -> None:
    baseline = _importtime_names(core, empty_dir, "pass")
    names = _importtime_names(core, empty_dir, "import secauth")
    assert "site" in baseline  # the parse works
    assert names - baseline == {"secauth", "__future__"}


def test_building_an_authorizer_and_guard_loads_nothing_heavy(core: Path, empty_dir: Path) -> None:
    """Construction alone (the init phase of a Lambda) with keys from a URL: no optional
    package, and neither the fetcher's ssl/http.client nor asyncio/inspect/logging.handlers."""
    run = run_core(
        core,
        empty_dir,
        "from secauth import Authorizer, Guard, JwtVerifier, Routes, roles\n"
        "v = JwtVerifier(issuer='https://idp.example/', audience='api',"
        " jwks_uri='https://idp.example/jwks.json')\n"
        "a = Authorizer(v, routes=Routes({'GET /x': roles('admin')}))\n"
        "g = Guard(v)\n"
        "@g.require(roles('admin'))\n"
        "def h(event, context, principal):\n    return {'statusCode': 200}\n"
        "result = True",
    )
    assert heavy(run["modules"]) == []


# fmt: off
def test_rate_limiter_loads_no_inspect(core: Path, empty_dir: Path) -> None:
    """An in-memory per-IP limit on a Guard (the usual setup) should not pull ``inspect`` (and
    ast, dis, tokenize) into every cold start: ``ratelimit/plans.py`` imports ``api_keys`` for
    one helper, and ``api_keys`` imports ``dataclasses``, which imports ``inspect``."""
    run = run_core(
        core, empty_dir,
        "from secauth import Guard, JwtVerifier, RateLimiter\n"
        "v = JwtVerifier(issuer='https://idp.example/', audience='api',"
        " jwks_uri='https://idp.example/jwks.json')\n"
        "g = Guard(v, rate_limit=RateLimiter.per_ip('10/second'))\n"
        "result = True",
    )
    assert heavy(run["modules"]) == []
# fmt: on
