"""``secauth usage``: a caller's rate limits and quotas, read without spending any.

For support staff answering "why am I throttled?"::

    secauth usage app:limiter --principal alice --issuer https://idp.example.com/ --claim plan=free
    secauth usage app:limiter --key user:alice --plan free   # a caller without an issuer
    secauth usage app:limiter --event request.json --principal partner-a --kind api_key

``LIMITER`` is ``module:attribute`` naming a ``RateLimiter``, ``CombinedLimiter`` or
plan limiter (``RateLimiter.per_plan``), imported from the current directory or
``PYTHONPATH`` with its own store. The caller is given as the key function's value
(``--key``), or as a request (``--event FILE`` or a minimal HTTP API event from
``--ip``) and a principal (``--principal``, ``--issuer``, ``--kind``, ``--tenant``,
``--claim``, ``--group``): a token's caller is counted with its issuer, so give
``--issuer`` for one. One line per limit: limit, remaining, when it is full again (UTC).

Exit status: 0 every limit has room, 1 a limit is exhausted or the caller's plan is
refused, 2 bad arguments, 3 the store did not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from secauth.errors import ConfigurationError, UnknownPlan

if TYPE_CHECKING:
    from secauth.principal import Principal
    from secauth.ratelimit import Usage

__all__ = ["add_commands", "run"]


def add_commands(sub: Any) -> None:
    """Add ``usage`` to the ``secauth`` command's subparsers."""
    usage = sub.add_parser("usage", help="a caller's rate limits and quotas, without spending")
    usage.add_argument("limiter", help="module:attribute naming the limiter (as deployed)")
    who = usage.add_mutually_exclusive_group(required=True)
    who.add_argument("--key", help="the key function's value, e.g. user:alice or an address")
    who.add_argument("--event", help="a Lambda event as a JSON file, or - for stdin")
    who.add_argument("--ip", help="the client address of a minimal HTTP API event")
    usage.add_argument("--principal", help="the principal's id")
    usage.add_argument("--kind", default="user", help="the principal's kind (api_key, ...)")
    usage.add_argument("--tenant", help="the principal's tenant")
    usage.add_argument("--issuer", help="the principal's issuer (a token's iss)")
    usage.add_argument(
        "--claim", action="append", default=[], metavar="NAME=VALUE", help="a claim (repeat)"
    )
    usage.add_argument("--group", action="append", default=[], help="a group (repeat)")
    usage.add_argument("--plan", help="plan limiters: read this plan's limits")
    usage.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the usage of every limit; the exit status (see the module docs)."""
    from secauth.ratelimit import StoreError

    limiter = _load(args.limiter)
    principal = _principal(args)
    target: Any = args.key if args.key is not None else _request(args)
    options = {} if args.plan is None else {"plan": args.plan}
    if args.plan is not None and not hasattr(limiter, "plans"):
        raise ConfigurationError("--plan is for plan limiters (RateLimiter.per_plan)")
    if isinstance(target, str) and hasattr(limiter, "limiters"):
        raise ConfigurationError("a CombinedLimiter reads a request: use --event or --ip")
    try:
        if _is_async(limiter):
            usages = asyncio.run(limiter.usage_async(target, principal, **options))
        else:
            usages = limiter.usage(target, principal, **options)
    except UnknownPlan as exc:
        out.write(f"refused: {exc} ({exc.detail.get('problem')})\n")
        return 1
    except StoreError as exc:
        err.write(f"secauth: the rate-limit store did not answer: {exc.reason}\n")
        return 3
    return _report(usages, as_json=args.json, out=out)


def _principal(args: argparse.Namespace) -> Principal | None:
    """The caller ``--principal`` and its options describe, or None."""
    from secauth.principal import Principal

    if args.principal is None:
        if args.claim or args.group or args.tenant or args.issuer:
            raise ConfigurationError(
                "--claim, --group, --tenant and --issuer describe --principal: add it"
            )
        return None
    return Principal(
        args.principal,
        kind=args.kind,
        tenant=args.tenant,
        groups=args.group,
        claims=dict(_claim(text) for text in args.claim),
        issuer=args.issuer,
    )


def _report(usages: Sequence[Usage], *, as_json: bool, out: TextIO) -> int:
    """Write one row per limit (a table, or JSON); 1 when any limit is exhausted, else 0."""
    now = time.time()
    rows: list[dict[str, Any]] = [
        {
            "policy": u.policy,
            "limit": u.limit,
            "remaining": u.remaining,
            "reset_after": round(u.reset_after, 3),
            "full_at": _utc(now + u.reset_after),
        }
        for u in usages
    ]
    if as_json:
        out.write(json.dumps(rows, indent=2) + "\n")
    elif not rows:
        out.write("no limit applies to this caller\n")
    else:
        width = max(len(r["policy"]) for r in rows)
        out.write(f"{'policy':<{width}}  {'limit':>10}  {'remaining':>10}  full again\n")
        for r in rows:
            out.write(
                f"{r['policy']:<{width}}  {r['limit']:>10}  {r['remaining']:>10}  "
                f"{r['full_at']} (in {r['reset_after']:g} s)\n"
            )
    exhausted = [u for u in usages if u.exhausted]
    for u in exhausted:
        out.write(f"throttled by {u.policy} until {_utc(now + u.reset_after)}\n")
    return 1 if exhausted else 0


def _load(spec: str) -> Any:
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(f"LIMITER must look like 'module:attribute', not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as exc:
        raise ConfigurationError(
            f"cannot load {spec!r} (from the current directory or PYTHONPATH): {type(exc).__name__}"
        ) from None
    if not callable(getattr(target, "usage", None)):
        raise ConfigurationError(f"{spec!r} is not a secauth rate limiter")
    return target


def _is_async(limiter: Any) -> bool:
    parts = getattr(limiter, "limiters", None) or [
        one for group in getattr(limiter, "plans", {}).values() for one in group
    ]
    return any(one.store.is_async for one in parts or [limiter])


def _claim(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ConfigurationError(f"--claim takes NAME=VALUE, not {text!r}")
    return name, value


def _request(args: argparse.Namespace) -> dict[str, Any]:
    if args.event is None:
        return {
            "version": "2.0",
            "rawPath": "/",
            "requestContext": {"http": {"method": "GET", "path": "/", "sourceIp": args.ip}},
        }
    try:
        text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text("utf-8")
        event = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the event from {args.event}: {exc}") from None
    if not isinstance(event, dict):
        raise ConfigurationError(f"the event in {args.event} is not a JSON object")
    return event


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(round(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
