"""docs/errors.md lists every error class and every reason code, and nothing else.

The lists come from the code, so the page cannot drift from it:

* error classes: every subclass of ``SecAuthError`` defined in a ``secauth`` module (every
  module of the package is imported first, so a class added anywhere counts);
* reason codes: every ``Reason`` value, plus the reason strings the code writes outside the
  enum: a ``reason=`` (or ``*_reason=``) keyword or a ``"reason"`` dict key with a string
  literal value, anywhere in ``src/secauth`` (decision records and log ``extra``).

On the page, a table whose header starts with ``class`` lists classes in its first cell
(and, when the second header is ``reason``, each class's reason code in its second); a
table whose header starts with ``reason`` lists reason codes. The prose around the tables
is written by people: this test only checks coverage, and that a class's row names the
reason the class really has.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import secauth
from secauth.errors import Reason, SecAuthError

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "errors.md"
SRC = ROOT / "src" / "secauth"
CODE = re.compile(r"`([^`]+)`")


def error_classes() -> dict[str, type[SecAuthError]]:
    """Every public SecAuthError subclass defined in secauth, by name."""
    for module in pkgutil.walk_packages(secauth.__path__, "secauth."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: dict[str, type[SecAuthError]] = {}
    todo: list[type[SecAuthError]] = [SecAuthError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("secauth.") and not cls.__name__.startswith("_"):
            assert found.setdefault(cls.__name__, cls) is cls, f"two classes named {cls.__name__}"
    return found


def _is_reason_name(name: str | None) -> bool:
    return name is not None and (name == "reason" or name.endswith("_reason"))


def literal_reasons(root: Path = SRC) -> set[str]:
    """Reason strings written as literals in the source: ``reason="..."`` keywords (either
    branch of a conditional) and ``{"reason": "..."}`` entries (docstrings are not code, so
    their examples do not count)."""
    found: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            pairs: list[tuple[str | None, ast.expr]] = []
            if isinstance(node, ast.Call):
                pairs = [(k.arg, k.value) for k in node.keywords]
            elif isinstance(node, ast.Dict):
                pairs = [
                    (k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None,
                     v)
                    for k, v in zip(node.keys, node.values, strict=True)
                ]  # fmt: skip
            for name, value in pairs:
                # ``reason="x" if ... else err.reason.value`` names "x" too.
                choices = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
                for choice in choices:
                    literal = choice.value if isinstance(choice, ast.Constant) else None
                    if _is_reason_name(name) and isinstance(literal, str):
                        found.add(literal)
    return found


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """The Markdown tables of ``text``: (header cells, body rows of cells)."""
    out: list[tuple[list[str], list[list[str]]]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            if i > 0 and lines[i - 1].startswith("|"):
                continue  # not a header: the row above belongs to the same table
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(_cells(row))
            out.append((_cells(line), rows))
    return out


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _name(cell: str) -> str:
    match = CODE.fullmatch(cell)
    assert match is not None, f"the first cell of a class or reason row is one `name`: {cell!r}"
    return match.group(1)


def documented(text: str) -> tuple[dict[str, set[str]], set[str]]:
    """The page's classes (with the reason codes their rows name) and its listed reasons."""
    classes: dict[str, set[str]] = {}
    reasons: set[str] = set()
    for header, rows in tables(text):
        first = header[0].lower()
        if first == "class":
            with_reason = len(header) > 1 and header[1].lower() == "reason"
            for row in rows:
                named = classes.setdefault(_name(row[0]), set())
                if with_reason:
                    codes = set(CODE.findall(row[1]))
                    named |= codes
                    reasons |= codes
        elif first == "reason":
            reasons |= {_name(row[0]) for row in rows}
    return classes, reasons


def test_the_page_lists_every_error_class_and_no_other() -> None:
    classes, _ = documented(PAGE.read_text("utf-8"))
    in_code = set(error_classes())
    assert sorted(in_code - set(classes)) == [], "error classes missing from docs/errors.md"
    assert sorted(set(classes) - in_code) == [], "docs/errors.md lists classes that do not exist"


def test_each_class_row_names_the_class_s_reason() -> None:
    classes, _ = documented(PAGE.read_text("utf-8"))
    code = error_classes()
    wrong = {
        name: sorted(codes)
        for name, codes in classes.items()
        if codes and name in code and codes != {code[name].reason.value}
    }
    assert wrong == {}


def test_the_page_lists_every_reason_code_and_no_other() -> None:
    _, reasons = documented(PAGE.read_text("utf-8"))
    in_code = {reason.value for reason in Reason} | literal_reasons()
    assert sorted(in_code - reasons) == [], "reason codes missing from docs/errors.md"
    assert sorted(reasons - in_code) == [], "docs/errors.md lists reasons the code never uses"


def test_the_reason_scan_finds_keywords_and_dict_entries(tmp_path: Path) -> None:
    """The scan itself: keywords and dict keys count, docstring examples and other keys not."""
    (tmp_path / "m.py").write_text(
        'def f(record, log):\n'
        '    """>>> f(reason="in_a_docstring")"""\n'
        '    record.update(decision="x", reason="from_keyword")\n'
        '    log.warning("m", extra={"reason": "from_dict", "other": "not_a_reason"})\n'
        '    return dict(secauth_reason="suffixed")\n',
        "utf-8",
    )  # fmt: skip
    assert literal_reasons(tmp_path) == {"from_keyword", "from_dict", "suffixed"}


def test_the_check_sees_a_missing_row_and_an_extra_one() -> None:
    text = PAGE.read_text("utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `AbuseBlocked` |"))
    classes, reasons = documented(text.replace(row + "\n", ""))
    assert "AbuseBlocked" not in classes
    assert "abuse_blocked" not in reasons
    extra = "\n| reason | where |\n|---|---|\n| `gone_reason` | nowhere |\n"
    assert "gone_reason" in documented(text + extra)[1]
