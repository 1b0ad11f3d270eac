"""Method ARNs: parse the ``methodArn``/``routeArn`` of an authorizer event and build
``execute-api`` Resource patterns from route templates.

>>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/orders/7")
>>> str(arn.with_route("GET", "/orders/{id}"))
'arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/orders/*'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Final

from secauth.errors import ConfigurationError, InvalidMethodArn
from secauth.routing import ANY, LITERAL, VERBS, Template, is_plain_segment, parse_template

__all__ = ["MAX_METHOD_ARN_BYTES", "InvalidMethodArn", "MethodArn", "route_glob"]

#: API Gateway answers 414 when a request's method ARN is longer than this.
MAX_METHOD_ARN_BYTES: Final = 1600

_VERB_SET: Final = frozenset(VERBS)
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
# Text, not compiled: re compiles it on first use (rare inputs), not at import.
_ROUTE_KEY = r"\$?[A-Za-z0-9._:@-]{1,128}"  # WebSocket keys
# IAM reads "*" and "?" as wildcards and "${...}" as a policy variable: a concrete ARN
# carrying them would match more than itself, so it is refused rather than escaped.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f*?]|\$\{")


def _verb(value: object) -> str:
    """Normalize a route verb: upper case; ``ANY`` and ``*`` become ``ANY``."""
    if not isinstance(value, str):
        raise ConfigurationError(f"a route verb must be a string, got {type(value).__name__}")
    verb = value.upper()
    if verb in (ANY, "*"):
        return ANY
    if verb not in _VERB_SET:
        raise ConfigurationError(f"unknown HTTP verb {value!r}; use one of {list(VERBS)} or ANY")
    return verb


def route_glob(verb: str, template: Template, bindings: Mapping[str, str]) -> str:
    """The route part of a Resource ARN (``GET/orders/*``): parameters become ``*`` unless
    ``bindings`` gives one its single allowed segment; ``ANY`` becomes ``*``.

    >>> route_glob("GET", parse_template("/t/{tid}/{proxy+}"), {"tid": "acme"})
    'GET/t/acme/*'
    """
    names = template.parameters
    for name, value in bindings.items():
        if name not in names:
            raise ConfigurationError(f"path template {template.text!r} has no {{{name}}} to bind")
        if not is_plain_segment(value):
            raise ConfigurationError(
                f"the value bound to {{{name}}} must be one path segment without wildcards"
            )
    parts = [
        text if kind == LITERAL else bindings.get(text, "*") for kind, text in template.segments
    ]
    return ("*" if verb == ANY else verb) + "/" + "/".join(parts)


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
        if not (re.fullmatch(_ROUTE_KEY, path) or (path == "*" and not concrete)):
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

    # Read-only properties over private slots: immutable, with no object-model tricks.
    __slots__ = (
        "_account_id", "_api_id", "_identity", "_partition", "_path", "_region", "_stage", "_verb",
    )  # fmt: skip

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
        self._partition = partition
        self._region = region
        self._account_id = account_id
        self._api_id = api_id
        self._stage = stage
        self._verb = verb
        self._path = path
        # Equality and hashing compare the parts (kept once: an ARN is hashed per request).
        self._identity = (partition, region, account_id, api_id, stage, verb, path)

    @property
    def partition(self) -> str:
        return self._partition

    @property
    def region(self) -> str:
        return self._region

    @property
    def account_id(self) -> str:
        return self._account_id

    @property
    def api_id(self) -> str:
        return self._api_id

    @property
    def stage(self) -> str:
        return self._stage

    @property
    def verb(self) -> str | None:
        return self._verb

    @property
    def path(self) -> str:
        return self._path

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
        secauth.errors.InvalidMethodArn: not an execute-api method ARN (bad_request)
        """
        if not isinstance(value, str):
            raise InvalidMethodArn("the method ARN is missing or not a string")
        return _parse_method_arn(value)

    @classmethod
    def _parse_uncached(cls, value: str) -> MethodArn:
        if len(value) > MAX_METHOD_ARN_BYTES:
            raise InvalidMethodArn(f"method ARN longer than {MAX_METHOD_ARN_BYTES} bytes")
        try:
            size = len(value.encode())
        except UnicodeEncodeError:  # a lone surrogate (JSON can spell one)
            raise InvalidMethodArn("method ARN is not valid Unicode text") from None
        if size > MAX_METHOD_ARN_BYTES:
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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MethodArn):
            return NotImplemented
        return self._identity == other._identity

    def __hash__(self) -> int:
        return hash(self._identity)


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
        the verb when that matters; :func:`~secauth.policy.resources_for_routes` and
        :func:`~secauth.policy.route_policy` spell ``ANY`` out as the seven verbs for this reason.

        >>> arn = MethodArn.parse("arn:aws-cn:execute-api:cn-north-1:123456789012:abc/prod/GET/x")
        >>> str(arn.with_route("get", "/tenants/{tid}/orders", {"tid": "acme"}))
        'arn:aws-cn:execute-api:cn-north-1:123456789012:abc/prod/GET/tenants/acme/orders'
        """
        if self.verb is None:
            raise ConfigurationError(
                "a WebSocket ARN has route keys, not verbs: use with_route_key"
            )
        route = route_glob(_verb(verb), parse_template(template), bindings or {})
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
