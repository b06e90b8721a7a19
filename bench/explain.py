"""Where localreg's time and memory go, for the targets bench/compare.py reports as missed.

    python bench/explain.py [--big-mib 1024] [--version-mib 20] [--dir WORK]

Measures, in the same run and on the same file:
  * the building blocks of logging and materializing one big file: reading
    it, SHA-256 (hashlib: OpenSSL), FastCDC cutting, writing with and
    without fsync, and ``cp``;
  * a profile of ``Objects.materialize`` (single-threaded: cProfile sees it
    whole), grouped into hashing, reading, writing, SQL and the rest;
  * the commit (fsync) share of a publish;
  * peak RSS of an idle process with the store open, against logging;
  * what ``localreg --help`` imports, by top-level package.
Writes ``bench/results/explain.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

from compare import ensure_localreg_env, snapshot_source  # noqa: E402
from workloads import MIB, make_big  # noqa: E402

SRC = REPO  # replaced by a frozen copy of the library in main()
PY = sys.executable  # replaced by bench/.venv-localreg's interpreter in main(), as bench/compare.py runs it
WORK = tempfile.gettempdir()

PROFILE = r"""
import cProfile, json, os, pstats, sys, time
from localreg.store import Store
from localreg import ingest, versions
from localreg.objects import Objects
home, src, dest = sys.argv[1], sys.argv[2], sys.argv[3]
store = Store(home)
v, _ = ingest.log_path(store, src, name="big", type="model")
entries = versions.entries(store, v)
os.sync()
prof = cProfile.Profile()
t0 = time.perf_counter()
prof.enable()
Objects(store).materialize(entries, dest)
prof.disable()
total = time.perf_counter() - t0
groups = {"sha256 (hashlib update)": 0.0, "read (pread / read)": 0.0, "write (write / open / replace)": 0.0,
          "SQL (sqlite3 execute / fetch)": 0.0, "waiting for the hashing thread": 0.0}
for (fn, line, name), (cc, nc, tt, ct, callers) in pstats.Stats(prof).stats.items():
    if "_thread.lock" in name:
        groups["waiting for the hashing thread"] += tt
    elif "_hashlib.HASH" in name or name.startswith("<built-in method _hashlib"):
        groups["sha256 (hashlib update)"] += tt
    elif "pread" in name or "method 'read'" in name or "readinto" in name:
        groups["read (pread / read)"] += tt
    elif "method 'write'" in name or "posix.write" in name or "io.open" in name or "posix.replace" in name \
            or "posix.open" in name or name == "<built-in method builtins.open>":
        groups["write (write / open / replace)"] += tt
    elif "sqlite3" in name or "fetch" in name:
        groups["SQL (sqlite3 execute / fetch)"] += tt
groups["everything else (Python)"] = max(total - sum(groups.values()), 0.0)
print(json.dumps({"total": total, "groups": groups}))
"""

IDLE = r"""
import json, resource, sys
from localreg.store import Store
from localreg import ingest, versions, registries
from localreg.objects import Objects
import pyfastcdc
store = Store(sys.argv[1])
store.info()
print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

LOG = r"""
import json, os, resource, sys, time
from localreg.store import Store
from localreg import ingest
store = Store(sys.argv[1])
os.sync()
t0 = time.perf_counter()
r0 = resource.getrusage(resource.RUSAGE_SELF)
ingest.log_path(store, sys.argv[2], name="big", type="model")
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - t0, "maxrss_kib": r1.ru_maxrss,
                  "cpu": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)}))
"""

PUBLISH = r"""
import json, os, sys, time
from localreg.store import Store
from localreg import ingest, registries, versions
store = Store(sys.argv[1], org="acme")
src = sys.argv[2]
v, _ = ingest.log_path(store, src, name="tiny", type="model")
out = []
for i in range(int(sys.argv[3])):
    spent = [0.0]
    commit = store._commit
    def timed(db, commit=commit):
        t = time.perf_counter()
        try:
            commit(db)
        finally:
            spent[0] += time.perf_counter() - t
    store._commit = timed
    os.sync()
    t0 = time.perf_counter()
    registries.link(store, v, f"acme/wandb-registry-model/c{i}", aliases=["prod"])
    out.append((time.perf_counter() - t0, spent[0]))
    store._commit = commit
print(json.dumps(out))
"""


def run_py(code: str, *args: str) -> dict | list:
    subprocess.run(["sync"])
    out = subprocess.run([PY, "-c", code, *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, cwd=WORK)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        subprocess.run(["sync"])
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def blocks(path: str, size: int = 16 * MIB):
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(size)
            if not b:
                return
            yield b


def fs(x: float) -> str:
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def building_blocks(path: str, work: str) -> list[tuple[str, float]]:
    import hashlib

    from pyfastcdc import FastCDC

    size = os.path.getsize(path)
    rows = []
    rows.append(("read (16 MiB blocks, page cache)", timed(lambda: sum(len(b) for b in blocks(path)))))

    def sha():
        h = hashlib.sha256()
        for b in blocks(path):
            h.update(b)
    rows.append(("SHA-256 of the file (hashlib, one thread, incl. read)", timed(sha)))

    def sha_chunks():
        cdc = FastCDC(128 << 10, min_size=32 << 10, max_size=512 << 10)
        for b in blocks(path):
            view = memoryview(b)
            for c in cdc.cut_buf(b):
                hashlib.sha256(view[c.offset: c.offset + c.length]).digest()
    rows.append(("FastCDC cut + SHA-256 of every chunk (one thread, incl. read)", timed(sha_chunks)))

    def cdc_only():
        cdc = FastCDC(128 << 10, min_size=32 << 10, max_size=512 << 10)
        for b in blocks(path):
            for _c in cdc.cut_buf(b):
                pass
    rows.append(("FastCDC cut alone (incl. read)", timed(cdc_only)))
    dest = os.path.join(work, "copy.bin")

    def write(sync: bool):
        def go():
            with open(dest, "wb") as out:
                for b in blocks(path):
                    out.write(b)
                if sync:
                    out.flush()
                    os.fsync(out.fileno())
            os.unlink(dest)
        return go
    rows.append(("read + write a copy in 16 MiB blocks (Python, no fsync)", timed(write(False))))

    def write_small():
        with open(path, "rb", buffering=0) as f, open(dest, "wb") as out:
            while b := f.read(128 << 10):
                out.write(b)
        os.unlink(dest)
    rows.append(("read + write a copy in 128 KiB pieces (Python, no fsync)", timed(write_small)))
    rows.append(("read + write a copy in 16 MiB blocks + fsync (Python)", timed(write(True))))
    rows.append(("`cp`", timed(lambda: (subprocess.run(["cp", path, dest], check=True), os.unlink(dest)))))
    rows.append(("`sha256sum` (coreutils)", timed(lambda: subprocess.run(["sha256sum", path], check=True,
                                                                           stdout=subprocess.DEVNULL))))
    return [(f"{label} — {size // MIB} MiB", t) for label, t in rows]


def imports_by_package() -> list[tuple[str, float]]:
    script = os.path.join(os.path.dirname(PY), "localreg")
    argv = [PY, "-X", "importtime", script, "--help"] if os.path.exists(script) else \
        [PY, "-X", "importtime", "-m", "localreg", "--help"]
    totals: dict[str, float] = {}
    runs = []
    for _ in range(5):
        err = subprocess.run(argv, capture_output=True, text=True, cwd=WORK,
                             env={**os.environ, "PYTHONPATH": SRC}).stderr
        t: dict[str, float] = {}
        for line in err.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            parts = line.split("|")
            self_us = int(parts[0].split(":")[1])
            name = parts[2].strip()
            top = name.split(".")[0]
            key = ".".join(name.split(".")[:2]) if top == "localreg" else top
            t[key] = t.get(key, 0.0) + self_us / 1e6
        runs.append(t)
    for t in runs:
        for k in t:
            totals[k] = statistics.median(r.get(k, 0.0) for r in runs)
    return sorted(totals.items(), key=lambda kv: -kv[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--version-mib", type=int, default=20)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--source", choices=("worktree", "head"), default="worktree")
    args = ap.parse_args()
    global SRC, WORK, PY
    work = WORK = tempfile.mkdtemp(prefix="localreg-explain-", dir=args.dir)
    try:
        PY = ensure_localreg_env(None)
        SRC, source = snapshot_source(work, args.source, PY)
        dirty = f", plus {source['dirty_files']} uncommitted files" if source["dirty_files"] else ""
        lines = [f"# Where the time goes ({time.strftime('%Y-%m-%d')}, `python bench/explain.py`)", "",
                 f"localreg: {source['source']} at commit {source['head']}{dirty} (tree {source['tree_sha256']}); "
                 f"load average at the start: {os.getloadavg()[0]:.1f}.", ""]
        for mib in (args.big_mib, args.version_mib):
            big = os.path.join(work, f"data{mib}", "big.bin")
            make_big(big, mib * MIB)
            subprocess.run(["sync"])
            lines += [f"## One file of {mib} MiB", "", "| building block | median of 3 |", "|---|---|"]
            lines += [f"| {label} | {fs(t)} |" for label, t in building_blocks(big, work)]
            profs = []
            for r in range(3):
                home, dest = os.path.join(work, f"h{mib}-{r}"), os.path.join(work, f"o{mib}-{r}")
                profs.append(run_py(PROFILE, home, big, dest))
                shutil.rmtree(home)
                shutil.rmtree(dest)
            prof = sorted(profs, key=lambda p: p["total"])[1]
            lines += ["", f"`Objects.materialize` of it (copy), the median run of 3 under cProfile: "
                          f"{fs(prof['total'])}", "", "| part | time | share |", "|---|---|---|"]
            for k, v in sorted(prof["groups"].items(), key=lambda kv: -kv[1]):
                lines.append(f"| {k} | {fs(v)} | {v / prof['total']:.0%} |")
            if mib == args.big_mib:
                logs = []
                for r in range(3):
                    home = os.path.join(work, f"l{r}")
                    logs.append(run_py(LOG, home, big))
                    shutil.rmtree(home)
                idle_home = os.path.join(work, "idle")
                idle = run_py(IDLE, idle_home)
                shutil.rmtree(idle_home)
                lg = sorted(logs, key=lambda x: x["seconds"])[1]
                lines += ["", f"`ingest.log_path` of it: {fs(lg['seconds'])} wall, {fs(lg['cpu'])} CPU "
                              f"({lg['cpu'] / lg['seconds']:.2f} cores busy on average); peak RSS "
                              f"{max(x['maxrss_kib'] for x in logs) / 1024:.0f} MiB against "
                              f"{idle['maxrss_kib'] / 1024:.0f} MiB for a process that only opened the store.", ""]
        tiny = os.path.join(work, "tiny.bin")
        with open(tiny, "wb") as f:
            f.write(os.urandom(4096))
        pub = run_py(PUBLISH, os.path.join(work, "pub"), tiny, "30")
        first, rest = pub[0], pub[1:]
        lines += ["## Publish (`registries.link`, one transaction)", "",
                  f"First link in a fresh process: {fs(first[0])}, of which COMMIT {fs(first[1])}. "
                  f"The next 29 in the same process: median {fs(statistics.median(p[0] for p in rest))}, "
                  f"of which COMMIT median {fs(statistics.median(p[1] for p in rest))}.", ""]
        lines += ["## `localreg --help`: self import time by package (median of 5)", "",
                  "| module or package | self time |", "|---|---|"]
        for name, t in imports_by_package()[:15]:
            lines.append(f"| {name} | {fs(t)} |")
        text = "\n".join(lines) + "\n"
        os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
        with open(os.path.join(BENCH, "results", "explain.md"), "w") as f:
            f.write(text)
        print(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
