"""Speed sanity for the core: localreg against the machine's own floor, in one run.

    python bench/core.py [--files 10000] [--big-mib 1024] [--repeat 3]

Prints, side by side with a baseline measured in the same run:
  (1) logging N files of 4 KiB in 100 folders  vs  ``cp -r`` of the folder;
  (2) re-logging the unchanged folder (stat cache: no re-hash);
  (3) peak RSS of a process logging one big file  vs  the same interpreter idle,
      and the time  vs  ``sha256sum`` + ``cp``.
Each figure is the median of --repeat runs. Machines are noisy: read the ratios.
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

CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
import localreg
from localreg.store import Store
from localreg import ingest
t_import = time.perf_counter() - t0
home, path, name = sys.argv[1], sys.argv[2], sys.argv[3]
store = Store(home)
t0 = time.perf_counter()
v, created = ingest.log_path(store, path, name=name, type="dataset", project="bench")
t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "import": t_import, "created": created, "version": v.version,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

IDLE = r"""
import json, resource
import localreg
from localreg.store import Store
from localreg import ingest
print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_small(root: str, n: int) -> None:
    """``n`` random files of 4 KiB in 100 folders, as bench/compare.py's workload (a)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dataclasses

    from workloads import Sizes, make_small as make

    make(root, dataclasses.replace(Sizes.full(), small_files=n, small_folders=100, small_size=4096))


def make_big(path: str, mib: int) -> None:
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            f.write(chunk[i % 7:] + chunk[: i % 7])


BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PYTHON = sys.executable  # main() makes it bench/.venv-localreg's (localreg's runtime dependencies alone)


def run_child(code: str, *args: str) -> dict:
    settle()
    out = subprocess.run([PYTHON, "-c", code, *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": REPO})
    if out.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def settle() -> None:
    # Dirty pages from the previous step slow file creation several-fold on
    # this kind of disk; flush them so every measured step starts alike.
    subprocess.run(["sync"])


def timed(cmd: list[str] | str, shell: bool = False) -> float:
    settle()
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, shell=shell, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def drop(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None, help="work folder (default: a temp folder on the same disk as /tmp)")
    args = ap.parse_args()
    global PYTHON
    sys.path.insert(0, BENCH)
    from compare import ensure_localreg_env

    PYTHON = ensure_localreg_env(None)
    work = tempfile.mkdtemp(prefix="localreg-bench-", dir=args.dir)
    try:
        small = os.path.join(work, "small")
        make_small(small, args.files)
        subprocess.run(["sync"])
        rows = []

        log_t, cp_t, relog_t = [], [], []
        for r in range(args.repeat):
            home = os.path.join(work, f"home{r}")
            dest = os.path.join(work, f"cp{r}")
            # alternate which goes first, so neither always meets a warmer cache
            if r % 2:
                res = run_child(CHILD, home, small, "small")
                cp_t.append(timed(["cp", "-r", small, dest]))
            else:
                cp_t.append(timed(["cp", "-r", small, dest]))
                res = run_child(CHILD, home, small, "small")
            log_t.append(res["seconds"])
            res2 = run_child(CHILD, home, small, "small")
            assert not res2["created"], "re-log of unchanged data must dedup"
            relog_t.append(res2["seconds"])
            drop(dest)
            drop(home)
        log_m, cp_m, relog_m = map(statistics.median, (log_t, cp_t, relog_t))
        rows.append((f"log {args.files:,} x 4 KiB files", f"{log_m:.3f} s", f"cp -r: {cp_m:.3f} s",
                     f"{log_m / cp_m:.2f}x of cp -r", "< 1.00x"))
        rows.append(("re-log unchanged folder", f"{relog_m:.3f} s", f"first log: {log_m:.3f} s",
                     f"{relog_m:.3f} s", "< 0.2 s"))

        big = os.path.join(work, "big.bin")
        make_big(big, args.big_mib)
        subprocess.run(["sync"])
        idle = run_child(IDLE)["maxrss_kib"]
        big_t, rss, floor_t = [], [], []
        for r in range(args.repeat):
            home = os.path.join(work, f"bhome{r}")
            dest = os.path.join(work, f"bcp{r}")
            floor_t.append(timed(f"sha256sum {big} > /dev/null && cp {big} {dest}", shell=True))
            res = run_child(CHILD, home, big, "big")
            big_t.append(res["seconds"])
            rss.append(res["maxrss_kib"])
            drop(dest)
            drop(home)
        big_m, floor_m = statistics.median(big_t), statistics.median(floor_t)
        rss_m = max(rss)
        rows.append((f"log one {args.big_mib} MiB file", f"{big_m:.3f} s", f"sha256sum + cp: {floor_m:.3f} s",
                     f"{big_m / floor_m:.2f}x", "(core: sanity)"))
        rows.append((f"peak RSS logging {args.big_mib} MiB", f"{rss_m / 1024:.1f} MiB",
                     f"same interpreter idle: {idle / 1024:.1f} MiB", f"+{(rss_m - idle) / 1024:.1f} MiB", "< 100 MiB"))

        print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}")
        print("| measure | localreg | baseline (same run) | ratio | target |")
        print("|---|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
