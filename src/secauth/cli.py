"""The ``secauth`` command: ``inspect``, ``verify``, ``authorize``, ``revoke``, ``revoked``,
``usage`` and ``demo``.

Pass ``-`` instead of a token to read it from standard input, which keeps
tokens out of shell history and process listings.

Example
-------
>>> main(["inspect", "eyJhbGciOiJub25lIn0.e30."])  # doctest: +ELLIPSIS
{
  "header": {
    "alg": "none"
  },
...
1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from secauth import jose
from secauth._b64 import B64Error, b64url_decode, loads_strict
from secauth._revoke_cli import add_commands as add_revocation_commands
from secauth._usage_cli import add_commands as add_usage_commands
from secauth.errors import SecAuthError

__all__ = ["main"]

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
EXIT_HANDLER_ERROR = 4  # ``authorize``: the handler raised or returned a malformed response


def _read_token(value: str) -> str:
    return (sys.stdin.readline() if value == "-" else value).strip()


def _decode_part(segment: str) -> Any:
    try:
        return loads_strict(b64url_decode(segment))
    except (B64Error, ValueError, RecursionError) as exc:
        return f"<undecodable: {exc}>"


def inspect_token(token: str, now: float | None = None) -> dict[str, Any]:
    """Decode a token WITHOUT verifying it and list what looks risky.

    >>> report = inspect_token("eyJhbGciOiJIUzI1NiIsImprdSI6Imh0dHBzOi8vZXZpbCJ9.e30.sig")
    >>> for warning in report["warnings"][:2]:
    ...     print(warning)
    alg HS256 is symmetric: anyone holding the secret can mint tokens
    header jku names a key source: secauth never uses keys from a token
    """
    now = time.time() if now is None else now
    parts = token.split(".")
    warnings: list[str] = []
    if len(parts) == 5:
        return {"warnings": ["five parts: an encrypted JWE, not a signed JWS"], "verified": False}
    if len(parts) != 3:
        return {"warnings": [f"{len(parts)} parts: not a compact JWS"], "verified": False}
    header, claims = _decode_part(parts[0]), _decode_part(parts[1])
    if isinstance(header, dict):
        warnings += _header_warnings(header)
    else:
        warnings.append("header is not a JSON object")
    if isinstance(claims, dict):
        warnings += _claim_warnings(claims, now)
    else:
        warnings.append("payload is not a JSON object")
    if not parts[2]:
        warnings.append("no signature")
    if len(token) > jose.DEFAULT_MAX_TOKEN_SIZE:
        warnings.append(
            f"longer than secauth's default cap of {jose.DEFAULT_MAX_TOKEN_SIZE} characters"
        )
    return {"header": header, "claims": claims, "warnings": warnings, "verified": False}


def _header_warnings(header: dict[str, Any]) -> list[str]:
    warnings: list[str] = []
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        warnings.append(f"alg {alg!r}: unsigned or missing algorithm")
    elif alg in jose.HMAC_ALGORITHMS:
        warnings.append(f"alg {alg} is symmetric: anyone holding the secret can mint tokens")
    elif alg not in jose.SUPPORTED_ALGORITHMS:
        warnings.append(f"alg {alg!r} is not supported by secauth")
    for name in jose.KEY_BEARING_HEADERS:
        if name in header:
            warnings.append(
                f"header {name} names a key source: secauth never uses keys from a token"
            )
    for name, why in (
        ("crit", "critical extensions are refused"),
        ("b64", "unencoded payloads are refused"),
        ("zip", "compression is a JWE feature and is refused"),
        ("enc", "encryption header: this looks like a JWE"),
    ):
        if name in header:
            warnings.append(f"header {name}: {why}")
    if "kid" not in header:
        warnings.append("no kid: only a single-key set can verify it")
    return warnings


def _claim_warnings(claims: dict[str, Any], now: float) -> list[str]:
    warnings: list[str] = []
    exp = claims.get("exp")
    if exp is None:
        warnings.append("no exp: the token never expires")
    elif type(exp) not in (int, float):
        warnings.append(f"exp is a {type(exp).__name__}, not a number")
    elif exp <= now:
        warnings.append(f"expired {int(now - exp)} s ago")
    if "iss" not in claims:
        warnings.append("no iss")
    # A Cognito access token names its app client in client_id instead of aud.
    client_id = claims.get("client_id")
    cognito_access = claims.get("token_use") == "access" and isinstance(client_id, str)
    if "aud" not in claims and not cognito_access:
        warnings.append("no aud")
    return warnings


def _verifier(args: argparse.Namespace) -> tuple[Any, str | None]:
    """The verifier the ``verify`` flags describe, and what it does not check (or None)."""
    from secauth.errors import ConfigurationError
    from secauth.jwks import JwksCache, StaticKeys
    from secauth.verifier import JwtVerifier

    options: dict[str, Any] = {
        "algorithms": args.algorithm or None,
        "token_type": args.token_type,
        "leeway": args.leeway,
    }
    if args.jwks_file:
        options["jwks"] = StaticKeys.from_file(args.jwks_file)
    if args.cognito_pool is None:
        for flag, value in (
            ("--client-id", args.client_id),
            ("--token-use", args.token_use),
            ("--region", args.region),
            ("--issuer-format", args.issuer_format),
        ):
            if value:
                raise ConfigurationError(f"{flag} goes with --cognito-pool")
        if not args.jwks_file:
            options["jwks"] = (
                JwksCache(args.jwks_uri, allow_http=args.allow_http)
                if args.jwks_uri
                else JwksCache.from_discovery(args.issuer, allow_http=args.allow_http)
            )
        audience = args.audience or None
        unchecked = None
        if not audience:
            unchecked = (
                "NO AUDIENCE CHECK: aud was not checked, so a token this issuer signed for any "
                "other API passes here; pass --audience"
            )
        return JwtVerifier(issuer=args.issuer, audience=audience, **options), unchecked
    return _cognito_verifier(args, options)


def _cognito_verifier(args: argparse.Namespace, options: dict[str, Any]) -> tuple[Any, str | None]:
    """The ``--cognito-pool`` verifier, and what it does not check (or None)."""
    from secauth.errors import ConfigurationError
    from secauth.verifier import JwtVerifier

    if args.audience or args.jwks_uri:
        raise ConfigurationError(
            "with --cognito-pool use --client-id (not --audience) and --jwks-file (not "
            "--jwks-uri; each issuer has its own JWKS URL)"
        )
    if args.token_use is None:
        raise ConfigurationError("--cognito-pool needs --token-use access or --token-use id")
    if args.region and args.jwks_file:
        raise ConfigurationError(
            "--jwks-file is one key set for every issuer, and each Region signs with its own "
            "keys: with --region, leave out --jwks-file (each issuer's keys are fetched)"
        )
    client = args.client_id or None
    claim = "aud" if args.token_use == "id" else "client_id"
    unchecked = None
    if not client:
        unchecked = (
            f"NO APP CLIENT CHECK: {claim} was not checked, so a token of this user pool for "
            "any other app client passes here; pass --client-id"
        )
    verifier = JwtVerifier.cognito(
        user_pool_id=args.cognito_pool,
        client_id=client,
        token_use=args.token_use,
        issuer_format=args.issuer_format or "both",
        additional_regions=args.region or (),
        allow_http=args.allow_http,
        **options,
    )
    return verifier, unchecked


def _verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    token = _read_token(args.token)
    verifier, unchecked = _verifier(args)
    if unchecked is not None:  # before the result, and again after a valid one: loud
        err.write(f"secauth: WARNING: {unchecked}\n")
    try:
        claims = verifier.verify(token)
    except SecAuthError as error:
        report = {
            "valid": False,
            "reason": error.reason.value,
            "status": error.status,
            "message": error.public_message,
            "detail": error.detail,
        }
        out.write(json.dumps(report, indent=2, default=str) + "\n")
        return EXIT_UNAVAILABLE if error.retryable else EXIT_REJECTED
    out.write(json.dumps({"valid": True, "claims": claims}, indent=2) + "\n")
    if unchecked is not None:
        err.write(f"secauth: WARNING: valid, but {unchecked}\n")
    return EXIT_OK


def _read_event(path: str) -> dict[str, Any]:
    from secauth._cli_input import MAX_EVENT_BYTES, read_input
    from secauth._invoke import AppError

    try:
        event = json.loads(read_input(path, max_bytes=MAX_EVENT_BYTES, what="the event"))
    except SecAuthError as exc:  # unreadable, not UTF-8, too large
        raise AppError(exc.public_message) from None
    except ValueError as exc:
        raise AppError(f"cannot read the event from {path}: {exc}") from None
    if not isinstance(event, dict):
        raise AppError(f"the event in {path} is not a JSON object")
    return event


def _authorize(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the user's authorizer on an event; print the response and the decision's reason."""
    from secauth._invoke import AppError, RedactedOutput, event_secrets, invoke, load_app, summary

    try:
        event = _read_event(args.event)
    except AppError as exc:
        err.write(f"secauth: {exc}\n")
        return EXIT_USAGE
    # From the app's import on, whatever it writes (stderr, a logger made at import) is
    # redacted: the event's credentials are known before the app runs.
    with RedactedOutput(event_secrets(event)) as output:
        try:
            handler, secret_headers = load_app(args.app)
        except AppError as exc:
            err.write(f"secauth: {exc}\n")
            return EXIT_USAGE
        output.add_secrets(event_secrets(event, secret_headers))
        result = invoke(handler, event, secret_headers)
    if result.response is not None:
        try:
            text = json.dumps(result.response, indent=2, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(result.response)
    else:  # what the Lambda runtime reports for a raised error
        error = {"errorMessage": result.error_message, "errorType": result.error_type}
        text = json.dumps(error, indent=2)
    out.write(result.redact(text) + "\n")
    for line in summary(result):
        err.write(result.redact(line) + "\n")
    if result.outcome == "allow":
        return EXIT_OK
    if result.outcome == "error":
        return EXIT_HANDLER_ERROR
    reason = (result.record or {}).get("reason")
    return EXIT_UNAVAILABLE if reason == "keys_unavailable" else EXIT_REJECTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secauth", description="Secure HTTP endpoints on AWS Lambda."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    inspect = sub.add_parser(
        "inspect", help="decode a token without trusting it; flag risky fields"
    )
    inspect.add_argument("token", help="the token, or - to read it from stdin")
    verify = sub.add_parser(
        "verify", help="fetch keys, verify a token, explain the reason on failure"
    )
    verify.add_argument("token", help="the token, or - to read it from stdin")
    source = verify.add_mutually_exclusive_group(required=True)
    source.add_argument("--issuer", help="exact iss; keys come from its OIDC discovery")
    source.add_argument(
        "--cognito-pool",
        metavar="POOL",
        help="a Cognito user pool id (e.g. us-east-1_AbC123): both issuer formats, keys from "
        "each issuer's JWKS",
    )
    verify.add_argument("--client-id", action="append", help="Cognito app client id (repeatable)")
    verify.add_argument("--token-use", choices=("access", "id"), help="Cognito token_use")
    verify.add_argument(
        "--issuer-format", choices=("both", "original", "updated"), help="Cognito (default both)"
    )
    verify.add_argument("--region", action="append", help="Cognito replica Region (repeatable)")
    verify.add_argument("--audience", action="append", help="accepted aud (repeatable)")
    verify.add_argument("--jwks-uri", help="JWKS URL instead of OIDC discovery")
    verify.add_argument("--jwks-file", help="a local JWKS file instead of fetching")
    verify.add_argument("--algorithm", action="append", help="accepted alg (repeatable)")
    verify.add_argument("--token-type", help="required typ header, e.g. at+jwt")
    verify.add_argument("--leeway", type=float, default=0.0, help="clock skew in seconds")
    verify.add_argument("--allow-http", action="store_true", help="plain http to loopback (tests)")
    authorize = sub.add_parser(
        "authorize",
        help="run your authorizer on an event file, like a local invoke; print the response "
        "and the decision's reason",
    )
    authorize.add_argument(
        "--app",
        required=True,
        help="module:attribute naming a secauth Authorizer or a handler function, imported "
        "from the current directory or PYTHONPATH",
    )
    authorize.add_argument(
        "--event", required=True, help="the authorizer event as a JSON file, or - for stdin"
    )
    sub.add_parser("demo", help="local issuer + verifier: a table of decisions and timings")
    add_revocation_commands(sub)
    add_usage_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``secauth`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        if args.command == "inspect":
            report = inspect_token(_read_token(args.token))
            out.write(json.dumps(report, indent=2, default=str) + "\n")
            return EXIT_REJECTED if report["warnings"] else EXIT_OK
        if args.command == "verify":
            return _verify(args, out, sys.stderr)
        if args.command == "authorize":
            return _authorize(args, out, sys.stderr)
        if args.command in ("revoke", "revoked"):
            from secauth._revoke_cli import run as run_revocation_command

            return run_revocation_command(args, out, sys.stderr)
        if args.command == "usage":
            from secauth._usage_cli import run as run_usage_command

            return run_usage_command(args, out, sys.stderr)
        from secauth._demo import run_demo

        return run_demo(out)
    except SecAuthError as err:  # configuration errors: say what to change
        sys.stderr.write(f"secauth: {err}\n")
        return EXIT_USAGE
    except Exception as exc:  # never exit 1 (rejected, revoked) for a failure of the command
        sys.stderr.write(f"secauth: the command failed: {type(exc).__name__}\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
