"""Review 147 (adversarial): the last fix commits (44e954c: the CLI; 491a7bc: the stores), attacked.

Attacked:

* ``secauth authorize``'s IAM reading (``_invoke.policy_allows`` / ``_applies`` / ``_is_invoke``):
  regex metacharacters in action names (``.``, ``(``, ``[``, ``+``), wildcards anywhere
  (``*voke``, ``?xecute-api``, ``Invoke*``), case, ``NotAction``/``NotResource`` semantics and
  malformed ``NotAction``/``NotResource`` values, through ``python -m secauth authorize`` too;
* ``_shown``: bidi overrides, zero-width characters, line/paragraph separators in a handler's
  error message on standard error;
* ``read_input``: a file exactly at the limit, one byte over, a multi-byte character split at the
  limit, bytes on standard input;
* the Redis ``HIT_SCRIPT`` (real redis-server): odd-key replacement for every algorithm (never
  admits more than the limit), GCRA honest traffic and a huge ``cost`` never reset to a fresh
  bucket, the sliding window's odd-key ``p 0``; ``usage()`` on an odd key;
* DynamoDB (dynalite): odd counts read by ``usage``/``hit``.

Resolved: ``authorize`` reads a statement whose ``Action``, ``NotAction``, ``Resource`` or
``NotResource`` is not a string or a non-empty list of strings as a doubt (an Allow does not apply,
a Deny does); a usage read (cost 0) of an odd Redis key writes nothing.

Findings (strict xfails):

* low: ``secauth authorize`` says "allow" for an Allow statement whose ``NotAction`` (or
  ``NotResource``) is not a string or a list of strings (``5``, ``{}``, ``[5]``): ``_listed``
  drops the malformed value to ``[]`` and "every action but none" matches; API Gateway refuses
  such a policy (500), it never allows with it.
* info: ``RedisStore.usage`` (documented "writing nothing", used by ``secauth usage``) deletes a
  key of another type and writes a full window or burst in its place.

Held: metacharacters are escaped (``execute-api:Inv.ke`` matches only itself, ``(``/``[`` never
crash); wildcards and case match as IAM does; ``NotAction: execute-api:ManageConnections`` in an
Allow allows Invoke, in a Deny denies it; ``_shown`` escapes U+202E, U+200B, U+2028, U+2029, ESC,
CR; ``read_input`` accepts exactly ``max_bytes``, refuses one more (also a split character);
Redis: an odd key is replaced by a state that denies (fixed, sliding, GCRA) and honest traffic is
admitted exactly ``burst``/``count`` times, a huge ``cost`` is denied without resetting; DynamoDB
odd counts read as a full window.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from secauth._cli_input import read_input
from secauth._invoke import _shown, policy_allows
from secauth.errors import ConfigurationError
from secauth.ratelimit import Limit
from secauth.ratelimit.dynamodb_store import DynamoDBStore
from secauth.ratelimit.redis_store import RedisStore

ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef/prod/GET/orders"
PYTHON = sys.executable


def doc(**statement: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


def allow_action(action: Any) -> dict[str, Any]:
    return doc(Effect="Allow", Action=action, Resource="*")


# -- IAM action reading --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        "execute-api:Invoke",
        "EXECUTE-API:invoke",
        "execute-api:*",
        "*",
        "execute-api:Inv*",
        "execute-api:*voke",
        "?xecute-api:Invoke",
        "execute-api:Invok?",
        "*:Invoke",
    ],
)
def test_wildcards_and_case_match_invoke(action: str) -> None:
    assert policy_allows(allow_action(action), ARN) is True


@pytest.mark.parametrize(
    "action",
    [
        "execute-api:Inv.ke",
        "execute-api:Invoke.",
        "execute-api:(Invoke)",
        "execute-api:[I]nvoke",
        "execute-api:Invoke+",
        "execute-api:Invoke|x",
        "execute-api:In\\voke",
        "execute-api:Invoke$",
        "execute-api:ManageConnections",
        "execute-api:Invoke ",
        "execute-api:Invoke\n",
        "execute-api:Invok??",
        "s3:*",
        "",
    ],
)
def test_metacharacters_never_match_more_than_iam(action: str) -> None:
    assert policy_allows(allow_action(action), ARN) is False


def test_not_action_semantics_as_iam() -> None:
    manage = "execute-api:ManageConnections"
    assert policy_allows(doc(Effect="Allow", NotAction=manage, Resource="*"), ARN) is True
    assert policy_allows(doc(Effect="Allow", NotAction="execute-api:*", Resource="*"), ARN) is False
    both = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "NotAction": manage, "Resource": "*"},
        ]
    }
    assert policy_allows(both, ARN) is False
    not_here = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "NotResource": ARN},
        ]
    }
    assert policy_allows(not_here, ARN) is True
    elsewhere = doc(Effect="Allow", Action="*", NotResource="arn:aws:execute-api:*/prod/GET/*")
    assert policy_allows(elsewhere, ARN) is False


# fmt: off
@pytest.mark.parametrize("bad", [5, {}, [5], None])
def test_malformed_not_action_is_never_allow(bad: Any) -> None:
    assert policy_allows(doc(Effect="Allow", NotAction=bad, Resource="*"), ARN) is False
    assert policy_allows(doc(Effect="Allow", Action="*", NotResource=bad), ARN) is False
# fmt: on


# fmt: off
def test_cli_authorize_malformed_not_action_is_not_allow(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "def handler(event, context):\n"
        "    return {'principalId': 'u', 'policyDocument': {'Version': '2012-10-17',\n"
        "        'Statement': [{'Effect': 'Allow', 'NotAction': 5, 'Resource': '*'}]}}\n"
    )
    (tmp_path / "ev.json").write_text(
        '{"type": "TOKEN", "authorizationToken": "x", "methodArn": "' + ARN + '"}'
    )
    result = subprocess.run(
        [PYTHON, "-m", "secauth", "authorize", "--app", "app:handler", "--event", "ev.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode != 0, result.stdout + result.stderr
# fmt: on


# -- _shown -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ch",
    [
        "\u202e",
        "\u2066",
        "\u200b",
        "\u200f",
        "\u2028",
        "\u2029",
        "\x1b",
        "\r",
        "\x85",
        "\ufeff",
        "\u061c",
    ],
)
def test_shown_escapes_reordering_and_hiding_characters(ch: str) -> None:
    out = _shown(f"evil{ch}txt.exe")
    assert ch not in out
    assert out.isascii()


def test_shown_keeps_newlines_only_when_asked() -> None:
    assert _shown("a\nb", lines=True) == "a\nb"
    assert "\n" not in _shown("a\nb")


# -- read_input -------------------------------------------------------------------------------


def test_read_input_limit_is_exact(tmp_path: Path) -> None:
    at = tmp_path / "at"
    at.write_bytes(b"a" * 10)
    assert read_input(str(at), max_bytes=10, what="x") == "a" * 10
    over = tmp_path / "over"
    over.write_bytes(b"a" * 11)
    with pytest.raises(ConfigurationError):
        read_input(str(over), max_bytes=10, what="x")
    split = tmp_path / "split"
    split.write_bytes(b"a" * 9 + "é".encode())  # 11 bytes, a character across the limit
    with pytest.raises(ConfigurationError):
        read_input(str(split), max_bytes=10, what="x")
    fits = tmp_path / "fits"
    fits.write_bytes(b"a" * 8 + "é".encode())
    assert read_input(str(fits), max_bytes=10, what="x") == "a" * 8 + "é"


def test_read_input_stdin_text_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("é" * 6))  # 12 bytes in 6 characters
    with pytest.raises(ConfigurationError):
        read_input("-", max_bytes=10, what="x")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe"), encoding="utf-8"))
    with pytest.raises(ConfigurationError):
        read_input("-", max_bytes=10, what="x")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 10), encoding="utf-8"))
    assert read_input("-", max_bytes=10, what="x") == "x" * 10


# -- Redis HIT_SCRIPT -------------------------------------------------------------------------


def _name() -> str:
    return f"r147-{time.monotonic_ns()}"


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "gcra"])
@pytest.mark.parametrize("odd", ["list", "set", "zset", "wrong_type_of_ours"])
def test_odd_key_is_replaced_by_a_denying_state(
    redis_url: str, redis_client: Any, algorithm: str, odd: str
) -> None:
    store = RedisStore(url=redis_url)
    key = _name()
    raw = store._key(key, algorithm)
    if odd == "list":
        redis_client.rpush(raw, "1")
    elif odd == "set":
        redis_client.sadd(raw, "1")
    elif odd == "zset":
        redis_client.zadd(raw, {"1": 1})
    elif algorithm == "gcra":
        redis_client.hset(raw, mapping={"w": 0, "c": 0})
    else:
        redis_client.set(raw, "0")
    limit = Limit(5, 3600)
    results = [store.hit(key, limit, algorithm) for _ in range(10)]
    assert not any(r.allowed for r in results)
    assert all(r.retry_after > 0 for r in results)
    assert redis_client.pttl(raw) > 0  # drains


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "gcra"])
def test_honest_traffic_admits_exactly_the_limit(redis_url: str, algorithm: str) -> None:
    store = RedisStore(url=redis_url)
    key = _name()
    limit = Limit(5, 3600)
    admitted = sum(store.hit(key, limit, algorithm).allowed for _ in range(20))
    assert admitted == 5


def test_gcra_huge_cost_is_denied_and_never_resets(redis_url: str, redis_client: Any) -> None:
    store = RedisStore(url=redis_url)
    key = _name()
    limit = Limit(5, 3600)
    assert sum(store.hit(key, limit, "gcra").allowed for _ in range(3)) == 3
    for cost in (6, 10**6, 10**12):
        assert not store.hit(key, limit, "gcra", cost).allowed
    assert sum(store.hit(key, limit, "gcra").allowed for _ in range(5)) == 2


def test_sliding_odd_key_keeps_denying_in_the_next_window(
    redis_url: str, redis_client: Any
) -> None:
    """An odd key becomes a full current window; the next window still weighs it (``p``)."""
    store = RedisStore(url=redis_url)
    key = _name()
    raw = store._key(key, "sliding_window")
    redis_client.rpush(raw, "x")
    limit = Limit(4, 1)
    _, micros = redis_client.time()
    if micros > 700_000:  # away from a window's edge: the hit and the wait in one window
        time.sleep(1 - micros / 1e6 + 0.02)
    assert not store.hit(key, limit, "sliding_window").allowed
    _, micros = redis_client.time()
    time.sleep(1 - micros / 1e6 + 0.02)  # early in the next window: the previous weighs ~full
    assert not store.hit(key, limit, "sliding_window").allowed


# fmt: off
@pytest.mark.parametrize("algorithm", ["fixed_window", "gcra"])
def test_usage_writes_nothing_on_an_odd_key(redis_url: str, redis_client: Any, algorithm: str) -> None:
    store = RedisStore(url=redis_url)
    key = _name()
    raw = store._key(key, algorithm)
    redis_client.rpush(raw, "theirs")
    assert store.usage(key, Limit(5, 3600), algorithm).remaining == 0
    assert redis_client.type(raw) == b"list"
# fmt: on


# -- DynamoDB ---------------------------------------------------------------------------------


def test_dynamodb_odd_counts_read_as_a_full_window(ddb_client: Any) -> None:
    store = DynamoDBStore(f"review147-{_name()}", client=ddb_client)
    store.create_table()
    limit = Limit(3, 3600)
    key = _name()
    assert store.hit(key, limit, "fixed_window").allowed
    items = ddb_client.scan(TableName=store.table)["Items"]
    assert len(items) == 1
    item = items[0]
    item["n"] = {"S": "0"}
    ddb_client.put_item(TableName=store.table, Item=item)
    assert store.usage(key, limit, "fixed_window").remaining == 0
    assert not any(store.hit(key, limit, "fixed_window").allowed for _ in range(3))
