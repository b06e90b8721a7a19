"""filters: MongoDB-style filters over versions and collections, and keyset pagination."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localreg import registries, versions
from localreg.errors import InvalidFilter, InvalidInput
from localreg.filters import compile_filter

from conftest import snapshot
from test_versions import log

FIXTURE_OK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NASTY = "x'; DROP TABLE versions; --"


@pytest.fixture
def blob_backend(tmp_path):
    """Filters never touch blobs: one backend is enough here (overrides conftest's pair)."""
    return str(tmp_path / "blobs")


@pytest.fixture
def populated(store):
    """alpha v0-v2 (model), beta v0 (dataset), gamma v0-v1 (model), and two registry collections."""
    a0, _ = log(store, "alpha", {"f": "a0"}, metadata={"acc": 0.5, "cfg": {"lr": 0.1, "opt": "adam"}, "n": 1},
                tags=["prod"], aliases=["old"], description="first try")
    a1, _ = log(store, "alpha", {"f": "a1"}, metadata={"acc": 0.9, "cfg": {"lr": 0.01, "opt": "sgd"}, "n": 2},
                tags=["prod", "team a"], aliases=["best"], description="the good one")
    a2, _ = log(store, "alpha", {"f": "a2"}, metadata={"acc": 0.7, "flag": True, "n": 3})
    b0, _ = log(store, "beta", {"f": "b0"}, type="dataset",
                metadata={"rows": 10, "source": NASTY, "it's": 1, 'q"uote': 2, "back\\slash": 3},
                tags=["raw"])
    g0, _ = log(store, "gamma", {"f": "g0"}, metadata={"acc": 0.95})
    g1, _ = log(store, "gamma", {"f": "g1"}, tags=["raw"])
    registries.link(store, a1, "wandb-registry-model/prod-models", aliases=["prod"])
    registries.link(store, b0, "wandb-registry-dataset/training-data")
    return {v.name: v for v in (a0, a1, a2, b0, g0, g1)}


def source_names(store, flt, **kwargs):
    page = versions.list_versions(store, where="c.project_id IS NOT NULL", filter=flt, limit=100, **kwargs)
    return sorted(v.name for v in page.items)


ALL = ["alpha:v0", "alpha:v1", "alpha:v2", "beta:v0", "gamma:v0", "gamma:v1"]


@pytest.mark.parametrize(
    "flt, expected",
    [
        (None, ALL),
        ({}, ALL),
        # name
        ({"name": "alpha"}, ["alpha:v0", "alpha:v1", "alpha:v2"]),
        ({"name": {"$eq": "beta"}}, ["beta:v0"]),
        ({"name": {"$ne": "alpha"}}, ["beta:v0", "gamma:v0", "gamma:v1"]),
        ({"name": {"$in": ["beta", "gamma"]}}, ["beta:v0", "gamma:v0", "gamma:v1"]),
        ({"name": {"$nin": ["beta", "gamma"]}}, ["alpha:v0", "alpha:v1", "alpha:v2"]),
        ({"name": {"$regex": "^(b|g)"}}, ["beta:v0", "gamma:v0", "gamma:v1"]),
        ({"name": {"$regex": "MM"}}, []),
        ({"name": {"$contains": "amm"}}, ["gamma:v0", "gamma:v1"]),
        ({"name": {"$gt": "beta"}}, ["gamma:v0", "gamma:v1"]),
        ({"name": {"$gte": "beta"}}, ["beta:v0", "gamma:v0", "gamma:v1"]),
        ({"name": {"$lt": "beta"}}, ["alpha:v0", "alpha:v1", "alpha:v2"]),
        ({"name": {"$lte": "beta"}}, ["alpha:v0", "alpha:v1", "alpha:v2", "beta:v0"]),
        ({"name": {"$exists": True}}, ALL),
        ({"name": {"$exists": False}}, []),
        ({"name": {"$in": []}}, []),
        ({"name": {"$nin": []}}, ALL),
        ({"type": "dataset"}, ["beta:v0"]),
        ({"description": {"$contains": "good"}}, ["alpha:v1"]),
        # alias
        ({"alias": "best"}, ["alpha:v1"]),
        ({"alias": "latest"}, ["alpha:v2", "beta:v0", "gamma:v1"]),
        ({"alias": {"$ne": "latest"}}, ["alpha:v0", "alpha:v1", "gamma:v0"]),
        ({"alias": {"$in": ["old", "best"]}}, ["alpha:v0", "alpha:v1"]),
        ({"alias": {"$nin": ["old", "latest"]}}, ["alpha:v1", "gamma:v0"]),
        ({"alias": {"$regex": "^b"}}, ["alpha:v1"]),
        ({"alias": {"$contains": "ates"}}, ["alpha:v2", "beta:v0", "gamma:v1"]),
        ({"alias": {"$exists": False}}, ["gamma:v0"]),
        ({"alias": {"$exists": True}}, ["alpha:v0", "alpha:v1", "alpha:v2", "beta:v0", "gamma:v1"]),
        ({"aliases": "old"}, ["alpha:v0"]),
        # tag
        ({"tag": "prod"}, ["alpha:v0", "alpha:v1"]),
        ({"tag": "team a"}, ["alpha:v1"]),
        ({"tag": {"$ne": "prod"}}, ["alpha:v2", "beta:v0", "gamma:v0", "gamma:v1"]),
        ({"tag": {"$in": ["raw", "team a"]}}, ["alpha:v1", "beta:v0", "gamma:v1"]),
        ({"tag": {"$nin": ["prod"]}}, ["alpha:v2", "beta:v0", "gamma:v0", "gamma:v1"]),
        ({"tag": {"$regex": "^te"}}, ["alpha:v1"]),
        ({"tag": {"$contains": "a"}}, ["alpha:v1", "beta:v0", "gamma:v1"]),
        ({"tag": {"$exists": False}}, ["alpha:v2", "gamma:v0"]),
        ({"tags": {"$exists": True}}, ["alpha:v0", "alpha:v1", "beta:v0", "gamma:v1"]),
        # version
        ({"version": "v0"}, ["alpha:v0", "beta:v0", "gamma:v0"]),
        ({"version": 1}, ["alpha:v1", "gamma:v1"]),
        ({"version": {"$gt": "v0"}}, ["alpha:v1", "alpha:v2", "gamma:v1"]),
        ({"version": {"$gte": "v1"}}, ["alpha:v1", "alpha:v2", "gamma:v1"]),
        ({"version": {"$lt": "v1"}}, ["alpha:v0", "beta:v0", "gamma:v0"]),
        ({"version": {"$lte": "v1"}}, ["alpha:v0", "alpha:v1", "beta:v0", "gamma:v0", "gamma:v1"]),
        ({"version": {"$ne": "v0"}}, ["alpha:v1", "alpha:v2", "gamma:v1"]),
        ({"version": {"$in": ["v0", "v2"]}}, ["alpha:v0", "alpha:v2", "beta:v0", "gamma:v0"]),
        ({"version": {"$nin": ["v0", "v2"]}}, ["alpha:v1", "gamma:v1"]),
        # metadata
        ({"metadata.acc": 0.9}, ["alpha:v1"]),
        ({"metadata.acc": {"$gte": 0.7}}, ["alpha:v1", "alpha:v2", "gamma:v0"]),
        ({"metadata.acc": {"$gt": 0.7}}, ["alpha:v1", "gamma:v0"]),
        ({"metadata.acc": {"$lt": 0.7}}, ["alpha:v0"]),
        ({"metadata.acc": {"$lte": 0.7}}, ["alpha:v0", "alpha:v2"]),
        ({"metadata.acc": {"$ne": 0.9}}, ["alpha:v0", "alpha:v2", "beta:v0", "gamma:v0", "gamma:v1"]),
        ({"metadata.acc": {"$exists": True}}, ["alpha:v0", "alpha:v1", "alpha:v2", "gamma:v0"]),
        ({"metadata.acc": {"$exists": False}}, ["beta:v0", "gamma:v1"]),
        ({"metadata.cfg.lr": {"$lt": 0.05}}, ["alpha:v1"]),
        ({"metadata.cfg.opt": {"$in": ["adam", "rmsprop"]}}, ["alpha:v0"]),
        ({"metadata.cfg.opt": {"$nin": ["adam"]}}, ["alpha:v1", "alpha:v2", "beta:v0", "gamma:v0", "gamma:v1"]),
        ({"metadata.cfg.opt": {"$regex": "^s"}}, ["alpha:v1"]),
        ({"metadata.cfg": {"$contains": "adam"}}, ["alpha:v0"]),
        ({"metadata.flag": True}, ["alpha:v2"]),
        ({"metadata.n": {"$in": [1, 3]}}, ["alpha:v0", "alpha:v2"]),
        ({"metadata.n": {"$lt": 2**64}}, ["alpha:v0", "alpha:v1", "alpha:v2"]),
        ({"metadata.n": {"$gt": -(2**70)}}, ["alpha:v0", "alpha:v1", "alpha:v2"]),
        ({"metadata.source": NASTY}, ["beta:v0"]),
        ({"metadata.it's": 1}, ["beta:v0"]),
        ({'metadata.q"uote': 2}, ["beta:v0"]),
        ({"metadata.back\\slash": 3}, ["beta:v0"]),
        ({"metadata.nope.deeper": {"$exists": True}}, []),
        ({"metadata.acc.deeper": {"$exists": True}}, []),
        # logic
        ({"$and": [{"tag": "prod"}, {"metadata.acc": {"$gte": 0.9}}]}, ["alpha:v1"]),
        ({"$or": [{"name": "beta"}, {"alias": "best"}]}, ["alpha:v1", "beta:v0"]),
        ({"$nor": [{"name": "alpha"}, {"tag": "raw"}]}, ["gamma:v0"]),
        ({"name": {"$not": {"$eq": "alpha"}}}, ["beta:v0", "gamma:v0", "gamma:v1"]),
        ({"alias": {"$not": {"$in": ["latest"]}}}, ["alpha:v0", "alpha:v1", "gamma:v0"]),
        # a version without the field matches the negations, as in MongoDB
        ({"metadata.acc": {"$not": {"$gt": 0.6}}}, ["alpha:v0", "beta:v0", "gamma:v1"]),
        ({"$nor": [{"metadata.acc": {"$gt": 0.6}}]}, ["alpha:v0", "beta:v0", "gamma:v1"]),
        ({"metadata.acc": {"$not": {"$ne": 0.5}}}, ["alpha:v0"]),
        ({"metadata.acc": {"$not": {"$exists": False}}}, ["alpha:v0", "alpha:v1", "alpha:v2", "gamma:v0"]),
        ({"$nor": [{"metadata.cfg.opt": "sgd"}, {"metadata.acc": {"$lt": 0.6}}]},
         ["alpha:v2", "beta:v0", "gamma:v0", "gamma:v1"]),
        ({"name": "alpha", "version": {"$gt": "v0"}}, ["alpha:v1", "alpha:v2"]),
        ({"metadata.acc": {"$gt": 0.6, "$lt": 0.8}}, ["alpha:v2"]),
        ({"$and": [{"$or": [{"name": "alpha"}, {"name": "gamma"}]}, {"$nor": [{"tag": "prod"}]}]},
         ["alpha:v2", "gamma:v0", "gamma:v1"]),
    ],
)
def test_version_filters(store, populated, flt, expected):
    assert source_names(store, flt) == expected
    assert versions.count_versions(store, where="c.project_id IS NOT NULL", filter=flt) == len(expected)


def test_created_at(store, populated):
    middle = populated["beta:v0"]
    after = ["gamma:v0", "gamma:v1"]
    before = ["alpha:v0", "alpha:v1", "alpha:v2"]
    assert source_names(store, {"created_at": {"$gt": middle.created_at}}) == after
    assert source_names(store, {"created_at": {"$lt": middle.created_at}}) == before
    assert source_names(store, {"created_at": {"$gte": middle.created_at}}) == ["beta:v0", *after]
    assert source_names(store, {"created_at": {"$lte": middle.created_at}}) == [*before, "beta:v0"]
    assert source_names(store, {"created_at": middle.created_at}) == ["beta:v0"]
    # datetimes work too, aware or naive (UTC)
    when = dt.datetime.strptime(middle.created_at, "%Y-%m-%dT%H:%M:%S.%fZ")
    assert source_names(store, {"created_at": {"$gt": when}}) == after
    aware = when.replace(tzinfo=dt.timezone.utc).astimezone(dt.timezone(dt.timedelta(hours=5)))
    assert source_names(store, {"created_at": {"$gt": aware}}) == after
    assert source_names(store, {"created_at": {"$gt": dt.date(2000, 1, 1)}}) == ALL
    assert source_names(store, {"updated_at": {"$exists": True}}) == ALL


def test_filters_reach_links(store, populated):
    links = versions.list_versions(store, where="c.registry_id IS NOT NULL", filter={"tag": "prod"}).items
    assert [v.qualified_name for v in links] == ["acme/wandb-registry-model/prod-models:v0"]
    links = versions.list_versions(store, where="c.registry_id IS NOT NULL", filter={"alias": "prod"}).items
    assert [v.name for v in links] == ["prod-models:v0"]
    links = versions.list_versions(store, where="c.registry_id IS NOT NULL", filter={"metadata.rows": 10}).items
    assert [v.name for v in links] == ["training-data:v0"]


# -- collections -------------------------------------------------------------------------------------


@pytest.fixture
def collections(store, populated):
    for coll in registries.list_collections(store, limit=100)[0]:
        tags = {"alpha": ["prod", "vision"], "beta": ["raw"], "prod-models": ["prod"]}.get(coll.name)
        if tags:
            registries.update_collection(store, coll, tags=tags, description=f"about {coll.name}")
    return store


def coll_names(store, flt, **kwargs):
    return sorted(c.name for c in registries.list_collections(store, filter=flt, limit=100, **kwargs)[0])


@pytest.mark.parametrize(
    "flt, expected",
    [
        (None, ["alpha", "beta", "gamma", "prod-models", "training-data"]),
        ({"name": "alpha"}, ["alpha"]),
        ({"name": {"$ne": "alpha"}}, ["beta", "gamma", "prod-models", "training-data"]),
        ({"name": {"$in": ["beta", "nope"]}}, ["beta"]),
        ({"name": {"$nin": ["beta", "gamma"]}}, ["alpha", "prod-models", "training-data"]),
        ({"name": {"$regex": "-"}}, ["prod-models", "training-data"]),
        ({"name": {"$contains": "ta"}}, ["beta", "training-data"]),
        ({"name": {"$gt": "gamma"}}, ["prod-models", "training-data"]),
        ({"name": {"$gte": "gamma"}}, ["gamma", "prod-models", "training-data"]),
        ({"name": {"$lt": "beta"}}, ["alpha"]),
        ({"name": {"$lte": "beta"}}, ["alpha", "beta"]),
        ({"type": "dataset"}, ["beta", "training-data"]),
        ({"tag": "prod"}, ["alpha", "prod-models"]),
        ({"tags": {"$in": ["raw", "vision"]}}, ["alpha", "beta"]),
        ({"tag": {"$ne": "prod"}}, ["beta", "gamma", "training-data"]),
        ({"tag": {"$nin": ["prod", "raw"]}}, ["gamma", "training-data"]),
        ({"tag": {"$exists": False}}, ["gamma", "training-data"]),
        ({"tag": {"$regex": "^vis"}}, ["alpha"]),
        ({"description": {"$contains": "about"}}, ["alpha", "beta", "prod-models"]),
        ({"created_at": {"$exists": True}}, ["alpha", "beta", "gamma", "prod-models", "training-data"]),
        ({"$or": [{"tag": "raw"}, {"name": "gamma"}]}, ["beta", "gamma"]),
        ({"$and": [{"tag": "prod"}, {"type": "model"}]}, ["alpha", "prod-models"]),
        ({"$nor": [{"tag": "prod"}, {"type": "dataset"}]}, ["gamma"]),
        ({"name": {"$not": {"$regex": "a$"}}}, ["prod-models"]),
    ],
)
def test_collection_filters(collections, flt, expected):
    assert coll_names(collections, flt) == expected
    assert registries.count_collections(collections, filter=flt) == len(expected)


def test_collection_created_at_and_scope(collections):
    store = collections
    gamma = next(c for c in registries.list_collections(store, filter={"name": "gamma"})[0])
    assert coll_names(store, {"created_at": {"$gt": gamma.created_at}}) == ["prod-models", "training-data"]
    assert coll_names(store, {"created_at": {"$lt": gamma.created_at}}) == ["alpha", "beta"]
    assert coll_names(store, {"type": "model"}, where="c.registry_id IS NOT NULL") == ["prod-models"]


# -- SQL-looking input ----------------------------------------------------------------------------------

SQLISH = [
    NASTY,
    "' OR '1'='1",
    "\" OR \"1\"=\"1",
    "1; DELETE FROM versions",
    "alpha' --",
    "%",
    "_",
    "*",
    "') OR 1=1 --",
    "$eq",
    "]]",
    "\\",
]


@pytest.mark.parametrize("value", SQLISH)
def test_sql_looking_values_are_just_values(store, populated, value):
    before = snapshot(store)
    for field in ("name", "alias", "tag", "description", "metadata.source", "created_at"):
        for op in ("$eq", "$ne", "$gt", "$in", "$nin", "$contains", "$regex"):
            arg = [value] if op in ("$in", "$nin") else value
            if op == "$regex":
                arg = re.escape(value)
            got = source_names(store, {field: {op: arg}})
            assert set(got) <= set(ALL)
    assert source_names(store, {"name": value}) == []
    assert source_names(store, {"metadata.source": NASTY}) == ["beta:v0"]
    assert snapshot(store) == before


@pytest.mark.parametrize("key", SQLISH + ["a.b') OR 1=1 --", "x\" OR 1=1", "a\\\"b", "'"])
def test_sql_looking_metadata_keys_are_just_keys(store, populated, key):
    key = key.strip(".") or "k"
    if ".." in key:
        key = key.replace("..", ".")
    before = snapshot(store)
    for cond in (1, {"$ne": 1}, {"$exists": True}, {"$exists": False}, {"$in": [1, "a"]}, {"$regex": "x"}):
        got = source_names(store, {f"metadata.{key}": cond})
        assert set(got) <= set(ALL)
    assert snapshot(store) == before


def test_unknown_field_keys_are_refused_not_run(store, populated):
    for key in SQLISH + ["v.id", "1=1", "name; DROP TABLE versions"]:
        with pytest.raises(InvalidFilter, match="cannot filter on|unknown top-level filter operator") as exc:
            source_names(store, {key: 1})
        assert repr(key) in str(exc.value)


@FIXTURE_OK
@given(
    key=st.text(max_size=20),
    value=st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()),
    op=st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains", "$regex", "$exists"]),
    field=st.sampled_from(["name", "alias", "tag", "description", "metadata.", "created_at", "digest"]),
)
def test_no_filter_reaches_sqlite_as_an_error(store, populated, key, value, op, field):
    name = field + key if field == "metadata." else field
    arg = [value] if op in ("$in", "$nin") else value
    try:
        got = source_names(store, {name: {op: arg}})
    except InvalidFilter:
        return
    except sqlite3.Error as e:  # pragma: no cover - the point of the test
        pytest.fail(f"filter {name!r} {op} {arg!r} reached SQLite as an error: {e}")
    assert set(got) <= set(ALL)


# -- refused filters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flt, match",
    [
        ({"colour": "red"}, "cannot filter on 'colour'"),
        ({"$where": "1"}, "unknown top-level filter operator '\\$where'"),
        ({"name": {"$like": "a%"}}, "unknown filter operator '\\$like' on 'name'"),
        ({"name": {"$eq": "a", "$size": 1}}, "unknown filter operator '\\$size'"),
        ({"$and": {"name": "a"}}, "\\$and takes a non-empty list"),
        ({"$or": []}, "\\$or takes a non-empty list"),
        ({"$nor": "x"}, "\\$nor takes a non-empty list"),
        ({"$and": [{"colour": 1}]}, "cannot filter on 'colour'"),
        ({"name": {"$in": "alpha"}}, "\\$in on 'name' takes a list"),
        ({"name": {"$nin": 3}}, "\\$nin on 'name' takes a list"),
        ({"name": {"$exists": 1}}, "\\$exists on 'name' takes true or false"),
        ({"name": {"$regex": 3}}, "\\$regex on 'name' takes a string"),
        ({"name": {"$regex": "("}}, "invalid regular expression '\\(' in \\$regex on 'name'"),
        ({"alias": {"$regex": "[a-"}}, "invalid regular expression"),
        ({"name": {"$contains": 3}}, "\\$contains on 'name' takes a string"),
        ({"name": {"$not": "alpha"}}, "\\$not on 'name' takes an operator dict"),
        ({"version": "latest"}, "needs values like 'v3'"),
        ({"version": {"$in": ["v1", "x"]}}, "needs values like 'v3'"),
        ({"version": True}, "needs values like 'v3'"),
        ({"metadata.": 1}, "invalid metadata key"),
        ({"metadata.a..b": 1}, "invalid metadata key 'a..b'"),
        ({"metadata.a\x00b": 1}, "NUL"),
        ({"name": {"$eq": {1, 2}}}, "cannot compare 'name' with set"),
        ({"metadata.n": {"$gt": 10**400}}, "the number is too large"),
        ({1: "x"}, "filter keys must be strings"),
        (["name"], "a filter must be a dict"),
        ("name = 'x'", "a filter must be a dict"),
    ],
)
def test_bad_filters(store, populated, flt, match):
    before = snapshot(store)
    with pytest.raises(InvalidFilter, match=match) as exc:
        versions.list_versions(store, filter=flt)
    assert isinstance(exc.value, ValueError)
    assert snapshot(store) == before


def test_metadata_is_not_a_collection_field(collections):
    with pytest.raises(InvalidFilter, match="cannot filter on 'metadata.acc'"):
        registries.list_collections(collections, filter={"metadata.acc": 1})
    with pytest.raises(InvalidFilter, match="cannot filter on 'alias'"):
        registries.list_collections(collections, filter={"alias": "x"})


def test_bad_order_and_cursor(store, populated):
    with pytest.raises(InvalidFilter, match="cannot order by 'colour'"):
        versions.list_versions(store, order="-colour")
    with pytest.raises(InvalidFilter, match="cannot order by 'v.id; DROP TABLE versions'"):
        versions.list_versions(store, order="v.id; DROP TABLE versions")
    with pytest.raises(InvalidFilter, match="cannot order by"):
        registries.list_collections(store, order="version")
    with pytest.raises(InvalidInput, match="invalid cursor"):
        versions.list_versions(store, cursor="not-a-cursor")
    with pytest.raises(InvalidInput, match="invalid cursor"):
        registries.list_collections(store, cursor="!!")


def test_compile_filter_binds_every_value():
    sql, params = compile_filter({"name": NASTY, "tag": {"$in": [NASTY, "b"]}}, versions.VERSION_FIELDS,
                                 metadata_expr="v.metadata")
    assert NASTY not in sql and params == [NASTY, NASTY, "b"]


# -- pagination --------------------------------------------------------------------------------------------


@pytest.fixture
def many(store):
    """23 versions over four collections; five of them linked into four registry collections."""
    out = []
    for i in range(23):
        v, _ = log(store, f"c{i % 4}", {"f": f"content {i}"}, metadata={"i": i}, tags=["even"] if i % 2 == 0 else [])
        out.append(v)
    for v in out[::5]:
        registries.link(store, v, f"wandb-registry-model/linked-{v.collection}")
    return out


def _all_pages(fetch, limit):
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = fetch(limit, cursor)
        pages += 1
        seen += items
        assert len(items) <= limit
        if cursor is None:
            return seen, pages
        assert items, "a cursor after an empty page"
        assert pages < 100


@pytest.mark.parametrize("order", [None, "+version", "-version", "created_at", "-created_at", "+updated_at",
                                   "-updated_at", "name", "-name", "id", "-id", "index"])
@pytest.mark.parametrize("limit", [1, 4, 7, 50])
def test_version_pages_return_every_item_once(store, many, order, limit):
    def fetch(n, cursor):
        page = versions.list_versions(store, order=order, limit=n, cursor=cursor)
        return page.items, page.cursor

    seen, pages = _all_pages(fetch, limit)
    everything = versions.list_versions(store, order=order, limit=1000).items
    assert [v.id for v in seen] == [v.id for v in everything]
    assert len(seen) == len({v.id for v in seen}) == versions.count_versions(store) == 23 + 5
    assert pages == max(1, -(-len(seen) // limit))


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_filtered_pages(store, many, limit):
    flt = {"$and": [{"tag": "even"}, {"metadata.i": {"$gte": 4}}]}

    def fetch(n, cursor):
        page = versions.list_versions(store, filter=flt, order="-created_at", limit=n, cursor=cursor)
        return page.items, page.cursor

    seen, _ = _all_pages(fetch, limit)
    expected = sorted((v for v in many if v.metadata["i"] % 2 == 0 and v.metadata["i"] >= 4), key=lambda v: v.created_at)
    sources = [v for v in seen if not v.is_link]
    assert [v.id for v in sources] == [v.id for v in reversed(expected)]
    assert len(seen) == len({v.id for v in seen}) == versions.count_versions(store, filter=flt)


@pytest.mark.parametrize("order", [None, "name", "-name", "created_at", "-created_at", "updated_at", "id", "-id"])
@pytest.mark.parametrize("limit", [1, 3, 100])
def test_collection_pages_return_every_item_once(store, many, order, limit):
    def fetch(n, cursor):
        return registries.list_collections(store, order=order, limit=n, cursor=cursor)

    seen, _ = _all_pages(fetch, limit)
    everything, _ = registries.list_collections(store, order=order, limit=1000)
    assert [c.id for c in seen] == [c.id for c in everything]
    assert len(seen) == len({c.id for c in seen}) == registries.count_collections(store) == 4 + 4
