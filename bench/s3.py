"""localreg on S3 against DVC, MLflow and the floor (s5cmd), on SeaweedFS over loopback, in one run.

    python bench/s3.py [--quick] [--repeat N] [--peer-repeat N] [--systems ...] [--timeout S] [--keep]

Issue 13's benchmark. It starts SeaweedFS (``weed mini``, as tests/servers.py
does, plus its Prometheus port: bench/s3server.py), generates the workloads
of bench/workloads.py, and for each system and each workload -- (a) 10,000
files of 4 KiB, (b) one file of 1 GiB -- times three steps:

* **log**: upload a new version. localreg: ``localreg log`` on a store made by
  ``localreg init --blob-url s3://BUCKET/lr --blob-option endpoint_url=...``;
  DVC: ``dvc add`` then ``dvc push`` to an S3 remote (``dvc-s3``; the target is
  judged against the push alone); MLflow: ``mlflow.log_artifacts`` in a run
  whose artifact root is ``s3://BUCKET/mlflow`` (``MLFLOW_S3_ENDPOINT_URL``);
  floor: ``s5cmd cp`` (optionally ``aws s3 cp --recursive``, from PATH);
* **get**: download into a new folder. ``localreg get REF --root DIR``;
  ``dvc pull`` in a new workspace holding the ``.dvc`` file (an empty cache);
  ``mlflow.artifacts.download_artifacts``; ``s5cmd cp`` / ``aws s3 cp``;
* **verify**: ``localreg verify REF`` re-hashes the stored bytes; DVC has
  ``dvc status --cloud`` (does the remote hold every object: no bytes are
  read back); MLflow and the floor have nothing (n/a).

Every step runs in a process of its own under GNU ``time`` (peak RSS of the
largest process, as ``ru_maxrss`` counts it). Its S3 requests are counted on
the server's side (SeaweedFS's ``SeaweedFS_s3_request_total``, before and
after the step; nothing else talks to the server meanwhile), with the bytes
the server sent and received. Times are of the whole command as a user runs
it (CLI start-up included), except MLflow's: an API, timed from ``start_run``
(or the download call) to its end, its import and tracking-store start-up
left out. Every download is compared with the source afterwards (untimed).

localreg and the floor run ``--repeat`` times (default 3), next to each other
(s5cmd just before localreg in one repeat, just after it in the next); DVC,
MLflow and aws ``--peer-repeat`` times (default 1). Each figure is a median;
targets are judged on the median of run-by-run ratios, which this shared and
noisy machine needs. A step slower than ``--timeout`` is killed, reported as
"> timeout" and not run again. ``--quick``: 1,000 small files, 128 MiB, one
repeat (results in bench/results/quick/).

Virtual environments (made when missing, as bench/compare.py does):
``bench/.venv-peers`` with pyproject's ``bench`` extra (MLflow, DVC with
``dvc-s3``, boto3, s5cmd), and ``bench/.venv-localreg-s3`` with
localreg's runtime dependencies plus its ``s3`` extra. localreg itself is a
snapshot of the working tree's ``localreg/`` (``--source head``: of the last
commit), run as ``python -m localreg``.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

from compare import VENV as PEERS_VENV  # noqa: E402
import compare  # noqa: E402
from compare import bench_requirements, machine_line, say, snapshot_source  # noqa: E402
from s3server import MeteredServer, start_metered_seaweedfs  # noqa: E402
from workloads import KIB, MIB, make_big, make_small  # noqa: E402

TIME = "/usr/bin/time"  # GNU time (apt-get install time)
S3STEPS = os.path.join(BENCH, "s3steps.py")
LOCALREG_VENV = os.path.join(BENCH, ".venv-localreg-s3")
SYSTEMS = ["localreg", "s5cmd", "dvc", "mlflow", "aws"]
DEFAULT_SYSTEMS = ["localreg", "s5cmd", "dvc", "mlflow"]
PEERS = ("dvc", "mlflow", "aws")
TITLES = {"localreg": "localreg", "s5cmd": "floor: s5cmd cp", "dvc": "DVC (dvc-s3)", "mlflow": "MLflow 3",
          "aws": "aws s3 cp"}
PHASES = ("log", "get", "verify")
KEY, SECRET = "localreg-bench", "localreg-bench-secret"


@dataclass(frozen=True)
class Sizes:
    small_files: int
    small_folders: int
    small_size: int
    big_size: int
    repeat: int
    peer_repeat: int

    @classmethod
    def full(cls) -> "Sizes":
        return cls(10_000, 100, 4 * KIB, 1024 * MIB, repeat=3, peer_repeat=1)

    @classmethod
    def quick(cls) -> "Sizes":
        return cls(1_000, 10, 4 * KIB, 128 * MIB, repeat=1, peer_repeat=1)


# -- environments -----------------------------------------------------------------------------


def ensure_peers(python: str | None) -> str:
    """The peers' interpreter (bench/.venv-peers), with the ``bench`` extra installed if anything is missing."""
    if python:
        return python
    py = os.path.join(PEERS_VENV, "bin", "python")
    probe = ("import mlflow, dvc.repo, dvc_s3, boto3, shutil, sys, os; "
             "assert int(mlflow.__version__.split('.')[0]) >= 3; "
             "assert os.access(os.path.join(os.path.dirname(sys.executable), 's5cmd'), os.X_OK)")
    if os.path.exists(py) and subprocess.run([py, "-c", probe], capture_output=True).returncode == 0:
        return py
    if not os.path.exists(py):
        say(f"creating {os.path.relpath(PEERS_VENV, REPO)}")
        subprocess.run([sys.executable, "-m", "venv", PEERS_VENV], check=True)
    reqs = bench_requirements()
    rest = [r for r in reqs if not r.startswith("boto3")]
    say(f"installing the peers: {' '.join(rest)}")
    subprocess.run([py, "-m", "pip", "install", "--quiet", *rest], check=True)
    # boto3 last, in the series of the botocore that dvc-s3's aiobotocore accepted: asked for
    # alongside it, pip walks back through every boto3 release to find that series
    botocore = subprocess.run([py, "-c", "import botocore; print(botocore.__version__)"], capture_output=True,
                              text=True, check=True).stdout.strip()
    minor = int(botocore.split(".")[1])
    say(f"installing boto3 for botocore {botocore}")
    subprocess.run([py, "-m", "pip", "install", "--quiet", f"boto3>=1.{minor}.0,<1.{minor + 1}.0",
                    f"botocore=={botocore}"], check=True)
    subprocess.run([py, "-c", probe], check=True)
    return py


def ensure_localreg_env(python: str | None) -> str:
    """localreg's runtime dependencies and its ``s3`` extra, nothing else (as ``pip install 'localreg[s3]'``)."""
    return compare.ensure_localreg_env(python, LOCALREG_VENV, ("s3",))


# -- running one step -------------------------------------------------------------------------


class Runner:
    def __init__(self, work: str, server: MeteredServer, peers_python: str, lr_python: str, src: str,
                 timeout: float) -> None:
        self.work = work
        self.server = server
        self.peers_python = peers_python
        self.peers_bin = os.path.dirname(peers_python)
        self.lr_python = lr_python
        self.src = src
        self.timeout = timeout
        self.home = os.path.join(work, "peer-home")
        os.makedirs(self.home, exist_ok=True)
        # awscli is not in the bench extra (its exact botocore pin fights dvc-s3's): the peers' venv, else PATH
        candidates = (os.path.join(self.peers_bin, "aws"), os.path.join(os.path.dirname(sys.executable), "aws"),
                      shutil.which("aws"))
        self.aws = next((p for p in candidates if p and os.access(p, os.X_OK)), None)

    def env(self, system: str) -> dict[str, str]:
        """Credentials from the standard AWS variables; each tool's endpoint from its own setting."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "MLFLOW_", "DVC_", "FSSPEC_", "S3_", "PYTHONPATH", "LOCALREG_"))}
        env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1",
                   AWS_EC2_METADATA_DISABLED="true")
        h = self.home
        if system == "localreg":
            env["PYTHONPATH"] = self.src
        else:
            env.update(HOME=h, XDG_CONFIG_HOME=f"{h}/.config", XDG_CACHE_HOME=f"{h}/.cache",
                       XDG_DATA_HOME=f"{h}/.local", GIT_PYTHON_REFRESH="quiet", DVC_NO_ANALYTICS="1",
                       DVC_SITE_CACHE_DIR=f"{h}/dvc-site", DVC_GLOBAL_CONFIG_DIR=f"{h}/dvc-global",
                       DVC_SYSTEM_CONFIG_DIR=f"{h}/dvc-system", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
                       MLFLOW_S3_ENDPOINT_URL=self.server.endpoint)
        return env

    def setup(self, system: str, argv: list[str], cwd: str | None = None) -> None:
        """An untimed command that must succeed (creating a store, a workspace, a remote)."""
        proc = subprocess.run(argv, cwd=cwd or self.work, env=self.env(system), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()[-1500:]}")

    def run(self, system: str, argv: list[str], cwd: str | None = None) -> dict:
        """One timed, measured command: wall time, peak RSS, CPU, S3 requests and bytes."""
        subprocess.run(["sync"])
        stats = os.path.join(self.work, "time.out")
        if os.path.exists(stats):
            os.unlink(stats)  # a killed step writes none: never read the last step's
        before = self.server.settled_counts()
        t0 = time.perf_counter()
        proc = subprocess.Popen([TIME, "-o", stats, "-f", "%M %U %S", *argv], cwd=cwd or self.work,
                                env=self.env(system), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        timed_out = False
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)  # the step's own process group, which we started
            out, err = proc.communicate()
        wall = time.perf_counter() - t0
        after = self.server.settled_counts()
        delta = after - before
        res: dict[str, Any] = {"seconds": wall, "wall": wall, "requests": delta.total, "by_type": delta.by_type(),
                               "errors": delta.errors(), "sent": delta.sent, "received": delta.received,
                               "load": os.getloadavg()[0]}
        try:
            with open(stats) as f:
                last = f.read().strip().splitlines()[-1].split()
            res.update(maxrss_kib=int(last[0]), cpu=float(last[1]) + float(last[2]))
        except (OSError, IndexError, ValueError):
            pass
        if timed_out:
            res["timed_out"] = self.timeout
            res["failed"] = f"killed after {self.timeout:.0f} s"
        elif proc.returncode != 0:
            res["failed"] = " | ".join((err or out).strip().splitlines()[-3:])[-600:]
        elif argv and argv[0] == self.peers_python and "s3steps.py" in " ".join(argv):
            inner = json.loads(out.strip().splitlines()[-1])
            res["seconds"] = inner.pop("seconds")  # an API: the verb, without import and start-up
            res.update(inner)
        return res


# -- the benchmark ----------------------------------------------------------------------------


def same_tree(a: str, b: str) -> str | None:
    """None when folder (or file) ``b`` holds exactly ``a``'s files and bytes; else what differs."""
    if os.path.isfile(a):
        if not os.path.isfile(b):
            return f"{b} is missing"
        return None if filecmp.cmp(a, b, shallow=False) else f"{b} differs"
    want = sorted(os.path.relpath(os.path.join(d, f), a) for d, _s, fs in os.walk(a) for f in fs)
    got = sorted(os.path.relpath(os.path.join(d, f), b) for d, _s, fs in os.walk(b) for f in fs)
    if want != got:
        return f"{len(got)} files where {len(want)} were logged"
    for rel in want:
        if not filecmp.cmp(os.path.join(a, rel), os.path.join(b, rel), shallow=False):
            return f"{rel} differs"
    return None


class Bench:
    def __init__(self, sizes: Sizes, work: str, runner: Runner, systems: list[str]) -> None:
        self.sizes = sizes
        self.work = work
        self.run = runner
        self.systems = systems
        self.data = {"small": os.path.join(work, "data", "small"), "big": os.path.join(work, "data", "big", "big.bin")}
        self.results: dict[str, dict[str, dict[str, list]]] = {}  # [workload][system][phase] = [runs]
        self.skip: set[tuple[str, str, str]] = set()  # steps that timed out once
        self.counter = 0

    def generate(self) -> None:
        s = self.sizes
        say(f"generating {s.small_files:,} files of {s.small_size // KIB} KiB in {s.small_folders} folders")
        make_small(self.data["small"], s)
        say(f"generating one file of {s.big_size // MIB} MiB")
        make_big(self.data["big"], s.big_size)
        subprocess.run(["sync"])

    def fresh(self, label: str) -> str:
        self.counter += 1
        path = os.path.join(self.work, "runs", f"{self.counter:04d}-{label}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def bucket(self, system: str, w: str) -> str:
        return self.run.server.server.new_bucket(f"{system}-{w}")

    def put(self, w: str, system: str, phase: str, res: dict) -> None:
        self.results.setdefault(w, {}).setdefault(system, {}).setdefault(phase, []).append(res)

    def measure(self, w: str, system: str, phase: str, argv: list[str], cwd: str | None = None,
                check: tuple[str, str] | None = None) -> dict:
        """Run one step unless it timed out before; record it; compare a download with its source."""
        if (w, system, phase) in self.skip:
            res = {"skipped": True, "timed_out": self.run.timeout, "failed": "killed in an earlier repeat"}
            self.put(w, system, phase, res)
            return res
        res = self.run.run(system, argv, cwd=cwd)
        if "timed_out" in res:
            self.skip.add((w, system, phase))
        if check and "failed" not in res:
            problem = same_tree(*check)
            res["download_ok"] = problem is None
            if problem:
                res["failed"] = f"download does not match: {problem}"
        self.put(w, system, phase, res)
        shown = "failed: " + res["failed"] if "failed" in res else f"{res['seconds']:.2f} s"
        say(f"  {system:8s} {w:5s} {phase:7s} {shown}, {res['requests']} requests, "
            f"{res.get('maxrss_kib', 0) / 1024:.0f} MiB")
        return res

    def stored(self, w: str, system: str, log: dict, *phases: str) -> bool:
        """Whether the log succeeded; if not, the steps that need its version are recorded as not run."""
        if "failed" not in log and not log.get("skipped"):
            return True
        for phase in phases:
            self.put(w, system, phase, {"failed": "not run: the log before it did not finish", "not_run": True})
        return False

    # one pipeline per system: log, get, verify, each in its own process, on a fresh bucket

    def pipe_localreg(self, w: str) -> None:
        src = self.data[w]
        py = [self.run.lr_python, "-m", "localreg"]
        home = self.fresh("localreg-home")
        bucket = self.bucket("localreg", w)
        self.run.setup("localreg", [*py, "--home", home, "init", "--blob-url", f"s3://{bucket}/lr",
                                    "--blob-option", f"endpoint_url={self.run.server.endpoint}",
                                    "--entity", "bench", "--project", "bench"])
        kind = "dataset" if w == "small" else "model"
        ref = f"bench/{w}:v0"
        log = self.measure(w, "localreg", "log", [*py, "--home", home, "log", src, "--project", "bench",
                                                  "--name", w, "--type", kind])
        if not self.stored(w, "localreg", log, "get", "verify"):
            return
        dest = self.fresh("localreg-get")
        self.measure(w, "localreg", "get", [*py, "--home", home, "get", ref, "--root", dest],
                     check=(src, dest if w == "small" else os.path.join(dest, os.path.basename(src))))
        shutil.rmtree(dest, ignore_errors=True)
        self.measure(w, "localreg", "verify", [*py, "--home", home, "verify", ref])

    def pipe_s5cmd(self, w: str) -> None:
        src = self.data[w]
        s5 = [os.path.join(self.run.peers_bin, "s5cmd"), "--endpoint-url", self.run.server.endpoint]
        bucket = self.bucket("s5cmd", w)
        dest = self.fresh("s5cmd-get")
        os.makedirs(dest)
        if w == "small":
            log = self.measure(w, "s5cmd", "log", [*s5, "cp", f"{src}/*", f"s3://{bucket}/s5/"])
            if self.stored(w, "s5cmd", log, "get"):
                self.measure(w, "s5cmd", "get", [*s5, "cp", f"s3://{bucket}/s5/*", f"{dest}/"], check=(src, dest))
        else:
            name = os.path.basename(src)
            log = self.measure(w, "s5cmd", "log", [*s5, "cp", src, f"s3://{bucket}/s5/{name}"])
            if self.stored(w, "s5cmd", log, "get"):
                self.measure(w, "s5cmd", "get", [*s5, "cp", f"s3://{bucket}/s5/{name}", f"{dest}/{name}"],
                             check=(src, f"{dest}/{name}"))
        shutil.rmtree(dest, ignore_errors=True)

    def pipe_aws(self, w: str) -> None:
        src = self.data[w]
        aws = [self.run.aws or "aws", "--endpoint-url", self.run.server.endpoint, "s3", "cp",
               "--only-show-errors"]
        bucket = self.bucket("aws", w)
        dest = self.fresh("aws-get")
        os.makedirs(dest)
        if w == "small":
            log = self.measure(w, "aws", "log", [*aws, "--recursive", src, f"s3://{bucket}/aws/"])
            if self.stored(w, "aws", log, "get"):
                self.measure(w, "aws", "get", [*aws, "--recursive", f"s3://{bucket}/aws/", dest], check=(src, dest))
        else:
            name = os.path.basename(src)
            log = self.measure(w, "aws", "log", [*aws, src, f"s3://{bucket}/aws/{name}"])
            if self.stored(w, "aws", log, "get"):
                self.measure(w, "aws", "get", [*aws, f"s3://{bucket}/aws/{name}", f"{dest}/{name}"],
                             check=(src, f"{dest}/{name}"))
        shutil.rmtree(dest, ignore_errors=True)

    def _dvc_workspace(self, bucket: str) -> str:
        dvc = os.path.join(self.run.peers_bin, "dvc")
        ws = self.fresh("dvc-ws")
        os.makedirs(ws)
        self.run.setup("dvc", [dvc, "init", "--no-scm", "-q"], cwd=ws)
        self.run.setup("dvc", [dvc, "remote", "add", "-d", "store", f"s3://{bucket}/dvc"], cwd=ws)
        self.run.setup("dvc", [dvc, "remote", "modify", "store", "endpointurl", self.run.server.endpoint], cwd=ws)
        return ws

    def pipe_dvc(self, w: str) -> None:
        src = self.data[w]
        dvc = os.path.join(self.run.peers_bin, "dvc")
        bucket = self.bucket("dvc", w)
        ws = self._dvc_workspace(bucket)
        name = os.path.basename(src)
        # dvc add takes what is inside its workspace: put the data there first (untimed)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(ws, name))
        else:
            shutil.copyfile(src, os.path.join(ws, name))
        add = self.measure(w, "dvc", "add", [dvc, "add", "-q", name], cwd=ws)
        push = self.measure(w, "dvc", "push", [dvc, "push", "-q"], cwd=ws)
        log = {k: add.get(k, 0) + push.get(k, 0) for k in ("seconds", "wall", "requests", "sent", "received")}
        log["maxrss_kib"] = max(add.get("maxrss_kib", 0), push.get("maxrss_kib", 0))
        for r in (add, push):
            if "failed" in r or r.get("skipped"):
                log["failed"] = r.get("failed", "killed earlier")
        self.put(w, "dvc", "log", log)
        if not self.stored(w, "dvc", log, "get", "verify"):
            shutil.rmtree(ws, ignore_errors=True)
            return
        # get: a new workspace with the .dvc file and an empty cache, as on another machine
        ws2 = self._dvc_workspace(bucket)
        shutil.copyfile(os.path.join(ws, f"{name}.dvc"), os.path.join(ws2, f"{name}.dvc"))
        self.measure(w, "dvc", "get", [dvc, "pull", "-q"], cwd=ws2, check=(src, os.path.join(ws2, name)))
        shutil.rmtree(ws2, ignore_errors=True)
        # verify: what DVC has -- is every object on the remote (no bytes read back)
        self.measure(w, "dvc", "verify", [dvc, "status", "--cloud", "-q"], cwd=ws)
        shutil.rmtree(ws, ignore_errors=True)

    def pipe_mlflow(self, w: str) -> None:
        src = self.data[w]
        root = self.fresh("mlflow")
        os.makedirs(root)
        bucket = self.bucket("mlflow", w)
        py = [self.run.peers_python, S3STEPS]
        log = self.measure(w, "mlflow", "log", [*py, "ml_log", json.dumps({"root": root, "bucket": bucket,
                                                                            "src": src})])
        if not self.stored(w, "mlflow", log, "get"):
            return
        dest = self.fresh("mlflow-get")
        got = os.path.join(dest, "data") if w == "small" else os.path.join(dest, "data", os.path.basename(src))
        self.measure(w, "mlflow", "get", [*py, "ml_get", json.dumps({"root": root, "dest": dest})],
                     check=(src, got))
        shutil.rmtree(dest, ignore_errors=True)

    def startup(self) -> None:
        """What starting each command costs (every time above includes it, MLflow's excepted)."""
        cmds = {"localreg": [self.run.lr_python, "-m", "localreg", "--version"],
                "s5cmd": [os.path.join(self.run.peers_bin, "s5cmd"), "version"],
                "dvc": [os.path.join(self.run.peers_bin, "dvc"), "--version"],
                "mlflow": [self.run.peers_python, "-c", "import mlflow"],
                "aws": [self.run.aws or "aws", "--version"]}
        for x in self.systems:
            runs = [self.run.run(x, cmds[x]) for _ in range(1 if x == "mlflow" else 3)]
            self.results.setdefault("startup", {})[x] = {"start": runs}
            say(f"  {x:8s} start-up {fs(med(runs))}")

    def repeat(self, r: int) -> None:
        s = self.sizes
        for w in ("small", "big"):
            if r < s.peer_repeat:
                peers = [p for p in PEERS if p in self.systems]
                for p in peers[r % len(peers):] + peers[:r % len(peers)] if peers else []:
                    getattr(self, f"pipe_{p}")(w)
            pair = [x for x in ("s5cmd", "localreg") if x in self.systems]
            if r % 2:
                pair.reverse()
            for x in pair:
                getattr(self, f"pipe_{x}")(w)


# -- summaries ---------------------------------------------------------------------------------


def runs_of(R: dict, w: str, system: str, phase: str) -> list[dict]:
    return R.get(w, {}).get(system, {}).get(phase, [])


def med(runs: list[dict], key: str = "seconds") -> float | None:
    vals = [r[key] for r in runs if key in r and "failed" not in r and not r.get("skipped")]
    return statistics.median(vals) if vals else None


def peak_mib(runs: list[dict]) -> float | None:
    vals = [r["maxrss_kib"] for r in runs if r.get("maxrss_kib")]
    return max(vals) / 1024 if vals else None


def paired(R: dict, a: tuple[str, str, str], b: tuple[str, str, str]) -> float | None:
    """Median over repeats of a's time / b's time, each pair from the same repeat."""
    ra, rb = runs_of(R, *a), runs_of(R, *b)
    ratios = [x["seconds"] / y["seconds"] for x, y in zip(ra, rb)
              if "failed" not in x and "failed" not in y and x.get("seconds") and y.get("seconds")]
    return statistics.median(ratios) if ratios else None


def fs(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s" if v < 100 else f"{v:.0f} s"


def fb(v: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if v >= size:
            return f"{v / size:.1f} {unit}"
    return f"{v:.0f} B"


def cell(runs: list[dict]) -> str:
    if not runs:
        return "—"
    killed = [r for r in runs if "timed_out" in r]
    if killed and all("timed_out" in r or r.get("not_run") for r in runs):
        return f"> {fs(killed[0]['timed_out'])} (killed)"
    if all(r.get("not_run") for r in runs):
        return "not run (its log failed)"
    ok = [r for r in runs if "failed" not in r]
    if not ok:
        return "failed"
    p = peak_mib(ok)
    reqs = statistics.median(r["requests"] for r in ok)
    return f"{fs(med(ok))} · {reqs:,.0f} req · {p:.0f} MiB" if p else f"{fs(med(ok))} · {reqs:,.0f} req"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("**met**" if ok else "**missed**")


def targets(b: Bench) -> list[tuple[str, ...]]:
    R, s = b.results, b.sizes
    rows: list[tuple[str, ...]] = []
    lr_log = med(runs_of(R, "small", "localreg", "log"))
    for peer, phase, label, want in (("dvc", "push", "`dvc push` alone", 10), ("mlflow", "log", "MLflow", 10),
                                     ("aws", "log", "`aws s3 cp --recursive`", None), ("s5cmd", "log", "s5cmd", 3)):
        goal = f"≥ {want}x faster than {label}" if want else f"(no target) against {label}"
        peer_runs = runs_of(R, "small", peer, phase)
        r = paired(R, ("small", peer, phase), ("small", "localreg", "log"))
        if r is None and peer_runs and lr_log and all("timed_out" in x for x in peer_runs):
            # killed at the timeout: the ratio is at least timeout / localreg's time
            bound = peer_runs[0]["timed_out"] / lr_log
            rows.append((f"log {s.small_files:,} small files {goal}", fs(lr_log),
                         f"{label}: > {fs(peer_runs[0]['timed_out'])} (killed)", f"> {bound:.1f}x faster",
                         (verdict(True) if bound >= want else "— (bound too low)") if want else "—"))
            continue
        if r is None:
            continue
        rows.append((f"log {s.small_files:,} small files {goal}", fs(lr_log),
                     f"{label}: {fs(med(peer_runs))}", f"{r:.1f}x faster",
                     verdict(r >= want) if want else "—"))
    lr = [x for x in runs_of(R, "small", "localreg", "log") if "failed" not in x]
    if lr:
        per = statistics.median(x["requests"] for x in lr) / (s.small_files / 1000)
        rows.append(("≤ 20 requests per 1,000 small files logged", f"{per:.1f} per 1,000",
                     f"s5cmd: {med(runs_of(R, 'small', 's5cmd', 'log'), 'requests') or 0:,.0f} in all", "",
                     verdict(per <= 20)))
    for phase in ("log", "get"):
        r = paired(R, ("big", "localreg", phase), ("big", "s5cmd", phase))
        lr_runs, s5 = runs_of(R, "big", "localreg", phase), med(runs_of(R, "big", "s5cmd", phase))
        killed = [x for x in lr_runs if "timed_out" in x]
        if r is None and killed and s5 and all("timed_out" in x or x.get("not_run") for x in lr_runs):
            rows.append((f"{phase} the {s.big_size // MIB} MiB file within 1.2x of s5cmd", cell(lr_runs),
                         f"s5cmd: {fs(s5)}", f"> {killed[0]['timed_out'] / s5:.1f}x", verdict(False)))
        if r is not None:
            rows.append((f"{phase} the {s.big_size // MIB} MiB file within 1.2x of s5cmd",
                         fs(med(runs_of(R, "big", "localreg", phase))),
                         f"s5cmd: {fs(med(runs_of(R, 'big', 's5cmd', phase)))}", f"{r:.2f}x", verdict(r <= 1.2)))
    v = runs_of(R, "small", "localreg", "verify")
    g = med(runs_of(R, "small", "localreg", "get"))
    if v and g:
        r = paired(R, ("small", "localreg", "verify"), ("small", "localreg", "get"))
        if r is None and all("timed_out" in x for x in v):
            rows.append((f"verify the {s.small_files:,}-file version within 2x of its get", cell(v),
                         f"get: {fs(g)}", f"> {v[0]['timed_out'] / g:.0f}x", verdict(False)))
        elif r is not None:
            ok = [x for x in v if "failed" not in x]
            stored = med(runs_of(R, "small", "localreg", "log"), "received")
            read = f"; bytes read {fb(med(ok, 'sent') or 0)} for {fb(stored or 0)} stored" if ok else ""
            rows.append((f"verify the {s.small_files:,}-file version within 2x of its get",
                         fs(med(v)), f"get: {fs(g)}{read}", f"{r:.2f}x", verdict(r <= 2)))
    worst = None
    for w in ("small", "big"):
        for phase in PHASES:
            p = peak_mib(runs_of(R, w, "localreg", phase))
            if p is not None and (worst is None or p > worst[0]):
                worst = (p, f"{w} {phase}")
    if worst:
        rows.append(("peak memory < 150 MiB in every localreg step", f"{worst[0]:.0f} MiB ({worst[1]}, the largest)",
                     "", "", verdict(worst[0] < 150)))
    return rows


def markdown(b: Bench, machine: str, source: dict, started: str, wall: float) -> str:
    R, s = b.results, b.sizes
    systems = [x for x in SYSTEMS if x in b.systems]
    loads = [r["load"] for ws in R.values() for ph in ws.values() for runs in ph.values() for r in runs if "load" in r]
    dirty = f", plus {source['dirty_files']} uncommitted files" if source.get("dirty_files") else ""
    lines = [
        f"localreg: {source['source']} at commit {source['head']}{dirty} (tree {source['tree_sha256']}). "
        f"Server: SeaweedFS `weed mini` on 127.0.0.1. Machine: {machine}. Started {started}, took {wall:.0f} s; "
        f"load average during the run: median {statistics.median(loads) if loads else 0:.1f}, "
        f"max {max(loads) if loads else 0:.1f}.", "",
        f"Median of {s.repeat} runs for localreg and s5cmd, {s.peer_repeat} for the others. Each cell: time · S3 "
        "requests counted by the server · peak RSS of the step's process. Times are of the whole command "
        "(CLI start-up included) except MLflow's (its Python API, timed without import and start-up). "
        "Every step has a fresh bucket (log) or a fresh folder (get).", "",
        "| workload · step | " + " | ".join(TITLES[x] for x in systems) + " |",
        "|---|" + "---|" * len(systems)]
    wl = {"small": f"{s.small_files:,} × {s.small_size // KIB} KiB", "big": f"1 × {s.big_size // MIB} MiB"}
    labels = {"log": "log / upload", "get": "get / download", "verify": "verify"}
    for w in ("small", "big"):
        for phase in PHASES:
            row = []
            for x in systems:
                runs = runs_of(R, w, x, phase)
                if not runs:
                    row.append("n/a" if phase == "verify" and x in ("s5cmd", "mlflow", "aws") else "—")
                    continue
                text = cell(runs)
                if x == "dvc" and phase == "log" and text not in ("—", "failed"):
                    text += " ¹"
                if x == "dvc" and phase == "verify" and text not in ("—", "failed"):
                    text += " ²"
                row.append(text)
            lines.append(f"| {wl[w]}: {labels[phase]} | " + " | ".join(row) + " |")
    start = {"localreg": "`localreg --version`", "s5cmd": "`s5cmd version`", "dvc": "`dvc --version`",
             "mlflow": "`python -c 'import mlflow'` (not in its times)", "aws": "`aws --version`"}
    row = []
    for x in systems:
        runs = R.get("startup", {}).get(x, {}).get("start", [])
        row.append(f"{fs(med(runs))}: {start[x]}" if runs else "—")
    lines.append("| start-up of the command (included in each time above) | " + " | ".join(row) + " |")
    if "dvc" in systems:
        lines += ["", "¹ `dvc add` + `dvc push` (the rows below split them). "
                  "² `dvc status --cloud`: checks that the remote holds every object; reads no bytes back."]
    scaled = ""
    if s.small_files != 10_000 or s.big_size != 1024 * MIB:
        scaled = (f" The targets are issue 13's, set for 10,000 small files and 1 GiB: at {s.small_files:,} files "
                  f"and {s.big_size // MIB} MiB, each command's start-up (last row above) weighs far more than it "
                  "does there, so these verdicts are a smoke test, not the measure.")
    lines += ["", "### Targets", "",
              "Ratios are medians of run-by-run ratios (each pair measured moments apart)." + scaled, "",
              "| target | localreg | baseline (same run) | ratio | verdict |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(t) + " |" for t in targets(b)]
    lines += ["", "### Details", "",
              "| system · workload · step | time (each run) | requests by type (median run) | "
              "bytes sent / received by the server | peak RSS |", "|---|---|---|---|---|"]
    for w in ("small", "big"):
        for x in systems:
            for phase in (*PHASES, "add", "push"):
                runs = runs_of(R, w, x, phase)
                if not runs or (x == "dvc" and phase == "log"):
                    continue
                ok = [r for r in runs if "failed" not in r]
                times = ", ".join("killed" if "timed_out" in r else "not run" if r.get("not_run")
                                  else "failed" if "failed" in r
                                  else fs(r["seconds"]) for r in runs)
                if ok:
                    mid = sorted(ok, key=lambda r: r["seconds"])[len(ok) // 2]
                    types = ", ".join(f"{k} {v:,}" for k, v in sorted(mid.get("by_type", {}).items()))
                    errs = f" ({mid['errors']} 4xx/5xx)" if mid.get("errors") else ""
                    traffic = f"{fb(mid.get('sent', 0))} / {fb(mid.get('received', 0))}"
                else:
                    types, errs, traffic = "—", "", "—"
                p = peak_mib(runs)
                lines.append(f"| {x} · {w} · {phase} | {times} | {types or '—'}{errs} | {traffic} | "
                             f"{f'{p:.0f} MiB' if p else '—'} |")
    failures = [(w, x, ph, r["failed"]) for w, xs in R.items() for x, phs in xs.items() for ph, runs in phs.items()
                for r in runs if "failed" in r and "timed_out" not in r and not r.get("not_run")]
    if failures:
        lines += ["", "### Failures", ""] + [f"- {x} {w} {ph}: `{msg}`" for w, x, ph, msg in failures]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 small files, 128 MiB, one repeat: a smoke run")
    ap.add_argument("--repeat", type=int, help="repeats of localreg and s5cmd (default 3; --quick 1)")
    ap.add_argument("--peer-repeat", type=int, help="repeats of DVC, MLflow, aws (default 1)")
    ap.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                    help=f"comma-separated subset of {','.join(SYSTEMS)} (default: all but aws)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds before a step is killed and not run again (default 150; --quick 120)")
    ap.add_argument("--dir", default=None, help="work folder parent (default: the system temp folder)")
    ap.add_argument("--out", default=None, help="results folder (default bench/results, or bench/results/quick)")
    ap.add_argument("--peers-python", default=None, help="an interpreter that has the peers (skips the venv)")
    ap.add_argument("--localreg-python", default=None,
                    help="an interpreter with localreg's dependencies and s3fs (default: bench/.venv-localreg-s3)")
    ap.add_argument("--source", choices=("worktree", "head"), default="worktree",
                    help="measure a copy of the working tree's localreg/ (default) or of the last commit's")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    sizes = Sizes.quick() if args.quick else Sizes.full()
    if args.repeat or args.peer_repeat:
        sizes = Sizes(**{**asdict(sizes), **({"repeat": args.repeat} if args.repeat else {}),
                         **({"peer_repeat": args.peer_repeat} if args.peer_repeat else {})})
    timeout = args.timeout or (120.0 if args.quick else 150.0)
    systems = [x for x in SYSTEMS if x in args.systems.split(",")]
    unknown = set(args.systems.split(",")) - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(sorted(unknown))} (choose from {', '.join(SYSTEMS)})")
    if not os.access(TIME, os.X_OK):
        raise SystemExit(f"{TIME} (GNU time) is needed for peak RSS: apt-get install time")
    out = args.out or os.path.join(BENCH, "results", "quick" if args.quick else "")
    os.makedirs(out, exist_ok=True)
    peers = ensure_peers(args.peers_python)  # s5cmd lives there too
    lr_python = ensure_localreg_env(args.localreg_python)
    work = tempfile.mkdtemp(prefix="localreg-s3bench-", dir=args.dir)
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    started = time.perf_counter()
    server = None
    try:
        src, source = snapshot_source(work, args.source, lr_python)
        say(f"measuring localreg from {args.source} (HEAD {source['head']}, {source['dirty_files']} changed files, "
            f"tree {source['tree_sha256']})")
        say("starting SeaweedFS")
        server = start_metered_seaweedfs()
        say(f"SeaweedFS at {server.endpoint}")
        runner = Runner(work, server, peers, lr_python, src, timeout)
        b = Bench(sizes, work, runner, systems)
        b.generate()
        b.startup()
        for r in range(max(sizes.repeat, sizes.peer_repeat)):
            say(f"repeat {r + 1} of {max(sizes.repeat, sizes.peer_repeat)}")
            b.repeat(r)
        wall = time.perf_counter() - started
        machine = machine_line()
        md = markdown(b, machine, source, started_at, wall)
        stem = os.path.join(out, "s3")
        with open(stem + ".json", "w") as f:
            json.dump({"machine": machine, "source": source, "sizes": asdict(sizes), "systems": systems,
                       "timeout": timeout, "started": started_at, "wall_seconds": wall,
                       "targets": [list(t) for t in targets(b)], "results": b.results}, f, indent=1, default=str)
        with open(stem + ".md", "w") as f:
            f.write(md)
        print(md)
        say(f"done in {wall:.0f} s; results in {os.path.relpath(stem, REPO)}.{{md,json}}")
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
