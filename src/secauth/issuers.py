"""``issuer_key``: one name for every issuer of one namespace of users; ``issuer_problem``:
why a string cannot be an issuer tokens carry.

A subject is unique within its issuer, but some identity providers issue the same users'
tokens under several ``iss`` strings: a Cognito user pool under two formats
(``cognito-idp.`` and ``issuer-cognito-idp.``) and one per replica Region. Revocation
entries and rate-limit keys name the issuer by :func:`issuer_key`, so a sign-out, a quota
or a penalty reaches the user whichever of them signed the token.
"""

from __future__ import annotations

import re

__all__ = ["POOL_ID_PATTERN", "REGION_PATTERN", "issuer_key", "issuer_problem"]

#: An AWS Region's name (``eu-west-1``, ``us-gov-west-1``, ``eusc-de-east-1``), as a
#: regular expression (ASCII digits only).
REGION_PATTERN = r"(?:[a-z]{2}(?:-gov|-iso[a-z]?)?|eusc-[a-z]{2})-[a-z]+-[0-9]+"
#: A Cognito user pool's id (``eu-west-1_AbC123``), as a regular expression.
POOL_ID_PATTERN = rf"{REGION_PATTERN}_[0-9A-Za-z]+"
_POOL_ID = re.compile(POOL_ID_PATTERN)
_COGNITO_ISSUER = re.compile(
    rf"https://(?:issuer-)?cognito-idp\.{REGION_PATTERN}\.amazonaws\.(?:com(?:\.cn)?|eu)"
    rf"/({POOL_ID_PATTERN})"
)
_POOL_ISSUER = "https://cognito-idp.<region>.amazonaws.com/<pool id>"
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


def issuer_problem(issuer: str) -> str | None:
    """Why ``issuer`` cannot be the ``iss`` of a token, or None: blanks or invisible
    characters in it, a Cognito user pool's id or ARN instead of its issuer, or a Cognito
    issuer spelled otherwise than Cognito signs it (upper case, a trailing slash,
    ``http``). An entry written under such a name would match no token: revocations
    refuse it.

    >>> issuer_problem("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123") is None
    True
    >>> issuer_problem("https://idp.example.com/") is None
    True
    >>> issuer_problem("eu-west-1_AbC123")
    "it is a user pool's id; its issuer is https://cognito-idp.<region>.amazonaws.com/<pool id>"
    """
    if not issuer.isprintable() or " " in issuer:  # controls, format characters, spaces
        return "it holds blanks or invisible characters"
    if _COGNITO_ISSUER.fullmatch(issuer):
        return None
    spelled = issuer.lower()
    if _POOL_ID.fullmatch(spelled):
        return f"it is a user pool's id; its issuer is {_POOL_ISSUER}"
    if spelled.startswith("arn:") and ":cognito-idp:" in spelled:
        return f"it is a user pool's ARN; its issuer is {_POOL_ISSUER}"
    if "cognito-idp" in spelled and ".amazonaws." in spelled:
        return f"Cognito signs its issuer {_POOL_ISSUER}: https, lower case, no trailing slash"
    return None
