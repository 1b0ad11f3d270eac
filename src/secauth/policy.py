"""IAM policy documents and the Lambda authorizer response shapes.

What API Gateway expects back from a Lambda authorizer, built so that a
response it would reject (or misread) cannot be produced:

* :class:`MethodArn` parses and builds ``execute-api`` ARNs for REST, HTTP and
  WebSocket APIs in every partition; path templates become wildcards.
* :class:`Statement` and :class:`PolicyDocument` build deterministic policies;
  :data:`DENY_ALL` is the immutable deny-everything document.
* :func:`route_policy` builds a policy that stays correct while API Gateway
  caches it (``authorizerResultTtlInSeconds > 0``): it covers every route the
  principal may call and denies every other route of the table.
* :func:`policy_response`, :func:`simple_response` and :func:`unauthorized`
  give each response shape, with context values checked per target and the
  whole response held to a size budget (:class:`PolicyTooLarge`).
* :class:`PolicyBuilder` ties them together; subclass it and override
  :meth:`PolicyBuilder.extra_statements` to add statements of your own.

Example
-------
>>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/orders/7")
>>> doc = PolicyDocument().allow(arn.with_route("GET", "/orders/{id}"))
>>> response = policy_response("user-1", doc, context={"tenant": "acme"})
>>> response["policyDocument"]["Statement"][0]["Resource"]
['arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/orders/*']
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Protocol

from secauth.errors import ConfigurationError
from secauth.events import EventKind

if TYPE_CHECKING:
    from secauth.events import Request

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DENY_ALL",
    "INVOKE_ACTION",
    "MAX_METHOD_ARN_BYTES",
    "MAX_RESOURCE_ARN_CHARS",
    "POLICY_VERSION",
    "Condition",
    "InvalidContext",
    "InvalidMethodArn",
    "MethodArn",
    "PolicyBuilder",
    "PolicyConflict",
    "PolicyDocument",
    "PolicyTooLarge",
    "PrincipalLike",
    "RouteLike",
    "Statement",
    "Unauthorized",
    "exact_document",
    "exact_response",
    "policy_response",
    "resources_for_routes",
    "route_policy",
    "simple_response",
    "unauthorized",
    "validate_context",
]

POLICY_VERSION: Final = "2012-10-17"
INVOKE_ACTION: Final = "execute-api:Invoke"
#: API Gateway answers 414 when a request's method ARN is longer than this.
MAX_METHOD_ARN_BYTES: Final = 1600
#: The longest Resource ARN secauth puts in a statement.
MAX_RESOURCE_ARN_CHARS: Final = 512
#: Default budget for a whole serialized authorizer response.
DEFAULT_MAX_RESPONSE_BYTES: Final = 8192
_MAX_CONTEXT_DEPTH: Final = 32

_VERBS: Final = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_VERB_SET: Final = frozenset(_VERBS)
_EFFECTS: Final = ("Allow", "Deny")

_ARN = re.compile(
    r"arn:(?P<partition>[^:]*):execute-api:(?P<region>[^:]*):(?P<account>[^:]*):"
    r"(?P<api>[^:/]*)/(?P<stage>[^/]*)/(?P<rest>.*)",
    re.DOTALL,
)
_PARTITION = re.compile(r"aws(?:-[a-z0-9]+)*")
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Real accounts are 12 digits and API ids 10 characters; local emulators such as
# serverless-offline send "random-account-id" and "random-api-id", so both are looser.
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_STAGE = re.compile(r"\$?[A-Za-z0-9._-]{1,128}")
_ROUTE_KEY = re.compile(r"\$?[A-Za-z0-9._:@-]{1,128}")
# IAM reads "*" and "?" as wildcards and "${...}" as a policy variable: a concrete ARN
# carrying them would match more than itself, so it is refused rather than escaped.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f*?]|\$\{")
_TEMPLATE_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)(\+?)\}")
_TEMPLATE_BAD = re.compile(r"[\x00-\x20\x7f*?{}]|\$\{")

_LIT, _PARAM, _GREEDY = 0, 1, 2
_Shape = tuple[tuple[int, str], ...]
_Entry = tuple[str, _Shape]  # ("GET" | "ANY", shape)


# --- errors --------------------------------------------------------------------------------


class InvalidMethodArn(ValueError):
    """An event carried a ``methodArn``/``routeArn`` that is not a well-formed execute-api ARN.

    The :class:`~secauth.errors.SecAuthError` tree is for decisions; the authorizer
    maps this one to a 401 (the request cannot be authorized as sent).
    """


class PolicyTooLarge(ConfigurationError):
    """The response, or one Resource ARN, is over its size budget.

    Raised instead of returning something API Gateway would reject.
    """


class InvalidContext(ConfigurationError):
    """A context value API Gateway cannot pass on for this kind of authorizer."""


class PolicyConflict(ConfigurationError):
    """No IAM policy can express the route table exactly for this principal while cached."""


class Unauthorized(Exception):
    """Raise this from a REST or WebSocket authorizer to make API Gateway answer 401.

    API Gateway turns a Lambda error whose message is exactly ``Unauthorized``
    into a 401; any other error becomes a 500.

    >>> str(Unauthorized())
    'Unauthorized'
    """

    def __init__(self) -> None:
        super().__init__("Unauthorized")


# --- method ARNs ---------------------------------------------------------------------------


def _verb(value: object) -> str:
    """Normalize a route verb: upper case; ``ANY`` and ``*`` become ``ANY``."""
    if not isinstance(value, str):
        raise ConfigurationError(f"a route verb must be a string, got {type(value).__name__}")
    verb = value.upper()
    if verb in ("ANY", "*"):
        return "ANY"
    if verb not in _VERB_SET:
        raise ConfigurationError(f"unknown HTTP verb {value!r}; use one of {list(_VERBS)} or ANY")
    return verb


@lru_cache(maxsize=512)
def _template(template: str) -> _Shape:
    """Split a path template into (kind, literal or parameter name) segments."""
    if not template.startswith("/"):
        raise ConfigurationError(f"path template {template!r} must start with '/'")
    if template == "/":
        return ()
    parts = template[1:].split("/")
    shape: list[tuple[int, str]] = []
    for index, part in enumerate(parts):
        match = _TEMPLATE_PARAM.fullmatch(part)
        if match is not None:
            if match.group(2):
                if index != len(parts) - 1:
                    raise ConfigurationError(
                        f"path template {template!r}: {{{match.group(1)}+}} must be the last segment"
                    )
                shape.append((_GREEDY, match.group(1)))
            else:
                shape.append((_PARAM, match.group(1)))
            continue
        if not part or part in (".", "..") or _TEMPLATE_BAD.search(part):
            raise ConfigurationError(
                f"path template {template!r}: bad segment {part!r} (empty, '.', '..', or "
                "containing whitespace, '*', '?', '{', '}' or '${'; a parameter is a whole "
                "segment like {id} or {proxy+})"
            )
        shape.append((_LIT, part))
    return tuple(shape)


def _template_text(shape: _Shape) -> str:
    names = {_LIT: "{}", _PARAM: "{{{}}}", _GREEDY: "{{{}+}}"}
    return "/" + "/".join(names[kind].format(value) for kind, value in shape)


def _glob(verb: str, shape: _Shape) -> str:
    """The route part of a Resource ARN (``GET/orders/*``): parameters become ``*``."""
    path = "/".join(value if kind == _LIT else "*" for kind, value in shape)
    return ("*" if verb == "ANY" else verb) + "/" + path


def _globs(verb: str, shape: _Shape) -> tuple[str, ...]:
    """Like :func:`_glob`, with ``ANY`` spelled out as the seven verbs.

    A ``*`` in the verb position matches across ``/`` too: ``*/tenants/acme/*``
    also matches ``GET/tenants/evil/x/tenants/acme/y``, a path of another tenant.
    """
    if verb == "ANY":
        return tuple(_glob(v, shape) for v in _VERBS)
    return (_glob(verb, shape),)


def _check_parts(
    partition: str,
    region: str,
    account_id: str,
    api_id: str,
    stage: str,
    verb: str | None,
    path: str,
    *,
    concrete: bool,
) -> str | None:
    """Why these parts do not form an execute-api ARN, or None."""
    values = (partition, region, account_id, api_id, stage, path)
    if not all(isinstance(v, str) for v in values) or not (verb is None or isinstance(verb, str)):
        return "every part must be a string"
    if not _PARTITION.fullmatch(partition):
        return f"unknown partition {partition[:40]!r} (aws, aws-cn, aws-us-gov, aws-iso-b, ...)"
    if not _REGION.fullmatch(region):
        return "bad region"
    if not _IDENT.fullmatch(account_id):
        return "bad account id"
    if not _IDENT.fullmatch(api_id):
        return "bad API id"
    if not (_STAGE.fullmatch(stage) or (stage == "*" and not concrete)):
        return "bad stage name"
    if verb is None:
        if not (_ROUTE_KEY.fullmatch(path) or (path == "*" and not concrete)):
            return "bad WebSocket route key"
        return None
    if not (verb in _VERB_SET or (verb == "*" and not concrete)):
        return f"bad HTTP verb {verb[:20]!r}"
    if not path.startswith("/"):
        return "path must start with '/'"
    unsafe = _UNSAFE.search(path)
    if unsafe and (concrete or unsafe.group() != "*"):
        return "path contains a control character, a wildcard ('*', '?') or '${'"
    return None


class MethodArn:
    """An ``execute-api`` ARN: ``arn:{partition}:execute-api:{region}:{account}:{apiId}/{stage}/...``.

    REST and HTTP APIs end in ``/{VERB}/{path}``; WebSocket APIs in ``/{routeKey}``
    (``$connect``), with ``verb`` None and the route key in ``path``. A parsed
    ARN is concrete; :meth:`with_route`, :meth:`stage_wildcard` and
    :meth:`api_wildcard` give patterns for policies. Instances are immutable.

    Attributes
    ----------
    partition, region, account_id, api_id, stage: the ARN's parts.
    verb: upper-case HTTP verb, ``"*"`` in a pattern, None for WebSocket.
    path: ``"/orders/7"`` (``"/"`` for the root), or the WebSocket route key.

    Example
    -------
    >>> arn = MethodArn.parse("arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:a1b2c3/v1/get/")
    >>> arn.partition, arn.verb, arn.path
    ('aws-us-gov', 'GET', '/')
    >>> str(arn.with_route("ANY", "/users/{id}/{proxy+}"))
    'arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:a1b2c3/v1/*/users/*/*'
    """

    __slots__ = ("account_id", "api_id", "partition", "path", "region", "stage", "verb")

    partition: str
    region: str
    account_id: str
    api_id: str
    stage: str
    verb: str | None
    path: str

    def __init__(
        self,
        partition: str,
        region: str,
        account_id: str,
        api_id: str,
        stage: str,
        verb: str | None,
        path: str,
    ) -> None:
        problem = _check_parts(
            partition, region, account_id, api_id, stage, verb, path, concrete=False
        )
        if problem is not None:
            raise ConfigurationError(f"invalid execute-api ARN: {problem}")
        set_ = object.__setattr__
        for name, value in zip(
            ("partition", "region", "account_id", "api_id", "stage", "verb", "path"),
            (partition, region, account_id, api_id, stage, verb, path),
            strict=True,
        ):
            set_(self, name, value)

    @classmethod
    def parse(cls, value: object) -> MethodArn:
        """Parse the ``methodArn``/``routeArn`` of an authorizer event.

        Verbs are case-insensitive. Raises :class:`InvalidMethodArn` (never
        ``IndexError``) for anything that is not a concrete execute-api ARN at
        most 1600 bytes long.

        >>> MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abcdef123/default/$connect").path
        '$connect'
        >>> MethodArn.parse("arn:aws:s3:::bucket")
        Traceback (most recent call last):
        ...
        secauth.policy.InvalidMethodArn: not an execute-api method ARN
        """
        if not isinstance(value, str):
            raise InvalidMethodArn("the method ARN is missing or not a string")
        return _parse_method_arn(value)

    @classmethod
    def _parse_uncached(cls, value: str) -> MethodArn:
        if len(value) > MAX_METHOD_ARN_BYTES or len(value.encode()) > MAX_METHOD_ARN_BYTES:
            raise InvalidMethodArn(f"method ARN longer than {MAX_METHOD_ARN_BYTES} bytes")
        match = _ARN.fullmatch(value)
        if match is None:
            raise InvalidMethodArn("not an execute-api method ARN")
        rest = match.group("rest")
        verb: str | None
        if "/" in rest:
            verb, _, path = rest.partition("/")
            verb, path = verb.upper(), "/" + path
        else:
            verb, path = None, rest
        parts = (
            match.group("partition"),
            match.group("region"),
            match.group("account"),
            match.group("api"),
            match.group("stage"),
        )
        problem = _check_parts(*parts, verb, path, concrete=True)
        if problem is not None:
            raise InvalidMethodArn(f"invalid method ARN: {problem}")
        return cls(*parts, verb, path)

    # -- views -------------------------------------------------------------------------------

    @property
    def is_websocket(self) -> bool:
        """True for a WebSocket route ARN (no verb)."""
        return self.verb is None

    @property
    def prefix(self) -> str:
        """``arn:...:{apiId}/{stage}/``: what every Resource of this stage starts with."""
        return (
            f"arn:{self.partition}:execute-api:{self.region}:{self.account_id}:"
            f"{self.api_id}/{self.stage}/"
        )

    def __str__(self) -> str:
        if self.verb is None:
            return self.prefix + self.path
        return self.prefix + self.verb + self.path

    def __repr__(self) -> str:
        return f"MethodArn({str(self)!r})"

    def _key(self) -> tuple[str | None, ...]:
        return (
            self.partition,
            self.region,
            self.account_id,
            self.api_id,
            self.stage,
            self.verb,
            self.path,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MethodArn):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("MethodArn is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("MethodArn is immutable")

    # -- patterns ----------------------------------------------------------------------------

    def _replace(self, stage: str, verb: str | None, path: str) -> MethodArn:
        return MethodArn(
            self.partition, self.region, self.account_id, self.api_id, stage, verb, path
        )

    def with_route(
        self, verb: str, template: str, bindings: Mapping[str, str] | None = None
    ) -> MethodArn:
        """The pattern for ``verb template`` in this API and stage.

        ``ANY`` (or ``*``) becomes ``*``; ``{param}`` and ``{proxy+}`` become ``*``
        unless ``bindings`` gives the parameter its one allowed value (a single
        path segment without wildcards; a bound ``{proxy+}`` is that one segment).
        IAM's ``*`` matches across ``/``, the verb's too: ``*/t/acme/*`` also
        matches ``GET/t/evil/x/t/acme/y``. Name
        the verb when that matters; :func:`resources_for_routes` and
        :func:`route_policy` spell ``ANY`` out as the seven verbs for this reason.

        >>> arn = MethodArn.parse("arn:aws-cn:execute-api:cn-north-1:123456789012:abc/prod/GET/x")
        >>> str(arn.with_route("get", "/tenants/{tid}/orders", {"tid": "acme"}))
        'arn:aws-cn:execute-api:cn-north-1:123456789012:abc/prod/GET/tenants/acme/orders'
        """
        if self.verb is None:
            raise ConfigurationError(
                "a WebSocket ARN has route keys, not verbs: use with_route_key"
            )
        if not isinstance(template, str):
            raise ConfigurationError("a path template must be a string")
        shape = _bind(_template(template), bindings or {}, template)
        route = _glob(_verb(verb), shape)
        head, _, path = route.partition("/")
        return self._replace(self.stage, head, "/" + path)

    def with_route_key(self, route_key: str) -> MethodArn:
        """The ARN of another route key of this WebSocket API and stage.

        >>> arn = MethodArn.parse("arn:aws:execute-api:eu-west-1:123456789012:ws1/live/$connect")
        >>> str(arn.with_route_key("$disconnect"))
        'arn:aws:execute-api:eu-west-1:123456789012:ws1/live/$disconnect'
        """
        if self.verb is not None:
            raise ConfigurationError("route keys belong to WebSocket ARNs; use with_route")
        return self._replace(self.stage, None, route_key)

    def stage_wildcard(self) -> MethodArn:
        """Every verb and path (or route key) of this API in this stage.

        >>> str(MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/").stage_wildcard())
        'arn:aws:execute-api:us-east-1:123456789012:abc/prod/*/*'
        """
        if self.verb is None:
            return self._replace(self.stage, None, "*")
        return self._replace(self.stage, "*", "/*")

    def api_wildcard(self) -> MethodArn:
        """Every stage, verb and path (or route key) of this API.

        >>> arn = MethodArn.parse("arn:aws-iso-b:execute-api:us-isob-east-1:123456789012:abc/p/GET/a")
        >>> str(arn.api_wildcard())
        'arn:aws-iso-b:execute-api:us-isob-east-1:123456789012:abc/*/*/*'
        """
        if self.verb is None:
            return self._replace("*", None, "*")
        return self._replace("*", "*", "/*")


@lru_cache(maxsize=1024)
def _parse_method_arn(value: str) -> MethodArn:
    """Parsing is pure and MethodArn immutable, so the routes an API sees over and over
    are parsed once (failures are not cached: they raise)."""
    return MethodArn._parse_uncached(value)


def _bind(shape: _Shape, bindings: Mapping[str, str], template: str) -> _Shape:
    if not bindings:
        return shape
    names = {value for kind, value in shape if kind != _LIT}
    out: list[tuple[int, str]] = []
    for name, value in bindings.items():
        if name not in names:
            raise ConfigurationError(f"path template {template!r} has no {{{name}}} to bind")
        if (
            not isinstance(value, str)
            or not value
            or value in (".", "..")
            or "/" in value
            or (_TEMPLATE_BAD.search(value))
        ):
            raise ConfigurationError(
                f"the value bound to {{{name}}} must be one path segment without wildcards"
            )
    for kind, value in shape:
        out.append((_LIT, bindings[value]) if kind != _LIT and value in bindings else (kind, value))
    return tuple(out)


# --- statements and documents --------------------------------------------------------------

#: ``{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}}``: operator -> key -> value(s).
Condition = Mapping[str, Mapping[str, str | Sequence[str]]]
_CanonicalCondition = tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]


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
    if _UNSAFE.search(text.replace("*", "").replace("?", "")):
        raise ConfigurationError("a Resource must not contain control characters or '${'")
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


class Statement:
    """One ``execute-api:Invoke`` statement: an effect, resources and an optional condition.

    Resources are de-duplicated and sorted, so equal statements serialize equally.

    >>> statement = Statement("Deny", ["arn:aws:execute-api:us-east-1:123456789012:abc/*/DELETE/*"])
    >>> statement.to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'Action': 'execute-api:Invoke', 'Effect': 'Deny',
     'Resource': ['arn:aws:execute-api:us-east-1:123456789012:abc/*/DELETE/*']}
    """

    __slots__ = ("condition", "effect", "resources")

    effect: str
    resources: tuple[str, ...]
    condition: _CanonicalCondition

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
        set_ = object.__setattr__
        set_(self, "effect", effect)
        set_(self, "resources", tuple(sorted({_resource(item) for item in items})))
        set_(self, "condition", _condition(condition))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Statement is immutable")

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

    __slots__ = ("_serialized", "statements")

    statements: tuple[Statement, ...]
    _serialized: tuple[dict[str, Any], int] | None

    def __init__(self, statements: Iterable[Statement] = ()) -> None:
        object.__setattr__(self, "_serialized", None)
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
            statement = Statement(effect, resources)
            object.__setattr__(statement, "condition", condition)
            ordered.append(statement)
        object.__setattr__(self, "statements", tuple(ordered))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PolicyDocument is immutable")

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


# --- cache-safe policies from a route table ------------------------------------------------

#: ``("GET", "/orders/{id}")``, ``"GET /orders/{id}"`` or an ``AllowedRoute``.
RouteLike = str | Sequence[str]


def _entry(route: object) -> _Entry:
    if isinstance(route, str):
        verb, _, template = route.partition(" ")
    elif isinstance(route, Sequence) and len(route) == 2:
        verb, template = route[0], route[1]
    else:
        raise ConfigurationError(
            f"a route is 'VERB /path' or (verb, path template), got {route!r:.80}"
        )
    if not isinstance(template, str):
        raise ConfigurationError("a path template must be a string")
    return _verb(verb), _template(template)


def _key(shape: _Shape) -> _Shape:
    """The routing shape: parameter names do not matter to API Gateway."""
    return tuple((kind, value if kind == _LIT else "") for kind, value in shape)


def resources_for_routes(method_arn: MethodArn | str, routes: Iterable[RouteLike]) -> list[str]:
    """Resource ARNs (sorted, unique) covering every ``(verb, path template)`` in ``routes``.

    For a policy API Gateway may cache: with ``authorizerResultTtlInSeconds > 0``
    the first response is reused for every route the same token calls. ``ANY``
    becomes one resource per verb. ``*`` matches across ``/`` in IAM, so
    ``/users/{id}`` also covers ``/users/7/secrets``; when the table has routes
    the principal must not call, use :func:`route_policy`, which denies them.

    >>> arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders/7"
    >>> for resource in resources_for_routes(arn, [("GET", "/orders/{id}"), "ANY /files/{proxy+}"]):
    ...     print(resource.split("/prod/")[1])
    DELETE/files/*
    GET/files/*
    GET/orders/*
    HEAD/files/*
    OPTIONS/files/*
    PATCH/files/*
    POST/files/*
    PUT/files/*
    """
    arn = method_arn if isinstance(method_arn, MethodArn) else MethodArn.parse(method_arn)
    if arn.is_websocket:
        raise ConfigurationError("route resources are for REST and HTTP APIs, not WebSocket ARNs")
    return sorted({_resource(arn.prefix + g) for route in routes for g in _globs(*_entry(route))})


def route_policy(
    method_arn: MethodArn | str, allowed: Iterable[RouteLike], routes: Iterable[RouteLike]
) -> PolicyDocument:
    """A policy that stays right for every route while API Gateway caches it.

    Parameters
    ----------
    method_arn:
        The event's method ARN (its API and stage are used).
    allowed:
        The routes the principal may call, e.g. ``Routes.allowed_routes(principal)``;
        parameters bound to one value (``/tenants/acme/{proxy+}``) stay literal.
    routes:
        Every route of the table (``"VERB /template"`` or pairs). It must list
        every route this authorizer protects: a route it does not know of can be
        matched by an allowed wildcard.

    Returns
    -------
    PolicyDocument
        Allow statements for ``allowed`` and Deny statements for the other
        routes that an allowed wildcard would otherwise reach.

    Raises
    ------
    PolicyConflict
        When such a Deny would also hit a path an allowed route serves, i.e. when
        no IAM policy can express the table for this principal; use a TTL of 0 (or
        put the route in the cache key) for that table.

    Notes
    -----
    Routing follows API Gateway: the most specific route wins, segment by
    segment (literal, then ``{param}``, then ``{proxy+}``), then an exact verb
    beats ``ANY``.

    >>> arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/users/7"
    >>> table = ["GET /users/{id}", "GET /users/{id}/secrets", "DELETE /users/{id}"]
    >>> for s in route_policy(arn, ["GET /users/{id}"], table).to_dict()["Statement"]:
    ...     print(s["Effect"], [r.rsplit("/prod/", 1)[1] for r in s["Resource"]])
    Allow ['GET/users/*']
    Deny ['GET/users/*/secrets']
    """
    arn = method_arn if isinstance(method_arn, MethodArn) else MethodArn.parse(method_arn)
    return _route_policy(arn, allowed, tuple(sorted({_entry(route) for route in routes})))


def _route_policy(
    arn: MethodArn, allowed: Iterable[RouteLike], table: tuple[_Entry, ...]
) -> PolicyDocument:
    if arn.is_websocket:
        raise ConfigurationError("route policies are for REST and HTTP APIs, not WebSocket ARNs")
    allowed_entries = tuple(sorted({_entry(route) for route in allowed}))
    if not allowed_entries:
        return PolicyDocument()  # serializes as DENY_ALL, and composes with more statements
    document = _route_document(arn.prefix, allowed_entries, table)
    if isinstance(document, str):
        raise PolicyConflict(document)
    return document


@lru_cache(maxsize=256)
def _route_document(
    prefix: str, allowed: tuple[_Entry, ...], table: tuple[_Entry, ...]
) -> PolicyDocument | str:
    """The (immutable, so shareable) document, or the PolicyConflict message; both cached."""
    try:
        allow_globs, deny_globs = _plan(allowed, table)
    except PolicyConflict as conflict:
        return conflict.public_message
    statements = [Statement("Allow", [prefix + g for g in allow_globs])]
    if deny_globs:
        statements.append(Statement("Deny", [prefix + g for g in deny_globs]))
    return PolicyDocument(statements)


def _route_name(entry: _Entry) -> str:
    return f"{entry[0]} {_template_text(entry[1])}"


def _plan(allowed: tuple[_Entry, ...], table: tuple[_Entry, ...]) -> tuple[list[str], list[str]]:
    """Allow and Deny route globs for ``allowed`` within ``table`` (see route_policy)."""
    shapes: list[tuple[str, _Shape]] = []
    names: dict[tuple[str, _Shape], _Entry] = {}
    for verb, shape in table:
        key = (verb, _key(shape))
        if key not in names:
            names[key] = (verb, shape)
            shapes.append(key)
    search = _Search(shapes)
    # Which table route each allowed entry belongs to, with its bound values by position.
    granted: dict[int, list[_Binding]] = {}
    for entry in allowed:
        verb, shape = entry
        exact = shapes.index((verb, _key(shape))) if (verb, _key(shape)) in names else None
        if exact is not None:
            granted.setdefault(exact, []).append(({}, None, None))
            continue
        origins = [i for i, route in enumerate(shapes) if _generalizes(route, entry)]
        verbs: frozenset[str] | None = None
        if verb != "ANY":
            if not origins:  # one verb of an ANY route, when no route of that verb fits
                origins = [i for i, r in enumerate(shapes) if _generalizes(r, entry, True)]
                verbs = frozenset({verb})
            elif all(kind == _LIT for kind, _ in shape):
                # One request, which an ANY route that also fits may be the one to serve:
                # then the entry could name either route (ambiguous, refused below).
                served = search.route(verb, tuple(value for _, value in shape))
                if (
                    served is not None
                    and served not in origins
                    and _generalizes(shapes[served], entry, True)
                ):
                    origins.append(served)
        if not origins:
            raise ConfigurationError(
                f"allowed route {_route_name(entry)!r} is not in the route table"
            )
        if len(origins) > 1:
            raise PolicyConflict(
                f"allowed route {_route_name(entry)!r} could be a bound form of several routes "
                f"({', '.join(_route_name(names[shapes[i]]) for i in origins)}); "
                "give the routes distinct literal segments or use authorizer caching TTL 0"
            )
        origin = origins[0]
        origin_shape = shapes[origin][1]
        binding = {
            pos: shape[pos][1]
            for pos, (kind, _) in enumerate(origin_shape)
            if kind != _LIT and shape[pos][0] == _LIT
        }
        # A {proxy+} bound to one segment allows exactly that segment, nothing below it.
        greedy_bound = (
            bool(origin_shape) and origin_shape[-1][0] == _GREEDY and shape[-1][0] == _LIT
        )
        granted.setdefault(origin, []).append(
            (binding, len(shape) if greedy_bound else None, verbs)
        )

    glob_owner = {glob: entry for entry in allowed for glob in _globs(*entry)}
    allow_globs = sorted(glob_owner)

    deny: dict[str, tuple[int, str]] = {}
    for index, route in enumerate(shapes):
        if index in granted:
            continue
        for route_glob in _globs(*route):
            for allow_glob in allow_globs:
                if _intersects(allow_glob, route_glob) and search.find(index, allow_glob, None):
                    deny[route_glob] = (index, allow_glob)
                    break
    for index, bindings in granted.items():
        if any(not bound and length is None and only is None for bound, length, only in bindings):
            continue
        for allow_glob in allow_globs:
            witness = search.find(index, allow_glob, _Bound(bindings, violated=True))
            if witness is not None:
                raise PolicyConflict(
                    f"route {_route_name(names[shapes[index]])!r} is allowed only for bound values, "
                    f"but the allowed {_route_name(glob_owner[allow_glob])!r} also matches its "
                    f"path {witness!r}; no cached IAM policy can tell them apart (use TTL 0)"
                )
    for deny_glob, (denied, because) in sorted(deny.items()):
        for index, bindings in granted.items():
            witness = search.find(index, deny_glob, _Bound(bindings, violated=False))
            if witness is not None:
                raise PolicyConflict(
                    f"denying {_route_name(names[shapes[denied]])!r} (the allowed "
                    f"{_route_name(glob_owner[because])!r} matches it) would also deny "
                    f"{witness!r}, which the allowed {_route_name(names[shapes[index]])!r} serves; "
                    "IAM wildcards cannot express this table while cached (use TTL 0, or "
                    "rename the routes)"
                )
    return allow_globs, sorted(deny)


# Bound values by segment position, the exact length when a {proxy+} is bound, and the
# verbs it is for (None: every verb of the route; a set: an ANY route granted per verb).
_Binding = tuple[dict[int, str], int | None, frozenset[str] | None]


class _Bound:
    """Accepts the segment values that satisfy one of ``bindings`` (or violate all of them)."""

    __slots__ = ("bindings", "violated")

    def __init__(self, bindings: list[_Binding], *, violated: bool) -> None:
        self.bindings = bindings
        self.violated = violated

    def __call__(self, verb: str, values: tuple[str, ...]) -> bool:
        ok = any(
            (only is None or verb in only)
            and (length is None or len(values) == length)
            and all(values[p] == v for p, v in bound.items())
            for bound, length, only in self.bindings
        )
        return ok is not self.violated

    def possible(self, verb: str, values: tuple[str, ...]) -> bool:
        """Can some continuation of ``values`` (for ``verb``) still be accepted?"""
        count = len(values)
        if self.violated:  # impossible once a binding that no further segment can undo is met
            return not any(
                (only is None or verb in only)
                and length is None
                and all(p < count and values[p] == v for p, v in bound.items())
                for bound, length, only in self.bindings
            )
        return any(
            (only is None or verb in only)
            and (length is None or count <= length)
            and all(p >= count or values[p] == v for p, v in bound.items())
            for bound, length, only in self.bindings
        )

    def values_at(self, position: int) -> tuple[str, ...]:
        return tuple(sorted({b[position] for b, _, _ in self.bindings if position in b}))


def _generalizes(route: tuple[str, _Shape], entry: _Entry, any_verb: bool = False) -> bool:
    """Is ``entry`` ``route`` with some parameters bound to literal values? With
    ``any_verb``: is it an ``ANY`` route so bound, for one of its verbs?"""
    verb, shape = route
    if (verb != entry[0] and not (any_verb and verb == "ANY")) or len(shape) != len(entry[1]):
        return False
    for (kind, value), (entry_kind, entry_value) in zip(shape, entry[1], strict=True):
        if kind == _LIT and (entry_kind != _LIT or entry_value != value):
            return False
        if kind != _LIT and entry_kind not in (kind, _LIT):
            return False
    return True


# Glob matching as IAM does it: "*" any run of characters (including "/"), "?" one character.
def _closure(pattern: str, states: Iterable[int]) -> frozenset[int]:
    out = set(states)
    stack = list(out)
    while stack:
        i = stack.pop()
        if i < len(pattern) and pattern[i] == "*" and i + 1 not in out:
            out.add(i + 1)
            stack.append(i + 1)
    return frozenset(out)


def _advance(pattern: str, states: frozenset[int], text: str) -> frozenset[int]:
    for char in text:
        following = set()
        for i in states:
            if i < len(pattern):
                token = pattern[i]
                if token == "*":
                    following.add(i)
                elif token in ("?", char):
                    following.add(i + 1)
        if not following:
            return frozenset()
        states = _closure(pattern, following)
    return states


def _intersects(left: str, right: str) -> bool:
    """Is there a string both glob patterns match?"""
    start = _closure(right, [0])
    todo = [(i, j) for i in _closure(left, [0]) for j in start]
    seen = set(todo)
    while todo:
        i, j = todo.pop()
        if i == len(left) and j == len(right):
            return True
        if i == len(left) or j == len(right):
            continue
        a, b = left[i], right[j]
        if a not in "*?" and b not in "*?" and a != b:
            continue
        next_i = _closure(left, [i if a == "*" else i + 1])
        next_j = _closure(right, [j if b == "*" else j + 1])
        for pair in ((x, y) for x in next_i for y in next_j):
            if pair not in seen:
                seen.add(pair)
                todo.append(pair)
    return False


class _Search:
    """Find a concrete request that API Gateway routes to a given route and a glob matches.

    Parameter values are drawn from the glob's literal segments plus one fresh
    value: a glob's ``*`` always spans whole segments, so any value it absorbs can
    be the fresh one, which matches no literal of the table and so never pulls the
    request to another route.
    """

    _BUDGET = 50_000

    def __init__(self, shapes: list[tuple[str, _Shape]]) -> None:
        self.shapes = shapes
        literals = {value for _, shape in shapes for kind, value in shape if kind == _LIT}
        fresh = "~w"
        while fresh in literals:
            fresh += "~"
        self.fresh = fresh
        self.longest = max((len(shape) for _, shape in shapes), default=0)

    def route(self, verb: str, values: tuple[str, ...]) -> int | None:
        best: int | None = None
        best_key: tuple[tuple[int, ...], int] | None = None
        for index, (route_verb, shape) in enumerate(self.shapes):
            if route_verb not in ("ANY", verb):
                continue
            ranks = _ranks(shape, values)
            if ranks is None:
                continue
            key = (ranks, 1 if route_verb == "ANY" else 0)
            if best_key is None or key < best_key:
                best, best_key = index, key
        return best

    def find(self, target: int, glob: str, accept: _Bound | None) -> str | None:
        """A request ``"VERB /path"`` routed to ``target``, matched by ``glob``, that
        ``accept`` (if given) accepts; None if there is none."""
        verb, shape = self.shapes[target]
        tokens = {t for t in glob.split("/") if t and "*" not in t and "?" not in t}
        pool = (self.fresh, *sorted(tokens))
        greedy = bool(shape) and shape[-1][0] == _GREEDY
        max_length = self.longest + 1
        star_tail = len(glob.rstrip("*"))
        budget = [self._BUDGET]

        def walk(verb_: str, states: frozenset[int], values: tuple[str, ...]) -> str | None:
            budget[0] -= 1
            if budget[0] < 0:
                raise PolicyConflict(
                    "the route table is too complex to check a cache-safe policy; use TTL 0"
                )
            if not states or (accept is not None and not accept.possible(verb_, values)):
                return None
            count = len(values)
            done = count >= len(shape) if greedy else count == len(shape)
            if (
                done
                and len(glob) in states
                and (accept is None or accept(verb_, values))
                and self.route(verb_, values) == target
            ):
                return f"{verb_} /{'/'.join(values)}"
            if count < len(shape) and shape[count][0] == _LIT:
                choices: tuple[str, ...] = (shape[count][1],)
            elif count < len(shape) - greedy or (greedy and count < max_length):
                # Once the glob accepts any rest, only routing and bindings care about the
                # values, and the fresh value is the one that matches the fewest routes.
                anything = any(star_tail <= i < len(glob) for i in states)
                bound = accept.values_at(count) if accept is not None else ()
                choices = (self.fresh, *bound) if anything else (*pool, *bound)
            else:
                return None
            for value in dict.fromkeys(choices):
                step = _advance(glob, states, ("/" if values else "") + value)
                found = walk(verb_, step, (*values, value))
                if found is not None:
                    return found
            return None

        start = _closure(glob, [0])
        for verb_ in _VERBS if verb == "ANY" else (verb,):
            found = walk(verb_, _advance(glob, start, verb_ + "/"), ())
            if found is not None:
                return found
        return None


def _ranks(shape: _Shape, values: tuple[str, ...]) -> tuple[int, ...] | None:
    """How specifically ``shape`` matches the segments ``values``, or None if it does not."""
    ranks: list[int] = []
    for position, (kind, literal) in enumerate(shape):
        if kind == _GREEDY:
            return (*ranks, _GREEDY) if len(values) > position else None
        if position >= len(values) or (kind == _LIT and values[position] != literal):
            return None
        ranks.append(kind)
    return tuple(ranks) if len(values) == len(shape) else None


# --- context values and response shapes ----------------------------------------------------

_AUTHORIZER_KINDS: Final = frozenset(
    {
        EventKind.TOKEN_AUTHORIZER,
        EventKind.REST_REQUEST_AUTHORIZER,
        EventKind.HTTP_AUTHORIZER_V1,
        EventKind.HTTP_AUTHORIZER_V2,
        EventKind.WEBSOCKET_AUTHORIZER,
    }
)
_RAISES_FOR_401: Final = frozenset(
    {
        EventKind.TOKEN_AUTHORIZER,
        EventKind.REST_REQUEST_AUTHORIZER,
        EventKind.WEBSOCKET_AUTHORIZER,
    }
)
_USAGE_PLAN_KINDS: Final = frozenset(
    {EventKind.TOKEN_AUTHORIZER, EventKind.REST_REQUEST_AUTHORIZER}
)


def _kind(kind: object) -> EventKind:
    if not isinstance(kind, EventKind) or kind not in _AUTHORIZER_KINDS:
        raise ConfigurationError(f"{kind!r} is not an authorizer event kind")
    return kind


def _json_value(value: object, where: str, depth: int) -> object:
    if depth > _MAX_CONTEXT_DEPTH:
        raise InvalidContext(f"context value {where} is nested too deeply")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidContext(f"context value {where} is {value!r}, which JSON cannot carry")
        return value
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidContext(f"context key {key!r} in {where} is not a string")
            out[key] = _json_value(item, f"{where}[{key!r}]", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise InvalidContext(f"context value {where} is a {type(value).__name__}, not JSON")


def validate_context(context: Mapping[str, object] | None, kind: EventKind) -> dict[str, Any]:
    """Check ``context`` for the authorizer ``kind`` and return a plain copy.

    REST (TOKEN, REQUEST), WebSocket and HTTP payload 1.0 accept only strings,
    numbers and booleans (API Gateway answers 500 for anything else); HTTP payload
    2.0 accepts any JSON value. Keys must be non-empty strings; NaN and Infinity
    are refused everywhere.

    >>> validate_context({"tenant": "acme", "admin": True, "level": 3}, EventKind.TOKEN_AUTHORIZER)
    {'tenant': 'acme', 'admin': True, 'level': 3}
    >>> validate_context({"roles": ["a", "b"]}, EventKind.TOKEN_AUTHORIZER)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    secauth.policy.InvalidContext: context value 'roles' is a list; ...
    """
    kind = _kind(kind)
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise InvalidContext("the context must be a mapping of string keys to values")
    for k, v in context.items():
        if type(k) is not str or not k or type(v) is not str:
            break
    else:
        return dict(context)  # strings only: valid for every kind (the usual case)
    out: dict[str, Any] = {}
    flat = kind is not EventKind.HTTP_AUTHORIZER_V2
    for key, value in context.items():
        if not isinstance(key, str) or not key:
            raise InvalidContext(f"context key {key!r} must be a non-empty string")
        where = repr(key)
        if flat and not isinstance(value, str | bool | int | float):
            name = "None" if value is None else f"a {type(value).__name__}"
            raise InvalidContext(
                f"context value {where} is {name}; {kind.value} authorizers pass on only "
                "strings, numbers and booleans"
            )
        out[key] = _json_value(value, where, 0)
    return out


def _size_bound(members: Mapping[str, Any]) -> int | None:
    """An upper bound of ``len(json.dumps(members))`` for string values and string-only
    mappings, else None. ``json.dumps`` escapes to ASCII: at most 12 characters per input
    character (a character beyond the BMP becomes two ``\\uXXXX`` escapes)."""
    total = 2
    for key, value in members.items():
        if type(value) is str:
            total += _PER_CHAR * (len(key) + len(value)) + 8
        elif type(value) is dict:
            total += _PER_CHAR * len(key) + 12
            for k, v in value.items():
                if type(v) is not str:
                    return None
                total += _PER_CHAR * (len(k) + len(v)) + 8
        else:
            return None
    return total


_PER_CHAR = 12  # the most characters json.dumps (ensure_ascii) writes for one character
# The document's member name and separator, as json.dumps writes them in a response.
_DOCUMENT_PART = len(', "policyDocument": ')
# _size_bound of {"principalId": "", "context": {}}, plus the document's name and separator.
_PRINCIPAL_RESPONSE_BASE = (_size_bound({"principalId": "", "context": {}}) or 0) + _DOCUMENT_PART


def _fresh_copy(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of a cached policy document that callers may change without harm."""
    given = document["Statement"]
    if len(given) == 1 and "Condition" not in given[0]:  # one plain statement: exact documents
        only = given[0].copy()
        only["Resource"] = list(only["Resource"])
        return {"Version": document["Version"], "Statement": [only]}
    statements = []
    for statement in given:
        copied = dict(statement)
        copied["Resource"] = list(statement["Resource"])
        if "Condition" in statement:
            copied["Condition"] = json.loads(json.dumps(statement["Condition"]))
        statements.append(copied)
    return {"Version": document["Version"], "Statement": statements}


def _within_budget(response: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    # Measured as the Lambda runtime would send it at its largest: default json.dumps,
    # ASCII escapes for non-ASCII text.
    _check_size(len(json.dumps(response)), max_bytes)
    return response


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise PolicyTooLarge(
            f"the authorizer response is {size} bytes, over the {max_bytes}-byte budget; "
            "allow fewer or broader route patterns, shrink the context, or raise "
            "max_response_bytes if your API accepts more"
        )


def policy_response(
    principal_id: str,
    policy: PolicyDocument,
    *,
    kind: EventKind = EventKind.TOKEN_AUTHORIZER,
    context: Mapping[str, object] | None = None,
    usage_identifier_key: str | None = None,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """``{"principalId", "policyDocument", "context"?, "usageIdentifierKey"?}``.

    The IAM-policy response of REST TOKEN/REQUEST, HTTP payload 1.0 (and 2.0
    without simple responses) and WebSocket ``$connect`` authorizers.
    ``usage_identifier_key`` (an API key of a usage plan whose key source is
    ``AUTHORIZER``) is only for REST APIs. Raises :class:`PolicyTooLarge` over
    ``max_bytes``.

    >>> policy_response("u-1", DENY_ALL, usage_identifier_key="key-1")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'principalId': 'u-1',
     'policyDocument': {'Version': '2012-10-17',
                        'Statement': [{'Action': 'execute-api:Invoke', 'Effect': 'Deny',
                                       'Resource': ['*']}]},
     'usageIdentifierKey': 'key-1'}
    """
    kind = _kind(kind)
    if not isinstance(principal_id, str) or not principal_id:
        raise ConfigurationError("principalId must be a non-empty string")
    if not isinstance(policy, PolicyDocument):
        raise ConfigurationError("policy must be a PolicyDocument")
    rest: dict[str, Any] = {"principalId": principal_id}
    checked = validate_context(context, kind)
    if checked:
        rest["context"] = checked
    if usage_identifier_key is not None:
        if kind not in _USAGE_PLAN_KINDS:
            raise ConfigurationError("usageIdentifierKey is only read by REST API authorizers")
        if not isinstance(usage_identifier_key, str) or not usage_identifier_key:
            raise ConfigurationError("usageIdentifierKey must be a non-empty string")
        rest["usageIdentifierKey"] = usage_identifier_key
    return _assemble(principal_id, _document_json(policy), rest, max_bytes)


def exact_response(
    principal_id: str,
    arn: MethodArn,
    allow: bool,
    context: Mapping[str, str],
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """:func:`policy_response` for a policy of exactly ``arn`` and a context of strings.

    The same response (and the same errors) as ``policy_response(principal_id,
    exact_document(arn, allow), context=context, max_bytes=max_bytes)``, for any
    authorizer kind (strings are valid context values for all of them), in fewer
    steps: the authorizer's answer when its result cache is off.

    >>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a")
    >>> response = exact_response("u-1", arn, False, {"tenant": "acme"})
    >>> response["policyDocument"]["Statement"][0]["Effect"], response["context"]
    ('Deny', {'tenant': 'acme'})
    """
    return _string_context_response(
        principal_id, _document_json(exact_document(arn, allow)), context, max_bytes
    )


def _string_context_response(
    principal_id: str,
    document: tuple[dict[str, Any], int],
    context: Mapping[str, object],
    max_bytes: int,
) -> dict[str, Any]:
    """:func:`exact_response` for a document already in :func:`document_json` form (keep
    that per method ARN to skip even the cache lookups)."""
    if type(principal_id) is not str or not principal_id:
        raise ConfigurationError("principalId must be a non-empty string")
    rest: dict[str, Any] = {"principalId": principal_id}
    if context:
        for key, value in context.items():
            if type(key) is not str or not key or type(value) is not str:
                rest["context"] = validate_context(context, EventKind.TOKEN_AUTHORIZER)
                break  # not only strings: the general checks say what is wrong
        else:
            rest["context"] = dict(context)
    return _assemble(principal_id, document, rest, max_bytes)


def _principal_response(
    principal_id: str,
    document: tuple[dict[str, Any], int],
    context: Mapping[str, object],
    max_bytes: int,
) -> dict[str, Any]:
    """:func:`_string_context_response` in fewer steps for what a principal usually gives
    (:meth:`~secauth.principal.Principal.to_context`): a non-empty string id and a fresh
    dict of non-empty string keys and string values. Anything else (a custom mapper's or
    principal's) takes :func:`_string_context_response`, with its checks and errors."""
    as_dict, document_size = document
    if type(principal_id) is not str or not principal_id or type(context) is not dict:
        return _string_context_response(principal_id, document, context, max_bytes)
    chars = len(principal_id)
    for key, value in context.items():
        if type(key) is not str or not key or type(value) is not str:
            return _string_context_response(principal_id, document, context, max_bytes)
        chars += len(key) + len(value)
    bound = _PRINCIPAL_RESPONSE_BASE + document_size + 8 * len(context) + _PER_CHAR * chars
    if bound > max_bytes:  # maybe too large: measure exactly (and raise if it is)
        return _string_context_response(principal_id, document, context, max_bytes)
    return {"principalId": principal_id, "policyDocument": _fresh_copy(as_dict), "context": context}


def _assemble(
    principal_id: str,
    prepared: tuple[dict[str, Any], int],
    rest: dict[str, Any],
    max_bytes: int,
) -> dict[str, Any]:
    """The response: ``rest`` (checked members, principalId first) plus the document."""
    document, document_size = prepared
    # The size json.dumps gives the whole response: the other members, plus the document
    # with its name and separator; the document's own size is computed once per document.
    # A cheap bound first (see _size_bound).
    document_part = _DOCUMENT_PART + document_size
    bound = _size_bound(rest)
    if bound is None or bound + document_part > max_bytes:
        bound = len(json.dumps(rest))
    _check_size(bound + document_part, max_bytes)
    response: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": _fresh_copy(document),
    }
    response.update(rest)
    return response


def simple_response(
    authorized: bool,
    *,
    context: Mapping[str, object] | None = None,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """``{"isAuthorized": bool, "context"?: {...}}``: HTTP API payload 2.0 simple responses.

    ``False`` makes API Gateway answer 403; a simple response cannot ask for 401.

    >>> simple_response(True, context={"roles": ["admin"]})
    {'isAuthorized': True, 'context': {'roles': ['admin']}}
    """
    if not isinstance(authorized, bool):
        raise ConfigurationError("isAuthorized must be a bool")
    response: dict[str, Any] = {"isAuthorized": authorized}
    checked = validate_context(context, EventKind.HTTP_AUTHORIZER_V2)
    if checked:
        response["context"] = checked
    return _within_budget(response, max_bytes)


def unauthorized(kind: EventKind, *, simple: bool = False) -> dict[str, Any]:
    """Refuse a request whose credentials are missing or invalid, as ``kind`` allows.

    * REST TOKEN/REQUEST and WebSocket: raises :class:`Unauthorized` (message
      ``"Unauthorized"``), which API Gateway answers with 401.
    * HTTP APIs: their documented authorizer outcomes are allow and 403 (API
      Gateway sends 401 itself only when the identity sources are missing), so
      this returns ``{"isAuthorized": false}`` with ``simple=True``, else a
      :data:`DENY_ALL` policy; the client sees 403.

    >>> unauthorized(EventKind.HTTP_AUTHORIZER_V2, simple=True)
    {'isAuthorized': False}
    >>> unauthorized(EventKind.TOKEN_AUTHORIZER)
    Traceback (most recent call last):
    ...
    secauth.policy.Unauthorized: Unauthorized
    """
    kind = _kind(kind)
    if kind in _RAISES_FOR_401:
        raise Unauthorized()
    if simple and kind is EventKind.HTTP_AUTHORIZER_V2:
        return {"isAuthorized": False}
    return {"principalId": "anonymous", "policyDocument": DENY_ALL.to_dict()}


# --- the builder ---------------------------------------------------------------------------


class PrincipalLike(Protocol):
    """What the policy builder reads from a principal (``secauth.principal.Principal`` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def tenant(self) -> str | None: ...

    @property
    def roles(self) -> Collection[str]: ...

    @property
    def scopes(self) -> Collection[str]: ...


class PolicyBuilder:
    """Turns a decision into the authorizer response; subclass it to add statements.

    Parameters
    ----------
    cache_ttl: the authorizer's ``authorizerResultTtlInSeconds`` (0-3600). With 0
        the policy names only the exact method ARN. Above 0, API Gateway reuses the
        response for every route the same identity calls, so the policy covers the
        whole table (:func:`route_policy`), and ``routes`` is required.
    routes: every route of the table (``"VERB /template"`` or pairs).
    max_response_bytes: budget for the whole serialized response (8 KB by default).
    simple_responses: answer HTTP payload 2.0 events with ``{"isAuthorized": ...}``
        (the authorizer's ``enableSimpleResponses``).

    Example
    -------
    >>> from secauth.events import Request
    >>> from secauth.principal import Principal
    >>> class NoDeletes(PolicyBuilder):
    ...     def extra_statements(self, principal, request):
    ...         if "auditor" in principal.roles:
    ...             arn = MethodArn.parse(request.method_arn)
    ...             yield Statement("Deny", arn.with_route("DELETE", "/{proxy+}"))
    >>> request = Request.from_event({"type": "TOKEN", "authorizationToken": "Bearer t",
    ...     "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders"})
    >>> response = NoDeletes().response(Principal("u-1", roles={"auditor"}), request, allow=True)
    >>> [s["Effect"] for s in response["policyDocument"]["Statement"]]
    ['Allow', 'Deny']
    """

    def __init__(
        self,
        *,
        cache_ttl: int = 0,
        routes: Iterable[RouteLike] = (),
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        simple_responses: bool = False,
    ) -> None:
        if (
            not isinstance(cache_ttl, int)
            or isinstance(cache_ttl, bool)
            or not 0 <= cache_ttl <= 3600
        ):
            raise ConfigurationError("cache_ttl is the authorizer's result TTL: 0 to 3600 seconds")
        if not isinstance(max_response_bytes, int) or max_response_bytes < 256:
            raise ConfigurationError("max_response_bytes must be an int of at least 256")
        self._table = tuple(sorted({_entry(route) for route in routes if not _is_route_key(route)}))
        if cache_ttl and not self._table:
            raise ConfigurationError(
                "cache_ttl > 0 needs routes=: a cached policy must cover every route the "
                "principal may call, or the others answer 403 until the cache expires"
            )
        self.cache_ttl = cache_ttl
        self.max_response_bytes = max_response_bytes
        self.simple_responses = bool(simple_responses)

    def extra_statements(self, principal: PrincipalLike, request: Request) -> Iterable[Statement]:
        """Hook: statements to add to every policy (default: none).

        An explicit ``Deny`` here always wins over the built-in Allow. With
        ``cache_ttl > 0`` the policy is reused for other routes of the same
        identity, so statements must not depend on the current route.
        """
        return ()

    def policy(
        self,
        principal: PrincipalLike,
        request: Request,
        *,
        allow: bool,
        allowed_routes: Iterable[RouteLike] = (),
        exact: bool = False,
    ) -> PolicyDocument:
        """The policy for this decision.

        ``allowed_routes`` (e.g. ``Routes.allowed_routes(principal)``) matter only when
        ``cache_ttl > 0``: then the policy is :func:`route_policy` for them, plus an
        explicit Deny of the method ARN when ``allow`` is false (or an Allow of it when
        the routes do not cover it). ``exact=True`` names only the method ARN, as with
        ``cache_ttl=0``: the fallback after a :class:`PolicyConflict` (fail closed: other
        routes answer 403 until the cache entry expires).

        Raises :class:`InvalidMethodArn` for a bad ``methodArn``/``routeArn`` in the
        event, :class:`PolicyConflict` when no policy can express the table.
        """
        arn = MethodArn.parse(request.method_arn)
        if exact or not self.cache_ttl or arn.is_websocket:
            doc = exact_document(arn, allow)
        else:
            doc = _route_policy(arn, allowed_routes, self._table)
            if not allow:
                doc = doc.deny(arn)
            elif not _allows(doc, str(arn)):
                doc = doc.allow(arn)
        extra = tuple(self.extra_statements(principal, request))
        return doc.add(*extra) if extra else doc

    def response(
        self,
        principal: PrincipalLike,
        request: Request,
        *,
        allow: bool,
        allowed_routes: Iterable[RouteLike] = (),
        context: Mapping[str, object] | None = None,
        usage_identifier_key: str | None = None,
        exact: bool = False,
    ) -> dict[str, Any]:
        """The full authorizer response for ``request``'s event kind (see :meth:`policy`).

        Raises :class:`PolicyTooLarge` over ``max_response_bytes`` and
        :class:`InvalidContext` for a context value the kind cannot carry.
        """
        kind = _kind(request.kind)
        if self.simple_responses and kind is EventKind.HTTP_AUTHORIZER_V2:
            return simple_response(allow, context=context, max_bytes=self.max_response_bytes)
        doc = self.policy(
            principal, request, allow=allow, allowed_routes=allowed_routes, exact=exact
        )
        return policy_response(
            principal.id,
            doc,
            kind=kind,
            context=context,
            usage_identifier_key=usage_identifier_key,
            max_bytes=self.max_response_bytes,
        )

    def unauthorized(self, request: Request) -> dict[str, Any]:
        """See :func:`unauthorized`: raises :class:`Unauthorized` for REST and WebSocket."""
        return unauthorized(request.kind, simple=self.simple_responses)


@lru_cache(maxsize=1024)
def exact_document(arn: MethodArn, allow: bool) -> PolicyDocument:
    """Allow or Deny of exactly ``arn``: the policy when authorizer caching is off.
    Documents are immutable, so each is built once per ARN.

    >>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a")
    >>> exact_document(arn, True).to_dict()["Statement"][0]["Effect"]
    'Allow'
    """
    return PolicyDocument().allow(arn) if allow else PolicyDocument().deny(arn)


def _document_json(document: PolicyDocument) -> tuple[dict[str, Any], int]:
    """A document's JSON form and its serialized size, computed once per (immutable) document.
    The dict is shared: copy it before handing it out (responses do)."""
    serialized = document._serialized
    if serialized is None:
        as_dict = document.to_dict()
        serialized = (as_dict, len(json.dumps(as_dict)))
        object.__setattr__(document, "_serialized", serialized)
    return serialized


def _is_route_key(route: object) -> bool:
    return isinstance(route, str) and route.startswith("$")


def _allows(doc: PolicyDocument, arn: str) -> bool:
    """Does ``doc`` (without conditions) allow ``arn``? IAM: any Allow and no Deny."""

    def matches(pattern: str) -> bool:
        return len(pattern) in _advance(pattern, _closure(pattern, [0]), arn)

    allowed = denied = False
    for statement in doc.statements:
        if statement.condition:
            continue
        hit = any(matches(resource) for resource in statement.resources)
        if statement.effect == "Allow":
            allowed = allowed or hit
        else:
            denied = denied or hit
    return allowed and not denied
