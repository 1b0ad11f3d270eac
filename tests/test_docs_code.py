"""Every ``python`` code block of the documentation runs, as written.

One mechanism for every page: ``README.md`` and each ``docs/**/*.md``. The blocks of a
page run in order in one namespace (a block may use names an earlier block of the same
page defined), so each page is one test. Blocks assert what the text around them says.

* A block with top-level ``await`` runs in an event loop.
* Nothing may leave loopback: DNS lookups and connections to any other host are refused
  and fail the page, even when the library swallows the error (a key source that could
  not be reached fails closed and only logs). Examples talk to
  ``secauth.testing.LocalIssuer`` instead of a real IdP.
* A block that cannot run here carries an explicit marker on the line before its fence,
  with the reason: ``<!-- not-run: needs a real Redis server -->``. Use it sparingly;
  every marker is listed by ``test_not_run_markers_are_few_and_explained``.
* Python fences must say ``python``: ``py``, ``python3`` and ``pycon`` are refused, so no
  block escapes execution by its spelling.
* A page that shows the files of a project marks each file block with its path as a
  ``title`` attribute on the fence (rendered above the block)::

      ```python title="src/orders.py"

  Those blocks are files, not steps of one session: they are left out of the page's
  shared-namespace run and tested as files in a temporary project by the page's own
  test (``docs/tutorial.md``: ``tests/test_tutorial_project.py``, which reads them with
  :func:`file_blocks`). A page with file blocks must have such a test
  (``FILE_PAGE_TESTS``).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import ipaddress
import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
TITLE = re.compile(r'(?:^|\s)title="(?P<title>[^"]+)"')
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(?P<reason>\S.*?)\s*-->$")
PYTHON_ALIASES = {"py", "python3", "py3", "pycon", "ipython"}

# The markers the docs may carry, page -> how many. A new one is a decision to review:
# add it here with the reason in the page.
ALLOWED_NOT_RUN: dict[str, int] = {}
# Pages with file blocks (``title="path"``) -> the test that runs them as a project.
FILE_PAGE_TESTS: dict[str, str] = {"docs/tutorial.md": "tests/test_tutorial_project.py"}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    page: str
    line: int  # 1-based line of the first code line
    lang: str
    code: str
    not_run: str | None  # the reason of a ``not-run`` marker, if any
    title: str | None = None  # a file block's path (``title="src/app.py"`` on the fence)


def blocks_of(text: str, page: str = "page.md") -> list[Block]:
    """The fenced code blocks of ``text``, with the ``not-run`` marker before each, if any."""
    lines = text.split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], match["indent"]
        lang = match["info"].strip().split(" ")[0].strip("{}.").lower()
        title = TITLE.search(match["info"])
        start = i + 1
        end = start
        while end < len(lines):
            closing = lines[end].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            end += 1
        body = [line.removeprefix(indent) for line in lines[start:end]]
        previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = NOT_RUN.match(previous)
        found.append(
            Block(
                page,
                start + 1,
                lang,
                "\n".join(body) + "\n",
                marker["reason"] if marker else None,
                title["title"] if title else None,
            )
        )
        i = end + 1
    return found


def _page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _python_blocks(path: Path) -> list[Block]:
    """The blocks of the page's shared-namespace run: python blocks that are not files."""
    return [
        b
        for b in blocks_of(path.read_text("utf-8"), _page_id(path))
        if b.lang == "python" and b.title is None
    ]


def file_blocks(path: Path) -> dict[str, str]:
    """A page's file blocks: path -> content, in page order; a path shown twice is refused."""
    files: dict[str, str] = {}
    for b in blocks_of(path.read_text("utf-8"), _page_id(path)):
        if b.title is not None:
            assert b.title not in files, f"{b.page}:{b.line}: {b.title} is shown twice"
            files[b.title] = b.code
    return files


# --- the loopback fence ----------------------------------------------------------------------


def _loopback(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard, used to bind
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse (and record) every DNS lookup or connection to a host that is not loopback."""
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            attempts.append(f"DNS lookup of {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, "docs examples stay on loopback")
        return real_getaddrinfo(host, port, *args, **kwargs)

    def refuse(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            attempts.append(f"connection to {address!r}")
            raise OSError(101, "docs examples stay on loopback")

    def connect(sock: socket.socket, address: Any) -> None:
        refuse(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        refuse(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    # boto3 clients built by examples must find credentials without asking the network.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "docs-example",
        "AWS_SECRET_ACCESS_KEY": "docs-example",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    return attempts


def run_page(blocks: list[Block], namespace: dict[str, Any]) -> None:
    """Run ``blocks`` in order in ``namespace``; errors point at the page and its line."""
    for block in blocks:
        if block.not_run is not None:
            continue
        # Leading newlines make tracebacks show the Markdown line numbers.
        source = "\n" * (block.line - 1) + block.code
        code = compile(source, block.page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        if code.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(code, namespace))  # a block with top-level await
        else:
            exec(code, namespace)


# --- the tests ----------------------------------------------------------------------------------


def _secauth_loggers() -> dict[str, tuple[int, list[logging.Handler]]]:
    return {
        name: (logger.level, list(logger.handlers))
        for name, logger in logging.root.manager.loggerDict.items()
        if name.startswith("secauth") and isinstance(logger, logging.Logger)
    }


@pytest.mark.parametrize("path", [p for p in PAGES if _python_blocks(p)], ids=_page_id)
def test_page_examples_run(
    path: Path,
    loopback_only: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The page's python blocks run in order without error, their asserts hold, none of
    them tries to reach a host beyond loopback, and secauth's loggers are left as found."""
    monkeypatch.chdir(tmp_path)  # files an example writes land in a temporary directory
    caplog.set_level(logging.INFO)  # as a function logging at INFO: every record is built
    loggers = _secauth_loggers()
    environ = dict(os.environ)
    try:
        run_page(_python_blocks(path), {"__name__": f"docs:{_page_id(path)}"})
    finally:
        os.environ.clear()  # examples configure themselves through the environment
        os.environ.update(environ)
    assert loopback_only == [], f"{_page_id(path)} tried to leave loopback: {loopback_only}"
    assert {k: v for k, v in _secauth_loggers().items() if k in loggers} == loggers


def test_python_fences_say_python() -> None:
    """No Python block hides from this test behind another fence spelling."""
    misspelled = [
        f"{b.page}:{b.line} ```{b.lang}"
        for path in PAGES
        for b in blocks_of(path.read_text("utf-8"), _page_id(path))
        if b.lang in PYTHON_ALIASES
    ]
    assert misspelled == [], "use ```python (run by this test) or a not-run marker"


def test_not_run_markers_are_few_and_explained() -> None:
    """Every ``not-run`` marker stands before a python block and is one of the reviewed ones."""
    counts: dict[str, int] = {}
    for path in PAGES:
        for b in blocks_of(path.read_text("utf-8"), _page_id(path)):
            if b.not_run is not None:
                assert b.lang == "python", f"{b.page}:{b.line}: a not-run marker on a {b.lang} block"
                counts[b.page] = counts.get(b.page, 0) + 1
    assert counts == ALLOWED_NOT_RUN


def test_pages_with_file_blocks_have_their_project_test() -> None:
    """A page that shows files (``title="path"``) is tested as a project by its own test."""
    with_files = {_page_id(p) for p in PAGES if file_blocks(p)}
    assert with_files == set(FILE_PAGE_TESTS)
    for test in FILE_PAGE_TESTS.values():
        assert (ROOT / test).is_file(), test


def test_markers_that_do_not_stand_before_a_fence_are_refused() -> None:
    """A ``not-run`` marker anywhere but right before a fence is a mistake (it skips nothing)."""
    stray = []
    for path in PAGES:
        lines = path.read_text("utf-8").split("\n")
        for number, line in enumerate(lines):
            if NOT_RUN.match(line.strip()):
                following = next((x for x in lines[number + 1 :] if x.strip()), "")
                if not FENCE.match(following):
                    stray.append(f"{_page_id(path)}:{number + 1}")
    assert stray == []


# --- the mechanism itself ---------------------------------------------------------------------


SAMPLE = """# Page

```python
x = 1
```

Text.

<!-- not-run: needs a real IdP -->

```python
raise SystemExit("never runs")
```

```sh
exit 1
```

````python
y = x + 1
s = '''
```
'''
````

```python
result = await asyncio.sleep(0, result=y * 10)
```
"""


def test_collector_reads_fences_markers_and_lines() -> None:
    """The collector finds each block with its language, first line and marker, and a
    longer fence is closed only by one as long."""
    blocks = blocks_of(SAMPLE)
    assert [(b.lang, b.line, b.not_run) for b in blocks] == [
        ("python", 4, None),
        ("python", 12, "needs a real IdP"),
        ("sh", 16, None),
        ("python", 20, None),
        ("python", 27, None),
    ]
    assert blocks[3].code == "y = x + 1\ns = '''\n```\n'''\n"


def test_collector_reads_file_titles() -> None:
    """``title="path"`` on a fence names a file block; other attributes do not."""
    text = '# p\n\n```python title="src/app.py"\nx = 1\n```\n\n```toml linenums="1"\na = 1\n```\n'
    assert [(b.lang, b.title) for b in blocks_of(text)] == [
        ("python", "src/app.py"),
        ("toml", None),
    ]


def test_runner_shares_a_namespace_skips_marked_blocks_and_awaits() -> None:
    """Blocks see earlier blocks' names, marked blocks do not run, top-level await works."""
    namespace: dict[str, Any] = {"asyncio": asyncio}
    blocks = blocks_of(SAMPLE)
    run_page(blocks[:2], namespace)  # the second block is marked not-run: it would exit
    assert namespace["x"] == 1
    run_page([blocks[3], blocks[4]], namespace)
    assert namespace["result"] == 20


def test_runner_reports_the_markdown_line() -> None:
    """A failing block's traceback names the page and the Markdown line of the failure."""
    text = "# t\n\n```python\nok = True\nassert not ok, 'the text lies'\n```\n"
    with pytest.raises(AssertionError, match="the text lies") as exc:
        run_page(blocks_of(text, "docs/t.md"), {})
    frame = exc.traceback[-1]
    assert (str(frame.path), frame.lineno + 1) == ("docs/t.md", 5)


def test_loopback_fence_refuses_other_hosts(loopback_only: list[str]) -> None:
    """The fence refuses a lookup of a public name and a connection to a public address,
    records both, and lets loopback through."""
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("idp.example.com", 443)
    with socket.socket() as sock, pytest.raises(OSError, match="loopback"):
        sock.connect(("192.0.2.1", 443))
    assert socket.getaddrinfo("127.0.0.1", 80)
    assert loopback_only == ["DNS lookup of 'idp.example.com'", "connection to ('192.0.2.1', 443)"]
