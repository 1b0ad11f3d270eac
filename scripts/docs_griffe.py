"""Griffe extension for the API reference (mkdocs.yml loads it): secauth's docstrings are
numpy-style with doctest examples; this makes them render as such in Markdown.

* ``Example`` / ``-------`` (the house spelling) becomes numpy's ``Examples`` section.
* A doctest run (``>>>`` lines up to the next blank line) outside an Examples section
  gets an ``Examples`` header when it follows another section (so it is not parsed as a
  parameter), or a ``pycon`` fence in the description (so ``x["a"]["b"]`` is code, not
  a Markdown reference link).
* Sphinx roles (``:class:`~secauth.access.Routes```) render as inline code.

The docstrings themselves stay plain text for ``help()`` and ``--doctest-modules``.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_ROLE = re.compile(r":(?:class|func|meth|data|attr|mod|exc|obj):`~?([^`]+)`")
_UNDERLINE = re.compile(r"^-{3,}\s*$")


def _role(match: re.Match[str]) -> str:
    target = match.group(1)
    shown = target.rsplit(".", 1)[-1] if match.group(0).count("~") else target
    return f"``{shown}``"


def normalize(text: str) -> str:
    """The docstring ``text`` with the changes described in the module docstring."""
    lines = text.split("\n")
    out: list[str] = []
    section: str | None = None  # the current numpy section, None in the description
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _UNDERLINE.match(nxt.strip()) and len(nxt.strip()) >= len(line.strip()):
            title = line.strip()
            if title == "Example":
                title = "Examples"
            section = title.lower()
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + title, indent + "-" * len(title)]
            i += 2
            continue
        if line.lstrip().startswith(">>>") and section != "examples":
            run: list[str] = []
            while i < len(lines) and lines[i].strip():
                run.append(lines[i])
                i += 1
            if section is None:
                out += ["```pycon", *run, "```"]
            else:
                section = "examples"
                out += ["", "Examples", "--------", *run]
            continue
        out.append(_ROLE.sub(_role, line))
        i += 1
    return "\n".join(out)


class SecauthDocstrings(Extension):
    """Applies :func:`normalize` to every docstring as it is loaded."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = normalize(obj.docstring.value)
