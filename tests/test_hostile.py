"""Hostile input, generated: every input is accepted and round-trips exactly, or refused with a LocalregError.

Property-based tests (hypothesis) through the public APIs, the W&B facade
(``import localreg as wandb``) first, the plain verbs where the facade has
no spelling. For each generated input:

* if it is accepted, reading it back gives exactly what the rules promise
  (metadata NaN comes back as None, a logical path comes back in NFC, a
  downloaded file sits at that path with its bytes), and where the rules
  say a value is valid it must be accepted, not refused;
* if it is refused, the error is a :class:`LocalregError` (any other
  exception fails the test) and nothing was written: every row (but the
  stat cache) and every blob and temp file are as before.

The inputs mix generated text with pieces known to break naive code:
``..``, absolute paths, NUL and other control characters, backslashes,
NFC and NFD spellings of one name, right-to-left overrides, zero-width
joiners, the fullwidth solidus ``／``, lone surrogates (what undecodable
file names become), overlong names, NaN, infinities, integers of
thousands of digits, deep nesting, non-string keys, non-JSON values, and
SQL (``'; DROP TABLE versions; --``) in filter values and keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import itertools
import json
import math
import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import localreg as wandb
from localreg import names, registries, versions
from localreg.errors import LocalregError
from localreg.objects import Entry, Objects

from conftest import snapshot

# per test and blob backend (docs/guarantees.md counts them); raise it for a long hunt:
# LOCALREG_HOSTILE_EXAMPLES=5000 python -m pytest tests/test_hostile.py
EXAMPLES = int(os.environ.get("LOCALREG_HOSTILE_EXAMPLES", "75"))
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
SQL = "'; DROP TABLE versions; --"

# pieces that break naive code, glued together and mixed with generated text
TRICKY = [
    "..", ".", "/", "//", "\\", "\x00", "\n", "\t", "\x7f", " ", "  ", ":", "~", "$", "*", "?", "%", "#", "&", "`",
    "'", '"', ";", "--", "[", "]", "{", "}", "<", ">", "|", "@", "=", "+", ",", "!",
    "\u202e", "\u202d", "\u2066", "\u200d", "\u200b", "\ufeff", "\u00a0", "／", "\uff0e", "\u2215", "\u2044",
    "é", "e\u0301", "Å", "A\u030a", "ﬁ", "ß", "İ", "ǅ", "😀", "👩\u200d💻", "\ud800", "\udcff",
    "wandb-", "wandb-registry-", "latest", "v0", "v1", "v01", "job", SQL, "a", "b", "model", "0", "C:",
    "x" * 129, "y" * 256, "é" * 128,
]
piece = st.one_of(st.sampled_from(TRICKY), st.text(max_size=6))
hostile_text = st.lists(piece, max_size=6).map("".join)

counter = itertools.count()


def fresh(prefix: str) -> str:
    return f"{prefix}-{next(counter)}"


def state(store) -> tuple:
    """Every row (but the stat cache), every blob, every temp file."""
    blobs = store.blobs
    return (
        snapshot(store),
        sorted(d for d, _s, _m in blobs.list_loose()),
        sorted(n for n, _s, _m in blobs.list_packs()),
        sorted(p for p, _s, _m in blobs.list_tmp()),
    )


def attempt(store, call):
    """``(True, result)`` if ``call`` worked; ``(False, error)`` if it raised a LocalregError and wrote nothing.

    Any other exception propagates and fails the test.
    """
    before = state(store)
    try:
        return True, call()
    except LocalregError as e:
        assert state(store) == before, f"{type(e).__name__} ({e}) but something was written"
        return False, e


@pytest.fixture
def world(store, tmp_path):
    """A store with a model (aliases prod and SQL-ish), a dataset, a link, and a run to log with."""
    with wandb.init(project="demo") as run:
        model = wandb.Artifact("model", "model", metadata={"acc": 0.9})
        with model.new_file("weights.bin", mode="wb") as f:
            f.write(b"weights")
        model = run.log_artifact(model, aliases=["prod", SQL.replace("'", "’")], tags=["best"])
        data = wandb.Artifact("data", "dataset")
        with data.new_file("d.csv") as f:
            f.write("1,2")
        data = run.log_artifact(data)
        link = run.link_artifact(model, "wandb-registry-model/champion", aliases=["stable"])
    run = wandb.init(project="demo")
    yield type("World", (), {"store": store, "model": model, "data": data, "link": link, "run": run,
                             "tmp": tmp_path})
    run.finish()


def new_artifact(name: str, type_: str = "dataset", **kw) -> wandb.Artifact:
    art = wandb.Artifact(name, type_, **kw)
    with art.new_file("content.txt") as f:
        f.write(name)  # unique content: every save is a new version, never a dedup
    return art


# -- names and types ------------------------------------------------------------------------------------


def valid_name(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 128 and value not in (".", "..") and all(
        c.isascii() and (c.isalnum() or c in "-_.") for c in value)


def valid_type(value: object) -> bool:
    return (isinstance(value, str) and 0 < len(value) <= 128 and not any(c in value for c in "/:")
            and not any(ord(c) < 32 or ord(c) == 127 for c in value) and value != "job"
            and not value.startswith("wandb-") and _utf8(value))


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


names_st = st.one_of(hostile_text, st.from_regex(r"[A-Za-z0-9_.-]{1,130}", fullmatch=True), st.integers(),
                     st.none())


@HOSTILE
@given(name=names_st, type_=st.one_of(hostile_text, st.sampled_from(["model", "dataset", "wandb-run", "job"])))
@example(name="..", type_="model")
@example(name="x" * 128, type_="t" * 128)
@example(name="x" * 129, type_="model")
@example(name="model", type_="\ud800")
@example(name="mo\u202edel", type_="model")
def test_artifact_names_and_types(world, name, type_):
    ok, art = attempt(world.store, lambda: wandb.Artifact(name, type_))
    assert ok == (valid_name(name) and valid_type(type_)), art
    if not ok:
        return
    with art.new_file("content.txt") as f:
        f.write(fresh("content"))
    ok, err = attempt(world.store, lambda: world.run.log_artifact(art))
    if not ok:  # only a clash with the type an existing collection of that name has
        assert "has type" in str(err)
        return
    got = wandb.Api().artifact(f"{name}:{art.version}", type=type_)
    assert (got.name, got.type, got.qualified_name) == (
        f"{name}:{art.version}", type_, f"team/demo/{name}:{art.version}")


# -- aliases and tags -------------------------------------------------------------------------------------------


def valid_alias(value: object) -> bool:
    return (isinstance(value, str) and 0 < len(value) <= 128 and "/" not in value and ":" not in value
            and not any(ord(c) < 32 or ord(c) == 127 for c in value) and value == value.strip()
            and not names.is_version(value) and _utf8(value))


def valid_tag(value: object) -> bool:
    import re
    return isinstance(value, str) and 0 < len(value) <= 128 and re.fullmatch(r"[-\w]+( +[-\w]+)*", value) is not None


aliases_st = st.lists(st.one_of(hostile_text, st.sampled_from(["prod", "latest", "v3", "v03", SQL, "a b", " x"])),
                      max_size=4)
tags_st = st.lists(st.one_of(hostile_text, st.sampled_from(["best", "a b", "a  b", "é", "e\u0301", "x-y_z", SQL])),
                   max_size=4)


@HOSTILE
@given(aliases=aliases_st, tags=tags_st, moved=aliases_st)
@example(aliases=[SQL, "latest"], tags=["é"], moved=["v03"])
@example(aliases=["\ud800"], tags=[], moved=[])
@example(aliases=["ok"], tags=["e\u0301"], moved=[])
def test_aliases_and_tags(world, aliases, tags, moved):
    name = fresh("tagged")
    art = new_artifact(name, "model")
    before = state(world.store)
    try:
        logged = world.run.log_artifact(art, aliases=aliases, tags=tags)
    except LocalregError:
        assert state(world.store) == before
        assert not (all(map(valid_alias, aliases)) and all(map(valid_tag, tags)))
        return
    assert all(map(valid_alias, aliases)) and all(map(valid_tag, tags))
    assert set(logged.aliases) == {"latest", *aliases}
    assert sorted(logged.tags) == sorted(set(tags))
    api = wandb.Api()
    for alias in aliases:
        assert api.artifact(f"{name}:{alias}").id == logged.id
        assert [a.id for a in api.artifacts("model", name, filter={"alias": alias})] == [logged.id]
    for tag in tags:
        assert [a.id for a in api.artifacts("model", name, filter={"tag": tag})] == [logged.id]

    # then edit the aliases of the logged version
    logged.aliases = [a for a in logged.aliases if a == "latest"]
    ok, _err = attempt(world.store, lambda: logged.aliases.extend(moved) or logged.save())
    assert ok == all(map(valid_alias, moved))
    if ok:
        assert set(api.artifact(f"{name}:latest").aliases) == {"latest", *moved}


# -- metadata ---------------------------------------------------------------------------------------------------


class NotJSON:
    def __repr__(self) -> str:
        return "NotJSON()"


NON_JSON = [b"bytes", {1, 2}, frozenset(), NotJSON(), dt.datetime(2024, 1, 1), dt.date(2024, 1, 1),
            decimal.Decimal("1.5"), complex(1, 2), range(3), Path("/etc/passwd"), Ellipsis]
meta_keys = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["", ".", "a.b", "$gt", SQL, 'a"b', "a\\b", "a'b", "metadata", "\x00", "\ud800", "[0]", "$[0]",
                     "*", "é", "e\u0301", "k" * 1000]),
    st.integers(), st.none(), st.booleans(), st.floats(), st.tuples(st.integers()),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 3, max_value=2**80),
    st.floats(), st.text(max_size=20), hostile_text,
    st.sampled_from(["\ud800", -0.0, 1e308, 5e-324]),
    # built, not listed: hypothesis prints its strategies, and these are too long to print
    st.builds(pow, st.just(10), st.sampled_from([3999, 4000, 4300, 5000, 100_000])),
    st.builds(lambda n: 1 - 10**n, st.sampled_from([3999, 4000])),
    st.builds(str.__mul__, st.just("x"), st.just(100_000)),
)
metadata_values = st.recursive(
    st.one_of(scalars, st.sampled_from(NON_JSON)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(meta_keys, inner, max_size=4)),
    max_leaves=12,
)


def nested(depth: int) -> dict:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value  # type: ignore[return-value]


metadata_st = st.one_of(
    st.dictionaries(meta_keys, metadata_values, max_size=8),
    st.sampled_from([nested(64), nested(65), nested(400), {f"k{i}": i for i in range(100)},
                     {f"k{i}": i for i in range(101)}, {"list": [[[[[]]]]] * 50}]),
    st.builds(lambda: {"big": "x" * (17 << 20)}),  # past the 16 MiB limit
    st.lists(scalars, max_size=2), st.text(max_size=3), st.integers(),
)


def expected_metadata(value):
    """What the rules promise to store for ``value``; None when they promise a refusal."""
    refused = object()

    def clean(v, depth):
        if depth > 64:
            return refused
        if v is None or isinstance(v, (bool, str)):
            return v if not isinstance(v, str) or _utf8(v) else refused
        if isinstance(v, int):
            return v if abs(v) < 10**4000 else refused
        if isinstance(v, float):
            return None if math.isnan(v) else refused if math.isinf(v) else v
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if not isinstance(k, str) or not _utf8(k):
                    return refused
                out[k] = clean(x, depth + 1)
                if out[k] is refused:
                    return refused
            return out
        if isinstance(v, (list, tuple)):
            out_list = [clean(x, depth + 1) for x in v]
            return refused if any(x is refused for x in out_list) else out_list
        return refused

    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 100:
        return None
    out = clean(value, 0)
    if out is refused or len(json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False)) > 16 << 20:
        return None
    return out


def filterable(key: str, value: object) -> bool:
    """A ``metadata.<key>`` equality filter can find this value (no dotted path, exact SQL comparison)."""
    return bool(key) and "." not in key and "\x00" not in key and (
        value is None or isinstance(value, (bool, str)) and "\x00" not in str(value)
        or isinstance(value, int) and -(2**63) <= value < 2**63 or isinstance(value, float))


@HOSTILE
@given(metadata=metadata_st)
@example(metadata={"loss": math.nan, "acc": 0.5, "nested": {"x": [math.nan, 1]}})
@example(metadata={"loss": math.inf})
@example(metadata={"loss": -math.inf})
@example(metadata={"n": 10**4000})
@example(metadata={1: "int key"})
@example(metadata={SQL: SQL, 'a"b': "quote", "a\\b": "backslash", "a'b": "apostrophe"})
@example(metadata={"when": dt.datetime(2024, 1, 1)})
def test_metadata(world, metadata):
    want = expected_metadata(metadata)
    name = fresh("meta")
    ok, art = attempt(world.store, lambda: new_artifact(name, metadata=metadata))
    assert ok == (want is not None), art
    if not ok:
        return
    world.run.log_artifact(art)
    api = wandb.Api()
    got = api.artifact(f"{name}:latest")
    assert got.metadata == want
    assert json.dumps(got.metadata, sort_keys=True) == json.dumps(want, sort_keys=True)  # -0.0, NaN-free
    for key, value in want.items():
        if filterable(key, value):
            found = [a.id for a in api.artifacts("dataset", name, filter={f"metadata.{key}": value})]
            assert found == [got.id], (key, value)

    # editing a logged version's metadata follows the same rules
    edit = {"edited": metadata} if isinstance(metadata, dict) and len(json.dumps(want)) < 1 << 20 else None
    if edit is not None:
        ok, _ = attempt(world.store, lambda: (setattr(got, "metadata", edit), got.save()))
        assert ok == (expected_metadata(edit) is not None)


# -- logical paths ---------------------------------------------------------------------------------------------


def valid_path(value: object) -> bool:
    if not isinstance(value, str) or not value or not _utf8(value):
        return False
    if any(ord(c) < 32 or ord(c) == 127 or c == "\\" or "\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069"
           for c in value):
        return False
    if value.startswith("/") or (len(value) > 1 and value[1] == ":"):
        return False
    nfc = unicodedata.normalize("NFC", value)
    parts = nfc.split("/")
    return (len(nfc.encode()) <= 4096 and all(p not in ("", ".", "..") for p in parts)
            and all(len(p.encode()) <= 255 for p in parts))


paths_st = st.one_of(
    hostile_text,
    st.lists(st.one_of(hostile_text, st.sampled_from(["a", "b", "..", ".", "", "é", "e\u0301", "y" * 255, "é" * 128])),
             min_size=1, max_size=4).map("/".join),
)


@HOSTILE
@given(path=paths_st)
@example(path="../escape.txt")
@example(path="/etc/passwd")
@example(path="a/../../b")
@example(path="a\\..\\b")
@example(path="nul\x00byte")
@example(path="caf\u00e9.txt")
@example(path="cafe\u0301.txt")
@example(path="evil\u202etxt.exe")
@example(path="👩\u200d💻/notes.md")
@example(path="a／b")
@example(path="y" * 255)
@example(path="y" * 256)
@example(path="C:/windows")
@example(path="\udcff.bin")
def test_logical_paths(world, path):
    name = fresh("paths")
    art = wandb.Artifact(name, "dataset")
    source = world.tmp / "source.bin"
    source.write_bytes(name.encode())
    ok, entry = attempt(world.store, lambda: art.add_file(str(source), name=path))
    assert ok == (valid_path(path) or path == ""), entry
    if not ok:
        return
    nfc = unicodedata.normalize("NFC", path) or "source.bin"  # as in W&B, no name: the file's own
    assert entry.path == nfc
    logged = world.run.log_artifact(art)
    assert [f.path for f in logged.files()] == [nfc]
    assert logged.get_entry(unicodedata.normalize("NFD", nfc)).path == nfc  # any spelling finds it
    root = logged.download(root=str(world.tmp / name))
    assert Path(root, *nfc.split("/")).read_bytes() == name.encode()
    assert sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file()) == [nfc]
    logged.verify(root)


@HOSTILE
@given(paths=st.lists(paths_st, min_size=1, max_size=4))
@example(paths=["a", "a/b"])
@example(paths=["caf\u00e9", "cafe\u0301"])
@example(paths=["x", "x"])
def test_manifests_through_the_plain_verbs(world, paths):
    """``log_version`` takes entries as given: each path is checked and normalized there too."""
    store = world.store
    digest, size = Objects(store).add_bytes(b"shared bytes")
    entries = [Entry(p, digest, size) for p in paths]
    name = fresh("manifest")
    ok, got = attempt(store, lambda: versions.log_version(store, name=name, type="dataset", entries=entries))
    nfc = [unicodedata.normalize("NFC", p) if isinstance(p, str) else p for p in paths]
    clash = len(set(nfc)) < len(nfc) or any(q.startswith(p + "/") for p in nfc for q in nfc)
    assert ok == (all(map(valid_path, paths)) and not clash), got
    if ok:
        v, _created = got
        assert [e.path for e in versions.entries(store, v)] == sorted(nfc)
        Objects(store).materialize(versions.entries(store, v), world.tmp / name)


# -- refs and target paths ----------------------------------------------------------------------------------------

ref_parts = st.one_of(st.sampled_from(["team", "demo", "model", "data", "champion", "wandb-registry-model",
                                       "wandb-registry-", "wandb-registry-nope", "acme", "local", "..", "",
                                       "x" * 129, "uncategorized"]), hostile_text)
ref_aliases = st.one_of(st.sampled_from(["latest", "prod", "stable", "v0", "v1", "v01", "v" + "9" * 30, "",
                                         SQL.replace("'", "’"), "a/b"]), hostile_text)
refs_st = st.builds(
    lambda parts, alias: "/".join(parts) + (f":{alias}" if alias is not None else ""),
    st.lists(ref_parts, min_size=1, max_size=4), st.none() | ref_aliases,
)


@HOSTILE
@given(ref=st.one_of(refs_st, hostile_text, st.integers(), st.none()))
@example(ref="model:prod")
@example(ref="team/demo/model:v0")
@example(ref="wandb-registry-model/champion:stable")
@example(ref="acme/wandb-registry-model/champion")
@example(ref="model:v99999999999999999999999999")
@example(ref=f"model:{SQL.replace(chr(39), '’')}")
@example(ref="model:" + SQL)
def test_refs(world, ref):
    ok, got = attempt(world.store, lambda: wandb.Api().artifact(ref))
    if ok:
        parsed = names.parse_ref(ref)
        assert got.name.split(":")[0] == parsed.name
        alias = parsed.alias or "latest"
        assert got.version == alias if names.is_version(alias) else alias in got.aliases
        assert got.id in (world.model.id, world.data.id, world.link.id)
    ok_use, used = attempt(world.store, lambda: world.run.use_artifact(ref))
    assert ok_use == ok
    if ok:
        assert used.id == got.id


targets_st = st.builds(
    lambda parts: "/".join(parts),
    st.lists(st.one_of(st.sampled_from(["wandb-registry-model", "wandb-registry-dataset", "wandb-registry-nope",
                                        "wandb-registry-", "acme", "other-org", "champion", "new-coll", "..", ""]),
                       hostile_text), min_size=1, max_size=4),
)


@HOSTILE
@given(target=st.one_of(targets_st, hostile_text), aliases=st.lists(ref_aliases, max_size=2))
@example(target="wandb-registry-model/champion", aliases=["stable"])
@example(target="other-org/wandb-registry-model/mine", aliases=[])
@example(target="wandb-registry-model/champion:prod", aliases=[])
@example(target="wandb-registry-dataset/x", aliases=[])
@example(target=f"wandb-registry-model/{SQL}", aliases=[])
def test_link_target_paths(world, target, aliases):
    ok, linked = attempt(world.store, lambda: world.model.link(target, aliases=aliases))
    if not ok:
        return
    ref = names.parse_target_path(target)
    org = ref.scope or "acme"
    assert ref.registry == "model" and all(map(valid_alias, aliases))
    assert linked.is_link and linked.source_artifact.id == world.model.id
    assert linked.qualified_name == f"{org}/wandb-registry-model/{ref.name}:{linked.version}"
    assert set(aliases) <= set(linked.aliases)
    again = wandb.Api().artifact(f"{org}/wandb-registry-model/{ref.name}:{linked.version}")
    assert again.id == linked.id


# -- filters -------------------------------------------------------------------------------------------------------

filter_fields = st.one_of(
    st.sampled_from(["name", "alias", "aliases", "tag", "tags", "version", "created_at", "updated_at", "description",
                     "type", "digest", "visibility", "metadata.acc", "metadata.a.b", f"metadata.{SQL}",
                     'metadata.a"b', "metadata.a\\b", "metadata.", "metadata..x", "metadata.$", "metadata.\ud800",
                     "metadata.\x00", SQL, "$where", "$and", "$or", "$nor", "$not", "$expr", "$", "\ud800"]),
    hostile_text, st.integers(), st.none(),
)
filter_ops = st.one_of(
    st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$contains",
                     "$not", "$where", "$elemMatch", "$", "eq", SQL]),
    hostile_text, st.integers(),
)
filter_values = st.one_of(
    scalars, st.sampled_from([SQL, "v0", "v" + "9" * 30, "(a+)+$", "((", "[", "\\", "%", "_", "*",
                              dt.datetime(2020, 1, 1), dt.datetime(2999, 1, 1, tzinfo=dt.timezone.utc),
                              dt.date(2024, 1, 1), b"x", {1}, NotJSON(), math.nan, math.inf, True, 2**64]),
    st.lists(scalars, max_size=3),
)
leaf_filters = st.dictionaries(
    filter_fields,
    st.one_of(filter_values, st.dictionaries(filter_ops, st.one_of(filter_values, st.lists(filter_values, max_size=3)),
                                             max_size=2)),
    min_size=1, max_size=2,
)
filters_st = st.one_of(
    st.recursive(leaf_filters, lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(["$and", "$or", "$nor"]), st.lists(inner, max_size=3), min_size=1),
        st.builds(lambda f, k: {k: {"$not": f}}, inner, filter_fields),
        st.lists(inner, max_size=2),
    ), max_leaves=8),
    st.none(), st.text(max_size=5), st.integers(), st.lists(st.none(), max_size=1),
)


def deep_filter(levels: int, key: str = "$and") -> dict:
    flt: dict = {"name": "model"}
    for _ in range(levels):
        flt = {key: [flt]}
    return flt


@HOSTILE
@given(flt=filters_st)
@example(flt={"name": SQL})
@example(flt={SQL: 1})
@example(flt={f"metadata.{SQL}": SQL})
@example(flt={"metadata.acc": {"$gte": math.nan}})
@example(flt={"version": "v" + "9" * 30})
@example(flt={"name": {"$regex": "(("}})
@example(flt=deep_filter(30))
@example(flt={"name": {"$not": {"$not": {"$not": {"$eq": "model"}}}}})
@example(flt={"metadata.x": [{1, 2}]})
@example(flt={"metadata.x": [[[[[[[]]]]]]] * 2})
def test_filters(world, flt):
    store = world.store
    api = wandb.Api()
    model_registry = api.registry("model")
    listings = {
        "versions of an artifact": lambda: api.artifacts("model", "model", filter=flt),
        "registries": lambda: api.registries(filter=flt),
        "registry versions": lambda: model_registry.versions(filter=flt),
        "registry collections": lambda: model_registry.collections(filter=flt),
        "all registries' versions": lambda: api.registries().versions(filter=flt),
    }
    before = state(store)
    for what, listing in listings.items():
        try:
            found = listing()
            items = list(found)
        except LocalregError:
            continue
        assert len(found) == len(items), what  # the count and the listing read the same filter
    plain = [lambda: versions.list_versions(store, filter=flt), lambda: registries.list_collections(store, filter=flt),
             lambda: registries.list_registries(store, filter=flt)]
    for call in plain:
        try:
            call()
        except LocalregError:
            pass
    assert state(store) == before  # reads write nothing; the SQL in the filter never ran


@pytest.mark.parametrize("flt, refused", [
    ({"name": {"$in": [str(i) for i in range(20_000)]}}, "more than 10000 values"),
    ({"$or": [{"name": str(i)} for i in range(20_000)]}, "more than 10000 values"),
    ({"$or": [{"name": str(i)} for i in range(3000)] + [{"name": "model"}]}, None),  # SQLite: depth <= 1000
    (deep_filter(30), None),
    (deep_filter(33), "nested deeper than 32 levels"),
    (deep_filter(5000), "nested deeper than 32 levels"),  # no RecursionError
    (deep_filter(5000, "$nor"), "nested deeper than 32 levels"),
])
def test_filters_too_big_for_sqlite_are_refused_or_split(world, flt, refused):
    api = wandb.Api()
    if refused is None:
        assert [a.name for a in api.artifacts("model", "model", filter=flt)] == ["model:v0"]
        return
    with pytest.raises(LocalregError, match=refused):
        api.artifacts("model", "model", filter=flt)


@HOSTILE
@given(value=st.one_of(hostile_text, st.sampled_from([SQL, "a%", "_", "%", "a' OR '1'='1", "\\", "é", "e\u0301"])))
def test_filter_values_match_exactly_what_was_stored(world, value):
    """SQL-looking or not, a filter value is compared as data: it finds the version that holds it, and only that."""
    name = fresh("match")
    art = new_artifact(name, "model", metadata={"note": value} if _utf8(value) else None)
    logged = world.run.log_artifact(art)
    api = wandb.Api()
    if valid_alias(value):
        logged.aliases.append(value)
        logged.save()
        assert [a.id for a in api.artifacts("model", name, filter={"alias": value})] == [logged.id]
        assert [a.id for a in api.artifacts("model", name, filter={"alias": {"$ne": value}})] == []
        assert [a.id for a in api.artifacts("model", name, filter={"alias": {"$in": [value, SQL]}})] == [logged.id]
    if _utf8(value) and "\x00" not in value:
        assert [a.id for a in api.artifacts("model", name, filter={"metadata.note": value})] == [logged.id]
        assert [a.id for a in api.artifacts("model", name, filter={"metadata.note": value + "x"})] == []
        if value:
            assert [a.id for a in api.artifacts("model", name, filter={"metadata.note": {"$contains": value}})] == [
                logged.id]
    if _utf8(value):
        assert [a.id for a in api.artifacts("model", name, filter={"name": value})] == []


# -- cursors, pages, orders, local paths ----------------------------------------------------------------------------

cursors_st = st.one_of(
    hostile_text,
    st.builds(lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).decode(),
              st.one_of(st.lists(st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                                           st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10),
                                           st.lists(st.integers()), st.dictionaries(st.text(), st.integers())),
                                 max_size=3), st.integers(), st.text())),
)


@HOSTILE
@given(cursor=cursors_st, per_page=st.one_of(st.integers(-3, 5), st.sampled_from([10**30, 1.5, "2", None, True])),
       order=st.one_of(st.none(), hostile_text, st.sampled_from(["-created_at", "+version", "name", "--name", SQL])))
@example(cursor=base64.urlsafe_b64encode(b'[{"a": 1}, 1]').decode(), per_page=1, order=None)
@example(cursor=base64.urlsafe_b64encode(b'["x", 99999999999999999999999]').decode(), per_page=1, order=None)
def test_cursors_pages_and_orders(world, cursor, per_page, order):
    api = wandb.Api()
    for listing in (lambda: api.artifacts("model", "model", per_page=per_page, order=order, start=cursor),
                    lambda: api.artifact_collections("demo", per_page=per_page, start=cursor),
                    lambda: api.registry("model").versions(per_page=per_page, order=order, start=cursor)):
        ok, found = attempt(world.store, lambda: list(listing()))
        if ok:
            assert isinstance(found, list)


local_st = st.one_of(hostile_text, st.sampled_from(["", ".", "..", "/", "/dev/null", "/dev/zero", "/proc/self/mem",
                                                    "/etc/shadow/x", "~", "a\x00b", "\udcff", "x" * 5000]))


@HOSTILE
@given(local=local_st, name=st.none() | paths_st)
@example(local="/dev/null", name=None)
@example(local="/dev/zero", name="zero")
@example(local="/proc/self/status", name=None)
def test_local_paths_given_to_add_file_and_add_dir(world, local, name):
    """Whatever the caller passes as a local path: a clear refusal, never a hang or an OSError."""
    art = wandb.Artifact(fresh("local"), "dataset")
    adds = [lambda: art.add_file(local, name=name)]
    if not (isinstance(local, str) and "\x00" not in local and os.path.isdir(local)
            and not os.path.realpath(local).startswith(str(world.tmp))):
        adds.append(lambda: art.add_dir(local, name=name))  # not a walk through the whole machine
    for add in adds:
        ok, got = attempt(world.store, add)
        if ok:  # some real file or folder of this machine: it must at least be a regular one
            assert local not in ("/dev/null", "/dev/zero")
