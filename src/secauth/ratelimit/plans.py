"""``PlanLimiter``: the limits of a request chosen from the caller's plan.

A plan table names each plan's limits: ``{"free": ["10/second", "10000/month"],
"pro": ["100/second", "1000000/month"]}``. Per request, :class:`PlanFrom` reads the
caller's plan from the principal: a claim of its token (``PlanFrom.claim("plan")``), the
``plan`` of the :class:`~secauth.api_keys.ApiKeyEntry` its API key resolved to
(``PlanFrom.api_key()``), or its groups (``PlanFrom.group()``: a Cognito group named like
a plan). Sources combine with ``|``: the first that finds a plan wins.

Each limit of each plan is a :class:`~secauth.ratelimit.RateLimiter` of its own, named
``"<plan>:<limit>"`` (the name in the ``RateLimit`` headers; hashed in store keys, as
every name holding ``:``); with a key other than the principal, ``"<name>:<plan>:<limit>"``,
``name`` being the key's own or, for your own key function, the ``name=`` it requires. It
has the key function and options given: a decision costs what the same limits cost
without plans (one store round trip per limit). Plans count apart: a caller who changes plan
starts the new plan's counters at zero.

A caller with no plan (and no ``default``) or a plan the table does not list is refused
with :class:`~secauth.errors.UnknownPlan` (reason ``unknown_plan``, 403 from a Guard,
``Unauthorized`` from an Authorizer); a malformed table fails at construction. A request
the key function exempts (``None``: an anonymous caller with the default ``by_principal``
key) is not counted and needs no plan.

Example
-------
>>> from secauth.principal import Principal
>>> from secauth.ratelimit import RateLimiter
>>> limiter = RateLimiter.per_plan(
...     {"free": ["2/minute", "10000/month"], "pro": ["100/minute", "1000000/month"]},
...     plan_of=PlanFrom.claim("plan") | PlanFrom.api_key())
>>> event = {"version": "2.0", "rawPath": "/orders",
...          "requestContext": {"http": {"method": "GET", "sourceIp": "192.0.2.1"}}}
>>> alice = Principal("alice", claims={"plan": "free"})
>>> [limiter.hit(event, alice).allowed for _ in range(3)]
[True, True, False]
>>> [(u.policy, u.remaining) for u in limiter.usage(event, alice)]
[('free:2/60s', 0), ('free:10000/month', 9998)]
>>> limiter.hit(event, Principal("bob", claims={"plan": "gold"}))
Traceback (most recent call last):
...
secauth.errors.UnknownPlan: no usage plan for this caller (unknown_plan)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from secauth.errors import ConfigurationError, UnknownPlan
from secauth.events import Request
from secauth.plan_names import plan_problem
from secauth.principal import Principal
from secauth.ratelimit.combined import as_request, hit_limits, hit_limits_async
from secauth.ratelimit.enforcing import Enforcing
from secauth.ratelimit.keys import KeyFunc, by_principal, limit_name
from secauth.ratelimit.limit import Limit, LimitLike, as_limit
from secauth.ratelimit.limiter import RateLimiter
from secauth.ratelimit.result import RateLimitResult, Usage

__all__ = ["PlanFrom", "PlanLimiter", "PlanReader", "PlanTable"]

#: ``{"plan": "10/second"}`` or ``{"plan": ["10/second", "10000/month"]}``.
PlanTable = Mapping[str, LimitLike | Sequence[LimitLike]]
#: ``(principal, plan names in table order) -> plan or None``.
PlanReader = Callable[[Principal, Sequence[str]], str | None]

_TABLE_HINT: Final = "such as {'free': ['10/second', '10000/month'], 'pro': ['100/second']}"


class PlanFrom:
    """Where a caller's plan is read; combine sources with ``|`` (the first found wins).

    >>> source = PlanFrom.claim("plan") | PlanFrom.group()
    >>> source
    PlanFrom(claim 'plan' | group)
    >>> source(Principal("u", groups=["staff", "pro"]), ("free", "pro"))
    'pro'
    """

    __slots__ = ("readers", "sources")

    def __init__(self, reader: PlanReader, description: str = "custom") -> None:
        if not callable(reader):
            raise ConfigurationError("PlanFrom takes a function (principal, plans) -> plan")
        self.readers: tuple[PlanReader, ...] = (reader,)
        self.sources: tuple[str, ...] = (description,)

    @classmethod
    def claim(cls, name: str = "plan") -> PlanFrom:
        """The string claim ``name`` of the verified token (absent: no plan here)."""
        if not isinstance(name, str) or not name:
            raise ConfigurationError("PlanFrom.claim needs a claim name such as 'plan'")

        def read(principal: Principal, plans: Sequence[str]) -> str | None:
            value = principal.claims.get(name)
            if value is None or isinstance(value, str):
                return value
            raise UnknownPlan(detail={"problem": f"claim {name!r} is not a string"})

        return cls(read, f"claim {name!r}")

    @classmethod
    def api_key(cls) -> PlanFrom:
        """The ``plan`` of the :class:`~secauth.api_keys.ApiKeyEntry` the request's API key
        resolved to (its principal carries it as the claim ``plan``)."""

        def read(principal: Principal, plans: Sequence[str]) -> str | None:
            if principal.kind != "api_key":
                return None
            value = principal.claims.get("plan")
            return value if isinstance(value, str) else None

        return cls(read, "api_key")

    @classmethod
    def group(cls, prefix: str = "") -> PlanFrom:
        """A group of the principal (``cognito:groups`` with the Cognito mapper) named
        ``prefix + plan``; of several, the first plan in the table's order."""
        if not isinstance(prefix, str):
            raise ConfigurationError("PlanFrom.group prefix must be a string")

        def read(principal: Principal, plans: Sequence[str]) -> str | None:
            groups = principal.groups
            return next((plan for plan in plans if prefix + plan in groups), None)

        return cls(read, f"group {prefix!r}" if prefix else "group")

    def __or__(self, other: PlanFrom) -> PlanFrom:
        if not isinstance(other, PlanFrom):
            return NotImplemented
        combined = PlanFrom(self.readers[0])
        combined.readers = self.readers + other.readers
        combined.sources = self.sources + other.sources
        return combined

    def __repr__(self) -> str:
        return f"PlanFrom({' | '.join(self.sources)})"

    def __call__(self, principal: Principal, plans: Sequence[str]) -> str | None:
        for reader in self.readers:
            plan = reader(principal, plans)
            if plan is not None:
                return plan
        return None


class PlanLimiter(Enforcing):
    """Limits chosen per request from the caller's plan (``RateLimiter.per_plan``).

    Parameters
    ----------
    table:
        Plan name (letters, digits, ``._-``) to a limit or a list of limits; a calendar
        quota such as ``"10000/month"`` counts with the fixed window.
    plan_of:
        A :class:`PlanFrom`.
    key:
        Whose counters: ``(request, principal) -> str | None`` (default: the principal).
    name:
        Starts each limit's name (``"<name>:<plan>:<limit>"``); required with your own
        ``key`` function, else the key's name (``tenant``, ``api_key``, ``ip``) or none
        for the principal.
    default:
        The plan of callers whose ``plan_of`` finds none (default: refuse them).
    options:
        ``store``, ``algorithm``, ``on_store_error``, ``headers``, ``deny_cache``,
        ``retry_store_after``: as for :class:`~secauth.ratelimit.RateLimiter`, for every
        limit.
    """

    def __init__(
        self,
        table: PlanTable,
        *,
        plan_of: PlanFrom,
        key: KeyFunc = by_principal,
        default: str | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(plan_of, PlanFrom):
            raise ConfigurationError(
                "plan_of must be a PlanFrom, such as PlanFrom.claim('plan') | PlanFrom.api_key()"
            )
        # Keyed other than by the principal, each limit's name starts with the key's: two
        # plan limiters with different keys never share counters.
        name = options.pop("name", None)
        prefix = "" if name is None and key is by_principal else limit_name(key, name, "per_plan")
        prefix += ":" if prefix else ""
        if not isinstance(table, Mapping) or not table:
            raise ConfigurationError(f"a plan table is a non-empty dict {_TABLE_HINT}")
        self.plan_of = plan_of
        self.key = key
        self.plans: dict[str, tuple[RateLimiter, ...]] = {
            plan: _plan_limiters(plan, limits, key, prefix, options)
            for plan, limits in table.items()
        }
        self._names = tuple(self.plans)
        if default is not None and default not in self.plans:
            raise ConfigurationError(
                f"default plan {default!r} is not in the plan table ({', '.join(self._names)})"
            )
        self.default = default
        self._exempt = RateLimitResult(
            True, 0, 0, 0.0, 0.0, policy="plan", style="none", exempt=True
        )

    def __repr__(self) -> str:
        return f"PlanLimiter(plans={list(self._names)!r}, plan_of={self.plan_of!r})"

    def plan_for(self, principal: Principal | None) -> str:
        """The caller's plan; raises :class:`~secauth.errors.UnknownPlan` when it has none
        (and there is no default) or the table does not list it."""
        plan = None if principal is None else self.plan_of(principal, self._names)
        if plan is None:
            if self.default is None:
                raise UnknownPlan(detail={"problem": "no plan", "plan_of": repr(self.plan_of)})
            return self.default
        if plan not in self.plans:
            raise UnknownPlan(detail={"problem": "plan not in the table", "plan": plan[:64]})
        return plan

    def limiters_for(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> tuple[RateLimiter, ...]:
        """The limiters of the caller's plan; ``()`` when the key function exempts it."""
        if self.key(as_request(request), principal) is None:
            return ()
        return self.plans[self.plan_for(principal)]

    def hit(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> RateLimitResult:
        """Count the request against its plan's limits (``hit_limits``: in order, the first
        denial stops); raises :class:`~secauth.errors.UnknownPlan`."""
        view = as_request(request)
        limiters = self.limiters_for(view, principal)
        return hit_limits(limiters, view, principal) if limiters else self._exempt

    async def hit_async(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> RateLimitResult:
        view = as_request(request)
        limiters = self.limiters_for(view, principal)
        return await hit_limits_async(limiters, view, principal) if limiters else self._exempt



    def _read_plan(
        self, request_or_key: Any, principal: Principal | None, plan: str | None
    ) -> tuple[Any, tuple[RateLimiter, ...]]:
        if plan is not None and plan not in self.plans:
            raise UnknownPlan(detail={"problem": "plan not in the table", "plan": plan[:64]})
        if isinstance(request_or_key, str):
            return request_or_key, self.plans[plan or self.plan_for(principal)]
        view = as_request(request_or_key)
        if plan is None:
            return view, self.limiters_for(view, principal)
        return view, self.plans[plan] if self.key(view, principal) is not None else ()

    def usage(
        self,
        request_or_key: Request | Mapping[str, Any] | str,
        principal: Principal | None = None,
        *,
        plan: str | None = None,
    ) -> tuple[Usage, ...]:
        """Each limit of the caller's plan (or of ``plan``): remaining, reset, limit,
        without spending (see :meth:`RateLimiter.usage`)."""
        target, limiters = self._read_plan(request_or_key, principal, plan)
        return tuple(u for limiter in limiters for u in limiter.usage(target, principal))

    async def usage_async(
        self,
        request_or_key: Request | Mapping[str, Any] | str,
        principal: Principal | None = None,
        *,
        plan: str | None = None,
    ) -> tuple[Usage, ...]:
        target, limiters = self._read_plan(request_or_key, principal, plan)
        return tuple(
            [u for limiter in limiters for u in await limiter.usage_async(target, principal)]
        )


def _plan_limiters(
    plan: object, limits: object, key: KeyFunc, prefix: str, options: dict[str, Any]
) -> tuple[RateLimiter, ...]:
    """One RateLimiter per limit of ``plan``; a ConfigurationError naming the plan."""
    problem = plan_problem(plan)
    if problem is not None or not isinstance(plan, str):
        raise ConfigurationError(f"plan table: {problem}")
    items = [limits] if isinstance(limits, str | Limit) else limits
    if not isinstance(items, list | tuple) or not items:
        raise ConfigurationError(
            f"plan table: plan {plan!r} needs a limit or a list of limits, {_TABLE_HINT}; "
            f"not {limits!r}"
        )
    built: dict[str, RateLimiter] = {}
    try:
        for item in items:
            limit = as_limit(item)
            name = f"{prefix}{plan}:{limit.describe()}"
            if name in built:
                raise ConfigurationError(f"{limit.describe()!r} is listed twice")
            built[name] = RateLimiter(limit, key=key, name=name, **options)
    except ConfigurationError as exc:
        raise ConfigurationError(f"plan table: plan {plan!r}: {exc.public_message}") from None
    return tuple(built.values())
