"""Cached policies: an IAM policy API Gateway may reuse for every request of one identity,
proven never to allow a request the route table denies (the proof: :mod:`secauth.policy.proof`).

Planning is guided by counterexamples. It starts from an Allow pattern per grant and no
Deny, and while the search finds a request the policy lets through and the grants do not:

1. when the request (as written) reaches a route granted nothing, Deny that route's
   pattern (or the root, ``VERB/``, which ``VERB/*`` also matches);
2. else, when a parameter's ``*`` spanned several segments, Deny the Allow pattern with
   that ``*`` written ``*/*``, which pins it to one segment;
3. else leave out the Allow patterns that let the request through. No pattern can tell
   ``/USERS/x`` from ``/users/x`` for IAM, but a ``*`` matches both: where one reading of
   such a spelling reaches a denied route, the wildcard that lets it through goes.

Each step adds a Deny or removes an Allow from finite sets, so planning ends; the policy
returned is the one the last search proved safe.

>>> from secauth.access import Routes
>>> from secauth.rules import authenticated, roles
>>> from secauth.principal import Principal
>>> routes = Routes({"GET /users/{id}": authenticated()}, default=roles("admin"))
>>> doc = plan_policy("arn:aws:execute-api:us-east-1:1:api/prod/", routes.grants(Principal("u")))
>>> [(s.effect, [r.rsplit("/prod/")[1] for r in s.resources]) for s in doc.statements][0]
('Allow', ['GET/users/*'])
>>> "arn:aws:execute-api:us-east-1:1:api/prod/GET/users/*/*" in doc.statements[1].resources
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING

from secauth.errors import ConfigurationError
from secauth.policy.arn import route_glob
from secauth.policy.document import PolicyDocument, Statement
from secauth.policy.glob import matches
from secauth.policy.proof import COLON_PATHS, REFUSED_SPELLINGS, SEMICOLON_PATHS, find_over_allow
from secauth.routing import ANY, PARAM, VERBS, split_path

if TYPE_CHECKING:
    from secauth.grants import Grants

__all__ = ["PlanCache", "PolicyConflict", "allow_patterns", "plan_policy"]


class PolicyConflict(ConfigurationError):
    """No cached IAM policy can be proven to express the route table for this principal."""


def allow_patterns(grants: Grants) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per verb: the Allow patterns of every grant, and the Deny patterns that pin each
    parameter wildcard of those to one segment (the second candidate)."""
    allow: dict[str, set[str]] = {}
    narrow: dict[str, set[str]] = {}
    for index, (route_key, _) in enumerate(grants.routes.table.routes):
        template = route_key.template
        assert template is not None
        for grant in grants.per_route[index]:
            verbs = VERBS if route_key.verb == ANY else (route_key.verb,)
            for verb in verbs:
                if grant.verbs is not None and verb not in grant.verbs:
                    continue
                pattern = route_glob(verb, template, grant.binding)
                allow.setdefault(verb, set()).add(pattern)
                head, _, path = pattern.partition("/")
                tokens = path.split("/")
                for position, (kind, name) in enumerate(template.segments):
                    if kind == PARAM and name not in grant.binding:
                        pinned = [*tokens[:position], "*/*", *tokens[position + 1 :]]
                        narrow.setdefault(verb, set()).add(head + "/" + "/".join(pinned))
    return allow, narrow


def plan_policy(prefix: str, grants: Grants) -> PolicyDocument | None:
    """The cached policy for ``grants`` in the API and stage of ``prefix``
    (``arn:...:{apiId}/{stage}/``), or None when none can be proven safe (module docs).

    An empty document (it serializes as a Deny of everything) when nothing is granted.
    Allow patterns that no Deny can keep safe are left out (their requests answer 403
    while cached, fail closed); :func:`route_policy` refuses that instead.
    """
    allow, narrow = allow_patterns(grants)
    if not allow:
        return PolicyDocument()
    table = grants.routes.table
    deny: dict[str, set[str]] = {verb: set() for verb in VERBS}
    # A pattern proven safe stays safe: Denies are only ever added. So each pattern is
    # searched again only after it yielded a counterexample.
    proven: set[tuple[str, str]] = set()
    while True:
        witness = _first_counterexample(grants, allow, deny, proven)
        if witness is None:
            return _document(prefix, allow, deny) if any(allow.values()) else None
        verb, _, path = witness.partition(" ")
        segments = split_path(path) or ()
        found = table.lookup(verb, segments)
        route = found[0] if found is not None else None  # too ambiguous to read: denied
        if route is None and not segments:
            deny[verb].add(verb + "/")  # "VERB/*" also matches the root, "VERB/"
            continue
        if route is not None and not any(
            g.verbs is None or verb in g.verbs for g in grants.per_route[route.route_index]
        ):
            assert route.key.template is not None
            pattern = route_glob(verb, route.key.template, {})
            if pattern not in deny[verb]:
                deny[verb].add(pattern)  # a route granted nothing: deny all of it
                continue
        pinning = {p for p in narrow.get(verb, ()) if matches(p, verb + path)} - deny[verb]
        if pinning:
            deny[verb].update(pinning)  # a parameter's "*" spanned several segments
            continue
        allow[verb] = {p for p in allow[verb] if not matches(p, verb + path)}


def _first_counterexample(
    grants: Grants,
    allow: Mapping[str, set[str]],
    deny: Mapping[str, set[str]],
    proven: set[tuple[str, str]],
) -> str | None:
    """A counterexample of the first Allow pattern not yet proven safe, noting the ones
    that are."""
    for verb in VERBS:
        for pattern in sorted(allow.get(verb, ())):
            if (verb, pattern) in proven:
                continue
            witness = find_over_allow(grants, {verb: [pattern]}, {verb: sorted(deny[verb])})
            if witness is not None:
                return witness
            proven.add((verb, pattern))
    return None


def _document(
    prefix: str, allow: Mapping[str, set[str]], deny: Mapping[str, set[str]]
) -> PolicyDocument:
    allowed = sorted(prefix + p for patterns in allow.values() for p in patterns)
    denied = {prefix + p for patterns in deny.values() for p in patterns}
    denied.update(prefix + p for p in (*REFUSED_SPELLINGS, COLON_PATHS, SEMICOLON_PATHS))
    return PolicyDocument([Statement("Allow", allowed), Statement("Deny", sorted(denied))])


class PlanCache:
    """Planned policies by stage prefix and grants, the least recently used dropped past
    ``size`` entries. Owned by one :class:`~secauth.policy.PolicyBuilder` (one table)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._plans: OrderedDict[tuple[object, ...], PolicyDocument | None] = OrderedDict()

    def get(self, prefix: str, grants: Grants) -> PolicyDocument | None:
        """:func:`plan_policy`, planned once per distinct stage and grants."""
        key = (prefix, grants.key())
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = plan_policy(prefix, grants)
        self._plans[key] = plan
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan
