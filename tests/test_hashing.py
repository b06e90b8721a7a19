"""hashing: digests, manifest digests, canonical JSON and metadata cleaning."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localreg import hashing
from localreg.errors import InvalidMetadata, LocalregError

FAST = settings(max_examples=50, deadline=None)


def test_digest_bytes():
    assert hashing.digest_bytes(b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert hashing.is_digest(hashing.digest_bytes(b""))
    assert hashing.hex_of(hashing.digest_bytes(b"abc")) == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize(
    "value",
    [None, "", "sha256:", "sha256:" + "0" * 63, "sha256:" + "0" * 65, "sha256:" + "A" * 64,
     "md5:" + "0" * 64, "0" * 64, "sha256:" + "0" * 64 + "\n", b"sha256:" + b"0" * 64],
)
def test_is_digest_refuses(value):
    assert not hashing.is_digest(value)


def test_streamed_digest_equals_one_shot():
    h = hashing.new()
    for piece in (b"ab", b"", b"c"):
        h.update(piece)
    assert hashing.format_digest(h) == hashing.digest_bytes(b"abc")


# -- manifest digests ------------------------------------------------------------------

entries = st.dictionaries(
    st.text(min_size=1, max_size=20), st.binary(max_size=8).map(hashing.digest_bytes), min_size=0, max_size=12
)


@FAST
@given(entries, st.randoms(use_true_random=False))
def test_manifest_digest_does_not_depend_on_order(mapping, rnd):
    pairs = list(mapping.items())
    shuffled = pairs[:]
    rnd.shuffle(shuffled)
    assert hashing.manifest_digest(pairs) == hashing.manifest_digest(shuffled)
    assert hashing.manifest_digest(iter(shuffled)) == hashing.manifest_digest(sorted(pairs))


def test_manifest_digest_depends_on_names_and_contents():
    a, b = hashing.digest_bytes(b"a"), hashing.digest_bytes(b"b")
    base = hashing.manifest_digest([("x", a), ("y", b)])
    assert hashing.manifest_digest([("x", b), ("y", a)]) != base
    assert hashing.manifest_digest([("x", a), ("z", b)]) != base
    assert hashing.manifest_digest([("x", a)]) != base
    assert hashing.is_digest(base)
    assert hashing.manifest_digest([]) == hashing.digest_bytes(b"")


def test_manifest_digest_is_the_documented_canonical_form():
    a = hashing.digest_bytes(b"a")
    b = hashing.digest_bytes(b"b")
    text = f"d/x\t{a}\ny\t{b}\n".encode()
    assert hashing.manifest_digest([("y", b), ("d/x", a)]) == hashing.digest_bytes(text)


# -- canonical JSON ----------------------------------------------------------------------


def test_canonical_json_is_stable():
    assert hashing.canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == '{"a":[1,{"c":"é","d":2}],"b":1}'
    with pytest.raises(ValueError):
        hashing.canonical_json({"x": math.inf})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@FAST
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=10))
def test_clean_metadata_round_trips_json(meta):
    cleaned = hashing.clean_metadata(meta)
    assert cleaned == meta
    assert json.loads(hashing.canonical_json(cleaned)) == meta


# -- clean_metadata ------------------------------------------------------------------------


def test_nan_becomes_none_everywhere():
    got = hashing.clean_metadata({"a": math.nan, "b": [1.0, float("nan")], "c": {"d": math.nan}})
    assert got == {"a": None, "b": [1.0, None], "c": {"d": None}}


@pytest.mark.parametrize(
    "meta, where",
    [
        ({"loss": math.inf}, "metadata.loss"),
        ({"loss": -math.inf}, "metadata.loss"),
        ({"a": {"b": [0, math.inf]}}, "metadata.a.b[1]"),
    ],
)
def test_infinity_is_refused(meta, where):
    with pytest.raises(InvalidMetadata, match="infinity") as exc:
        hashing.clean_metadata(meta)
    assert where in str(exc.value)
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, LocalregError)


def test_at_most_100_keys():
    ok = {f"k{i}": i for i in range(100)}
    assert hashing.clean_metadata(ok) == ok
    with pytest.raises(InvalidMetadata, match="101 keys; at most 100"):
        hashing.clean_metadata({f"k{i}": i for i in range(101)})
    # the limit is W&B's limit on metadata; config has none
    assert len(hashing.clean_metadata({f"k{i}": i for i in range(500)}, "config", max_keys=None)) == 500


@pytest.mark.parametrize(
    "meta, part",
    [({1: "x"}, "int 1"), ({"a": {(1, 2): "x"}}, "metadata.a"), ({None: 1}, "NoneType None")],
)
def test_non_string_keys_are_refused(meta, part):
    with pytest.raises(InvalidMetadata, match="keys must be strings") as exc:
        hashing.clean_metadata(meta)
    assert part in str(exc.value)


def test_deep_nesting_is_refused():
    deep: dict = {}
    node = deep
    for _ in range(hashing.MAX_DEPTH + 5):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(InvalidMetadata, match="nested deeper"):
        hashing.clean_metadata(deep)
    very_deep: list = []
    for _ in range(5000):
        very_deep = [very_deep]
    with pytest.raises(InvalidMetadata, match="nested"):
        hashing.clean_metadata({"a": very_deep})


def test_shallow_enough_nesting_is_fine():
    node: dict = {}
    meta = node
    for _ in range(hashing.MAX_DEPTH - 1):
        node["x"] = {}
        node = node["x"]
    assert hashing.clean_metadata(meta) == meta


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", 1j])
def test_unserializable_values_are_refused(value):
    with pytest.raises(InvalidMetadata, match="not JSON-serializable") as exc:
        hashing.clean_metadata({"bad": value})
    assert "metadata.bad" in str(exc.value)


@pytest.mark.parametrize("value", [[1], "x", 3, (("a", 1),)])
def test_metadata_must_be_a_dict(value):
    with pytest.raises(InvalidMetadata, match="must be a dict"):
        hashing.clean_metadata(value)


def test_none_metadata_is_empty_and_tuples_become_lists():
    assert hashing.clean_metadata(None) == {}
    assert hashing.clean_metadata({"t": (1, 2)}) == {"t": [1, 2]}


def test_scalars_with_item_are_unwrapped():
    class Scalar:  # what numpy scalars look like from here
        def __init__(self, v):
            self.v = v

        def item(self):
            return self.v

    assert hashing.clean_metadata({"a": Scalar(0.5), "b": Scalar(float("nan"))}) == {"a": 0.5, "b": None}
    with pytest.raises(InvalidMetadata, match="infinity"):
        hashing.clean_metadata({"a": Scalar(math.inf)})


def test_huge_metadata_is_refused():
    with pytest.raises(InvalidMetadata, match="bytes as JSON"):
        hashing.clean_metadata({"blob": "x" * (hashing.MAX_JSON_BYTES + 1)})


def test_numpy_scalars():
    import numpy as np  # in the test extra: this test must run everywhere, never skip

    got = hashing.clean_metadata({"i": np.int64(3), "f": np.float32(0.5), "n": np.float32("nan"), "b": np.bool_(True)})
    assert got == {"i": 3, "f": 0.5, "n": None, "b": True}
    assert type(got["i"]) is int
    with pytest.raises(InvalidMetadata, match="metadata.x: infinity"):
        hashing.clean_metadata({"x": np.float32("inf")})
