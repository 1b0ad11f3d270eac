"""Every ``python`` block of docs/ratelimit.md runs, in order, in one namespace.

``py`` blocks (which need a Redis or DynamoDB server) are left out on purpose.
"""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "ratelimit.md"


def test_docs_examples_run() -> None:
    """The examples of docs/ratelimit.md are correct as written (their asserts hold)."""
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text("utf-8"), re.M | re.S)
    assert len(blocks) >= 8
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/ratelimit.md block {number}", "exec"), namespace)
