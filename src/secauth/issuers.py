"""``issuer_key``: one name for every issuer of one namespace of users.

A subject is unique within its issuer, but some identity providers issue the same users'
tokens under several ``iss`` strings: a Cognito user pool under two formats
(``cognito-idp.`` and ``issuer-cognito-idp.``) and one per replica Region. Revocation
entries and rate-limit keys name the issuer by :func:`issuer_key`, so a sign-out, a quota
or a penalty reaches the user whichever of them signed the token.
"""

from __future__ import annotations

import re

__all__ = ["REGION_PATTERN", "issuer_key"]

#: An AWS Region's name (``eu-west-1``, ``us-gov-west-1``, ``eusc-de-east-1``), as a
#: regular expression (ASCII digits only).
REGION_PATTERN = r"(?:[a-z]{2}(?:-gov|-iso[a-z]?)?|eusc-[a-z]{2})-[a-z]+-[0-9]+"
_COGNITO_ISSUER = re.compile(
    rf"https://(?:issuer-)?cognito-idp\.{REGION_PATTERN}\.amazonaws\.(?:com(?:\.cn)?|eu)"
    rf"/({REGION_PATTERN}_[0-9A-Za-z]+)"
)
# What issuer_key's own names start with: an issuer spelled so is set apart.
_OWN_PREFIXES = ("cognito:", "iss:")


def issuer_key(issuer: str) -> str:
    """The issuer as revocation entries and rate-limit keys name it: a Cognito user pool's
    issuers (two formats, every replica Region) are one, ``cognito:<pool id>``; any other
    issuer is itself, unless it is spelled like one of these names (``cognito:...``, or
    ``iss:...``): then ``iss:`` + the issuer, so no issuer shares a pool's name.

    >>> issuer_key("https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123")
    'cognito:eu-west-1_AbC123'
    >>> issuer_key("https://idp.example.com/"), issuer_key("cognito:eu-west-1_AbC123")
    ('https://idp.example.com/', 'iss:cognito:eu-west-1_AbC123')
    """
    match = _COGNITO_ISSUER.fullmatch(issuer)
    if match:
        return f"cognito:{match[1]}"
    return "iss:" + issuer if issuer.startswith(_OWN_PREFIXES) else issuer
