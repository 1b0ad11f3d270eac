"""Review 12: the size fallback of cached policies (733256a, f828297), attacked.

With ``cache_ttl > 0`` a planned policy that does not fit ``max_response_bytes`` with the
context is replaced by the policy of the exact method ARN. The tests below come in two
groups:

* FINDINGS (each failed on the reviewed code, and passes since the fix that followed the
  review): the once-per-builder warning was spent, with a claim that is false, on a
  response then refused, and the genuine fallback after it was never reported;
  docs/errors.md gave the pre-fallback remedy.
* PINNED (pass on the reviewed code): what was attacked and held. The fallback never
  allows more than the table, for Deny decisions, every event kind, colon paths, route
  lists, ``extra_statements`` and the response memo; the answer shares no mutable state;
  the answer stays within the budget; the log names no principal.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import pytest
from guard_events import VERIFIER, token
from test_cached_policy_findings import PREFIX, iam_allows
from test_cached_policy_size import CLAIMS, RESOURCES, event, resources, wide_table

from secauth import Authorizer, Routes, authenticated, roles
from secauth.events import Request
from secauth.policy import MethodArn, PolicyBuilder, PolicyTooLarge, Statement
from secauth.principal import ClaimMapper, Principal
from secauth.testing_events import http_authorizer_v1, http_authorizer_v2, request_authorizer

DOCS = Path(__file__).resolve().parents[1] / "docs"
MAPPER = ClaimMapper(tenant_claim="tenant")
WIDE = MAPPER.map({**CLAIMS, "iss": "x"})  # the principal of test_cached_policy_size.py
FALLBACK_WORDS = "answered for their method ARN alone"


def fallback_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "secauth.policy" and FALLBACK_WORDS in r.getMessage()
    ]


def wide_request(verb: str = "GET", path: str = "/resource001") -> Request:
    return Request.from_event(event(verb, path))


# ---------------------------------------------------------------------------------------
# FINDINGS: these failed on the reviewed code.
# ---------------------------------------------------------------------------------------


def test_finding_a_refused_response_does_not_claim_the_method_arn_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A context too large for any policy: the plan is small, the exact ARN does not fit
    either, and PolicyTooLarge refuses the request (401 / Deny of everything). The warning
    says the request was "answered for their method ARN alone" and advises caching per
    request or TTL 0, neither of which helps: it must not be logged for a refusal."""
    builder = PolicyBuilder(cache_ttl=300, routes=wide_table())
    narrow = Principal("u-2", scopes={"resource001.read"})
    with (
        caplog.at_level(logging.WARNING, logger="secauth.policy"),
        pytest.raises(PolicyTooLarge),
    ):
        builder.response(
            narrow, wide_request(), allow=True, context={"blob": "x" * 9000}
        )
    assert fallback_warnings(caplog) == [], "a refused response was logged as answered"


def test_finding_a_real_fallback_is_reported_after_a_refused_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The one warning per builder is spent by the refusal above, so the condition the
    warning exists for (wide grants answered for the method ARN alone: their other routes
    answer 403 while cached) is never reported in that container."""
    builder = PolicyBuilder(cache_ttl=300, routes=wide_table())
    narrow = Principal("u-2", scopes={"resource001.read"})
    with pytest.raises(PolicyTooLarge):
        builder.response(narrow, wide_request(), allow=True, context={"blob": "x" * 9000})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="secauth.policy"):
        answer = builder.response(WIDE, wide_request(), allow=True, context=WIDE.to_context())
    assert resources(answer, "Allow") == [PREFIX + "GET/resource001"]  # the fallback ran
    assert fallback_warnings(caplog), "the genuine size fallback was never reported"


def test_finding_errors_doc_policy_too_large_row_gives_the_current_remedy() -> None:
    """docs/errors.md still says to use ``cache_ttl=0 for huge route lists`` against
    PolicyTooLarge. Since the fallback, a planned policy over the budget is answered for
    the method ARN (route tables and route lists alike); PolicyTooLarge is left for a
    context (or extra statements, or a Resource ARN) too large for the exact ARN."""
    row = next(
        line for line in (DOCS / "errors.md").read_text().splitlines()
        if line.startswith("| `PolicyTooLarge`")
    )  # fmt: skip
    assert "huge route lists" not in row, row


# ---------------------------------------------------------------------------------------
# PINNED: attacks that held (these pass on the reviewed code).
# ---------------------------------------------------------------------------------------

VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
SEGMENTS = [*RESOURCES[:3], "tenants", "acme", "globex", "7", "a:b", "RESOURCE001", "x"]


def random_paths(rng: random.Random, count: int) -> list[str]:
    return [
        "/" + "/".join(rng.choice(SEGMENTS) for _ in range(rng.randint(0, 5)))
        for _ in range(count)
    ]


def kind_event(kind: str, verb: str, path: str, bearer: str) -> dict[str, Any]:
    if kind == "token":
        return event(verb, path) | {"authorizationToken": f"Bearer {bearer}"}
    if kind == "request":
        return request_authorizer(verb, path, token=bearer)
    if kind == "v1":
        return http_authorizer_v1(verb, path, token=bearer, stage="prod")
    return http_authorizer_v2(verb, path, token=bearer, stage="prod", route_key=f"{verb} {path}")


@pytest.mark.parametrize("kind", ["token", "request", "v1", "v2"])
@pytest.mark.parametrize("budget", [1500, 4000, 8192])
def test_pinned_the_fallback_never_allows_what_the_table_denies(kind: str, budget: int) -> None:
    """Every answer, fallback or planned, for Allow and Deny decisions and every event
    kind, allows only what Routes.decide allows, and answers the request as decided."""
    routes = wide_table()
    rng = random.Random(f"{kind}-{budget}")
    bearer = token(**CLAIMS)
    chosen = Authorizer(
        VERIFIER, routes=routes, cache_ttl=300, claims=MAPPER, decision_log=None,
        max_response_bytes=budget, cache_key_covers_route=True,  # HTTP: per route (review 69)
    )  # fmt: skip
    fallbacks = 0
    for verb, path in zip(rng.choices(VERBS, k=25), random_paths(rng, 25), strict=True):
        sent = kind_event(kind, verb, path, bearer)
        arn = sent.get("methodArn") or sent["routeArn"]
        answer = chosen.handler(sent, None)
        assert len(json.dumps(answer)) <= budget
        fallbacks += resources(answer, "Allow") in ([], [arn]) and len(
            answer["policyDocument"]["Statement"]
        ) == 1
        assert iam_allows(answer, arn) == routes.decide(WIDE, verb, path).allowed, (verb, path)
        prefix = arn[: arn.index("/prod/") + len("/prod/")]
        for other_verb, other in zip(rng.choices(VERBS, k=40), random_paths(rng, 40), strict=True):
            if iam_allows(answer, prefix + other_verb + other):
                assert routes.decide(WIDE, other_verb, other).allowed, (verb, path, other)
    if budget < 8192:
        assert fallbacks, "the fallback was never exercised"


def test_pinned_a_denied_fallback_is_a_deny_of_the_arn_alone() -> None:
    builder = PolicyBuilder(cache_ttl=300, routes=wide_table())
    request = wide_request("DELETE", "/resource001/7")
    answer = builder.response(WIDE, request, allow=False, context=WIDE.to_context())
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Deny",
         "Resource": [PREFIX + "DELETE/resource001/7"]}
    ]  # fmt: skip


def test_pinned_the_fallback_keeps_extra_statement_denies_and_names_colon_arns() -> None:
    """Your Deny stays in the fallback answer; for a path with a colon it names the ARN."""

    class NoDeletes(PolicyBuilder):
        def extra_statements(self, principal: Any, request: Request) -> Any:
            arn = MethodArn.parse(request.method_arn)
            yield Statement("Deny", arn.with_route("ANY", "/tenants/{t}/{proxy+}"))

    builder = NoDeletes(cache_ttl=300, routes=wide_table())
    for path in ("/tenants/acme/resource001/x", "/tenants/acme/resource001/a:b"):
        request = wide_request("GET", path)
        answer = builder.response(WIDE, request, allow=True, context=WIDE.to_context())
        assert not iam_allows(answer, PREFIX + "GET" + path)
        assert len(json.dumps(answer)) <= 8192


def test_pinned_the_fallback_shares_no_mutable_state() -> None:
    """The policyDocument put in after the build is a fresh dict: changing one answer
    changes neither the next answer nor the planned document."""
    builder = PolicyBuilder(cache_ttl=300, routes=wide_table())
    request = wide_request()
    context = WIDE.to_context()
    first = builder.response(WIDE, request, allow=True, context=context)
    planned = builder.policy(WIDE, request, allow=True).to_dict()
    first["policyDocument"]["Statement"][0]["Resource"].append("*")
    first["policyDocument"]["Statement"][0]["Effect"] = "Allow"
    first["context"]["secauth_principal"] = "someone-else"
    second = builder.response(WIDE, request, allow=True, context=context)
    assert resources(second, "Allow") == [PREFIX + "GET/resource001"]
    assert second["context"] == context
    assert builder.policy(WIDE, request, allow=True).to_dict() == planned


def test_pinned_the_memo_does_not_reuse_a_fallback_answer_for_another_target() -> None:
    chosen = Authorizer(VERIFIER, routes=wide_table(), cache_ttl=300, claims=MAPPER,
                        decision_log=None)  # fmt: skip
    bearer = token(**CLAIMS)
    for _ in range(3):  # the memo keeps an answer from its second sighting
        for path in ("/resource001", "/resource002"):
            sent = event("GET", path) | {"authorizationToken": f"Bearer {bearer}"}
            answer = chosen.handler(sent, None)
            assert resources(answer, "Allow") == [PREFIX + "GET" + path]
            answer["policyDocument"]["Statement"][0]["Resource"] = ["*"]  # a caller's change
    assert len(chosen._memo) == 2


def test_pinned_the_route_list_fallback_of_a_deny_is_exact() -> None:
    keys = [f"GET /{name}/{{id}}" for name in RESOURCES] + [
        f"{verb} /tenants/{{tid}}/{name}/{{proxy+}}" for name in RESOURCES for verb in VERBS
    ]
    allowed = [f"GET /{name}/{{id}}" for name in RESOURCES] + [
        f"{verb} /tenants/acme/{name}/{{proxy+}}" for name in RESOURCES for verb in VERBS
    ]
    builder = PolicyBuilder(cache_ttl=300, routes=keys)
    request = wide_request("DELETE", "/tenants/globex/resource001/x")
    answer = builder.response(
        Principal("u-1"), request, allow=False, allowed_routes=allowed, context=WIDE.to_context()
    )
    assert resources(answer, "Allow") == []
    assert not iam_allows(answer, PREFIX + "GET/resource001/7")


def test_pinned_an_http_default_arn_is_never_opened_by_the_fallback() -> None:
    routes = Routes(
        {"ANY /": authenticated(), "ANY /{proxy+}": authenticated(),
         "DELETE /{proxy+}": roles("admin")}
    )  # fmt: skip
    builder = PolicyBuilder(cache_ttl=300, routes=routes, max_response_bytes=600)
    sent = http_authorizer_v2("GET", "/orders/1", stage="prod", token="t")
    sent["routeArn"] = PREFIX + "$default"
    request = Request.from_event(sent)
    for size in (0, 200, 380):
        try:
            answer = builder.response(
                Principal("u"), request, allow=True, context={"pad": "x" * size}
            )
        except PolicyTooLarge:
            continue
        assert not iam_allows(answer, PREFIX + "$default"), size


def test_pinned_the_warning_is_once_and_names_nobody(caplog: pytest.LogCaptureFixture) -> None:
    builder = PolicyBuilder(cache_ttl=300, routes=wide_table())
    principal = MAPPER.map({**CLAIMS, "sub": "secret-user-42", "tenant": "tenant-77", "iss": "x"})
    with caplog.at_level(logging.DEBUG, logger="secauth.policy"):
        for path in ("/resource001", "/resource002", "/resource003/9"):
            builder.response(principal, wide_request("GET", path), allow=True,
                             context=principal.to_context())  # fmt: skip
    logged = [r for r in caplog.records if r.name.startswith("secauth.policy")]
    assert len(logged) == 1
    text = logged[0].getMessage()
    for secret in ("secret-user-42", "tenant-77", "member", "resource001", "GET", "arn:"):
        assert secret not in text
