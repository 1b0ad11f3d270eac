"""The python blocks of docs/authorizer.md run, in order, in one namespace, as in
tests/test_access.py for docs/access.md. The blocks assert what the text around them says,
with keys made on the spot (no network)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def python_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text("utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("page", ["authorizer.md"])
def test_docs_python_blocks_run(page: str) -> None:
    """Every ``python`` block of the page runs without error (each block's asserts hold), and
    running them leaves the decision logger as it found it."""
    blocks = python_blocks(page)
    assert len(blocks) >= 9
    logger = logging.getLogger("secauth.decisions")
    level, handlers = logger.level, list(logger.handlers)
    namespace: dict[str, Any] = {"__name__": f"docs_{page.replace('.', '_')}"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/{page} block {number}", "exec"), namespace)
    assert (logger.level, logger.handlers) == (level, handlers)


def test_every_python_block_is_found() -> None:
    """The block pattern misses no fence: as many ``python`` blocks as opening fences."""
    text = (DOCS / "authorizer.md").read_text("utf-8")
    assert len(python_blocks("authorizer.md")) == text.count("\n```python\n")
