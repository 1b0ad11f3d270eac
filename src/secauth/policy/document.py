"""IAM policy documents: ``execute-api:Invoke`` statements, merged and ordered so that the
same rules always serialize to the same bytes.

>>> doc = PolicyDocument().allow("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a")
>>> [s["Effect"] for s in doc.to_dict()["Statement"]]
['Allow']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from secauth.errors import ConfigurationError, InvalidMethodArn
from secauth.policy.arn import MethodArn

__all__ = [
    "DENY_ALL",
    "INVOKE_ACTION",
    "MAX_RESOURCE_ARN_CHARS",
    "POLICY_VERSION",
    "Condition",
    "PolicyDocument",
    "PolicyTooLarge",
    "Statement",
    "exact_document",
    "request_resource",
]

POLICY_VERSION: Final = "2012-10-17"
INVOKE_ACTION: Final = "execute-api:Invoke"
#: The longest Resource ARN secauth puts in a statement.
MAX_RESOURCE_ARN_CHARS: Final = 512
_EFFECTS: Final = ("Allow", "Deny")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]|\$\{")


#: ``{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}}``: operator -> key -> value(s).
Condition = Mapping[str, Mapping[str, str | Sequence[str]]]
_CanonicalCondition = tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]


class PolicyTooLarge(ConfigurationError):
    """The response, or one Resource ARN, is over its size budget.

    Raised instead of returning something API Gateway would reject.
    """


def _resource(value: object) -> str:
    text = str(value) if isinstance(value, MethodArn) else value
    if not isinstance(text, str):
        raise ConfigurationError(
            f"a Resource must be a string or MethodArn, not {type(value).__name__}"
        )
    if len(text) > MAX_RESOURCE_ARN_CHARS:
        raise PolicyTooLarge(
            f"a Resource ARN is {len(text)} characters, over the {MAX_RESOURCE_ARN_CHARS} "
            "limit; allow a pattern (MethodArn.with_route) instead of the exact method ARN"
        )
    if text != "*" and not (text.startswith("arn:") and ":execute-api:" in text):
        raise ConfigurationError(f"a Resource must be an execute-api ARN or '*', got {text[:60]!r}")
    if _UNSAFE.search(text):
        raise ConfigurationError("a Resource must not contain control characters or '${'")
    parts = text.split(":")
    if text != "*" and len(parts) < 6 and any(c in "*?" for c in parts[-1].removesuffix("*")):
        # Short of the API id, only a final '*' stands for the rest: IAM's wildcards may not
        # match past a ':' otherwise ("...:us-east-1:*/prod/*" then matches nothing).
        raise ConfigurationError(
            "a Resource spells out the ARN's parts up to the API id "
            "(arn:aws:execute-api:region:account:api-id/...), or ends in a '*' that stands "
            f"for the rest: a wildcard inside a part stops at ':' in IAM, got {text[:60]!r}"
        )
    return text


def _condition(condition: Condition | None) -> _CanonicalCondition:
    if not condition:
        return ()
    if not isinstance(condition, Mapping):
        raise ConfigurationError("a Condition is a mapping: operator -> {key: value(s)}")
    out: list[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = []
    for operator, block in condition.items():
        if (
            not isinstance(operator, str)
            or not operator
            or not isinstance(block, Mapping)
            or not block
        ):
            raise ConfigurationError(f"Condition operator {operator!r} needs a non-empty mapping")
        keys: list[tuple[str, tuple[str, ...]]] = []
        for key, raw in block.items():
            values = (
                (raw,)
                if isinstance(raw, str)
                else tuple(raw)
                if isinstance(raw, Sequence)
                else None
            )
            if (
                not isinstance(key, str)
                or not key
                or not values
                or not all(isinstance(v, str) for v in values)
            ):
                raise ConfigurationError(
                    f"Condition {operator}/{key!r}: values must be a string or a non-empty "
                    "list of strings"
                )
            keys.append((key, tuple(sorted(set(values)))))
        out.append((operator, tuple(sorted(keys))))
    return tuple(sorted(out))


def _condition_mapping(condition: _CanonicalCondition) -> Condition | None:
    """A canonical condition back in the mapping form :class:`Statement` takes."""
    if not condition:
        return None
    return {operator: {key: list(values) for key, values in keys} for operator, keys in condition}


class Statement:
    """One ``execute-api:Invoke`` statement: an effect, resources and an optional condition.

    Resources are de-duplicated and sorted, so equal statements serialize equally.

    >>> statement = Statement("Deny", ["arn:aws:execute-api:us-east-1:123456789012:abc/*/DELETE/*"])
    >>> statement.to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'Action': 'execute-api:Invoke', 'Effect': 'Deny',
     'Resource': ['arn:aws:execute-api:us-east-1:123456789012:abc/*/DELETE/*']}
    """

    # Read-only properties over private slots: immutable, with no object-model tricks.
    __slots__ = ("_condition", "_effect", "_resources")

    def __init__(
        self,
        effect: str,
        resources: str | MethodArn | Iterable[str | MethodArn],
        condition: Condition | None = None,
    ) -> None:
        if effect not in _EFFECTS:
            raise ConfigurationError(f"a statement's effect is 'Allow' or 'Deny', not {effect!r}")
        items = [resources] if isinstance(resources, str | MethodArn) else list(resources)
        if not items:
            raise ConfigurationError("a statement needs at least one resource")
        self._effect = effect
        self._resources = tuple(sorted({_resource(item) for item in items}))
        self._condition = _condition(condition)

    @property
    def effect(self) -> str:
        """``"Allow"`` or ``"Deny"``."""
        return self._effect

    @property
    def resources(self) -> tuple[str, ...]:
        """The resource ARNs or patterns, sorted."""
        return self._resources

    @property
    def condition(self) -> _CanonicalCondition:
        """The condition in canonical form (sorted tuples; empty without one)."""
        return self._condition

    def with_resource(self, resource: str | MethodArn) -> Statement:
        """This statement, also naming ``resource`` (same effect and condition).

        >>> deny = Statement("Deny", "arn:aws:execute-api:us-east-1:1:abc/*/DELETE/*")
        >>> deny.with_resource("arn:aws:execute-api:us-east-1:1:abc/prod/GET/a").resources[0]
        'arn:aws:execute-api:us-east-1:1:abc/*/DELETE/*'
        """
        return Statement(
            self._effect, [*self._resources, resource], _condition_mapping(self._condition)
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Statement):
            return NotImplemented
        return (self.effect, self.resources, self.condition) == (
            other.effect,
            other.resources,
            other.condition,
        )

    def __hash__(self) -> int:
        return hash((self.effect, self.resources, self.condition))

    def __repr__(self) -> str:
        return f"Statement({self.effect!r}, {list(self.resources)!r})"

    def to_dict(self) -> dict[str, Any]:
        """The statement as IAM JSON (a fresh dict)."""
        out: dict[str, Any] = {
            "Action": INVOKE_ACTION,
            "Effect": self.effect,
            "Resource": list(self.resources),
        }
        if self.condition:
            out["Condition"] = {
                op: {k: v[0] if len(v) == 1 else list(v) for k, v in keys}
                for op, keys in self.condition
            }
        return out


class PolicyDocument:
    """An immutable IAM policy document for an authorizer response.

    Statements with the same effect and condition are merged; output order is
    fixed (Allow before Deny, unconditioned first), so the same rules always
    serialize to the same bytes. A document without statements serializes as
    :data:`DENY_ALL` (API Gateway needs at least one statement).

    >>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a")
    >>> doc = PolicyDocument().allow(arn).allow(arn.with_route("GET", "/b"))
    >>> doc = doc.deny(arn.stage_wildcard(), condition={"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    >>> [(s["Effect"], len(s["Resource"])) for s in doc.to_dict()["Statement"]]
    [('Allow', 2), ('Deny', 1)]
    """

    __slots__ = ("_statements",)

    def __init__(self, statements: Iterable[Statement] = ()) -> None:
        merged: dict[tuple[str, _CanonicalCondition], set[str]] = {}
        for statement in statements:
            if not isinstance(statement, Statement):
                raise ConfigurationError(f"expected a Statement, got {type(statement).__name__}")
            merged.setdefault((statement.effect, statement.condition), set()).update(
                statement.resources
            )
        ordered: list[Statement] = []
        for (effect, condition), resources in sorted(
            merged.items(), key=lambda item: (_EFFECTS.index(item[0][0]), item[0][1])
        ):
            ordered.append(Statement(effect, resources, _condition_mapping(condition)))
        self._statements = tuple(ordered)

    @property
    def statements(self) -> tuple[Statement, ...]:
        """The merged statements, Allow before Deny."""
        return self._statements

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolicyDocument):
            return NotImplemented
        return self.statements == other.statements

    def __hash__(self) -> int:
        return hash(self.statements)

    def __repr__(self) -> str:
        return f"PolicyDocument({list(self.statements)!r})"

    def add(self, *statements: Statement) -> PolicyDocument:
        """A new document with ``statements`` added."""
        return PolicyDocument((*self.statements, *statements))

    def allow(
        self, *resources: str | MethodArn, condition: Condition | None = None
    ) -> PolicyDocument:
        """A new document that also allows ``resources``."""
        return self.add(Statement("Allow", resources, condition))

    def deny(
        self, *resources: str | MethodArn, condition: Condition | None = None
    ) -> PolicyDocument:
        """A new document that also denies ``resources`` (an explicit Deny, answered with 403)."""
        return self.add(Statement("Deny", resources, condition))

    def to_dict(self) -> dict[str, Any]:
        """``{"Version": "2012-10-17", "Statement": [...]}`` (a fresh dict each call)."""
        statements = self.statements or DENY_ALL.statements
        return {"Version": POLICY_VERSION, "Statement": [s.to_dict() for s in statements]}


#: Deny every execute-api resource. Immutable; ``to_dict()`` returns a fresh copy each time.
DENY_ALL: Final = PolicyDocument([Statement("Deny", "*")])


def request_resource(arn: MethodArn) -> MethodArn:
    """``arn``, a request's own method ARN, checked to fit a Resource. A longer one is the
    request's (a path too long to be named), so it is refused as
    :class:`~secauth.errors.InvalidMethodArn` (401, ``bad_request``), not as a
    configuration error.

    >>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/" + "a" * 500)
    >>> request_resource(arn)
    Traceback (most recent call last):
    ...
    secauth.errors.InvalidMethodArn: the method ARN is longer than a policy Resource may be (bad_request)
    """
    if len(str(arn)) > MAX_RESOURCE_ARN_CHARS:
        raise InvalidMethodArn("the method ARN is longer than a policy Resource may be")
    return arn


@lru_cache(maxsize=1024)
def exact_document(arn: MethodArn, allow: bool) -> PolicyDocument:
    """Allow or Deny of exactly ``arn``, a request's method ARN (:func:`request_resource`):
    the policy when authorizer caching is off. Documents are immutable, so each is built
    once per ARN.

    >>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a")
    >>> exact_document(arn, True).to_dict()["Statement"][0]["Effect"]
    'Allow'
    """
    resource = request_resource(arn)
    return PolicyDocument().allow(resource) if allow else PolicyDocument().deny(resource)
