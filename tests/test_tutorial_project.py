"""``docs/tutorial.md`` as a project: its files, written exactly as the page shows them.

The page marks each file block with its path (``title="src/auth.py"`` on the fence; see
``tests/test_docs_code.py``). Here they are written into an empty folder and run as the
page says, each step in a fresh Python process with only that project (and the
installed secauth) on ``sys.path``:

* each module of ``src/`` imports on its own, as Lambda imports a handler's module
  (``auth`` with its environment pointing at a live ``LocalIssuer``, ``orders`` and
  ``routes`` with none: they build no verifier);
* the project's tests pass under ``pytest -q`` (the page's command), every one of them;
* the tests catch the mistakes the page once had: ``orders.py`` without ``import json``
  or without importing ``ROUTES``, and an ``auth.py`` whose keys are loaded once, which
  cannot see the key rotation the tests do;
* ``template.yaml`` passes cfn-lint.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from test_docs_code import ROOT, file_blocks

from secauth.testing import LocalIssuer

PAGE = ROOT / "docs" / "tutorial.md"
FILES = file_blocks(PAGE)
EXPECTED = {
    "pyproject.toml",
    "src/routes.py",
    "src/auth.py",
    "src/orders.py",
    "tests/conftest.py",
    "tests/test_auth.py",
    "tests/test_orders.py",
    "template.yaml",
    "src/serverless.yml",
}
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def lay_out(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would leak the repository into the project: no
    PYTHONPATH, no pytest or xdist settings; plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PYTHONPATH" and not k.startswith(("PYTEST_", "SECAUTH_"))
    }
    env.update(PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def run(args: list[str], project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def import_alone(project: Path, module: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``import module`` in a fresh process (``-P``: not the current folder, only
    ``src/`` of the project on the path), as Lambda imports a handler's module."""
    return run(["-P", "-c", f"import {module}"], project, PYTHONPATH=str(project / "src"), **env)


def project_tests(project: Path) -> subprocess.CompletedProcess[str]:
    return run(["-m", "pytest", "-q", "-p", "no:cacheprovider"], project)


def replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the page no longer has {old!r}: update this test"
    return text.replace(old, new)


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(algs=("ES256",)) as issuer:
        yield issuer


def test_the_page_shows_every_file_of_the_project() -> None:
    assert set(FILES) == EXPECTED


def test_each_module_imports_alone(tmp_path: Path, idp: LocalIssuer) -> None:
    """Each module of ``src/`` imports in a fresh process, as on Lambda."""
    project = lay_out(tmp_path, FILES)
    for module in ("routes", "orders"):
        done = import_alone(project, module)
        assert done.returncode == 0, f"import {module}:\n{done.stderr}"
    done = import_alone(
        project,
        "auth",
        SECAUTH_ISSUER=idp.issuer,
        SECAUTH_AUDIENCE="orders-api",
        SECAUTH_JWKS_URI=idp.jwks_uri,
        SECAUTH_LOCAL_IDP="1",
    )
    assert done.returncode == 0, f"import auth:\n{done.stderr}"
    assert idp.fetches == 1  # hydrate() fetched the keys at import
    # Deployed (no SECAUTH_LOCAL_IDP), the plain-http local issuer is refused.
    done = import_alone(
        project,
        "auth",
        SECAUTH_ISSUER=idp.issuer,
        SECAUTH_AUDIENCE="orders-api",
        SECAUTH_JWKS_URI=idp.jwks_uri,
    )
    assert done.returncode != 0
    assert "must use https" in done.stderr


def test_the_project_tests_pass(tmp_path: Path) -> None:
    """``pytest -q`` in the project: every test the page shows runs and passes."""
    done = project_tests(lay_out(tmp_path, FILES))
    assert done.returncode == 0, done.stdout + done.stderr
    shown = sum(len(re.findall(r"^def test_", FILES[name], re.M)) for name in FILES)
    counted = re.search(r"(\d+) passed", done.stdout)
    assert counted is not None, done.stdout
    assert int(counted[1]) >= shown  # parametrized tests count more than once
    assert not re.search(r"\d+ (failed|error|skipped|xfailed|deselected)", done.stdout)


def test_the_tests_catch_a_missing_json_import(tmp_path: Path) -> None:
    """The handler's NameError becomes a 500 (the guard never leaks it), and the page's
    test of ``get_order`` fails."""
    files = dict(FILES)
    files["src/orders.py"] = replaced(files["src/orders.py"], "import json\n", "")
    done = project_tests(lay_out(tmp_path, files))
    assert done.returncode == 1
    assert "FAILED tests/test_orders.py::test_get_order" in done.stdout


def test_a_missing_routes_import_fails_at_import(tmp_path: Path) -> None:
    files = dict(FILES)
    files["src/orders.py"] = replaced(files["src/orders.py"], "from routes import ROUTES\n", "")
    done = import_alone(lay_out(tmp_path, files), "orders")
    assert done.returncode == 1
    assert "NameError: name 'ROUTES' is not defined" in done.stderr


def test_the_rotation_test_fails_when_keys_are_loaded_once(tmp_path: Path) -> None:
    """An ``auth.py`` that reads the key set once (as the page's static ``SECAUTH_JWKS``
    once did) passes the tests before the rotation and fails from the rotation test on
    (the later tests use the new key too)."""
    files = dict(FILES)
    files["src/auth.py"] = replaced(
        files["src/auth.py"],
        "        return JwksCache(uri, allow_http=True, refetch_cooldown=0)\n",
        "        import json, urllib.request\n"
        "        from secauth import StaticKeys\n"
        "        return StaticKeys(json.load(urllib.request.urlopen(uri)))  # read once\n",
    )
    done = project_tests(lay_out(tmp_path, files))
    assert done.returncode == 1
    failed = re.findall(r"^FAILED (\S+)", done.stdout, re.M)
    assert failed[0] == "tests/test_auth.py::test_tokens_signed_with_a_new_key_are_accepted"
    assert done.stdout.startswith(".....F"), done.stdout  # the five tests before it pass


def test_the_sam_template_passes_cfn_lint(tmp_path: Path) -> None:
    if not CFN_LINT.exists():
        pytest.skip("cfn-lint is not installed in this environment (a dev extra)")
    lay_out(tmp_path, FILES)
    done = subprocess.run(
        [str(CFN_LINT), "template.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
