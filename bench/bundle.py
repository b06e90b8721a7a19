"""Bundle speed: ``localreg export`` / ``import`` against ``tar cf`` / ``tar xf`` of the same data, in one run.

    python bench/bundle.py [--files 10000] [--big-mib 1024] [--repeat 5] [--only big,small] [--dir DIR]

Two data sets: one file of --big-mib MiB, and --files files of 4 KiB in 100
folders. Each is logged into a source store (not timed). Then, each step
after ``sync`` and as a fresh process, the median of --repeat runs of:

* ``localreg export PROJECT -o B``  vs  ``tar cf T -C DATA .``;
* ``localreg import B`` into an empty store  vs  ``tar xf T`` into an empty folder
  (both made beforehand).

tar writes into the page cache and returns; localreg fsyncs the bundle it
writes and every blob it imports before it commits, so the table also gives
each tar step followed by ``sync``, the fair baseline for durable writes.
Peak RSS of the localreg process is reported too (bundles stream: memory
must not grow with the file). Machines are noisy: each ratio is the median
of the run-by-run ratios (localreg and tar run moments apart in a repeat,
which goes first alternating), and every run is printed.

The target is judged on the verb: ``export_bundle`` / ``import_bundle``
timed inside the process, once it has started and opened the store, as
``bench/compare.py`` times every verb; the whole process (interpreter,
imports, opening the store: about 0.1-0.2 s) is given next to it.
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
import json, resource, sys, time
t0 = time.perf_counter()
from localreg.store import Store
from localreg.bundle import export_bundle, import_bundle
op, home, arg, out = sys.argv[1:5]
store = Store(home)
t1 = time.perf_counter()
if op == "export":
    report = export_bundle(store, [arg], out)
    n = report.blobs
else:
    report = import_bundle(store, arg)
    assert report.changed
    n = report.blobs
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t0, "verb": t2 - t1, "blobs": n,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

LOG = r"""
import sys
from localreg.store import Store
from localreg import ingest
home, path, project = sys.argv[1:4]
ingest.log_path(Store(home, entity="bench"), path, name="data", type="dataset", project=project)
"""

MAKE = r"""
import sys
from localreg.store import Store
Store(sys.argv[1])
"""

IDLE = r"""
import json, resource, sys
from localreg.store import Store
from localreg.bundle import export_bundle, import_bundle
Store(sys.argv[1])
print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
# set by main(): the interpreter of bench/.venv-localreg (localreg's runtime dependencies alone, as
# bench/compare.py uses), running this working tree's localreg/
PYTHON = sys.executable
ENV = dict(os.environ)


def make_small(root: str, n: int) -> None:
    """``n`` random files of 4 KiB in 100 folders, as bench/compare.py's workload (a)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dataclasses

    from workloads import Sizes, make_small as make

    make(root, dataclasses.replace(Sizes.full(), small_files=n, small_folders=100, small_size=4096))


def make_big(root: str, mib: int) -> None:
    os.makedirs(root)
    chunk = os.urandom(1 << 20)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        for i in range(mib):
            f.write(chunk[i % 7:] + chunk[: i % 7])


def settle() -> None:
    # dirty pages of the previous step slow the next one down on this kind of
    # disk: flush them so every measured step starts alike
    subprocess.run(["sync"])


def child(code: str, *args: str) -> tuple[float, dict]:
    """Wall time of a fresh localreg process (interpreter start included, as for tar) and what it printed."""
    settle()
    t0 = time.perf_counter()
    out = subprocess.run([PYTHON, "-c", code, *args], capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{out.stderr}")
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def tar(*args: str, then_sync: bool = False) -> tuple[float, float]:
    """Seconds of ``tar ARGS``, and of the same followed by ``sync``."""
    settle()
    t0 = time.perf_counter()
    subprocess.run(["tar", *args], check=True)
    plain = time.perf_counter() - t0
    subprocess.run(["sync"])
    return plain, time.perf_counter() - t0


def drop(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.unlink(path)


def measure(work: str, data: str, key: str, label: str, repeat: int, rows: list, rss: dict) -> None:
    project = f"bench/{key}"
    src = os.path.join(work, f"src-{key}")
    subprocess.run([PYTHON, "-c", LOG, src, data, key], check=True, env=ENV)
    exp, cf, cf_sync, imp, xf, xf_sync = [], [], [], [], [], []
    for r in range(repeat):
        bundle = os.path.join(work, f"{key}-{r}.bundle")
        plain = os.path.join(work, f"{key}-{r}.tar")
        target = os.path.join(work, f"{key}-home{r}")
        folder = os.path.join(work, f"{key}-x{r}")
        os.makedirs(folder)
        # the empty target, as the empty folder for tar: creating a store is not importing
        subprocess.run([PYTHON, "-c", MAKE, target], check=True, env=ENV)
        # alternate which goes first, so neither always meets the warmer cache
        steps = [
            lambda: exp.append(child(CHILD, "export", src, project, bundle)),
            lambda: (lambda t: (cf.append(t[0]), cf_sync.append(t[1])))(tar("cf", plain, "-C", data, ".")),
        ]
        for step in (steps if r % 2 == 0 else steps[::-1]):
            step()
        steps = [
            lambda: imp.append(child(CHILD, "import", target, bundle, "-")),
            lambda: (lambda t: (xf.append(t[0]), xf_sync.append(t[1])))(tar("xf", plain, "-C", folder)),
        ]
        for step in (steps if r % 2 == 0 else steps[::-1]):
            step()
        for p in (bundle, plain, target, folder):
            drop(p)
    drop(src)
    for what, ours, tool, base, base_sync in ((f"export {label}", exp, "tar cf", cf, cf_sync),
                                               (f"import {label}", imp, "tar xf", xf, xf_sync)):
        verb = [d["verb"] for _, d in ours]
        whole = [t for t, _ in ours]
        # each repeat runs localreg and tar moments apart: judge on the median of those pairs' ratios,
        # which this noisy machine needs (tar's own time moves 3x from one repeat to the next)
        rows.append({
            "step": what, "tool": tool,
            "verb": statistics.median(verb), "whole": statistics.median(whole),
            "tar": statistics.median(base), "tar_sync": statistics.median(base_sync),
            "ratio": statistics.median(v / b for v, b in zip(verb, base)),
            "ratio_sync": statistics.median(v / b for v, b in zip(verb, base_sync)),
            "ratio_whole": statistics.median(w / b for w, b in zip(whole, base)),
            "runs": {"verb": verb, "whole": whole, "tar": base, "tar_sync": base_sync},
        })
    rss[f"export {label}"] = max(d["maxrss_kib"] for _, d in exp)
    rss[f"import {label}"] = max(d["maxrss_kib"] for _, d in imp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default=None, help="work folder (default: a temp folder on the same disk as /tmp)")
    ap.add_argument("--only", default="big,small", help="which data sets: big, small or both (the default)")
    ap.add_argument("--python", default=None,
                    help="an interpreter with localreg's dependencies (default: bench/.venv-localreg, made if missing)")
    args = ap.parse_args()
    global PYTHON, ENV
    sys.path.insert(0, BENCH)
    from compare import ensure_localreg_env

    PYTHON = ensure_localreg_env(args.python)
    ENV = {**os.environ, "PYTHONPATH": REPO}
    if not shutil.which("tar"):
        raise SystemExit("tar is needed for the baseline")
    work = tempfile.mkdtemp(prefix="localreg-bench-bundle-", dir=args.dir)
    rows: list[dict] = []
    rss: dict[str, int] = {}
    try:
        if "big" in args.only:
            big = os.path.join(work, "big")
            make_big(big, args.big_mib)
            measure(work, big, "big", f"one {args.big_mib} MiB file", args.repeat, rows, rss)
            drop(big)
        if "small" in args.only:
            small = os.path.join(work, "small")
            make_small(small, args.files)
            measure(work, small, "small", f"{args.files:,} x 4 KiB files", args.repeat, rows, rss)
        starts = [child(IDLE, os.path.join(work, "idle"))[0] for _ in range(args.repeat)]
        bare = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run([PYTHON, "-c", "pass"], check=True, env=ENV)
            bare.append(time.perf_counter() - t0)
        _, idle = child(IDLE, os.path.join(work, "idle"))
        idle["seconds"], idle["bare"] = statistics.median(starts), statistics.median(bare)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}; "
          f"median of {args.repeat}, each step a fresh process after sync")
    print()
    print("| step | localreg: the verb | tar (same run) | ratio | tar, then sync | ratio | "
          "localreg: whole process | ratio to tar |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['step']} | {r['verb']:.3f} s | {r['tool']}: {r['tar']:.3f} s | **{r['ratio']:.2f}x** | "
              f"{r['tar_sync']:.3f} s | {r['ratio_sync']:.2f}x | {r['whole']:.3f} s | {r['ratio_whole']:.2f}x |")
    print()
    print("times: medians; ratios: medians of the run-by-run ratios (localreg and tar run moments apart in "
          "each repeat, which goes first alternating). Every run:")
    print()
    for r in rows:
        runs = r["runs"]
        print(f"- {r['step']}: localreg " + ", ".join(f"{v:.3f}" for v in runs["verb"]) + f" s; {r['tool']} "
              + ", ".join(f"{v:.3f}" for v in runs["tar"]) + " s")
    print()
    print(f"the verb: export_bundle / import_bundle in a process that has started and opened the store; "
          f"start-up of that process (interpreter, imports, opening the store): {idle['seconds']:.3f} s "
          f"(python -c pass: {idle['bare']:.3f} s). Target: the verb within 1.5x of tar.")
    print()
    print(f"peak RSS (idle interpreter with localreg imported: {idle['maxrss_kib'] / 1024:.0f} MiB): " + ", ".join(
        f"{k} {v / 1024:.0f} MiB" for k, v in rss.items()))


if __name__ == "__main__":
    main()
