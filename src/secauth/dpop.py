"""DPoP proofs (RFC 9449): :class:`DpopVerifier` checks the ``DPoP`` header of a request
that presents ``Authorization: DPoP <token>``.

A DPoP-bound access token carries ``cnf: {"jkt": <thumbprint>}``: the RFC 7638
thumbprint of a public key whose private half only the client holds. With every request
the client signs a short JWT, the *proof*, over the request's method and URI, the time,
a unique ``jti`` and the hash of the token. The checks (RFC 9449 section 4.3), in order:

1. exactly one ``DPoP`` header, a compact JWS of at most ``max_proof_size`` characters;
2. header ``typ`` is ``dpop+jwt``; ``alg`` one of ``algorithms`` (asymmetric only: never
   ``none`` or HMAC); ``jwk`` a public key (no private members); no ``crit``, ``jku``,
   ``x5u``, ``x5c``, ``b64``;
3. the signature verifies with that ``jwk`` (:class:`~secauth.jwk.VerificationKey`);
4. claims ``jti`` (a string), ``htm`` equal to the request method, ``htu`` equal to the
   request URI (below), ``iat`` within ``max_age`` seconds in the past (``leeway`` in the
   future), ``ath`` equal to base64url(SHA-256(access token)) and, with ``nonces``, a
   ``nonce`` this server issued lately (below);
5. the key's thumbprint equals the token's ``cnf.jkt``;
6. last, the ``jti`` is recorded in the replay store for the key: seen before, refused.

The request URI
---------------
``htu`` is compared with the URI the client called, read from the event and normalized
(:mod:`secauth.dpop_uri`); behind a proxy that rewrites it, give ``public_url=`` or
``htu=``.

Errors: a bad proof is 401 :class:`~secauth.errors.InvalidDpopProof` (``DPoP
error="invalid_dpop_proof", algs="..."``); a replayed one
:class:`~secauth.errors.DpopProofReplayed`; a proof of another key than the token's
:class:`~secauth.errors.SenderConstraintError` (``error="invalid_token"``); a replay
store that cannot answer, 503 ``keys_unavailable``.

Server nonces
-------------
Without ``nonces`` a proof's ``nonce`` claim is ignored (RFC 9449: the server did not ask
for one). With ``nonces=DpopNonces(secret=..., lifetime=300)``
(:class:`~secauth.dpop_nonce.DpopNonces`: stateless, one secret shared by every
container) a proof with no nonce, or one not issued with that secret in the current or
the previous window, is a :class:`~secauth.errors.DpopNonceRequired` (an
``InvalidDpopProof``, reason ``use_dpop_nonce``). A :class:`~secauth.guard.Guard` answers
it with 401 ``WWW-Authenticate: DPoP error="use_dpop_nonce", ...`` and a fresh nonce in
``DPoP-Nonce``, and puts the current nonce on every response it admits with a DPoP proof,
so a client that keeps the last ``DPoP-Nonce`` it saw (RFC 9449 section 8.2) does not
meet an expired one while it calls at least once per lifetime. An
:class:`~secauth.authorizer.Authorizer` cannot send that header with its 401 and
refuses nonces (:class:`~secauth.errors.ConfigurationError`).

Example
-------
>>> from secauth.testing_dpop import DpopKey
>>> from secauth.dpop_replay import MemoryReplayStore
>>> key = DpopKey.generate("ES256")
>>> dpop = DpopVerifier(replay=MemoryReplayStore())
>>> proof = key.proof("GET", "https://api.example.com/orders?x=1", access_token="tok")
>>> dpop.verify_proof(proof, method="GET", uri="https://API.example.com:443/orders",
...                   access_token="tok").jkt == key.jkt
True
>>> dpop.verify_proof(proof, method="POST", uri="https://api.example.com/orders",
...                   access_token="tok")
Traceback (most recent call last):
...
secauth.errors.InvalidDpopProof: invalid DPoP proof (invalid_dpop_proof)
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple, NoReturn

from secauth._b64 import B64Error, b64url_encode, decode_checked_alphabet, loads_strict
from secauth.dpop_nonce import DpopNonces
from secauth.dpop_replay import ReplayStore, ReplayStoreUnavailable
from secauth.dpop_uri import normalize_path, normalize_uri, request_uri, stageless_path
from secauth.errors import (
    ConfigurationError,
    DpopNonceRequired,
    DpopProofReplayed,
    InvalidDpopProof,
    KeyImportError,
    KeysUnavailable,
    MalformedToken,
    SenderConstraintError,
)
from secauth.jose import split_compact, typ_matches
from secauth.jwk import ASYMMETRIC_ALGORITHMS, VerificationKey

if TYPE_CHECKING:
    from secauth.events import Request

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DpopProof",
    "DpopVerifier",
    "ProofHeader",
    "ProofHeaderCache",
    "access_token_hash",
    "jwk_thumbprint",
    "normalize_uri",
    "request_uri",
]

#: Proof algorithms accepted unless ``algorithms=`` says otherwise.
DEFAULT_ALGORITHMS: Final = ("ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256")
# RFC 7638 section 3.2: the required members of each key type, the thumbprint's input.
_THUMBPRINT_MEMBERS: Final = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"),
                              "OKP": ("crv", "kty", "x")}  # fmt: skip
_PRIVATE_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_REFUSED_HEADERS: Final = ("crit", "jku", "x5u", "x5c", "b64", "enc", "zip")
_MAX_JTI: Final = 256
_MAX_IAT: Final = 2**53  # larger integers have no exact float (and 10**400 none at all)


class DpopProof(NamedTuple):
    """A proof that passed every check but the key match and the replay check."""

    jkt: str
    jti: str
    iat: float


class ProofHeader(NamedTuple):
    """A proof header that passed every check: its ``alg``, the RFC 7638 thumbprint of its
    ``jwk`` and the key imported from it."""

    alg: str
    jkt: str
    key: VerificationKey


class ProofHeaderCache:
    """Checked proof headers by their exact (base64url) text. A client signs every proof
    with one key, so its proofs share one header: parsing and checking it, importing the
    key (about 15 µs for P-256, more for RSA) and its thumbprint are paid once per client.
    Only headers that passed are kept. One eviction rule: cleared when it holds
    ``max_size`` headers."""

    def __init__(self, max_size: int = 1024) -> None:
        self.max_size = max_size
        self._headers: dict[str, ProofHeader] = {}

    def get(self, segment: str) -> ProofHeader | None:
        return self._headers.get(segment)

    def put(self, segment: str, header: ProofHeader) -> None:
        if len(self._headers) >= self.max_size:
            self._headers.clear()
        self._headers[segment] = header


class DpopVerifier:
    """Checks DPoP proofs; give it to ``SenderConstraint(dpop=...)``.

    Parameters
    ----------
    replay:
        Where accepted proofs are remembered (:mod:`secauth.dpop_replay`): a
        :class:`~secauth.dpop_replay.RedisReplayStore` or
        :class:`~secauth.dpop_replay.DynamoDBReplayStore` shared by every container
        (a :class:`~secauth.dpop_replay.MemoryReplayStore` sees one container only).
        None turns the replay check off: only for a :class:`~secauth.guard.Guard` behind
        an :class:`~secauth.authorizer.Authorizer` that already recorded the proof.
    algorithms:
        The proof algorithms accepted (asymmetric only); named in ``algs`` of the
        ``DPoP`` challenge.
    max_age, leeway:
        A proof's ``iat`` may be at most ``max_age`` seconds old and ``leeway`` seconds
        ahead; its ``jti`` is remembered for that window.
    public_url, htu:
        The URI clients call, when the event does not say it (see the module docs):
        ``public_url`` is the API's root as clients see it, ``htu`` a callable that
        returns the whole URI of a request. At most one.
    max_proof_size:
        Longer ``DPoP`` headers are refused unread.
    nonces:
        A :class:`~secauth.dpop_nonce.DpopNonces`: require server nonces (module docs);
        Guard only.
    clock:
        Seconds since the epoch, for ``iat`` (tests pass their own).
    """

    def __init__(
        self,
        *,
        replay: ReplayStore | None,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        max_age: float = 60.0,
        leeway: float = 5.0,
        public_url: str | None = None,
        htu: Callable[[Request], str] | None = None,
        max_proof_size: int = 8192,
        nonces: DpopNonces | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if replay is not None and not callable(getattr(replay, "first_use", None)):
            raise ConfigurationError(
                "DpopVerifier replay must be a replay store (secauth.dpop_replay) or None"
            )
        algs = tuple(algorithms) if not isinstance(algorithms, str) else (algorithms,)
        refused = [a for a in algs if a not in ASYMMETRIC_ALGORITHMS]
        if not algs or refused:
            raise ConfigurationError(
                f"DpopVerifier algorithms must be asymmetric JWS algorithms (ES256, EdDSA, "
                f"PS256...); not {refused or 'none'}: a DPoP key is a public key"
            )
        if not 1 <= max_age <= 3600 or not 0 <= leeway <= 300:
            raise ConfigurationError("DpopVerifier max_age is 1 to 3600 s, leeway 0 to 300 s")
        if public_url is not None and htu is not None:
            raise ConfigurationError("DpopVerifier takes public_url or htu, not both")
        if htu is not None and not callable(htu):
            raise ConfigurationError("DpopVerifier htu is a callable(request) -> str")
        if nonces is not None and not isinstance(nonces, DpopNonces):
            raise ConfigurationError("DpopVerifier nonces is a secauth.dpop_nonce.DpopNonces")
        self.public_url: str | None = None
        if public_url is not None:
            normalized = normalize_uri(public_url) if isinstance(public_url, str) else None
            if normalized is None or "?" in public_url or "#" in public_url:
                raise ConfigurationError(
                    "DpopVerifier public_url is an absolute http(s) URL without query or "
                    "fragment, such as 'https://api.example.com/v1'"
                )
            self.public_url = normalized.rstrip("/")
        self.replay = replay
        self.algorithms = algs
        self.max_age = float(max_age)
        self.leeway = float(leeway)
        self.htu = htu
        self.max_proof_size = max_proof_size
        self.nonces = nonces
        self.headers = ProofHeaderCache()
        self._allowed = frozenset(algs)
        self._clock = clock

    def __repr__(self) -> str:
        nonces = f", nonces={self.nonces!r}" if self.nonces is not None else ""
        return f"DpopVerifier(algorithms={list(self.algorithms)}, max_age={self.max_age:g}{nonces})"

    def check(
        self, request: Request, access_token: str, *, jkt: object, record: bool = True
    ) -> None:
        """Check ``request``'s proof for ``access_token``, whose ``cnf.jkt`` is ``jkt``;
        record its ``jti`` last (``record=False``: a proof this request already recorded).
        Raises a 401 :class:`~secauth.errors.SenderConstraintError`
        (or 503 :class:`~secauth.errors.KeysUnavailable` when the replay store is down)."""
        values = request.header_values("dpop")
        if len(values) != 1 or "," in values[0]:
            self._refuse("DPoP header missing, repeated or joined")
        uri = self.expected_uri(request)
        proof = self._verify(values[0], request.method, uri, access_token)
        if type(jkt) is not str or proof.jkt != jkt:
            raise SenderConstraintError(
                detail={"problem": "proof key is not the key the token is bound to"},
                dpop_algorithms=self.algorithms,
            )
        if record:
            self.record(proof)

    def expected_uri(self, request: Request) -> str:
        """The URI ``request``'s proof must name (``htu``), normalized."""
        if self.htu is not None:
            configured = self.htu(request)
            uri = normalize_uri(configured) if isinstance(configured, str) else None
        elif self.public_url is not None:
            path = normalize_path(stageless_path(request))
            uri = None if path is None else self.public_url + path  # origin: __init__
        else:
            uri = request_uri(request)
        if uri is None:
            self._refuse("the request URI is unknown (ALB?); configure public_url or htu")
        return uri

    def verify_proof(
        self, proof: str, *, method: str, uri: str, access_token: str | None
    ) -> DpopProof:
        """Every check of one proof but the key match and the replay check (steps 1-4):
        its thumbprint, ``jti`` and ``iat``. ``uri`` is compared after normalization;
        ``access_token`` None skips ``ath`` (a proof sent to a token endpoint)."""
        target = normalize_uri(uri)
        if target is None:
            self._refuse("the request URI is not an absolute http(s) URI")
        return self._verify(proof, method, target, access_token)

    def _verify(self, proof: str, method: str, uri: str, access_token: str | None) -> DpopProof:
        """:meth:`verify_proof` with ``uri`` normalized already."""
        try:
            segments = split_compact(proof, max_size=self.max_proof_size)
        except MalformedToken as exc:
            self._refuse(f"proof: {exc.detail.get('problem', 'malformed')}")
        header = self.headers.get(segments.header_segment)
        if header is None:
            header = self._header(segments.header_segment)
            self.headers.put(segments.header_segment, header)
        if not header.key.verify(header.alg, segments.signing_input, segments.signature):
            self._refuse("proof signature does not verify")
        claims = self._json_object(segments.payload_segment, "payload")
        return self._claims(claims, header.jkt, method, uri, access_token)

    def record(self, proof: DpopProof) -> None:
        """Remember ``proof`` for its window; a second use is :class:`DpopProofReplayed`."""
        if self.replay is None:
            return
        # The jti hashed: a key of fixed length and alphabet whatever the client sent
        # (surrogatepass: JSON can spell a lone surrogate, which UTF-8 cannot encode).
        jti = proof.jti.encode("utf-8", "surrogatepass")
        jti_hash = b64url_encode(hashlib.sha256(jti).digest())
        expires_at = proof.iat + self.max_age + self.leeway + 1.0
        try:
            first = self.replay.first_use(f"{proof.jkt}:{jti_hash}", expires_at)
        except ReplayStoreUnavailable as exc:
            raise KeysUnavailable(detail={"source": "dpop_replay", "problem": str(exc)}) from None
        if not first:
            raise DpopProofReplayed(
                detail={"problem": "jti already used with this key"},
                dpop_algorithms=self.algorithms,
            )

    # -- steps ----------------------------------------------------------------------------

    def _header(self, segment: str) -> ProofHeader:
        """Parse and check a proof header (step 2), and import its key."""
        header = self._json_object(segment, "header")
        typ, alg, jwk = header.get("typ"), header.get("alg"), header.get("jwk")
        if type(typ) is not str or not typ_matches(typ, "dpop+jwt"):
            self._refuse("proof typ is not dpop+jwt")
        if type(alg) is not str or alg not in self._allowed:
            self._refuse("proof alg is not an accepted asymmetric algorithm")
        if type(jwk) is not dict:
            self._refuse("proof has no jwk")
        if any(member in jwk for member in _PRIVATE_MEMBERS):
            self._refuse("proof jwk holds a private key")
        if any(name in header for name in _REFUSED_HEADERS):
            self._refuse("proof header has crit, b64 or another key source")
        kty = jwk.get("kty")
        names = _THUMBPRINT_MEMBERS.get(kty) if type(kty) is str else None
        if names is None or not all(type(jwk.get(name)) is str for name in names):
            self._refuse("proof jwk is not an EC, RSA or OKP public key")
        members = {name: jwk[name] for name in names}  # all the key is imported from
        try:
            key = VerificationKey.from_jwk(members)
        except KeyImportError:
            self._refuse("proof jwk is not a usable public key")
        return ProofHeader(alg, _thumbprint(members), key)

    def _json_object(self, segment: str, part: str) -> dict[str, Any]:
        """A proof's header or payload segment (its alphabet checked by ``split_compact``)
        as strict JSON (no duplicate names, no NaN) that must be an object. Only top-level
        members are read from it: a proof is never handed to rules as a claims set is."""
        try:
            value = loads_strict(decode_checked_alphabet(segment))
        except (B64Error, ValueError, RecursionError):
            self._refuse(f"proof {part} is not JSON")
        if type(value) is not dict:
            self._refuse(f"proof {part} is not a JSON object")
        return value

    def _claims(
        self,
        claims: Mapping[str, Any],
        thumbprint: str,
        method: str,
        uri: str,
        access_token: str | None,
    ) -> DpopProof:
        jti = claims.get("jti")
        if type(jti) is not str or not 0 < len(jti) <= _MAX_JTI:
            self._refuse("proof jti missing or not a short string")
        htm = claims.get("htm")
        if type(htm) is not str or htm != method:
            self._refuse("proof htm is not the request method")
        htu = claims.get("htu")
        if type(htu) is not str or (htu != uri and normalize_uri(htu) != uri):
            self._refuse("proof htu is not the request URI")
        iat = claims.get("iat")
        if type(iat) is int:
            iat = float(iat) if -_MAX_IAT <= iat <= _MAX_IAT else math.nan  # no OverflowError
        if type(iat) is not float or not math.isfinite(iat):
            self._refuse("proof iat missing or not a number")
        now = self._clock()
        if iat > now + self.leeway:
            self._refuse("proof iat is in the future")
        if iat < now - self.max_age - self.leeway:
            self._refuse("proof iat is too old")
        if access_token is not None and claims.get("ath") != access_token_hash(access_token):
            self._refuse("proof ath is not the hash of the access token")
        if self.nonces is not None:
            problem = self.nonces.check(claims.get("nonce"))
            if problem is not None:
                raise DpopNonceRequired(detail={"problem": problem}, dpop_algorithms=self.algorithms)
        return DpopProof(thumbprint, jti, iat)

    def _refuse(self, problem: str) -> NoReturn:
        raise InvalidDpopProof(detail={"problem": problem}, dpop_algorithms=self.algorithms)


def _thumbprint(members: Mapping[str, Any]) -> str:
    text = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url_encode(hashlib.sha256(text.encode("utf-8")).digest())


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK (the value of ``cnf.jkt``).

    RFC 7638 section 3.1's example:

    >>> n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxu"
    ...      "hDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN"
    ...      "5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5"
    ...      "hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBni"
    ...      "Iqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
    >>> jwk_thumbprint({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29", "n": n})
    'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'
    """
    kty = jwk.get("kty")
    names = _THUMBPRINT_MEMBERS.get(kty) if type(kty) is str else None
    if names is None or not all(type(jwk.get(name)) is str for name in names):
        raise ValueError("not an EC, RSA or OKP public JWK with its required members")
    return _thumbprint({name: jwk[name] for name in names})


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url(SHA-256(the access token's ASCII)), RFC 9449 section 4.2.

    >>> access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
    'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo'
    """
    return b64url_encode(hashlib.sha256(access_token.encode("ascii", "replace")).digest())
