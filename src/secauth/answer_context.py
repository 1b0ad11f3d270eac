"""What an :class:`~secauth.authorizer.Authorizer` learns of a request's credentials
(:class:`Credentials`, what its ``credentials`` hook returns) and what its answer tells
the function behind it (:func:`answer_context`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from secauth.principal import Principal
from secauth.sender_constraint import DPOP_PROOF_FIELD

if TYPE_CHECKING:
    from secauth.api_keys import ApiKeyEntry

__all__ = ["Credentials", "answer_context"]


class Credentials:
    """What the request presented, and what it stands for once checked: what
    :meth:`Authorizer.credentials <secauth.authorizer.Authorizer.credentials>` returns (an
    override returns one too).

    ``dpop_proof``: the fingerprint of the DPoP proof checked and recorded here
    (:func:`~secauth.sender_constraint.proof_fingerprint`), written into the context so a
    Guard behind without a replay store takes that proof, and no other, as recorded (not
    with ``cache_ttl > 0``: API Gateway would hand the answer to the proof's replays).

    >>> Credentials(Principal("device-7", kind="client_cert")).principal.id
    'device-7'
    """

    __slots__ = ("api_key", "dpop_proof", "entry", "principal")

    def __init__(
        self,
        principal: Principal,
        *,
        api_key: str | None = None,
        entry: ApiKeyEntry | None = None,
        dpop_proof: str | None = None,
    ) -> None:
        self.principal = principal
        self.api_key = api_key
        self.entry = entry
        self.dpop_proof = dpop_proof


def answer_context(
    found: Credentials,
    extra: Mapping[str, object],
    *,
    token_claims: Sequence[str] = (),
    cached: bool = False,
) -> Mapping[str, object]:
    """The context of an answer to ``found``: the principal's (:meth:`Principal.to_context
    <secauth.principal.Principal.to_context>`, with ``token_claims``), ``extra`` values
    under other names than ``secauth_*``, and the DPoP proof recorded, unless the answer
    is ``cached`` (reused by API Gateway).

    >>> found = Credentials(Principal("ann"), dpop_proof="hF4wRIgJ4ryJWOsCW_x5UjXROwd6U9DDq70jhRcNybg")
    >>> context = answer_context(found, {"plan": "pro", "secauth_tenant": "acme"})
    >>> context["plan"], "secauth_tenant" in context, "secauth_dpop_proof" in context
    ('pro', False, True)
    >>> "secauth_dpop_proof" in answer_context(found, {}, cached=True)
    False
    """
    # secauth_* names are the principal's, and only to_context() writes them: an extra
    # value (a forwarded claim) must not fill one it leaves out (no tenant, say), which
    # Principal.from_context in the function would trust. Extra that is not a mapping
    # (a hook returning None) raises here: the request fails closed.
    context: dict[str, object] = {
        k: v for k, v in extra.items() if not (isinstance(k, str) and k.startswith("secauth_"))
    }
    context.update(found.principal.to_context(token_claims=token_claims))
    if found.dpop_proof is not None and not cached:
        # Never in an answer API Gateway reuses: its proof would count as recorded again.
        context[DPOP_PROOF_FIELD] = found.dpop_proof
    return context
