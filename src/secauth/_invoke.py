"""``secauth authorize``: run an authorizer from the user's module on one event, like a local invoke.

The authorizer is named ``module:attribute`` (``mymodule:authorizer``), imported
from the current directory or ``PYTHONPATH``. It is a :class:`~secauth.Authorizer`
(its ``handler`` runs) or any handler function ``(event, context) -> response``.

What API Gateway would answer is worked out from the response itself: a raised
error whose message is exactly ``Unauthorized`` is a 401, any other error a 500;
a simple response answers 200 or 403 by ``isAuthorized``; a policy answers 200
when it allows the event's method ARN and no statement denies it
(:mod:`secauth._gateway_answer`). The decision's
reason comes from the decision record a secauth authorizer prints (or logs to
``secauth.decisions``).

Nothing printed carries the credentials of the event: the token, the API key and
the other identity sources are replaced by ``[redacted]`` wherever they appear,
including in ``usageIdentifierKey`` and in error messages.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import io
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from secauth._gateway_answer import gateway_answer, policy_allows

if TYPE_CHECKING:
    from secauth.authorizer import Authorizer

__all__ = ["Invocation", "RedactedOutput", "event_secrets", "invoke", "load_app", "policy_allows"]

REDACTED = "[redacted]"
_MIN_SECRET_LENGTH = 8
_JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-amz-security-token",
     "sec-websocket-protocol", "x-amzn-oidc-data", "x-amzn-oidc-accesstoken"}
)  # fmt: skip


class AppError(Exception):
    """The ``--app`` or ``--event`` argument cannot be used; the message says why."""


@dataclass
class Invocation:
    """One run of a handler: what it returned or raised, and what API Gateway would answer.

    ``outcome`` is ``allow``, ``deny``, ``unauthorized`` (401) or ``error`` (500).
    """

    outcome: str
    status: int
    response: Any = None
    error_type: str | None = None
    error_message: str | None = None
    error_trace: str | None = None
    record: dict[str, Any] | None = None
    secrets: list[str] = field(default_factory=list)

    def redact(self, text: str) -> str:
        """``text`` with every credential of the event replaced by ``[redacted]``."""
        return redact(text, self.secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets``, and anything shaped like a JWT, replaced by
    ``[redacted]`` (a token may sit where no configured source says: a print of the
    event, an exception message).

    >>> redact("token eyJhbGciOi.eyJzdWIi.c2ln and key-123456789", ["key-123456789"])
    'token [redacted] and [redacted]'
    """
    for secret in secrets:
        text = text.replace(secret, REDACTED)
        escaped = json.dumps(secret)[1:-1]  # as printed inside JSON (a '"' or '\\' in a key)
        if escaped != secret:
            text = text.replace(escaped, REDACTED)
    return _JWT_SHAPED.sub(REDACTED, text)


class _RedactingStream:
    """A text stream that writes whole lines to ``target``, each redacted (a secret is
    never split between two writes: ``print`` and logging handlers write a message and its
    newline apart). It answers what apps ask of ``sys.stdout`` at import (``encoding``,
    ``fileno`` for ``faulthandler``, ``reconfigure``); bytes written to the file
    descriptor itself are not redacted."""

    def __init__(self, target: Any, secrets: list[str]) -> None:
        self._target = target
        self._secrets = secrets
        self._pending = ""
        self._buffer: _RedactingBuffer | None = None
        self.encoding: str = getattr(target, "encoding", None) or "utf-8"
        self.errors: str = getattr(target, "errors", None) or "strict"

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return int(self._target.fileno())

    def reconfigure(self, **options: Any) -> None:
        """Accepted and ignored: lines are written whole, whatever the buffering."""

    @property
    def buffer(self) -> _RedactingBuffer:
        """Bytes written here are decoded and redacted as text (one buffer per stream)."""
        if self._buffer is None:
            self._buffer = _RedactingBuffer(self)
        return self._buffer

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._target.write(redact(line, self._secrets) + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def finish(self) -> None:
        if self._buffer is not None:
            self.write(self._buffer.undecoded())  # bytes of a character never completed
        if self._pending:
            self._target.write(redact(self._pending, self._secrets))
            self._pending = ""
        self._target.flush()


class _RedactingBuffer(io.BufferedIOBase):
    """``sys.stdout.buffer`` of a :class:`_RedactingStream`: bytes go through its text,
    decoded incrementally (a character split between two writes stays whole)."""

    def __init__(self, stream: _RedactingStream) -> None:
        super().__init__()
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(stream.encoding)("replace")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._stream.write(self._decoder.decode(bytes(data)))
        return len(data)

    def flush(self) -> None:
        self._stream.flush()

    def undecoded(self) -> str:
        """What is left of an incomplete character, replaced."""
        return str(self._decoder.decode(b"", final=True))


class RedactedOutput:
    """While in use, everything written to ``sys.stdout`` and ``sys.stderr`` is redacted,
    including through streams a module keeps from its import (a logging handler, as
    Powertools' ``Logger`` makes): enter it before the app is imported.
    :meth:`add_secrets` adds credentials found once the app is known.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted(set(secrets), key=len, reverse=True)
        self._streams: list[_RedactingStream] = []
        self._saved: tuple[Any, Any] | None = None

    def add_secrets(self, secrets: Iterable[str]) -> None:
        # In place: the streams hold this list. Longest first, so no part survives another.
        self.secrets[:] = sorted(set(self.secrets) | set(secrets), key=len, reverse=True)

    def __enter__(self) -> RedactedOutput:
        self._saved = (sys.stdout, sys.stderr)
        self._streams = [_RedactingStream(stream, self.secrets) for stream in self._saved]
        sys.stdout, sys.stderr = self._streams
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._saved is not None
        for stream in self._streams:
            stream.finish()
        sys.stdout, sys.stderr = self._saved


class _LocalContext:
    """The few Lambda context attributes handlers commonly read."""

    function_name = "secauth-authorize"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:secauth-authorize"
    memory_limit_in_mb = 128
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/secauth-authorize"
    log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


class _Capture(logging.Handler):
    """Collects the JSON decision records logged to ``secauth.decisions``."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parsed = json.loads(record.getMessage())
        except ValueError:
            return
        if isinstance(parsed, dict):
            self.records.append(parsed)


def load_app(spec: str) -> tuple[Callable[..., Any], frozenset[str]]:
    """Import ``module:attribute`` and return the handler to call, and the headers a secauth
    Authorizer reads credentials from beyond the usual ones (its API key header, its token
    sources' headers), to redact them. The current directory is searched first."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AppError(f"--app must look like 'module:attribute', not {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AppError(
            f"cannot import {module_name!r} (from the current directory or PYTHONPATH): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppError(f"{module_name!r} has no attribute {attribute!r}") from None
    from secauth.authorizer import Authorizer

    if isinstance(target, Authorizer):
        return target.handler, _credential_headers(target)
    owner = getattr(target, "__self__", None)
    if isinstance(owner, Authorizer):
        return target, _credential_headers(owner)
    if not callable(target):
        raise AppError(
            f"{spec} is a {type(target).__name__}: name a secauth Authorizer or a handler "
            "function (event, context) -> response"
        )
    return target, frozenset()


def _credential_headers(authorizer: Authorizer) -> frozenset[str]:
    """The headers ``authorizer`` reads an API key or a token from (lower-cased)."""
    names = {source.name for source in authorizer.token_sources if source.place == "header"}
    if authorizer.api_key_header:
        names.add(authorizer.api_key_header)
    return frozenset(name.lower() for name in names)


def event_secrets(event: Mapping[str, Any], secret_headers: Iterable[str] = ()) -> list[str]:
    """Every credential the event carries, longest first (so no part survives another):
    the usual credential headers, ``secret_headers`` (an app's own) too."""
    found: set[str] = set()
    secret_names = _SECRET_HEADERS | {name.lower() for name in secret_headers}

    def add(value: object) -> None:
        if isinstance(value, str):
            value = value.strip()
            if len(value) >= _MIN_SECRET_LENGTH:
                found.add(value)
                if value.strip('"') != value:  # a quoted cookie value is read unquoted
                    add(value.strip('"'))
                _, space, rest = value.partition(" ")
                if space:
                    add(rest)

    add(event.get("authorizationToken"))
    sources = event.get("identitySource")
    for source in sources if isinstance(sources, list) else [sources]:
        if isinstance(source, str):
            for part in source.split(","):
                add(part)
    for name in ("headers", "multiValueHeaders"):
        block = event.get(name)
        if isinstance(block, Mapping):
            for key, value in block.items():
                if isinstance(key, str) and key.lower() in secret_names:
                    for item in value if isinstance(value, list) else [value]:
                        add(item)
                        # Cookie pairs and subprotocol items may each be a token source.
                        for part in str(item).replace(";", ",").split(","):
                            add(part.partition("=")[2] or part)
    cookies = event.get("cookies")
    if isinstance(cookies, list):
        for cookie in cookies:
            add(cookie)
            if isinstance(cookie, str):
                add(cookie.partition("=")[2])
    # Query parameters may be token sources (browsers put WebSocket tokens there).
    for name in ("queryStringParameters", "multiValueQueryStringParameters"):
        block = event.get(name)
        if isinstance(block, Mapping):
            for value in block.values():
                for item in value if isinstance(value, list) else [value]:
                    add(item)
    raw_query = event.get("rawQueryString")
    if isinstance(raw_query, str):
        for pair in raw_query.split("&"):
            add(pair.partition("=")[2])
    return sorted(found, key=len, reverse=True)


def invoke(
    handler: Callable[..., Any], event: Mapping[str, Any], secret_headers: Iterable[str] = ()
) -> Invocation:
    """Call ``handler(event, context)`` once, capturing the secauth decision record."""
    secrets = event_secrets(event, secret_headers)
    logger = logging.getLogger("secauth.decisions")
    capture = _Capture()
    level = logger.level
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    logger.addHandler(capture)
    # Decision lines printed to stdout (the default decision_log); a text stream with a
    # ``buffer``, as Lambda's stdout has, for handlers that write bytes.
    printed = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    try:
        with contextlib.redirect_stdout(printed):
            response = handler(event, _LocalContext())
    except BaseException as exc:  # sys.exit() in a handler too: Lambda's Runtime.ExitError
        message = str(exc)
        unauthorized = message == "Unauthorized"
        result = Invocation(
            "unauthorized" if unauthorized else "error",
            401 if unauthorized else 500,
            error_type=type(exc).__name__,
            error_message=message,
            error_trace=None if unauthorized else traceback.format_exc(),
            secrets=secrets,
        )
    else:
        outcome, status = gateway_answer(response, event)
        result = Invocation(outcome, status, response=response, secrets=secrets)
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)
        raw = printed.buffer
        assert isinstance(raw, io.BytesIO)
        capture.records.extend(_printed_records(raw.getvalue().decode("utf-8", "replace"), secrets))
    result.record = capture.records[-1] if capture.records else None
    if result.outcome == "deny" and result.record and result.record.get("status") == 401:
        result.outcome = "unauthorized"  # an HTTP API's 401 decision, answered as 403
    return result


def _printed_records(text: str, secrets: list[str]) -> list[dict[str, Any]]:
    """The decision records among printed lines; the handler's other output is passed on,
    redacted."""
    records = []
    for line in text.splitlines(keepends=True):
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("secauth") == "decision":
            records.append({k: v for k, v in parsed.items() if k != "secauth"})
        else:
            sys.stdout.write(redact(line, secrets))
    return records


def summary(result: Invocation) -> Iterable[str]:
    """Lines saying what API Gateway would answer and why (redacted)."""
    record = result.record or {}
    if result.outcome == "unauthorized" and result.status == 401:
        head = "Unauthorized (401)"
    elif result.outcome == "unauthorized":
        head = "unauthorized (403: an HTTP API authorizer cannot answer 401)"
    elif result.outcome == "error":
        head = "error (500: API Gateway answers 500 for this)"
    else:
        head = f"{result.outcome} ({result.status})"
    fields = [head]
    reason = record.get("reason")
    if reason:
        fields.append(f"reason={_shown(str(reason))}")
    for name in ("principal", "tenant", "route"):
        if record.get(name):
            fields.append(f"{name}={json.dumps(record[name])}")
    if result.record is None:
        fields.append("(no secauth decision record)")
    yield "secauth: " + " ".join(fields)
    if record.get("detail"):
        yield "secauth: detail " + json.dumps(record["detail"], sort_keys=True, default=str)
    if result.error_type and result.outcome == "error":
        yield f"secauth: the handler raised {result.error_type}: {_shown(result.error_message or '')}"
    if result.error_trace:
        yield _shown(result.error_trace.rstrip("\n"), lines=True)


def _shown(text: str, *, lines: bool = False) -> str:
    """``text`` with terminal controls escaped (an ESC or CR from a request cannot redraw
    the line a reader trusts); newlines kept with ``lines``."""
    return "".join(
        ch if ch.isprintable() or (lines and ch == "\n") else ch.encode("unicode_escape").decode()
        for ch in text
    )
