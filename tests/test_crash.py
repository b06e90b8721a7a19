"""Fault injection: SIGKILL a writing process at every stage of every write.

Each case runs one operation in a real child process that kills itself
(SIGKILL, no cleanup of any kind) at a chosen point:

* ``blob-write``: halfway through writing blob bytes (a pack or a loose object),
  for the operations that write blobs (log, import);
* ``commit-before-N``: inside the N-th transaction, just before its COMMIT
  (for a log, the first transaction records the blobs and the second the
  version: "after blobs, before the commit" is ``commit-before-2``);
* ``commit-after-N``: just after the N-th COMMIT.

The points are seams of the real code (the blob writer, ``Store._commit``)
patched in the child only. After each kill the store must pass fsck, show
no partial version, let the operation be repeated, and lose its leftovers
to gc.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from localreg import ingest, registries, versions
from localreg.fsck import fsck
from localreg.gc import gc
from localreg.objects import Objects, verify_tree
from localreg.store import Store

CHILD = r"""
import json, os, signal, sys
from localreg import blobs, ingest, registries, versions
from localreg.gc import gc
from localreg.store import Store

op, point, src = sys.argv[1], sys.argv[2], sys.argv[3]
count = {"commits": 0}

def die():
    os.kill(os.getpid(), signal.SIGKILL)

orig_commit = Store._commit
def commit(self, db):
    count["commits"] += 1
    n = count["commits"]
    if point == f"commit-before-{n}":
        die()
    orig_commit(self, db)
    if point == f"commit-after-{n}":
        die()
Store._commit = commit

if point == "blob-write":
    def half_then_die(self, pieces):
        data = b"".join(bytes(p) for p in pieces)
        self._f.write(data[: len(data) // 2])
        self._f.flush()
        die()
    blobs.PackWriter.add_many = half_then_die
    blobs.PackWriter.add = lambda self, data: half_then_die(self, [data])
    orig_write_all = blobs._write_all
    def write_half(fd, data):
        orig_write_all(fd, memoryview(data)[: len(data) // 2])
        die()
    blobs._write_all = write_half

store = Store(os.environ["LOCALREG_HOME"])
""" + "\n".join(
    [
        "def run_op(store, op, src):",
        "    from localreg import ingest, registries, versions",
        "    from localreg.gc import gc",
        "    from localreg.objects import Objects",
        "    if op == 'log':",
        "        return ingest.log_path(store, src, name='data', type='dataset', project='p', aliases=['new'])",
        "    if op == 'log-whole':",
        "        entries = Objects(store).add_files([('big.bin', os.path.join(src, 'big.bin'))], whole=True)",
        "        return versions.log_version(store, name='whole', type='dataset', project='p', entries=entries)",
        "    if op == 'link':",
        "        v = versions.resolve(store, 'p/data:v0')",
        "        return registries.link(store, v, 'wandb-registry-dataset/pub', ['prod'])",
        "    if op == 'alias':",
        "        v = versions.resolve(store, 'p/data:v1')",
        "        return versions.add_aliases(store, v, ['best'])",
        "    if op == 'delete':",
        "        v = versions.resolve(store, 'p/data:v1')",
        "        return versions.delete(store, v, delete_aliases=True, unlink_links=True)",
        "    if op == 'gc':",
        "        return gc(store, grace=0)",
        "    if op == 'import':",
        "        from localreg.bundle import import_bundle",
        "        return import_bundle(store, os.path.join(src, 'bundle.tar'))",
        "    raise SystemExit('unknown op ' + op)",
        "run_op(store, op, src)",
        "print(json.dumps(count))",
    ]
)

OPS = ["log", "log-whole", "link", "alias", "delete", "gc", "import"]


def _prepare(home, src) -> None:
    """A store with p/data:v0 (aliased 'best'), p/data:v1 (linked), ready for every op."""
    store = Store(home)
    os.makedirs(src / "a")
    (src / "a" / "small.txt").write_text("v0")
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    v0, _ = ingest.log_path(store, str(src), name="data", type="dataset", project="p", aliases=["best"])
    (src / "a" / "small.txt").write_text("v1")
    v1, _ = ingest.log_path(store, str(src), name="data", type="dataset", project="p")
    registries.link(store, v1, "wandb-registry-dataset/pub", ["staging"])
    # what "log" will add next, and garbage for "gc" to collect
    (src / "a" / "small.txt").write_text("v2")
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    (src / "extra.bin").write_bytes(os.urandom(5000))
    junk = Objects(store).add_files([("junk", str(src / "extra.bin"))])
    store.db.execute("UPDATE chunks SET created_at = 0")  # old enough for any grace period
    assert junk
    store.close()
    # a bundle from another store, for "import": small files, a chunked file, a link
    from localreg.bundle import export_bundle

    other = Store(src / "other-home", org="acme")
    os.makedirs(src / "b" / "deep")
    (src / "b" / "deep" / "x.txt").write_text("from the other side")
    (src / "b" / "weights.bin").write_bytes(os.urandom(2 << 20))
    ov, _ = ingest.log_path(other, str(src / "b"), name="shipped", type="model", project="q", aliases=["rc"])
    registries.link(other, ov, "acme/wandb-registry-model/shipped", ["prod"])
    export_bundle(other, ["acme/wandb-registry-model/shipped"], src / "bundle.tar")
    other.close()


def _state(store: Store) -> dict:
    out = {}
    for v in versions.load(store, "1"):
        out[v.qualified_name] = (v.digest, v.aliases, v.source_id is not None)
    return out


def _child(home, op, point, src) -> subprocess.CompletedProcess:
    env = dict(os.environ, LOCALREG_HOME=str(home))
    return subprocess.run([sys.executable, "-c", CHILD, op, point, str(src)], env=env,
                          capture_output=True, text=True, timeout=120)


def _points(tmp_path_factory, op) -> list[str]:
    """Every kill point of ``op``: found by running it once and counting its commits."""
    base = tmp_path_factory.mktemp(f"count-{op}")
    home, src = base / "home", base / "src"
    _prepare(home, src)
    done = _child(home, op, "none", src)
    assert done.returncode == 0, done.stderr
    commits = json.loads(done.stdout)["commits"]
    points = [f"commit-{when}-{n}" for n in range(1, commits + 1) for when in ("before", "after")]
    if op in ("log", "log-whole", "import"):
        points.insert(0, "blob-write")
    return points




@pytest.mark.parametrize("op", OPS)
def test_kill_at_every_point(op, tmp_path_factory):
    points = _points(tmp_path_factory, op)
    assert len(points) >= 2
    for point in points:
        base = tmp_path_factory.mktemp(f"{op}-{point}")
        home, src = base / "home", base / "src"
        _prepare(home, src)
        before = _state(Store(home))
        done = _child(home, op, point, src)
        assert done.returncode == -signal.SIGKILL, (point, done.returncode, done.stderr)

        store = Store(home)
        report = fsck(store)
        assert report.ok, (op, point, [p.message for p in report.problems])
        after = _state(store)
        # no partial version: every visible version reads back whole
        for v in versions.load(store, "1"):
            entries = versions.entries(store, v)
            root = base / f"check-{v.id}"
            Objects(store).materialize(entries, root)
            assert verify_tree(entries, root) == []
        _check_atomic(op, point, before, after)

        # repeating the operation succeeds
        _repeat(store, op, src)
        assert fsck(store).ok
        # and gc leaves nothing behind
        gc(store, grace=0)
        final = fsck(store)
        assert final.ok and final.leftovers == [], (op, point, [f.message for f in final.leftovers])
        store.close()


def _check_atomic(op, point, before, after) -> None:
    """The store shows the state before the operation or the state after it, nothing between."""
    if op in ("log", "log-whole"):
        added = set(after) - set(before)
        assert len(added) <= 1
        assert set(before) <= set(after)
    elif op == "link":
        added = set(after) - set(before)
        assert added in (set(), {"local/wandb-registry-dataset/pub:v1"})
        if added:
            name = added.pop()
            assert "prod" in after[name][1] and "latest" in after[name][1]
    elif op == "alias":
        holders = [n for n, (_d, aliases, _l) in after.items() if "best" in aliases]
        assert len(holders) == 1
        assert holders[0] in ("tester/p/data:v0", "tester/p/data:v1")
    elif op == "delete":
        gone = set(before) - set(after)
        # the version and its link go together, or neither
        assert len(gone) in (0, 2), gone
    elif op == "gc":
        assert after == before
    elif op == "import":
        added = set(after) - set(before)
        assert set(before) <= set(after)
        # the source version and its link arrive together, or nothing does
        assert added in (set(), {"tester/q/shipped:v0", "acme/wandb-registry-model/shipped:v0"}), added


def _repeat(store, op, src) -> None:
    if op == "log":
        ingest.log_path(store, str(src), name="data", type="dataset", project="p", aliases=["new"])
        assert versions.resolve(store, "p/data:new").index == 2
    elif op == "log-whole":
        entries = Objects(store).add_files([("big.bin", str(src / "big.bin"))], whole=True)
        versions.log_version(store, name="whole", type="dataset", project="p", entries=entries)
        assert versions.resolve(store, "p/whole:latest").index == 0
    elif op == "link":
        v = versions.resolve(store, "p/data:v0")
        link = registries.link(store, v, "wandb-registry-dataset/pub", ["prod"])
        assert "prod" in link.aliases
    elif op == "alias":
        v = versions.resolve(store, "p/data:v1")
        assert "best" in versions.add_aliases(store, v, ["best"]).aliases
    elif op == "delete":
        try:
            v = versions.resolve(store, "p/data:v1")
        except LookupError:
            return  # already deleted before the kill
        versions.delete(store, v, delete_aliases=True, unlink_links=True)
    elif op == "gc":
        gc(store, grace=0)
    elif op == "import":
        from localreg.bundle import import_bundle

        import_bundle(store, src / "bundle.tar")
        link = versions.resolve(store, "acme/wandb-registry-model/shipped:prod")
        assert link.source_qualified_name.endswith("/q/shipped:v0")
