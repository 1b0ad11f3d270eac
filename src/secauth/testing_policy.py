"""What API Gateway does with a Lambda authorizer's policy, for your tests.

:func:`iam_allows` tells whether a policy lets the request for a method ARN through,
with IAM's semantics, by the matcher secauth's cached-policy planner proves its
policies with. Ask it about other routes to see what a cached policy opens:
with ``authorizerResultTtlInSeconds > 0`` API Gateway reuses the policy for every
request with the same token. :func:`method_arn` names a request as API Gateway does.
:mod:`secauth.testing_events` builds the events, and re-exports both.

Example
-------
>>> from secauth import Authorizer, JwtVerifier, Routes, roles
>>> from secauth.testing import KeyPair
>>> pair = KeyPair.generate("ES256", kid="k1")
>>> verifier = JwtVerifier(issuer="https://idp.test/", audience="api",
...                        jwks={"keys": [pair.public_jwk]})
>>> authorizer = Authorizer(verifier, routes=Routes({"GET /orders/{id}": roles("reader"),
...     "DELETE /orders/{id}": roles("admin")}), cache_ttl=300, decision_log=None)
>>> token = pair.sign({"iss": "https://idp.test/", "aud": "api", "sub": "ann",
...                    "roles": ["reader"], "exp": 4102444800})
>>> answer = authorizer.handler({"type": "TOKEN", "authorizationToken": f"Bearer {token}",
...                              "methodArn": method_arn("GET", "/orders/7")}, None)
>>> iam_allows(answer, method_arn("GET", "/orders/8")), iam_allows(answer, method_arn("DELETE", "/orders/7"))
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from secauth.policy.document import PolicyDocument, Statement
from secauth.policy.glob import document_allows, matches

__all__ = ["ACCOUNT", "API_ID", "REGION", "iam_allows", "method_arn"]

#: The example account, API and Region of :func:`method_arn` and the event builders.
ACCOUNT: Final = "123456789012"
API_ID: Final = "abcdef123"
REGION: Final = "us-east-1"


def method_arn(
    method: str,
    path: str,
    *,
    stage: str = "prod",
    api_id: str = API_ID,
    region: str = REGION,
    account: str = ACCOUNT,
) -> str:
    """The ``execute-api`` ARN API Gateway names a request by (a WebSocket route: ``path=""``).

    >>> method_arn("DELETE", "/orders/7", stage="dev")
    'arn:aws:execute-api:us-east-1:123456789012:abcdef123/dev/DELETE/orders/7'
    >>> method_arn("$connect", "")
    'arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/$connect'
    """
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}{path}"


# -- what API Gateway does with a policy --------------------------------------------------


def _statement(raw: Mapping[str, Any]) -> Statement | None:
    """One statement of a policy dict as a :class:`Statement`, or None when it is not about
    invoking APIs. Refuses what it cannot judge without a request (conditions, NotAction,
    NotResource)."""
    unsupported = {"Condition", "NotAction", "NotResource", "NotPrincipal"} & set(raw)
    if unsupported:
        raise ValueError(f"iam_allows cannot judge a statement with {sorted(unsupported)}")
    actions = raw.get("Action")
    actions = [actions] if isinstance(actions, str) else list(actions or [])
    # Action names are case-insensitive in IAM; Resource ARNs are not.
    if not any(matches(str(a).lower(), "execute-api:invoke") for a in actions):
        return None
    return Statement(raw["Effect"], raw["Resource"])


def iam_allows(policy: PolicyDocument | Mapping[str, Any], arn: str) -> bool:
    """Would API Gateway let the request for method ARN ``arn`` through on ``policy``?

    ``policy`` is a :class:`~secauth.policy.PolicyDocument`, a policy document dict
    (``response["policyDocument"]``), or a whole authorizer response. IAM semantics, by
    the matcher the policy planner's proofs use (:func:`secauth.policy.document_allows`):
    ``*`` matches any run of characters, ``/`` included; ``?`` one character; matching is
    case-sensitive; an explicit Deny wins; no matching Allow is a deny. Ask it about any
    ARN to see what a cached policy opens for other routes. Statements with a
    ``Condition`` (or ``NotAction``/``NotResource``) raise ``ValueError``: they depend on
    the request.

    >>> doc = PolicyDocument().allow(method_arn("GET", "/orders/*")).deny(method_arn("GET", "/orders/*/*"))
    >>> iam_allows(doc, method_arn("GET", "/orders/7")), iam_allows(doc, method_arn("GET", "/orders/7/x"))
    (True, False)
    >>> iam_allows(doc.to_dict(), method_arn("GET", "/Orders/7"))
    False
    """
    if not isinstance(policy, PolicyDocument):
        document = policy.get("policyDocument", policy)
        if document.get("Version") != "2012-10-17":
            raise ValueError("a policy document has Version '2012-10-17'")
        statements = document["Statement"]
        if isinstance(statements, Mapping):
            statements = [statements]
        parsed = [_statement(s) for s in statements]
        policy = PolicyDocument(s for s in parsed if s is not None)
    return document_allows(policy, arn)
