"""Cold-start child, run by benchmarks/run.py in a fresh interpreter (not imported).

Usage: _coldstart_child.py MODE ISSUER AUDIENCE TOKEN SOURCE

MODE is one of ``secauth-fetch`` (SOURCE = JWKS URI), ``secauth-file`` (SOURCE =
JWKS file), ``secauth-env`` (SOURCE = environment variable holding the JWKS) and
``pyjwt-fetch`` (SOURCE = JWKS URI, PyJWKClient). It imports the library, builds
the verifier, gets the keys, verifies TOKEN once, and prints one JSON line with
the milliseconds from the start of this script to the verified claims.
"""

import time

_T0 = time.perf_counter()

import sys  # noqa: E402  (already loaded by the interpreter; costs nothing)


def main() -> None:
    mode, issuer, audience, token, source = sys.argv[1:6]
    if mode == "pyjwt-fetch":
        import jwt

        client = jwt.PyJWKClient(source)
        signing_key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, signing_key.key, algorithms=["RS256"], audience=audience, issuer=issuer
        )
    else:
        from secauth import JwtVerifier

        if mode == "secauth-fetch":
            verifier = JwtVerifier(
                issuer=issuer,
                audience=audience,
                jwks_uri=source,
                allow_http=True,
                algorithms=["RS256"],
            )
        elif mode == "secauth-file":
            from secauth import StaticKeys

            verifier = JwtVerifier(
                issuer=issuer,
                audience=audience,
                jwks=StaticKeys.from_file(source),
                algorithms=["RS256"],
            )
        elif mode == "secauth-env":
            from secauth import StaticKeys

            verifier = JwtVerifier(
                issuer=issuer,
                audience=audience,
                jwks=StaticKeys.from_env(source),
                algorithms=["RS256"],
            )
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        claims = verifier.verify(token)
    elapsed_ms = (time.perf_counter() - _T0) * 1000.0
    import json

    print(json.dumps({"ms": elapsed_ms, "sub": claims["sub"]}))


main()
