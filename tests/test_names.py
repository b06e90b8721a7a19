"""names: artifact names, types, aliases, tags, refs, target paths and logical paths."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localreg import names
from localreg.errors import InvalidName, LocalregError
from localreg.names import Ref, parse_ref, parse_target_path

FAST = settings(max_examples=60, deadline=None)


# -- artifact names -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["model", "my-model", "my_model", "v1.2.3", "A", "0", "...", "a" * 128, "-x", "_"])
def test_valid_names(value):
    assert names.check_name(value) == value


@pytest.mark.parametrize(
    "value",
    ["", ".", "..", "a/b", "a:b", "a b", "é", "a\x00", "a" * 129, "model!", "wandb registry", "a\nb"],
)
def test_invalid_names(value):
    with pytest.raises(InvalidName) as exc:
        names.check_name(value)
    assert isinstance(exc.value, ValueError)
    assert isinstance(exc.value, LocalregError)
    assert exc.value.value == value


@pytest.mark.parametrize("value", [None, 3, b"model", ["model"]])
def test_name_must_be_a_string(value):
    with pytest.raises(InvalidName, match="must be a string"):
        names.check_name(value)


def test_name_message_says_what_it_was_meant_to_be():
    with pytest.raises(InvalidName, match="invalid project name 'a b'"):
        names.check_name("a b", "project name")


# -- types -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["model", "dataset", "my type", "jobs", "wandb", "x-wandb-y", "é", "a" * 128])
def test_valid_types(value):
    assert names.check_type(value) == value


@pytest.mark.parametrize("value", ["job", "wandb-history", "wandb-run-table", "wandb-"])
def test_reserved_types(value):
    with pytest.raises(InvalidName, match="reserved") as exc:
        names.check_type(value)
    assert repr(value) in str(exc.value)
    assert names.check_type(value, allow_reserved=True) == value


@pytest.mark.parametrize("value", ["a/b", "a:b", "", "a\x00b", "a\tb", "a" * 129])
def test_invalid_types(value):
    with pytest.raises(InvalidName) as exc:
        names.check_type(value)
    assert exc.value.value == value


# -- aliases ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["latest", "prod", "best model", "v", "v01", "version3", "V3", "v-1", "x" * 128])
def test_valid_aliases(value):
    assert names.check_alias(value) == value


@pytest.mark.parametrize("value", ["v0", "v3", "v10", "v123456"])
def test_version_strings_are_not_aliases(value):
    with pytest.raises(InvalidName, match="names a version") as exc:
        names.check_alias(value)
    assert repr(value) in str(exc.value)


@pytest.mark.parametrize("value", ["a/b", "a:b", ":", "/", "", " prod", "prod ", "a\x00", "a\nb", "x" * 129])
def test_invalid_aliases(value):
    with pytest.raises(InvalidName) as exc:
        names.check_alias(value)
    assert exc.value.value == value


def test_aliases_list_keeps_order_and_drops_duplicates():
    assert names.check_aliases(["b", "a", "b"]) == ["b", "a"]
    assert names.check_aliases("prod") == ["prod"]
    assert names.check_aliases(None) == []
    assert names.check_aliases(("x",)) == ["x"]


@pytest.mark.parametrize("values", [3, {"a": 1}, b"prod"])
def test_aliases_must_be_a_list(values):
    with pytest.raises(InvalidName, match="aliases must be a list"):
        names.check_aliases(values)


def test_one_bad_alias_in_a_list_is_named():
    with pytest.raises(InvalidName, match="'v2'"):
        names.check_aliases(["prod", "v2"])


def test_versions():
    assert names.is_version("v0") and names.is_version("v42")
    assert not names.is_version("v01") and not names.is_version("v") and not names.is_version("V1")
    assert names.version_index("v7") == 7
    with pytest.raises(InvalidName, match="'prod' is not a version"):
        names.version_index("prod")


# -- tags ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["prod", "a-b", "a_b", "a b", "a b c", "é", "123", "-"])
def test_valid_tags(value):
    assert names.check_tag(value) == value


@pytest.mark.parametrize("value", ["", " a", "a ", "a/b", "a:b", "a.b", "a\tb", "a!", "a\nb", "x" * 129])
def test_invalid_tags(value):
    with pytest.raises(InvalidName) as exc:
        names.check_tag(value)
    assert exc.value.value == value


def test_tags_list():
    assert names.check_tags(["b", "a", "b"]) == ["b", "a"]
    assert names.check_tags("x") == ["x"]
    assert names.check_tags(None) == []
    with pytest.raises(InvalidName, match="tags must be a list"):
        names.check_tags(5)


# -- refs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("model", Ref("model")),
        ("model:latest", Ref("model", alias="latest")),
        ("model:v3", Ref("model", alias="v3")),
        ("demo/model", Ref("model", project="demo")),
        ("demo/model:prod", Ref("model", alias="prod", project="demo")),
        ("team/demo/model", Ref("model", project="demo", scope="team")),
        ("team/demo/model:v0", Ref("model", alias="v0", project="demo", scope="team")),
        ("model:best model", Ref("model", alias="best model")),
        ("acme/wandb-registry-model/coll:prod", Ref("coll", alias="prod", scope="acme", registry="model")),
        ("wandb-registry-model/coll", Ref("coll", registry="model")),
        ("wandb-registry-my-reg/coll:v1", Ref("coll", alias="v1", registry="my-reg")),
        ("wandb-registry-x", Ref("wandb-registry-x")),  # one part: a plain artifact name
    ],
)
def test_parse_ref(text, expected):
    ref = parse_ref(text)
    assert ref == expected
    assert str(ref) == text
    assert ref.is_registry == (expected.registry is not None)


@pytest.mark.parametrize(
    "text, bad",
    [
        ("a/b/c/d", "a/b/c/d"),
        ("org/wandb-registry-model/coll/extra", "coll/extra"),
        ("", ""),
        ("model:", "model:"),
        ("model:a/b", "a/b"),
        ("model:a:b", "a:b"),
        ("model: prod", " prod"),
        ("bad name:v1", "bad name"),
        ("team/bad project/model", "bad project"),
        ("/model", "/model"),
        ("demo/", "demo/"),
        ("team//model", "team//model"),
        ("wandb-registry-/coll", "wandb-registry-/coll"),
        ("wandb-registry-model/wandb-registry-x/coll", "wandb-registry-model"),
        ("wandb-registry-a b/coll", "a b"),
    ],
)
def test_invalid_refs(text, bad):
    with pytest.raises(InvalidName) as exc:
        parse_ref(text)
    assert bad in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_ref_must_be_a_string():
    with pytest.raises(InvalidName, match="must be a string"):
        parse_ref(None)


def test_ref_without_alias_where_none_is_allowed():
    with pytest.raises(InvalidName, match="no ':alias'"):
        parse_ref("model:v1", allow_alias=False)


# -- target paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("wandb-registry-model/coll", Ref("coll", registry="model")),
        ("acme/wandb-registry-dataset/my.coll", Ref("my.coll", scope="acme", registry="dataset")),
    ],
)
def test_target_paths(text, expected):
    assert parse_target_path(text) == expected


@pytest.mark.parametrize(
    "text, match",
    [
        ("wandb-registry-model/coll:prod", "no ':alias'"),
        ("model/coll", "expected ORG/wandb-registry-REGISTRY/COLLECTION"),
        ("team/demo/coll", "expected ORG/wandb-registry-REGISTRY/COLLECTION"),
        ("coll", "expected ORG/wandb-registry-REGISTRY/COLLECTION"),
        ("a/b/c/d", "expected name, project/name"),
        ("wandb-registry-model/bad coll", "bad coll"),
    ],
)
def test_invalid_target_paths(text, match):
    with pytest.raises(InvalidName, match=match) as exc:
        parse_target_path(text)
    assert "target path" in str(exc.value)


def test_registry_name():
    assert names.registry_name("model") == "model"
    assert names.registry_name("wandb-registry-model") == "model"
    with pytest.raises(InvalidName, match="registry name"):
        names.registry_name("wandb-registry-")
    with pytest.raises(InvalidName, match="registry name"):
        names.registry_name("a/b")


# -- logical paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["a.txt", "dir/a.txt", "a/b/c/d.bin", "...", "a b/c d.txt", ".hidden", "a..b", "x/.git/y", "é.txt"]
)
def test_valid_logical_paths(value):
    assert names.check_logical_path(value) == value


@pytest.mark.parametrize(
    "value, match",
    [
        ("", "must not be empty"),
        ("..", "'..' parts"),
        ("../x", "'..' parts"),
        ("a/../b", "'..' parts"),
        ("a/..", "'..' parts"),
        (".", "'.' and '..'"),
        ("./a", "'.' and '..'"),
        ("a/./b", "'.' and '..'"),
        ("/etc/passwd", "must be relative"),
        ("C:/x", "must be relative"),
        ("a\\b", "not '\\\\'"),
        ("..\\x", "not '\\\\'"),
        ("a\x00b", "NUL"),
        ("a\nb", "control characters"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("x" * 5000, "longer than 4096 bytes"),
    ],
)
def test_invalid_logical_paths(value, match):
    with pytest.raises(InvalidName, match=match) as exc:
        names.check_logical_path(value)
    assert exc.value.value is not None


def test_logical_path_must_be_a_string():
    with pytest.raises(InvalidName, match="must be a string"):
        names.check_logical_path(b"a.txt")


def test_logical_paths_are_nfc_normalized():
    decomposed = "cafe\u0301/re\u0301sume\u0301.txt"
    got = names.check_logical_path(decomposed)
    assert got == unicodedata.normalize("NFC", decomposed) == "caf\u00e9/r\u00e9sum\u00e9.txt"
    assert names.check_logical_path(got) == got


# -- hypothesis round trips --------------------------------------------------------------

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
valid_names = st.text(NAME_CHARS, min_size=1, max_size=128).filter(lambda s: s not in (".", ".."))
source_scopes = valid_names.filter(lambda s: not s.startswith(names.REGISTRY_PREFIX))


def _is_alias(value: str) -> bool:
    try:
        names.check_alias(value)
    except InvalidName:
        return False
    return True


aliases = st.text(min_size=1, max_size=128).filter(_is_alias)
alias_or_version = st.one_of(st.none(), aliases, st.integers(0, 10**6).map(lambda i: f"v{i}"))


@FAST
@given(valid_names)
def test_any_valid_name_passes(name):
    assert names.check_name(name) == name


@FAST
@given(name=valid_names, alias=alias_or_version, project=st.none() | source_scopes, entity=source_scopes)
def test_source_ref_round_trip(name, alias, project, entity):
    scope = entity if project is not None else None
    ref = Ref(name=name, alias=alias, project=project, scope=scope)
    assert parse_ref(str(ref)) == ref


@FAST
@given(name=valid_names, alias=alias_or_version, registry=valid_names, org=st.none() | source_scopes)
def test_registry_ref_round_trip(name, alias, registry, org):
    ref = Ref(name=name, alias=alias, scope=org, registry=registry)
    assert parse_ref(str(ref)) == ref
    if alias is None:
        assert parse_target_path(str(ref)) == ref


@FAST
@given(aliases)
def test_any_valid_alias_survives_a_ref(alias):
    assert parse_ref(f"model:{alias}").alias == alias


@FAST
@given(st.text(min_size=1, max_size=60))
def test_parse_ref_never_raises_anything_but_invalid_name(text):
    try:
        ref = parse_ref(text)
    except InvalidName:
        return
    assert parse_ref(str(ref)) == ref


@FAST
@given(st.text(min_size=1, max_size=60))
def test_checked_logical_paths_are_safe(text):
    try:
        path = names.check_logical_path(text)
    except InvalidName:
        return
    assert path == unicodedata.normalize("NFC", path)
    assert not path.startswith("/") and "\\" not in path and "\x00" not in path
    assert all(part not in ("", ".", "..") for part in path.split("/"))
    assert names.check_logical_path(path) == path
