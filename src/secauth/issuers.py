"""``issuer_key``: one name for every issuer of one namespace of users.

A subject is unique within its issuer, but some identity providers issue the same users'
tokens under several ``iss`` strings: a Cognito user pool under two formats
(``cognito-idp.`` and ``issuer-cognito-idp.``) and one per replica Region. Revocation
entries and rate-limit keys name the issuer by :func:`issuer_key`, so a sign-out, a quota
or a penalty reaches the user whichever of them signed the token.
"""

from __future__ import annotations

import re

__all__ = ["issuer_key"]

_COGNITO_ISSUER = re.compile(
    r"https://(?:issuer-)?cognito-idp\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/([a-z0-9-]+_[0-9A-Za-z]+)"
)


def issuer_key(issuer: str) -> str:
    """The issuer as revocation entries and rate-limit keys name it: a Cognito user pool's
    issuers (two formats, every replica Region) are one, ``cognito:<pool id>``; any other
    issuer is itself.

    >>> issuer_key("https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123")
    'cognito:eu-west-1_AbC123'
    >>> issuer_key("https://idp.example.com/")
    'https://idp.example.com/'
    """
    match = _COGNITO_ISSUER.fullmatch(issuer)
    return f"cognito:{match[1]}" if match else issuer
