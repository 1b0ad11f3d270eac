"""``secauth revoke`` and ``secauth revoked``: the revocation list's admin commands.

``secauth revoke KIND VALUE --issuer ISS --redis URL`` (or ``--dynamodb TABLE``) writes
one entry: KIND is ``token`` (a ``jti``), ``family`` (an ``origin_jti``), ``subject``
(sign out everywhere) or ``client`` (an app client); ``--before EPOCH`` dates a subject
or client entry (default: now). ``secauth revoked CLAIMS`` says whether a claims set
(a JSON file, or ``-`` for stdin) is revoked: exit 0 when it is not, 1 when it is.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from secauth._cli_input import read_input
from secauth.errors import ConfigurationError, KeysUnavailable, TokenRevoked

__all__ = ["add_commands", "run"]

MAX_CLAIMS_BYTES = 64 * 1024  # a token's claims; more is not a token's

KINDS = ("token", "family", "subject", "client")


def add_commands(sub: Any) -> None:
    """Add ``revoke`` and ``revoked`` to the ``secauth`` command's subparsers."""
    revoke = sub.add_parser("revoke", help="add an entry to a shared revocation list")
    revoke.add_argument("kind", choices=KINDS, help="what VALUE names")
    revoke.add_argument("value", help="the jti, origin_jti, subject or client id")
    revoke.add_argument("--before", type=float, help="subject/client: tokens issued before")
    _store_options(revoke)
    revoked = sub.add_parser("revoked", help="is a claims set revoked? (exit 1 when it is)")
    revoked.add_argument("claims", help="a JSON file of verified claims, or - for stdin")
    _store_options(revoked)


def _store_options(parser: argparse.ArgumentParser) -> None:
    store = parser.add_mutually_exclusive_group(required=True)
    store.add_argument("--redis", metavar="URL", help="redis://host:6379/0 (or rediss://)")
    store.add_argument("--dynamodb", metavar="TABLE", help="a DynamoDB table")
    parser.add_argument("--issuer", help="the issuer the entry is for (revoke: required)")
    parser.add_argument("--region", help="DynamoDB: the AWS Region")
    parser.add_argument("--endpoint-url", help="DynamoDB: another endpoint (local testing)")
    parser.add_argument(
        "--max-token-lifetime",
        type=float,
        default=86_400.0,
        help="seconds an entry lives: the longest lifetime of the issuer's tokens",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``revoke`` or ``revoked``; the exit code (0 done / not revoked, 1 revoked, 3 the
    store did not answer)."""
    from secauth.revocation import Revocations, StoreUnavailable

    revocations = Revocations(
        _store(args), max_token_lifetime=args.max_token_lifetime, max_staleness=0
    )
    try:
        if args.command == "revoke":
            return _revoke(revocations, args, out)
        try:
            claims = json.loads(read_input(args.claims, max_bytes=MAX_CLAIMS_BYTES, what="CLAIMS"))
        except ValueError:  # exit 2 with a message, never 1 (revoked)
            raise ConfigurationError("CLAIMS is not JSON") from None
        if not isinstance(claims, dict):
            raise ConfigurationError("CLAIMS must be a JSON object of claims")
        revocations.check(claims)
    except TokenRevoked as exc:
        out.write(f"revoked (by {exc.detail.get('revoked_by')})\n")
        return 1
    except (KeysUnavailable, StoreUnavailable) as exc:
        err.write(f"secauth: the revocation store did not answer: {exc}\n")
        return 3
    out.write("not revoked\n")
    return 0


def _revoke(revocations: Any, args: argparse.Namespace, out: TextIO) -> int:
    if not args.issuer:
        raise ConfigurationError("revoke needs --issuer (entries are per issuer)")
    if args.before is not None and args.kind not in ("subject", "client"):
        raise ConfigurationError("--before dates subject and client entries only")
    if args.kind == "token":
        revocations.revoke_token(args.issuer, args.value)
    elif args.kind == "family":
        revocations.revoke_family(args.issuer, args.value)
    elif args.kind == "subject":
        revocations.revoke_subject(args.issuer, args.value, before=args.before)
    else:
        revocations.revoke_client(args.issuer, args.value, before=args.before)
    out.write(f"revoked {args.kind} for {args.issuer}\n")  # the value is not echoed
    return 0


def _store(args: argparse.Namespace) -> Any:
    from secauth.revocation_stores import DynamoDBRevocationStore, RedisRevocationStore

    if args.redis:
        return RedisRevocationStore(args.redis)
    return DynamoDBRevocationStore(
        args.dynamodb, region=args.region, endpoint_url=args.endpoint_url
    )
