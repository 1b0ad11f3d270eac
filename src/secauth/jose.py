"""Strict compact-JWS parsing: the token's shape, header and claims set.

No I/O and no clock here: :func:`parse` turns a token into its parts (or raises
a :class:`~secauth.errors.TokenError`). Keys, and the signature check bound to
their algorithms, are :mod:`secauth.jwk`'s (:class:`VerificationKey` is re-exported).

Example
-------
>>> from secauth.testing import KeyPair
>>> pair = KeyPair.generate("ES256", kid="k1")
>>> key = VerificationKey.from_jwk(pair.public_jwk)
>>> jws = parse(pair.sign({"sub": "alice"}))
>>> key.verify(jws.alg, jws.signing_input, jws.signature)
True
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from secauth._b64 import (
    B64Error,
    b64url_decode,
    decode_checked_alphabet,
    loads_strict,
    loads_strict_text,
    max_depth_exceeds,
)
from secauth.errors import InvalidSignature, KeyImportError, MalformedToken
from secauth.jwk import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    VerificationKey,
)

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_MAX_TOKEN_SIZE",
    "HMAC_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "Header",
    "Jws",
    "KeyImportError",
    "Segments",
    "VerificationKey",
    "parse",
    "parse_claims",
    "parse_claims_text",
    "parse_header",
    "split_compact",
]

DEFAULT_MAX_TOKEN_SIZE: Final = 16 * 1024
MAX_JSON_DEPTH: Final = 16


# Header parameters that would let the token choose its own key (RFC 7515 4.1.2-4.1.6).
KEY_BEARING_HEADERS: Final = ("jwk", "jku", "x5u", "x5c")

# The base64url alphabet: deleted from a token's bytes, a compact JWS leaves its two dots.
_BASE64URL: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class Jws(NamedTuple):
    """The parts of a compact JWS whose structure and header passed the strict checks."""

    header: dict[str, Any]
    alg: str
    kid: str | None
    signing_input: bytes
    signature: bytes
    payload_segment: str


class Segments(NamedTuple):
    """A compact JWS split into its parts; only the signature is decoded."""

    header_segment: str
    payload_segment: str
    signing_input: bytes
    signature: bytes


class Header(NamedTuple):
    """A JOSE header that passed the strict checks."""

    header: dict[str, Any]
    alg: str
    kid: str | None


def split_compact(token: object, *, max_size: int = DEFAULT_MAX_TOKEN_SIZE) -> Segments:
    """Check the shape of a compact JWS and split it; every segment is canonical base64url.

    >>> split_compact("e30.e30.AA").signature
    b'\\x00'
    """
    if type(token) is not str:
        raise MalformedToken(detail={"problem": "token is not a string"})
    if len(token) > max_size:
        raise MalformedToken(detail={"problem": "token too large", "limit": max_size})
    # Three non-empty parts of base64url characters. (One C-level pass over the bytes: a
    # regular expression over a whole token cost twice as much.)
    raw = token.encode("ascii") if token.isascii() else b""
    first = token.find(".")
    second = token.find(".", first + 1)
    if (
        raw.translate(None, _BASE64URL) != b".."
        or first < 1
        or second == first + 1
        or second == len(token) - 1
    ):
        problem = (
            "encrypted (JWE) tokens are not accepted"
            if token.count(".") == 4
            else "not a compact JWS of three base64url parts"
        )
        raise MalformedToken(detail={"problem": problem})
    try:
        signature = decode_checked_alphabet(token[second + 1 :])
    except B64Error as exc:
        raise MalformedToken(detail={"problem": f"signature: {exc}"}) from None
    return Segments(token[:first], token[first + 1 : second], raw[:second], signature)


def parse_header(segment: str) -> Header:
    """Decode and check a protected header segment (already known to be base64url characters).

    >>> parse_header("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0").kid
    'k1'
    """
    try:
        header = loads_strict(decode_checked_alphabet(segment))
    except (B64Error, ValueError, RecursionError) as exc:
        raise MalformedToken(detail={"problem": f"header: {_why(exc)}"}) from None
    if type(header) is not dict:
        raise MalformedToken(detail={"problem": "header is not a JSON object"})
    alg, kid = _check_header(header)
    return Header(header, alg, kid)


def parse(token: object, *, max_size: int = DEFAULT_MAX_TOKEN_SIZE) -> Jws:
    """Split and check a compact JWS; the payload is left encoded until the signature holds.

    Raises :class:`~secauth.errors.MalformedToken` for anything that is not a
    canonical three-part JWS with a sound header (JWE, nested JWT, ``crit``,
    ``b64: false``, key-bearing headers, padding, junk characters, oversize).

    >>> parse("e30.e30.AA")
    Traceback (most recent call last):
    ...
    secauth.errors.MalformedToken: malformed token (malformed_token)
    """
    segments = split_compact(token, max_size=max_size)
    header, alg, kid = parse_header(segments.header_segment)
    return Jws(
        header, alg, kid, segments.signing_input, segments.signature, segments.payload_segment
    )


# Header parameters needing no check beyond their type; anything else takes the slow path.
_PLAIN_HEADERS: Final = frozenset({"alg", "kid", "typ"})
# Registered header parameters whose value must be a string when present (RFC 7515 4.1).
_STRING_HEADERS: Final = ("cty", "x5t", "x5t#S256")


def _check_header(header: dict[str, Any]) -> tuple[str, str | None]:
    alg = header.get("alg")
    if type(alg) is not str:
        raise MalformedToken(detail={"problem": "header alg missing or not a string"})
    if alg.lower() == "none":
        raise InvalidSignature(detail={"problem": "unsigned token (alg none)"})
    if not header.keys() <= _PLAIN_HEADERS:
        _check_rare_headers(header)
    # Present means checked: "kid": null is not an absent kid (RFC 7515 4.1.4, 4.1.9).
    if "typ" in header and type(header["typ"]) is not str:
        raise MalformedToken(detail={"problem": "header typ is not a string"})
    kid = header.get("kid")
    if type(kid) is not str and "kid" in header:
        raise MalformedToken(detail={"problem": "header kid is not a string"})
    return alg, kid


def _check_rare_headers(header: dict[str, Any]) -> None:
    for name in KEY_BEARING_HEADERS:
        if name in header:
            raise MalformedToken(detail={"problem": f"header carries key material ({name})"})
    if "crit" in header:
        # We implement no JWS extensions, so any critical extension must be refused (RFC 7515 4.1.11).
        raise MalformedToken(detail={"problem": "unsupported critical header (crit)"})
    if "b64" in header and header["b64"] is not True:
        raise MalformedToken(detail={"problem": "unencoded payload (b64) not accepted"})
    if "enc" in header or "zip" in header:
        raise MalformedToken(detail={"problem": "encrypted (JWE) tokens are not accepted"})
    for name in _STRING_HEADERS:
        if name in header and type(header[name]) is not str:
            raise MalformedToken(detail={"problem": f"header {name} is not a string"})
    cty = header.get("cty")
    if cty is not None and cty.lower().removeprefix("application/") == "jwt":
        raise MalformedToken(detail={"problem": "nested tokens are not accepted"})


def parse_claims(payload_segment: str) -> dict[str, Any]:
    """Decode a JWS payload that must be a JWT claims set (a JSON object).

    >>> parse_claims("eyJzdWIiOiJhIn0")
    {'sub': 'a'}
    """
    return parse_claims_text(payload_segment)[0]


def parse_claims_text(
    payload_segment: str, *, alphabet_checked: bool = False
) -> tuple[dict[str, Any], str]:
    """Like :func:`parse_claims`, also returning the payload's JSON text (for caching).

    ``alphabet_checked=True`` skips the character check that :func:`split_compact`
    already made for this segment.
    """
    try:
        payload = (
            decode_checked_alphabet(payload_segment)
            if alphabet_checked
            else b64url_decode(payload_segment)
        )
        text = payload.decode("utf-8")
        claims = loads_strict_text(text)
    except (B64Error, ValueError, RecursionError) as exc:
        raise MalformedToken(detail={"problem": f"payload: {_why(exc)}"}) from None
    if type(claims) is not dict:
        raise MalformedToken(detail={"problem": "payload is not a JSON object"})
    if max_depth_exceeds(claims, MAX_JSON_DEPTH, payload):
        raise MalformedToken(
            detail={"problem": "claims nested too deeply", "limit": MAX_JSON_DEPTH}
        )
    return claims, text


def _why(exc: BaseException) -> str:
    """Why a segment did not decode, in words that quote nothing from the token (a
    UnicodeDecodeError's text would show a byte of it)."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)  # secauth's own base64 and strict-JSON messages, and json's positions


def typ_matches(actual: str, expected: str) -> bool:
    """Compare ``typ`` values as media types: case-insensitive, ``application/`` optional.

    >>> typ_matches("application/AT+JWT", "at+jwt")
    True
    """
    a = actual.lower().removeprefix("application/")
    return a == expected.lower().removeprefix("application/")
