"""Strict, canonical base64url (RFC 7515 section 2, no padding) and strict JSON for JOSE.

Python's own ``base64.urlsafe_b64decode`` skips characters outside the alphabet
and accepts padding and non-zero trailing bits, so one token could be written
many ways. Here every value has exactly one accepted spelling.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any, Final

__all__ = [
    "B64Error",
    "JsonLimitError",
    "b64url_decode",
    "b64url_encode",
    "decode_checked_alphabet",
    "loads_strict",
    "loads_strict_text",
    "max_depth_exceeds",
]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
# For a final group of 2 (or 3) characters, the low 4 (or 2) bits of the last one are unused
# and must be zero in the canonical encoding.
_UNUSED_BITS_MASK = {2: 0x0F, 3: 0x03}
_PADDING = {0: "", 2: "==", 3: "="}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


class B64Error(ValueError):
    """The text is not canonical unpadded base64url."""


def b64url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; raise :class:`B64Error` on anything else.

    >>> b64url_decode("aGk")
    b'hi'
    """
    if _SEGMENT.fullmatch(text) is None:
        raise B64Error("characters outside the base64url alphabet")
    return decode_checked_alphabet(text)


def decode_checked_alphabet(text: str) -> bytes:
    """Decode text already known to hold only base64url characters."""
    tail = len(text) % 4
    if tail == 1:
        raise B64Error("impossible base64url length")
    mask = _UNUSED_BITS_MASK.get(tail)
    if mask is not None and _VALUE[text[-1]] & mask:
        raise B64Error("non-canonical base64url trailing bits")
    try:
        # Straight to binascii: the alphabet is already checked, so nothing is skipped.
        return binascii.a2b_base64((text + _PADDING[tail]).encode("ascii").translate(_TO_STANDARD))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - guarded above
        raise B64Error("invalid base64url") from exc


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url.

    >>> b64url_encode(b"hi")
    'aGk'
    """
    # Straight to binascii, as decoding does (base64's wrappers add two Python calls).
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


class _DuplicateKey(ValueError):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey("duplicate member name")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


_STRICT_DECODER = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
)


class JsonLimitError(ValueError):
    """Valid JSON with an integer of more digits than Python converts (4300): about its
    size, not its form, like nesting past the recursion limit (``RecursionError``)."""


def loads_strict(data: bytes) -> Any:
    """Parse UTF-8 JSON strictly: no duplicate names, no NaN/Infinity, no BOM, no UTF-16.

    Raises ``ValueError`` on bad input; for valid JSON beyond the parser's limits,
    :class:`JsonLimitError` (an over-long integer) or ``RecursionError`` (absurd nesting).

    >>> loads_strict(b'{"a": 1}')
    {'a': 1}
    >>> loads_strict(b"1" * 5000)
    Traceback (most recent call last):
    ...
    secauth._b64.JsonLimitError: an integer too long to convert
    """
    return loads_strict_text(data.decode("utf-8"))


def loads_strict_text(text: str) -> Any:
    """:func:`loads_strict` for text already decoded from UTF-8."""
    try:
        return _STRICT_DECODER.decode(text)
    except ValueError as exc:
        if _INT_LIMIT in str(exc):
            raise JsonLimitError("an integer too long to convert") from None
        raise


# CPython's ValueError for an integer over sys.get_int_max_str_digits() (3.11 and later).
_INT_LIMIT: Final = "for integer string conversion"


def max_depth_exceeds(value: Any, limit: int, text: bytes) -> bool:
    """True when ``value`` (parsed from ``text``) nests objects/arrays deeper than ``limit``.

    Counting brackets in the raw text first makes the usual shallow token free.
    """
    if text.count(b"{") + text.count(b"[") <= limit:
        return False
    return _depth(value) > limit


def _depth(value: Any) -> int:
    stack: list[tuple[Any, int]] = [(value, 0)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest
