"""Bundle import memory: peak RSS of ``import_bundle`` against the size of the index, in one run.

    python bench/bundle_memory.py [--cases 1x100000,10000x10] [--distinct 0] [--code DIR] [--dir DIR]
    python bench/bundle_memory.py --sizes-only [--cases 1x1000000,100000x10]

A case ``VxF`` is a bundle of V versions of F files each, written directly
(the index and the blobs, as export writes them: no store is filled, so a
million files take seconds, not the hours logging them would). Every file
is a blob of a few bytes; ``--distinct N`` makes the files share N blobs
(0: every file its own blob, as a real selection of distinct files has).

For each case a fresh process imports the bundle into an empty store and
reports its peak RSS (``VmHWM``) and the time of the import; next to it,
from the same run, the baseline: the same process importing a bundle of one
version of one file. ``--code DIR`` runs the imports with the localreg found
in DIR (e.g. a worktree of an older commit) to compare before and after.
``--sizes-only`` prints only how big the index of each case is (the figures
behind ``MAX_INDEX_BYTES``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localreg.bundle.common import BLOB_DIR, FORMAT, FORMAT_VERSION, INDEX  # noqa: E402
from localreg.bundle.index import _encode_index, _manifest_json, _Raw  # noqa: E402
from localreg.bundle.tar import _header, _pad  # noqa: E402

TS = "2026-01-01T00:00:00.000000Z"

# the peak RSS of this process's own memory: VmHWM, not ru_maxrss, which Linux carries over an exec from the
# process that started it (here, the parent that built a bundle of a million files)
CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
from localreg.bundle import import_bundle
from localreg.store import Store

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

store = Store(sys.argv[1], org="bench", entity="bench", project="mem")
rss0 = hwm()
t = time.perf_counter()
report = import_bundle(store, sys.argv[2])
took = time.perf_counter() - t
print(json.dumps({"rss_kib": hwm(), "before_kib": rss0, "seconds": took, "versions": len(report.versions),
                  "blobs": report.blobs}))
"""


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build(versions: int, files: int, distinct: int) -> tuple[dict, list[tuple[str, bytes]]]:
    """The index and the blobs ``[(digest, bytes)]`` of V versions of F files."""
    total = versions * files
    nblobs = distinct or total
    blobs = [(b"blob %d\n" % b) for b in range(nblobs)]
    digests = [_digest(b) for b in blobs]
    docs = []
    width = len(str(files))
    for k in range(versions):
        rows = []
        for j in range(files):
            b = (k * files + j) % nblobs
            rows.append((f"part-{j // 1000:04d}/file-{j:0{width}d}.bin", digests[b], len(blobs[b]), None))
        rows.sort()
        h = hashlib.sha256()
        for path, d, _s, _r in rows:
            h.update(f"{path}\t{d}\n".encode())
        docs.append({
            "path": "bench/mem/data", "index": k, "digest": "sha256:" + h.hexdigest(),
            "size": sum(r[2] for r in rows), "file_count": len(rows), "description": "", "metadata": {"k": k},
            "tags": [], "aliases": [], "created_by": "bench", "created_at": TS, "updated_at": TS,
            "ttl_expires_at": None, "run": None, "manifest": _manifest_json(rows),
        })
    order = sorted(range(nblobs), key=lambda b: digests[b])
    index = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "written_by": "bench/bundle_memory.py",
        "selections": ["bench/mem"], "registries": [],
        "collections": [{"path": "bench/mem/data", "type": "dataset", "description": "", "tags": [],
                         "created_at": TS, "updated_at": TS}],
        "versions": docs, "links": [], "runs": [], "lineage": [],
        "blobs": _Raw("[" + ",".join('{"digest":"%s","size":%d}' % (digests[b], len(blobs[b])) for b in order) + "]"),
    }
    return index, [(digests[b], blobs[b]) for b in order]


def write_bundle(path: Path, index: dict, blobs: list[tuple[str, bytes]]) -> int:
    data = _encode_index(index)
    with open(path, "wb") as f:
        f.write(_header(INDEX, len(data)) + data + _pad(len(data)))
        for d, b in blobs:
            f.write(_header(BLOB_DIR + d[len("sha256:"):], len(b)) + b + _pad(len(b)))
        f.write(bytes(1024 + (-(f.tell() + 1024) % 10240)))
    return len(data)


def run_import(work: Path, bundle: Path, code: str) -> dict:
    home = work / f"store-{bundle.stem}"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": code}
    out = subprocess.run([sys.executable, "-c", CHILD, str(home), str(bundle), code], env=env,
                         capture_output=True, text=True)
    shutil.rmtree(home, ignore_errors=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="1x100000,10000x10")
    ap.add_argument("--distinct", type=int, default=0)
    ap.add_argument("--code", default=str(REPO), help="the localreg checkout that imports")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--sizes-only", action="store_true")
    args = ap.parse_args()
    cases = [tuple(int(x) for x in c.split("x")) for c in args.cases.split(",")]
    if args.sizes_only:
        for v, f in cases:
            index, _ = build(v, f, args.distinct)
            n = len(_encode_index(index))
            print(f"{v:>7} versions x {f:>8} files: index {n / 1e6:8.1f} MB ({n / (v * f):.0f} bytes a file)")
        return
    work = Path(args.dir or tempfile.mkdtemp(prefix="bundle-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"localreg from {args.code}; files share {args.distinct or 'no'} blobs")
    try:
        index, blobs = build(1, 1, 0)
        write_bundle(work / "baseline.tar", index, blobs)
        base = run_import(work, work / "baseline.tar", args.code)
        print(f"{'case':>22} {'index MB':>9} {'tar MB':>8} {'peak RSS MiB':>13} {'baseline MiB':>13} "
              f"{'RSS - baseline':>15} {'import s':>9}")
        print(f"{'baseline 1x1':>22} {'-':>9} {'-':>8} {base['rss_kib'] / 1024:>13.0f} {'':>13} {'':>15} "
              f"{base['seconds']:>9.2f}")
        for v, f in cases:
            t = time.perf_counter()
            index, blobs = build(v, f, args.distinct)
            path = work / f"{v}x{f}.tar"
            size = write_bundle(path, index, blobs)
            del index, blobs
            built = time.perf_counter() - t
            r = run_import(work, path, args.code)
            tar_mb = path.stat().st_size / 1e6
            path.unlink()
            if "error" in r:
                print(f"{f'{v}x{f}':>22} {size / 1e6:>9.1f} {tar_mb:>8.0f}  failed: {r['error']}")
                continue
            peak = r["rss_kib"] / 1024
            print(f"{f'{v}x{f}':>22} {size / 1e6:>9.1f} {tar_mb:>8.0f} {peak:>13.0f} "
                  f"{base['rss_kib'] / 1024:>13.0f} {peak - base['rss_kib'] / 1024:>15.0f} {r['seconds']:>9.2f}"
                  f"   (built in {built:.0f} s)")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
