"""What an :class:`~secauth.errors.InvalidFields` error says failed: for each broken rule a
:class:`FieldError` (the declared field's path and the rule's name), and :data:`RULES`,
every rule name one may hold. These are all a problem response tells the client about a
bad body: never a value from it. :mod:`secauth.errors` re-exports both.

>>> FieldError("address.zip", "required").public()
{'field': 'address.zip', 'rule': 'required'}
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RULES", "FieldError"]

#: Every rule name an :class:`InvalidFields` error (and so a problem response) may hold.
RULES = frozenset(
    {"required", "type", "choices", "min_length", "max_length", "pattern", "minimum",
     "maximum", "min_items", "max_items", "unexpected_fields"}
)  # fmt: skip


class FieldError(NamedTuple):
    """One broken rule: the declared field's path (``email``, ``address.zip``, ``tags[2]``;
    None for the body itself) and the rule's name (one of :data:`RULES`)."""

    field: str | None
    rule: str

    def public(self) -> dict[str, str]:
        """The entry of the problem response's ``errors`` list."""
        if self.field is None:
            return {"rule": self.rule}
        return {"field": self.field, "rule": self.rule}
