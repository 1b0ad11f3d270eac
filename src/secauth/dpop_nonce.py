"""Server-provided DPoP nonces (RFC 9449 sections 8 and 9), stateless, for a fleet of
Lambda containers.

A nonce limits how long a client can use a proof made in advance: with
``DpopVerifier(nonces=DpopNonces(...))`` every proof must carry a ``nonce`` claim the
server issued recently. A request without one, or with a bad or expired one, is refused
with 401 and ``WWW-Authenticate: DPoP error="use_dpop_nonce"``, and the response carries
a fresh nonce in ``DPoP-Nonce``; the client makes a new proof with it and retries.

Nothing is stored. A nonce is ``base64url(window || HMAC-SHA256(secret, window)[:16])``,
where ``window`` is ``floor(now / lifetime)``: every container that holds the same secret
issues the same nonce in a window and accepts the nonces of the current and the
previous window, so a nonce lives between ``lifetime`` and ``2 x lifetime`` seconds. To
rotate the secret, deploy the new one with the old one in ``previous_secrets`` (accepted,
never issued), then drop it after ``2 x lifetime``.

Nonces are not secrets (anyone may ask for one), but they are never logged: refusals
carry only a reason (``proof has no nonce``, ``... not issued here``, ``... expired``).

Example
-------
>>> secret = b"0123456789abcdef0123456789abcdef"
>>> now = [1000.0]
>>> nonces = DpopNonces(secret=secret, lifetime=300, clock=lambda: now[0])
>>> nonce = nonces.issue()
>>> nonces.check(nonce) is None  # a container with the same secret accepts it too
True
>>> now[0] += 600  # two windows later
>>> nonces.check(nonce)
'proof nonce expired'
>>> DpopNonces(secret=b"short")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
secauth.errors.ConfigurationError: DpopNonces secret must be at least 32 bytes (256 bits) ...
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable, Iterable
from typing import Final

from secauth._b64 import B64Error, b64url_decode, b64url_encode
from secauth.errors import ConfigurationError

__all__ = ["MIN_SECRET_BYTES", "NONCE_HEADER", "DpopNonces"]

#: The shortest secret accepted, in bytes.
MIN_SECRET_BYTES: Final = 32
#: The response header that carries a fresh nonce (RFC 9449 section 8.1).
NONCE_HEADER: Final = "DPoP-Nonce"
_CONTEXT: Final = b"secauth DPoP-Nonce v1\x00"
_TAG_BYTES: Final = 16
_NONCE_CHARS: Final = 32  # base64url of 8 + 16 bytes


class DpopNonces:
    """Issues and checks stateless server nonces; give it to ``DpopVerifier(nonces=...)``.

    Parameters
    ----------
    secret:
        At least :data:`MIN_SECRET_BYTES` bytes (a str is taken as UTF-8), the same in
        every container that checks proofs (from Secrets Manager or an encrypted
        environment variable; ``secrets.token_bytes(32)`` makes one).
    lifetime:
        The window, 10 to 86400 seconds (default 300): a nonce is accepted in the window
        it was issued and the next one.
    previous_secrets:
        Secrets being rotated out: nonces made with them are accepted, never issued.
    clock:
        Seconds since the epoch (tests pass their own).
    """

    __slots__ = ("_clock", "_secrets", "lifetime")

    def __init__(
        self,
        *,
        secret: bytes | str,
        lifetime: float = 300.0,
        previous_secrets: Iterable[bytes | str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(previous_secrets, bytes | str):
            raise ConfigurationError("DpopNonces previous_secrets is a list of secrets")
        self._secrets = tuple(_secret(s) for s in (secret, *previous_secrets))
        if (
            isinstance(lifetime, bool)
            or not isinstance(lifetime, int | float)
            or not 10 <= lifetime <= 86400
        ):
            raise ConfigurationError("DpopNonces lifetime is 10 to 86400 seconds")
        if not callable(clock):
            raise ConfigurationError("DpopNonces clock is a callable() -> epoch seconds")
        self.lifetime = float(lifetime)
        self._clock = clock

    def __repr__(self) -> str:
        return f"DpopNonces(lifetime={self.lifetime:g})"  # never the secret

    def issue(self) -> str:
        """The nonce of the current window (the same in every container)."""
        return self._nonce(self._window(), self._secrets[0])

    def check(self, nonce: object) -> str | None:
        """None when ``nonce`` was issued with one of the secrets in the current or the
        previous window; else why not, in words that never quote it."""
        if nonce is None:
            return "proof has no nonce"
        if type(nonce) is not str or len(nonce) != _NONCE_CHARS:
            return "proof nonce was not issued here"
        try:
            raw = b64url_decode(nonce)
        except B64Error:
            return "proof nonce was not issued here"
        window = int.from_bytes(raw[:8], "big", signed=True)
        if not any(hmac.compare_digest(nonce, self._nonce(window, s)) for s in self._secrets):
            return "proof nonce was not issued here"
        current = self._window()
        if window == current or window == current - 1:
            return None
        return "proof nonce expired" if window < current else "proof nonce is from a later window"

    def _window(self) -> int:
        return math.floor(self._clock() / self.lifetime)

    @staticmethod
    def _nonce(window: int, secret: bytes) -> str:
        counter = window.to_bytes(8, "big", signed=True)
        tag = hmac.digest(secret, _CONTEXT + counter, "sha256")[:_TAG_BYTES]
        return b64url_encode(counter + tag)


def _secret(value: object) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if not isinstance(raw, bytes | bytearray) or len(raw) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"DpopNonces secret must be at least {MIN_SECRET_BYTES} bytes (256 bits) of random "
            "data, the same in every container; such as secrets.token_bytes(32) kept in "
            "Secrets Manager"
        )
    if len(set(raw)) == 1:
        raise ConfigurationError("DpopNonces secret is one byte repeated: use random bytes")
    return bytes(raw)
