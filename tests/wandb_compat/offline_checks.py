"""Assertions about W&B behaviour that W&B shows with no server: drafts, building artifacts, errors.

Each check is a function ``check(ns, tmp)``: ``ns.wandb`` is the module under
test (``localreg``, or the real ``wandb`` 0.31), ``ns.exceptions`` the module
holding ``ArtifactFinalizedError``/``ArtifactNotLoggedError`` there
(``wandb.sdk.artifacts.exceptions`` in W&B, ``localreg.errors`` in localreg) and
``tmp`` a fresh folder. The same function runs against both, so an assertion
here is a fact about W&B that localreg reproduces. Standard library only: this
file is also run by the real wandb's interpreter (see test_offline_checks.py).
The first line of each docstring names the W&B function or docs page checked.
"""

from __future__ import annotations

import datetime
import math
import os
import pathlib
import sys
import traceback

CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


class _Raises:
    def __init__(self, types, text=None):
        self.types, self.text, self.value = types, text, None

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            raise AssertionError(f"did not raise {self.types}")
        if not issubclass(et, self.types):
            return False
        if self.text is not None and self.text not in str(ev):
            raise AssertionError(f"{et.__name__}: {ev!r} does not contain {self.text!r}")
        self.value = ev
        return True


def raises(types, text=None):
    return _Raises(types, text)


def _file(tmp, name="f.txt", data="hello"):
    p = pathlib.Path(tmp) / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(data)
    return p


@check
def error_classes(ns, tmp):
    """wandb.errors (Error, CommError, UsageError) and wandb.sdk.artifacts.exceptions: the class tree."""
    wb, ex = ns.wandb, ns.exceptions
    assert issubclass(wb.errors.CommError, wb.Error)
    assert issubclass(wb.errors.UsageError, wb.Error)
    assert wb.CommError is wb.errors.CommError and wb.UsageError is wb.errors.UsageError
    assert wb.Error is wb.errors.Error
    assert issubclass(ex.ArtifactNotLoggedError, AttributeError)
    assert issubclass(ex.ArtifactFinalizedError, AttributeError)
    assert issubclass(ex.ArtifactNotLoggedError, ex.ArtifactStatusError)
    e = wb.errors.CommError("boom")
    assert e.message == "boom" and str(e) == "boom"


@check
def draft_members_need_logging(ns, tmp):
    """Artifact (draft): members that exist once logged raise ArtifactNotLoggedError, an AttributeError."""
    a = ns.wandb.Artifact("draft-model", "model")
    for member in ("version", "aliases", "tags", "qualified_name", "created_at", "entity", "project",
                   "collection", "ttl"):
        with raises(ns.exceptions.ArtifactNotLoggedError):
            getattr(a, member)
        assert not hasattr(a, member)  # an AttributeError, so hasattr() answers False
    assert a.is_draft() is True and a.is_link is False
    assert a.id is None
    assert a.source_name.split(":")[0] == "draft-model"


@check
def add_file_takes_str_and_pathlib(ns, tmp):
    """Artifact.add_file(local_path, name): str and pathlib.Path for both; the logical name defaults to the basename."""
    a = ns.wandb.Artifact("paths", "dataset")
    p = _file(tmp, "weights.bin", "w")
    assert a.add_file(p).path == "weights.bin"
    assert a.add_file(str(_file(tmp, "other.txt"))).path == "other.txt"
    assert a.add_file(p, name=pathlib.PurePosixPath("sub/renamed.bin")).path == "sub/renamed.bin"
    assert sorted(a.manifest.entries) == ["other.txt", "sub/renamed.bin", "weights.bin"]


@check
def add_file_missing_or_folder(ns, tmp):
    """Artifact.add_file: a missing path or a folder is ValueError('Path is not a file: ...'), nothing added."""
    a = ns.wandb.Artifact("paths", "dataset")
    with raises(ValueError, "Path is not a file"):
        a.add_file(pathlib.Path(tmp) / "missing.txt")
    with raises(ValueError, "Path is not a file"):
        a.add_file(str(tmp))
    assert len(a.manifest.entries) == 0


@check
def add_dir_pathlib_and_name(ns, tmp):
    """Artifact.add_dir(local_path, name): pathlib.Path accepted; files land under name/; a missing folder is ValueError."""
    a = ns.wandb.Artifact("folder", "dataset")
    root = pathlib.Path(tmp) / "src"
    _file(root, "a.txt")
    _file(root, "deep/b.txt")
    a.add_dir(root, name="pre")
    assert sorted(a.manifest.entries) == ["pre/a.txt", "pre/deep/b.txt"]
    with raises(ValueError, "Path is not a directory"):
        a.add_dir(pathlib.Path(tmp) / "nope")


@check
def new_file_twice(ns, tmp):
    """Artifact.new_file(name): writes a file of the draft; the same name twice is ValueError('File with name ...')."""
    a = ns.wandb.Artifact("written", "dataset")
    with a.new_file("n.txt") as f:
        f.write("x")
    with raises(ValueError, "File with name"):
        with a.new_file("n.txt") as f:
            f.write("y")
    assert sorted(a.manifest.entries) == ["n.txt"]


@check
def remove_missing(ns, tmp):
    """Artifact.remove(path): a path the draft does not hold is FileNotFoundError."""
    a = ns.wandb.Artifact("rm", "dataset")
    a.add_file(_file(tmp))
    with raises(FileNotFoundError):
        a.remove("not-there.txt")
    a.remove("f.txt")
    assert len(a.manifest.entries) == 0


@check
def names_refused(ns, tmp):
    """Artifact(name, type): a '/' or ':' in the name is ValueError."""
    for bad in ("bad/name", "bad:name"):
        with raises(ValueError):
            ns.wandb.Artifact(bad, "dataset")


@check
def metadata_limits(ns, tmp):
    """Artifact.metadata: more than 100 keys or +/-inf is ValueError; NaN is stored as None."""
    a = ns.wandb.Artifact("meta", "dataset")
    with raises(ValueError):
        a.metadata = {f"k{i}": i for i in range(101)}
    with raises(ValueError):
        a.metadata = {"x": float("inf")}
    a.metadata = {"n": float("nan"), "nested": {"m": float("nan")}, "ok": 1}
    assert a.metadata == {"n": None, "nested": {"m": None}, "ok": 1}


@check
def ttl_on_a_draft(ns, tmp):
    """Artifact.ttl and wandb.ArtifactTTL.INHERIT: a draft's TTL is inherited (unreadable) until set; must be positive."""
    wb = ns.wandb
    assert wb.ArtifactTTL.INHERIT.value == 0
    a = wb.Artifact("ttl", "dataset")
    a.ttl = datetime.timedelta(days=2)
    assert a.ttl == datetime.timedelta(days=2)
    a.ttl = None
    assert a.ttl is None
    a.ttl = wb.ArtifactTTL.INHERIT
    with raises(ns.exceptions.ArtifactNotLoggedError):
        a.ttl
    with raises(ValueError, "has to be positive"):
        a.ttl = datetime.timedelta(days=-1)


@check
def draft_digest_is_stable(ns, tmp):
    """Artifact.digest: a draft's digest depends on file names and contents, not on the order they were added."""
    wb = ns.wandb
    one, two = wb.Artifact("d", "dataset"), wb.Artifact("d", "dataset")
    p1, p2 = _file(tmp, "a.txt", "A"), _file(tmp, "b.txt", "B")
    one.add_file(p1)
    one.add_file(p2)
    two.add_file(p2)
    two.add_file(p1)
    assert one.digest == two.digest
    three = wb.Artifact("d", "dataset")
    three.add_file(p1)
    assert three.digest != one.digest


def run_all(ns, base):
    """Run every check in its own folder under ``base``; {name: "ok" or the error}."""
    out = {}
    for name, fn in CHECKS.items():
        tmp = os.path.join(base, name)
        os.makedirs(tmp, exist_ok=True)
        try:
            fn(ns, tmp)
            out[name] = "ok"
        except BaseException:  # report, never stop the batch
            out[name] = traceback.format_exc(limit=3)
    return out


if __name__ == "__main__":
    # the real-wandb side: python offline_checks.py BASE_DIR  -> JSON on stdout
    import json
    import types

    import wandb
    import wandb.sdk.artifacts.exceptions as exceptions

    results = run_all(types.SimpleNamespace(wandb=wandb, exceptions=exceptions), sys.argv[1])
    print("RESULTS " + json.dumps({"version": wandb.__version__, "results": results}))
    assert math  # keep the import list honest for both interpreters
