"""Bundles, hardened (issue 12): integers in range, the folder rule, consistent references, bounded memory, admins.

Every bundle here is a good bundle edited in one way and re-sealed (the
version's digest, size and file count recomputed), so that the one check
under test is the one that refuses it. A refused bundle writes nothing: not
a row (``snapshot``), not a file in the blob store (``blob_files``); the CLI
says so in one ``Error:`` line, with no traceback.
"""

from __future__ import annotations

import json

import pytest

from localreg import access, catalog, hashing, ingest, registries, versions
from localreg.bundle import BundleError, export_bundle, import_bundle
from localreg.cli import cli
from localreg.errors import PermissionDenied
from localreg.objects import Entry
from localreg.store import Store
from tests.test_bundle import index_of, members, other, source, state, with_index, write_tar  # noqa: F401

EMPTY = hashing.digest_bytes(b"")


def reseal(v: dict) -> dict:
    """Sort a version's manifest and recompute what the index says about it."""
    v["manifest"].sort(key=lambda e: e["path"])
    v["digest"] = hashing.manifest_digest((e["path"], e["digest"]) for e in v["manifest"])
    v["size"] = sum(e["size"] for e in v["manifest"])
    v["file_count"] = len(v["manifest"])
    return v


def version_with(doc: dict, want) -> dict:
    return next(v for v in doc["versions"] if any(want(e) for e in v["manifest"]))


def edited(path, tmp_path, edit, name="edited.tar"):
    """The bundle at ``path`` with its index edited, written twice: compact as export writes it (read by the
    importer's fast path), and indented (its general path); returns the compact one, checks both agree."""
    items = members(path)
    doc = index_of(items)
    edit(doc)
    out = tmp_path / name
    compact = (hashing.canonical_json(doc) + "\n").encode()
    write_tar(out, [(items[0][0], compact), *items[1:]])
    write_tar(out.with_suffix(".indented.tar"), with_index(items, doc))
    return out


def refused(store, bundle, message, runner=None):
    """The import (and its dry run) is refused with ``message``; nothing is written; the CLI says it in one line."""
    before = state(store)
    indented = bundle.with_suffix(".indented.tar")
    if indented.exists():
        with pytest.raises(BundleError) as e:
            import_bundle(store, indented)
        assert message in str(e.value), str(e.value)
    with pytest.raises(BundleError) as e:
        import_bundle(store, bundle)
    assert message in str(e.value), str(e.value)
    assert "nothing was imported" in str(e.value)
    with pytest.raises(BundleError):
        import_bundle(store, bundle, dry_run=True)
    assert state(store) == before
    if runner is not None:
        r = runner.invoke(cli, ["--home", str(store.home), "import", str(bundle)])
        assert r.exit_code == 1, r.output
        assert "Traceback" not in r.output + r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
        assert state(store) == before
    return e.value


# -- 7: every integer of the index is in range --------------------------------------------------------


def lonely(doc: dict) -> dict:
    """A version no link and no lineage edge names: its index can change alone."""
    named = {link["source"] for link in doc["links"]} | {e["version"] for e in doc["lineage"]}
    return next(v for v in doc["versions"] if f"{v['path']}:v{v['index']}" not in named)


def _set(where: str, value):
    def edit(doc):
        if where == "version index":
            lonely(doc)["index"] = value
        elif where == "link index":
            named = {e["version"] for e in doc["lineage"]}
            next(lk for lk in doc["links"] if f"{lk['path']}:v{lk['index']}" not in named)["index"] = value
        elif where == "blob size":  # refused today too (the member has other bytes): a guard
            doc["blobs"][0]["size"] = value
        elif where == "reference size":
            v, e = _ref_entry(doc)
            e["size"] = value
            reseal(v)
        elif where == "version size":  # a guard: the sum of its files is checked too
            doc["versions"][0]["size"] = value
        elif where == "file count":  # a guard
            doc["versions"][0]["file_count"] = value
    return edit


@pytest.mark.parametrize("where, value, message", [
    ("version index", 2**63 - 1, "].index: expected an integer from 0 to 2147483647, got 9223372036854775807"),
    ("version index", 10**20, "].index: expected an integer from 0 to 2147483647, got 100000000000000000000"),
    ("version index", 2**31, "].index: expected an integer from 0 to 2147483647, got 2147483648"),
    ("link index", 2**63, "].index: expected an integer from 0 to 2147483647"),
    ("blob size", 2**60, "blobs[0].size: expected an integer from 0 to 9007199254740992"),
    ("reference size", 2**53 + 1, ".size: expected an integer from 0 to 9007199254740992, got 9007199254740993"),
    ("reference size", 10**30, ".size: expected an integer from 0 to 9007199254740992"),
    ("version size", 2**64, "versions[0].size: expected an integer from 0 to 9007199254740992"),
    ("file count", 2**40, "versions[0].file_count: expected an integer from 0 to 2147483647"),
])
def test_out_of_range_integers_are_refused_before_anything_is_staged(where, value, message, source, other, tmp_path,
                                                                      runner):
    _src, path = source
    bad = edited(path, tmp_path, _set(where, value))
    refused(other, bad, message, runner)


def test_the_largest_index_is_accepted_and_the_collection_goes_on(tmp_path, make_files):
    src = Store(tmp_path / "s", org="acme", entity="team", project="p")
    ingest.log_path(src, make_files({"a": "1"}), name="m", type="model")
    export_bundle(src, ["team/p/m"], tmp_path / "m.tar")
    bad = edited(tmp_path / "m.tar", tmp_path, lambda d: d["versions"][0].update(index=2**31 - 1))
    target = Store(tmp_path / "t", org="acme", entity="team", project="p")
    import_bundle(target, bad)
    v, _ = ingest.log_path(target, make_files({"a": "2"}), name="m", type="model")
    assert v.version == "v2147483648"  # an integer, never v2.147483648e+09
    w, _ = ingest.log_path(target, make_files({"a": "3"}), name="m", type="model")
    assert w.version == "v2147483649"


@pytest.mark.parametrize("field, value", [("created_at", "2026-13-45T99:99:99.000000Z"),
                                          ("ttl_expires_at", "9999-02-30T00:00:00.000000Z")])
def test_impossible_times_are_refused(field, value, source, other, tmp_path):
    _src, path = source
    bad = edited(path, tmp_path, lambda d: d["versions"][0].update({field: value}))
    refused(other, bad, f"versions[0].{field}: expected a UTC time like 2026-01-02T03:04:05.000000Z, got {value!r}")


def test_text_that_is_not_unicode_is_refused(source, other, tmp_path):
    _src, path = source
    bad = tmp_path / "surrogate.tar"
    items = members(path)
    doc = index_of(items)
    doc["versions"][0]["description"] = "\ud800"
    raw = json.dumps(doc, sort_keys=True).encode()  # ASCII: the lone surrogate travels as \ud800
    write_tar(bad, [(items[0][0], raw), *items[1:]])
    refused(other, bad, "versions[0].description: invalid description '\\ud800': not valid Unicode")


# -- 9: a file and a folder of one name -------------------------------------------------------------


def _file_and_folder(doc):
    v = version_with(doc, lambda e: "ref" not in e)
    e = next(e for e in v["manifest"] if "ref" not in e)
    v["manifest"].append(dict(e, path=e["path"] + "/inside.bin"))
    reseal(v)
    return e["path"]


def test_a_file_that_is_also_a_folder_is_refused_by_the_rule_logging_applies(source, other, tmp_path, runner):
    _src, path = source
    head = []
    bad = edited(path, tmp_path, lambda d: head.append(_file_and_folder(d)))
    message = f"file path {head[0]!r} is also the folder of {head[0] + '/inside.bin'!r} in the manifest"
    refused(other, bad, message, runner)
    # the same words as logging such a manifest
    with pytest.raises(ValueError, match="^file path 'b' is also the folder of 'b/c' in the manifest$"):
        versions.log_version(other, name="x", type="t", entries=[Entry("b/c", EMPTY, 0), Entry("b", EMPTY, 0)])


def test_manifests_must_be_sorted_by_path_each_once(source, other, tmp_path):
    _src, path = source

    def unsorted(doc):
        v = next(v for v in doc["versions"] if len(v["manifest"]) > 1)
        v["manifest"].reverse()
        v["digest"] = hashing.manifest_digest((e["path"], e["digest"]) for e in v["manifest"])

    refused(other, edited(path, tmp_path, unsorted), "is out of order: a manifest lists its files sorted by path")

    def twice(doc):
        v = version_with(doc, lambda e: True)
        v["manifest"].append(dict(v["manifest"][0]))
        reseal(v)

    refused(other, edited(path, tmp_path, twice, "twice.tar"), "appears twice")


# -- 10: entries whose fields cannot all be true -----------------------------------------------------------


def _ref_entry(doc) -> dict:
    v = version_with(doc, lambda e: "ref" in e)
    return v, next(e for e in v["manifest"] if "ref" in e)


def _edit_ref(**fields):
    def edit(doc):
        v, e = _ref_entry(doc)
        e.update(fields)
        reseal(v)
    return edit


MADE_UP = "sha256:" + "0" * 64


@pytest.mark.parametrize("fields, message", [
    ({"size": 0, "digest": MADE_UP},
     f"a reference of 0 bytes has digest {MADE_UP}: only {EMPTY} (no bytes) or the digest of its URL"),
    ({"size": 7, "digest": EMPTY}, f"{EMPTY} is the digest of no bytes, not of 7"),
    ({"ref": "remote.bin"}, "'remote.bin' is not a URL"),
    ({"ref": ""}, "'' is not a URL"),
])
def test_references_whose_fields_disagree_are_refused(fields, message, source, other, tmp_path, runner):
    _src, path = source
    refused(other, edited(path, tmp_path, _edit_ref(**fields)), message, runner)


def test_a_stored_empty_file_has_the_digest_of_no_bytes(source, other, tmp_path):
    _src, path = source

    def edit(doc):  # refused today too, as a blob the bundle leaves out: a guard
        v = version_with(doc, lambda e: "ref" not in e)
        v["manifest"].append({"path": "zero.bin", "digest": MADE_UP, "size": 0})
        reseal(v)

    refused(other, edited(path, tmp_path, edit), f"a file of 0 bytes has digest {MADE_UP}, not {EMPTY}")


def test_consistent_references_are_accepted(source, other, tmp_path):
    """What checkable is checked; the rest (the bytes behind a reference) is checked when it is downloaded."""
    _src, path = source
    ok = []

    def edit(doc):
        v, e = _ref_entry(doc)
        e.update(size=0, digest=hashing.digest_bytes(e["ref"].encode()))  # added without checksum
        reseal(v)
        ok.append(f"{v['path']}:v{v['index']}")

    import_bundle(other, edited(path, tmp_path, edit))
    [e] = [e for e in versions.entries(other, versions.resolve(other, ok[0])) if e.ref]
    assert e.size == 0 and e.digest == hashing.digest_bytes(e.ref.encode())


# -- 6: a registry the import creates has an admin --------------------------------------------------------


def test_a_new_orgs_restricted_core_registry_gets_the_importer_as_admin(source, other, tmp_path, monkeypatch):
    _src, path = source

    def restrict(doc):
        [r] = [r for r in doc["registries"] if (r["org"], r["name"]) == ("acme", "model")]
        r["visibility"] = "restricted"

    bad = edited(path, tmp_path, restrict)
    monkeypatch.setenv("LOCALREG_USER", "importer")
    import_bundle(other, bad)
    reg = registries.get_registry(other, "model", "acme")
    assert reg.visibility == "restricted"
    assert [(m.user, m.role) for m in access.members(other, reg)] == [("importer", "admin")]
    assert catalog.registry_collections(other, reg)
    access.add_members(other, reg, ["bob"], "viewer")
    monkeypatch.setenv("LOCALREG_USER", "mallory")
    with pytest.raises(PermissionDenied):
        access.members(other, reg)
    # an organization-wide core registry of a new org stays open until claimed, as one made here would
    monkeypatch.setenv("LOCALREG_USER", "importer")
    dataset = registries.get_registry(other, "dataset", "acme")
    assert dataset.visibility == "organization"
    assert access.members(other, dataset) == []


def test_a_registry_the_import_creates_has_the_importer_as_admin(source, other, monkeypatch):
    _src, path = source
    monkeypatch.setenv("LOCALREG_USER", "importer")
    import_bundle(other, path)
    evals = registries.get_registry(other, "evals", "acme")
    assert [(m.user, m.role) for m in access.members(other, evals)] == [("importer", "admin")]

