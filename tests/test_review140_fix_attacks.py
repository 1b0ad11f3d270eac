from typing import Any
import pytest
from secauth.ratelimit import RedisStore
from secauth.ratelimit.limit import Limit
from secauth.ratelimit.dynamodb_store import DynamoDBStore

@pytest.mark.parametrize("value", ["  5", "0x10", "1e400", "-0", "2.5", " 2 ", "1e-300", "0x0", "5\n", "nan", "-nan", "infinity", "0b1", "4e0", "  ", "", "+3"])
@pytest.mark.parametrize("algo", ["fixed_window", "sliding_window"])
def test_redis(redis_url: str, redis_client: Any, value: str, algo: str) -> None:
    store = RedisStore(url=redis_url)
    lim = Limit.parse("5/day")
    assert store.hit("k", lim, algo).allowed
    key = f"secauth:rl:{algo[0]}:k"
    redis_client.hset(key, "c", value)
    u = store.usage("k", lim, algo)
    res = []
    for _ in range(8):
        try:
            r = store.hit("k", lim, algo); res.append((r.allowed, r.remaining))
        except Exception as e:
            res.append(type(e).__name__)
    print(algo, repr(value), "usage", u.allowed, u.remaining, res)

@pytest.mark.parametrize("value", ["  5", "-0", "2.5", "1e-300", "0x5", "1e2"])
def test_gcra(redis_url: str, redis_client: Any, value: str) -> None:
    store = RedisStore(url=redis_url)
    lim = Limit.parse("5/day")
    assert store.hit("k", lim, "gcra").allowed
    redis_client.set("secauth:rl:g:k", value)
    res=[]
    for _ in range(8):
        try:
            r = store.hit("k", lim, "gcra"); res.append((r.allowed, r.remaining))
        except Exception as e: res.append(type(e).__name__)
    print("gcra", repr(value), res)

@pytest.mark.parametrize("value", ["-0", "2.5", "4", "5", "0.5", "1E+2", "0.0000001"])
def test_ddb(ddb_client: Any, value: str) -> None:
    import itertools, time
    store = DynamoDBStore(f"r140-{time.monotonic_ns()}", client=ddb_client)
    store.create_table()
    lim = Limit.parse("5/day")
    assert store.hit("k", lim, "fixed_window").allowed
    (item,) = ddb_client.scan(TableName=store.table)["Items"]
    item["n"] = {"N": value}
    ddb_client.put_item(TableName=store.table, Item=item)
    res=[]
    try:
        u = store.usage("k", lim, "fixed_window"); res.append(("usage", u.allowed, u.remaining))
    except Exception as e: res.append(("usage", type(e).__name__))
    for _ in range(7):
        try:
            r = store.hit("k", lim, "fixed_window"); res.append((r.allowed, r.remaining))
        except Exception as e: res.append(type(e).__name__)
    print("ddb", repr(value), res, ddb_client.scan(TableName=store.table)["Items"][0]["n"])
