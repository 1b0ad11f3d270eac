"""Cross-check secauth's IAM wildcard matcher against an independent one: the offline IAM
simulator ``@cloud-copilot/iam-simulate`` (npm, installed into ``.cache/services`` by
``scripts/services-install.sh``; driven by ``tests/fixtures/iam_simulate.mjs``).

For every case, :func:`secauth.policy.document_allows` (``document``, ``arn``) must equal the
simulator's verdict on ``document.to_dict()`` attached as an identity policy to a user of
the ARN's account, for ``execute-api:Invoke`` on ``arn`` (an explicit Deny wins, no match
is an implicit deny).

Two batches, each judged by one ``node`` process (cases are collected first):

* random documents (Allow and Deny statements over ``*``, ``?``, ``/``, ``%``, ``.``,
  ``\\`` and mixed-case literals) with method ARNs: random paths (long ones, empty
  segments) and instances of the documents' own patterns, each ``*`` filled with several
  segments (or none), so that many patterns do match;
* the cached policies :func:`secauth.policy.plan_policy` makes for a few route tables
  (``authenticated()``, ``roles("admin")``, ``tenant(path="t")``) and principals, with
  many ARNs built from the tables' templates and refused spellings.

Without node or the package the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rl_services import DYNALITE, unavailable

from secauth import Principal, Routes
from secauth.access import authenticated, roles, tenant
from secauth.policy import PolicyDocument, Statement, document_allows, plan_policy

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "fixtures" / "iam_simulate.mjs"
# The npm folder of scripts/services-install.sh, found as for dynalite (rl_services):
# $SECAUTH_SERVICES_CACHE, else .cache/services; DYNALITE is <it>/node_modules/dynalite/cli.js.
SERVICES = DYNALITE.parents[2]
SIMULATOR = SERVICES / "node_modules" / "@cloud-copilot" / "iam-simulate" / "package.json"

ACCOUNT_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:"
PREFIX = ACCOUNT_PREFIX + "abc123/prod/"
OTHER_PREFIXES = (ACCOUNT_PREFIX + "abc123/dev/", ACCOUNT_PREFIX + "xyz789/prod/")
VERBS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

# Settings of the strategies that only collect cases (node judges them all at once).
COLLECT = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

Case = tuple[PolicyDocument, str]
T = TypeVar("T")


# -- the simulator ---------------------------------------------------------------------------


def simulate(cases: Sequence[Case]) -> list[bool]:
    """The simulator's verdict on each case, from one node process."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not on PATH; the IAM simulator cross-check needs it")
        raise AssertionError("unreachable")  # unavailable() skips or fails
    if not SIMULATOR.is_file():
        unavailable(f"@cloud-copilot/iam-simulate is not installed in {SERVICES}")
    payload = json.dumps([{"policy": doc.to_dict(), "resource": arn} for doc, arn in cases])
    done = subprocess.run(
        [node, str(SCRIPT), str(SERVICES)],
        input=payload,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"iam_simulate.mjs failed ({done.returncode}): {done.stderr}"
    answers = json.loads(done.stdout)
    assert isinstance(answers, list)
    assert len(answers) == len(cases)
    assert all(isinstance(a, bool) for a in answers)
    return answers


def crosscheck(cases: Sequence[Case], *, min_each: int) -> None:
    """secauth and the simulator agree on every case; both answers occur ``min_each`` times."""
    assert cases
    theirs = simulate(cases)
    ours = [document_allows(doc, arn) for doc, arn in cases]
    disagreements = [
        (doc, arn, mine, sim)
        for (doc, arn), mine, sim in zip(cases, ours, theirs, strict=True)
        if mine != sim
    ]
    if disagreements:
        disagreements.sort(key=lambda d: len(json.dumps(d[0].to_dict())) + len(d[1]))
        lines = [
            f"secauth={mine} simulator={sim} arn={arn!r}\n  policy={json.dumps(doc.to_dict())}"
            for doc, arn, mine, sim in disagreements[:10]
        ]
        pytest.fail(
            f"{len(disagreements)} of {len(cases)} cases disagree (smallest first):\n"
            + "\n".join(lines),
            pytrace=False,
        )
    allowed = sum(ours)
    # Not vacuous: the batch exercises both answers (and so both matchers' match paths).
    assert allowed >= min_each, f"only {allowed} of {len(cases)} cases allowed"
    assert len(cases) - allowed >= min_each, f"only {len(cases) - allowed} cases denied"


def collect(strategy: st.SearchStrategy[list[T]], max_examples: int = 120) -> list[T]:
    """What ``max_examples`` draws of ``strategy`` give, concatenated; nothing is judged
    here (node judges the whole batch at once, afterwards)."""
    out: list[T] = []

    @settings(COLLECT, max_examples=max_examples)
    @given(strategy)
    def draw(items: list[T]) -> None:
        out.extend(items)

    draw()
    return out


def is_method_arn(arn: str) -> bool:
    """A method ARN as API Gateway writes one: an API, a stage, a verb, then the path."""
    for prefix in (PREFIX, *OTHER_PREFIXES):
        if arn.startswith(prefix):
            verb, slash, _ = arn[len(prefix) :].partition("/")
            return bool(slash) and verb in VERBS and "*" not in arn and "?" not in arn
    return False


# -- random documents and ARNs -------------------------------------------------------------

LITERALS = (
    "users",
    "Users",
    "USERS",
    "orders",
    "admin",
    "t",
    "acme",
    "Acme",
    "a.b",
    ".",
    "..",
    "...",
    ".hidden",
    "%",
    "%2F",
    "%2f",
    "%25",
    "%2E",
    "a%20b",
    "100%",
    "\\",
    "x\\y",
    "v1.2",
    "x-y",
    "_",
    "~z",
    "it's",
    "GET",
    "get",
    "7",
)
WILDCARDS = ("*", "?", "/", "*/", "/*", "?*", "*?", "**", "/?/")
SEGMENTS = (*LITERALS, "")
# One character of a path (what a ``?`` stands for); never a wildcard itself.
CHARS = ("a", "s", "U", "7", ".", "%", "\\", "/", "-", "_", "~", "'", "2", "F", "E")

segment = st.one_of(
    st.sampled_from(SEGMENTS),
    st.text(alphabet="".join(c for c in CHARS if c != "/"), max_size=6),
)
# What a ``*`` stands for: none, one or several segments (empty ones too).
star_fill = st.lists(segment, max_size=4).map("/".join)
# The ``*`` a route part starts with stands for a verb and perhaps more of the path.
lead_fill = st.tuples(st.sampled_from(VERBS), st.lists(segment, max_size=3)).map(
    lambda t: "/".join((t[0], *t[1]))
)
verb_piece = st.sampled_from(
    (*(v + "/" for v in VERBS), "*", "*/", "G?T/", "P*/", "P?T/", "get/", "Get/", "GET*/")
)
route_pattern = st.tuples(
    verb_piece,
    st.lists(st.sampled_from(LITERALS + WILDCARDS), max_size=8),
).map(lambda t: t[0] + "".join(t[1]))
resource = st.one_of(
    route_pattern.map(lambda r: PREFIX + r),
    st.sampled_from(
        (
            "*",
            PREFIX + "*",
            PREFIX + "GET/*",
            ACCOUNT_PREFIX + "abc123/*/GET/*",
            ACCOUNT_PREFIX + "abc123/*",
            ACCOUNT_PREFIX + "abc123/dev/*",
            ACCOUNT_PREFIX + "abc123/prod/*/users/*",
            ACCOUNT_PREFIX + "abc123/prod/*/*/*",
        )
    ),
)
statement = st.builds(
    Statement,
    st.sampled_from(("Allow", "Allow", "Deny")),
    st.lists(resource, min_size=1, max_size=3),
)
document = st.lists(statement, min_size=1, max_size=4).map(PolicyDocument)

path = st.one_of(
    st.lists(segment, max_size=6),
    st.lists(segment, min_size=20, max_size=60),  # long paths
    st.lists(st.text(alphabet="".join(CHARS), min_size=40, max_size=200), max_size=3),
).map("/".join)
random_arn = st.tuples(
    st.sampled_from((PREFIX, PREFIX, PREFIX, *OTHER_PREFIXES)), st.sampled_from(VERBS), path
).map(lambda t: f"{t[0]}{t[1]}/{t[2]}")

Mutation = Callable[[str], str]
MUTATIONS: tuple[Mutation, ...] = (
    lambda s: s,
    lambda s: s,
    lambda s: s,
    lambda s: s.upper(),
    lambda s: s.lower(),
    lambda s: s + "/",
    lambda s: s[:-1],
    lambda s: s + "x",
    lambda s: s.replace("/", "//", 1),
)


@st.composite
def instance(draw: st.DrawFn, doc: PolicyDocument) -> str:
    """A method ARN built from one of ``doc``'s patterns: each ``*`` filled with a run of
    segments, each ``?`` with a character, then maybe changed a little (near misses)."""
    patterns = sorted(
        r.removeprefix(PREFIX)
        for s in doc.statements
        for r in s.resources
        if r.startswith(PREFIX) or r == "*"
    )
    if not patterns:
        return draw(random_arn)
    route = draw(st.sampled_from(patterns))
    out: list[str] = []
    for index, char in enumerate(route):
        if char == "*":
            out.append(draw(lead_fill if index == 0 else star_fill))
        elif char == "?":
            out.append(draw(st.sampled_from(CHARS)))
        else:
            out.append(char)
    mutate = draw(st.sampled_from(MUTATIONS))
    # A whole-route mutation may upper-case the prefix too: change only the route part.
    return PREFIX + mutate("".join(out))


@st.composite
def random_cases(draw: st.DrawFn) -> list[Case]:
    doc = draw(document)
    arns = draw(st.lists(instance(doc), min_size=3, max_size=8))
    arns += draw(st.lists(random_arn, min_size=1, max_size=3))
    return [(doc, arn) for arn in arns if is_method_arn(arn)]


def test_random_documents_agree_with_simulator() -> None:
    cases = collect(random_cases())
    assert len(cases) >= 300, f"only {len(cases)} cases"
    crosscheck(cases, min_each=30)


# -- cached policies from route tables -----------------------------------------------------

TABLES: tuple[tuple[dict[str, Any], Any], ...] = (
    (
        {
            "GET /": authenticated(),
            "GET /users/{id}": authenticated(),
            "GET /users/admin": roles("admin"),
            "ANY /t/{t}/{proxy+}": tenant(path="t"),
            "POST /t/{t}/orders": tenant(path="t"),
            "DELETE /t/{t}/orders/{id}": roles("admin"),
        },
        roles("admin"),
    ),
    (
        {
            "GET /t/{t}/files/{name}": tenant(path="t"),
            "PUT /t/{t}/files/{name}": tenant(path="t"),
            "GET /public/{proxy+}": authenticated(),
            "ANY /admin/{proxy+}": roles("admin"),
        },
        None,
    ),
    (
        {
            "GET /{t}/items": tenant(path="t"),
            "POST /{t}/items/{id}": tenant(path="t"),
            "GET /health": authenticated(),
            "GET /{t}/stock/{id}": roles("admin"),
        },
        authenticated(),
    ),
)
PRINCIPALS = (
    Principal("alice"),
    Principal("root", roles={"admin"}),
    Principal("bob", tenant="acme"),
    Principal("carol", tenant="a.b", roles={"admin"}),
    Principal("dave", tenant="Acme"),
)
# Values for template parameters: tenants of PRINCIPALS, other names, odd spellings.
VALUES = (
    "acme",
    "Acme",
    "ACME",
    "a.b",
    "aXb",
    "globex",
    "7",
    "admin",
    "users",
    "items",
    "Items",
    "orders",
    "files",
    "health",
    "public",
    "t",
    "",
    ".",
    "..",
    "%2F",
    "a%2fb",
    "%25",
    "%2E",
    "x\\y",
    "acme/x",
    "acme/",
    "/acme",
    "a%b",
)
# The values every table is tried with (the others come up in random draws).
CORE_VALUES = ("acme", "Acme", "a.b", "aXb", "", "..", "%2F", "x\\y", "acme/x")


def documents() -> list[tuple[PolicyDocument, dict[str, Any]]]:
    """The cached policy of each table for each principal (when plan_policy finds one)."""
    out = []
    for table, default in TABLES:
        routes = Routes(table, default=default)
        for principal in PRINCIPALS:
            doc = plan_policy(PREFIX, routes.grants(principal))
            if doc is not None:
                out.append((doc, table))
    return out


def fill(template: str, values: Sequence[str]) -> str:
    """``template`` with its parameters replaced by ``values`` in turn (cycled)."""
    parts = [p for p in template.split("/") if p]
    supply = itertools.cycle(values)
    return "/" + "/".join(next(supply) if p.startswith("{") else p for p in parts)


def table_arns(table: dict[str, Any]) -> set[str]:
    """Method ARNs for each route of ``table``: its parameters filled with each of
    CORE_VALUES, with and without a trailing slash (and more segments for a greedy route),
    for the route's verb (GET and DELETE for ANY) and one other verb."""
    out = set()
    for key in table:
        verb, template = key.split(" ", 1)
        verbs = {"GET", "DELETE"} if verb == "ANY" else {verb, "GET" if verb != "GET" else "POST"}
        for value in CORE_VALUES:
            path = fill(template, [value])
            spellings = {path, path + "/"}
            if template.endswith("+}"):
                spellings |= {path + "/more", path + "//x", path + "/a/b/c/d/e/f/g/h/i/j"}
            out |= {f"{PREFIX}{v}{s}" for v in verbs for s in spellings}
    return out


@st.composite
def planned_arns(draw: st.DrawFn) -> list[str]:
    """A route's template of some table, filled with a few VALUES, changed a little."""
    table, _ = draw(st.sampled_from(TABLES))
    verb, template = draw(st.sampled_from(sorted(table))).split(" ", 1)
    path = fill(template, draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3)))
    if template.endswith("+}"):
        path += "/" + draw(st.lists(st.sampled_from(VALUES), max_size=4).map("/".join))
    path = draw(st.sampled_from(MUTATIONS))(path)
    verbs = {"GET", "DELETE"} if verb == "ANY" else {verb, draw(st.sampled_from(VERBS))}
    return [f"{PREFIX}{v}{path}" for v in sorted(verbs)]


def test_planned_policies_agree_with_simulator() -> None:
    planned = documents()
    assert len(planned) >= 10, f"plan_policy gave only {len(planned)} documents"
    extra = set(collect(planned_arns(), max_examples=30))
    extra |= {PREFIX + "GET/", PREFIX + "POST/", PREFIX + "GET//", PREFIX + "GET/x"}
    cases = []
    for doc, table in planned:
        arns = table_arns(table) | extra
        cases += [(doc, arn) for arn in sorted(arns) if is_method_arn(arn)]
    crosscheck(cases, min_each=100)
