"""Guards stacked on one Powertools request: what the global ``guard_middleware`` admitted
(:class:`StackedAdmission`, kept in ``app.context``), and the checks a per-route guard under
it adds (:func:`route_checks`): its body limits, its own identification when it finds
callers another way (the same caller, or a verified one where the global guard saw an
anonymous one), each rate limit counted once for the caller the route runs as, DPoP proofs
recorded once per replay store, and its table and rule. One guard holding the same rules
would answer the same way; that is the intent each check keeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from secauth._decisions import caller_fields
from secauth.errors import ConfigurationError, InvalidClaims, MissingToken, SecAuthError
from secauth.guard import Guard
from secauth.guard_context import same_caller
from secauth.guard_http import check_body
from secauth.guard_limits import count
from secauth.guard_routes import decide
from secauth.token_sources import read_token

if TYPE_CHECKING:
    from secauth.events import Request
    from secauth.principal import Principal
    from secauth.ratelimit.result import RateLimitResult

__all__ = ["CONTEXT_KEY", "StackedAdmission", "admission_for", "route_checks"]

# What the first (outermost) guard middleware found, for the per-route ones under it.
CONTEXT_KEY = "secauth_guard"


class StackedAdmission:
    __slots__ = (
        "_counted",
        "app_path",
        "guard",
        "identified_by",
        "principal",
        "proof_stores",
        "record",
        "request",
    )

    def __init__(
        self,
        guard: Guard,
        request: Request,
        principal: Principal,
        record: dict[str, Any],
        app_path: str | None,
    ) -> None:
        self.guard = guard
        self.request = request
        self.principal = principal
        self.identified_by = guard  # the guard that found ``principal``
        # The replay stores a guard of the stack recorded this request's DPoP proof in: a
        # later guard with one of them checks the proof without recording it twice; any
        # other records it in its own (replay checks are per store).
        self.proof_stores: list[tuple[Any, float]] = []
        if not principal.is_anonymous:
            self.recorded_by(guard)
        self.app_path = app_path
        self.record = record  # the outer guard's decision record, which answers refusals
        self._counted: list[Any] | None = None

    def counted(self) -> list[Any]:
        """The limits counted so far (the parts of combined ones), by the global guard and
        the route guards before this one (read on first use): each counts a request once."""
        if self._counted is None:
            outer = self.guard.limits_for(self.request, app_path=self.app_path)
            self._counted = _parts(outer)
        return self._counted

    def recorded_by(self, guard: Guard) -> None:
        """Note the replay store ``guard`` recorded this request's DPoP proof in, and for
        how long (its window), when it checked one (a guard without a store took it as
        recorded elsewhere: none)."""
        recorded = _proof_store(guard, self.request)
        if recorded is not None:
            self.proof_stores.append(recorded)

    def proof_recorded(self, guard: Guard) -> bool:
        """Whether ``guard`` is to check this request's proof without recording it: a
        guard before it recorded it in ``guard``'s own store, or, for a guard without a
        store, in any store. A store shared by guards that keep proofs for different
        windows is refused (ConfigurationError): recorded for the shorter one, a proof
        could be replayed to the other; recorded twice, every request would be refused."""
        dpop = guard.sender_constraint.dpop
        if dpop is None or dpop.replay is None:
            return bool(self.proof_stores)
        kept = [window for store, window in self.proof_stores if store is dpop.replay]
        if any(window != _window(dpop) for window in kept):
            raise ConfigurationError(
                "guards stacked on one route share a DPoP replay store with different windows "
                "(max_age + leeway): give them the same window, or stores of their own"
            )
        return bool(kept)

    def verified(self, principal: Principal, by: Guard) -> list[Any]:
        """The route guard ``by`` verified ``principal``, whom the guards before it took for
        an anonymous caller: later guards compare with ``by``, and the limits counted so
        far in another bucket than this caller's (a per-user one skipped the anonymous
        caller) are returned, to count again for ``principal``."""
        counted = self.counted()
        again = []
        if counted:
            from secauth.ratelimit.combined import counts_alike  # limits exist: loaded

            again = [lim for lim in counted if not counts_alike(lim, self.request, None, principal)]
        self._counted = [lim for lim in counted if all(lim is not a for a in again)]
        self.principal, self.identified_by = principal, by
        return again


def admission_for(app: Any, event: object) -> StackedAdmission | None:
    """What the global guard middleware found for this request (None: this middleware is
    the global one). What an earlier request left is not this request's, and is removed
    with the caller it names: Powertools releases whose ``resolve`` does not clear its
    context when a route raised keep it."""
    found: StackedAdmission | None = app.context.get(CONTEXT_KEY)
    if found is not None and found.request.raw is event:
        return found
    app.context.pop(CONTEXT_KEY, None)
    app.context.pop("secauth_principal", None)
    return None


def route_checks(guard: Guard, found: StackedAdmission) -> tuple[Principal, RateLimitResult | None]:
    """The caller the route runs as, and this guard's rate-limit result; raises a refusal."""
    outer, request, principal = found.guard, found.request, found.principal
    if (guard.max_body_bytes, guard.content_types) != (outer.max_body_bytes, outer.content_types):
        check_body(request, guard.max_body_bytes, guard.content_types)  # its own body limits
    again: list[Any] = []  # limits the guards before counted for nobody, for this caller
    if _identifies_otherwise(guard, found.identified_by, principal):
        # This guard finds callers another way (a stricter verifier, another claim
        # mapping, bound tokens required): it checks the request itself instead of taking
        # the global guard's principal on trust, and the route runs as the caller it
        # checked. That caller must be the one the global guard admitted (unless that
        # one was anonymous); the decision record names it.
        # A guard before this one recorded this request's DPoP proof in this guard's
        # store: it checks the proof again without recording it twice (a replay, else).
        recorded = found.proof_recorded(guard)  # a configuration error is not a refusal
        try:
            identified = guard.identify(request, proof_recorded=recorded)
        except SecAuthError:  # a failed authentication counts in its own limits, as alone
            count(_own_limits(guard, found), request, None, refused=True)
            raise
        if not principal.is_anonymous and not same_caller(identified, principal):
            raise InvalidClaims(detail={"problem": "route and global guards disagree on the caller"})
        if principal.is_anonymous and not identified.is_anonymous:
            again = found.verified(identified, guard)  # later route guards see this caller
        if not identified.is_anonymous:
            found.recorded_by(guard)
        principal = identified
        found.record.update(caller_fields(principal))
    own = again + [lim for lim in _own_limits(guard, found) if all(lim is not a for a in again)]
    found.counted().extend(own)
    if principal.is_anonymous:
        try:
            _admit_anonymous(guard, principal, request, found.app_path)
        except SecAuthError:  # refused for its credentials: counted as alone
            count(own, request, None, refused=True)
            raise
    # Its own global limit and route limits, as Guard counts them (a 429 carries its own
    # rate-limit headers, RateLimited.headers).
    limit = count(own, request, principal)
    # Its table and its rule decide as they do for the guard alone (guard_routes: every
    # reading; the rule on each reading's parameters, or API Gateway's without a table).
    # The decision record stays the global guard's.
    decide(guard.routes, guard.rule, principal, request, {}, found.app_path)
    return principal, limit


def _admit_anonymous(
    guard: Guard, anonymous: Principal, request: Request, app_path: str | None
) -> None:
    """Refuse the ``anonymous`` caller (401) as ``guard`` alone would: a guard with its own
    rule is never anonymous, nor is one whose table does not make every reading public."""
    if guard.rule is not None:
        raise MissingToken()
    try:
        decide(guard.routes, None, anonymous, request, {}, app_path)
    except SecAuthError:
        raise MissingToken() from None


def _own_limits(guard: Guard, found: StackedAdmission) -> list[Any]:
    """The limits of ``guard`` for the request that the global guard and the route guards
    before it did not count."""
    counted = found.counted()
    mine = _parts(guard.limits_for(found.request, app_path=found.app_path))
    return [lim for lim in mine if all(lim is not c for c in counted)]


def _parts(limits: tuple[Any, ...]) -> list[Any]:
    """``limit_parts(limits)``; the rate-limit package is loaded only when there are any."""
    if not limits:
        return []
    from secauth.ratelimit.combined import limit_parts

    return limit_parts(limits)


def _proof_store(guard: Guard, request: Request) -> tuple[Any, float] | None:
    """The replay store ``guard``, admitting a caller of ``request``, recorded a DPoP proof
    in, with the seconds it keeps it: it has a verifier and a DPoP check with a store, and
    reads a ``DPoP`` token from the request. None otherwise (no proof checked, or one taken
    as recorded elsewhere)."""
    dpop = guard.sender_constraint.dpop
    if guard.verifier is None or dpop is None or dpop.replay is None:
        return None
    try:
        presented = read_token(request, guard.token_sources)
    except SecAuthError:
        return None
    return (dpop.replay, _window(dpop)) if presented.scheme == "DPoP" else None


def _window(dpop: Any) -> float:
    """How long a DPoP verifier keeps a proof it recorded (after its ``iat``)."""
    return float(dpop.max_age + dpop.leeway)


def _identifies_otherwise(guard: Guard, outer: Guard, principal: Principal) -> bool:
    """Whether ``guard`` would find the caller other than the global guard ``outer`` did:
    another verifier, trust setting, token sources, sender constraint (a route that
    requires bound tokens) or revocation list, or another claim mapping for a caller who
    is not anonymous.
    Who may call anonymously is the global guard's table's to say: a route guard adds its
    own table or rule (``require(authenticated())``) to refuse anonymous callers."""
    return (
        guard.verifier is not outer.verifier
        or guard.trust_authorizer != outer.trust_authorizer
        or guard.token_sources != outer.token_sources
        or guard.sender_constraint != outer.sender_constraint
        or guard.revocations is not outer.revocations
        or (guard.claims is not outer.claims and not principal.is_anonymous)
    )
