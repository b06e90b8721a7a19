"""localreg against MLflow 3, W&B offline, DVC and the machine's floor, in one run.

    python bench/compare.py [--quick] [--dir WORK] [--keep]

Creates ``bench/.venv-peers`` (if missing) with the ``bench`` extra of
pyproject.toml (MLflow 3, wandb, dvc, matplotlib) and ``bench/.venv-localreg``
with localreg's runtime dependencies alone, generates the workloads
(bench/workloads.py), runs every system on the same data, and writes
``bench/results/compare.{md,json,png}`` (``--quick``: a smaller run into
``bench/results/quick/``).

How it measures:
* localreg is a copy of the working tree's ``localreg/`` taken when the run
  starts (``--source head``: of the last commit), so edits made meanwhile
  do not leak into half of the measures;
* every step of every system runs in a process of its own (bench/steps.py)
  under GNU ``time``, which gives its peak RSS (the largest single process
  of its tree, as ``ru_maxrss`` counts it) and CPU time;
* a step imports its system and opens its store or client untimed, runs
  ``sync``, then times only the verb (start-up is measured on its own);
* each measure is the median of several runs with fresh stores (5 for
  localreg and the floor, 3 for the peers), the order of the systems
  rotating from one repeat to the next;
* the floor is ``cp -r`` and ``sha256sum`` of the same data, timed as
  commands (minus the cost of spawning an empty one); it runs right next to
  localreg in each repeat, and the targets are judged on the median of the
  run-by-run ratios, which this shared, noisy machine needs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

from workloads import MIB, Sizes, make_big, make_small, make_versions, tree_bytes, version_path  # noqa: E402

VENV = os.path.join(BENCH, ".venv-peers")
STEPS = os.path.join(BENCH, "steps.py")
SYSTEMS = ["localreg", "mlflow", "wandb", "dvc", "floor"]
TITLES = {"localreg": "localreg", "mlflow": "MLflow 3", "wandb": "W&B offline", "dvc": "DVC (no git)",
          "floor": "floor: cp / sha256sum"}
ORG = "acme"
TIME = "/usr/bin/time"  # GNU time: peak RSS of one child (apt-get install time)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the peers' virtual environment ----------------------------------------------------


def bench_requirements() -> list[str]:
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["optional-dependencies"]["bench"]


def ensure_peers(python: str | None) -> str:
    """The peers' interpreter, installing them first if they are missing."""
    if python:
        return python
    py = os.path.join(VENV, "bin", "python")
    probe = "import mlflow, wandb, dvc.repo, matplotlib; assert int(mlflow.__version__.split('.')[0]) >= 3"
    if os.path.exists(py) and subprocess.run([py, "-c", probe], capture_output=True).returncode == 0:
        return py
    if not os.path.exists(py):
        say(f"creating {os.path.relpath(VENV, REPO)}")
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    reqs = bench_requirements()
    say(f"installing the peers: {' '.join(reqs)}")
    subprocess.run([py, "-m", "pip", "install", "--quiet", *reqs], check=True)
    subprocess.run([py, "-c", probe], check=True)
    return py


LOCALREG_VENV = os.path.join(BENCH, ".venv-localreg")


def runtime_requirements() -> list[str]:
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["dependencies"]


def extra_requirements(extra: str) -> list[str]:
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["optional-dependencies"][extra]


def ensure_localreg_env(python: str | None, venv: str = LOCALREG_VENV, extras: tuple[str, ...] = ()) -> str:
    """An interpreter with localreg's runtime dependencies (and ``extras``) and nothing else, as
    ``pip install 'localreg[EXTRAS]'`` gives.

    Not this one: a development environment holds more (here numpy, which
    sqlite-utils imports when it finds it: +0.08 s start-up, +15 MiB RSS,
    and a bigger heap for every garbage collection to walk).
    """
    if python:
        return python
    py = os.path.join(venv, "bin", "python")
    reqs = runtime_requirements() + [r for extra in extras for r in extra_requirements(extra)]
    stamp = os.path.join(venv, "requirements.json")
    try:
        with open(stamp) as f:
            if json.load(f) == reqs and os.path.exists(py):
                return py
    except (OSError, ValueError):
        pass
    say(f"creating {os.path.relpath(venv, REPO)} with {' '.join(reqs)}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
    subprocess.run([py, "-m", "pip", "install", "--quiet", *reqs], check=True)
    with open(stamp, "w") as f:
        json.dump(reqs, f)
    return py


# -- the library under test --------------------------------------------------------------


def snapshot_source(work: str, source: str, python: str) -> tuple[str, dict]:
    """Freeze the library for the whole run: others may edit the working tree meanwhile."""
    import hashlib

    dest = os.path.join(work, "src")
    os.makedirs(dest)
    git = ["git", "-C", REPO]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if source == "head":
        archive = subprocess.run([*git, "archive", "HEAD", "localreg"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    else:
        shutil.copytree(os.path.join(REPO, "localreg"), os.path.join(dest, "localreg"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    h = hashlib.sha256()
    for dirpath, dirs, files in sorted(os.walk(dest)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            h.update(os.path.relpath(path, dest).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read())
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "localreg"], capture_output=True, text=True).stdout
    info = {"source": source, "head": head, "dirty_files": len(dirty.splitlines()) if source != "head" else 0,
            "tree_sha256": h.hexdigest()[:12]}
    smoke = subprocess.run(
        [python, "-c", "import localreg, sys; from localreg.store import Store; from localreg import ingest; "
         "s = Store(sys.argv[1]); ingest.log_path(s, sys.argv[2], name='smoke', type='model'); print(localreg.__file__)",
         os.path.join(work, "smoke-home"), os.path.join(REPO, "pyproject.toml")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": dest}, cwd=work)
    if smoke.returncode != 0 or not smoke.stdout.strip().startswith(dest):
        raise SystemExit(f"the library snapshot does not work ({source} at {head}):\n{smoke.stderr[-2000:]}")
    shutil.rmtree(os.path.join(work, "smoke-home"), ignore_errors=True)
    return dest, info


# -- running and timing ------------------------------------------------------------------


class Runner:
    def __init__(self, work: str, peers_python: str, src: str, localreg_python: str) -> None:
        self.work = work
        self.peers_python = peers_python
        self.localreg_python = localreg_python
        self.src = src
        self.peer_home = os.path.join(work, "peer-home")
        os.makedirs(self.peer_home, exist_ok=True)
        self.spawn = 0.0

    def _env(self, system: str, root: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "MLFLOW_", "DVC_"))}
        if system == "localreg":
            env["PYTHONPATH"] = self.src
            return env
        env.pop("PYTHONPATH", None)
        h = self.peer_home
        env.update(HOME=h, XDG_CONFIG_HOME=f"{h}/.config", XDG_CACHE_HOME=f"{h}/.cache", XDG_DATA_HOME=f"{h}/.local",
                   GIT_PYTHON_REFRESH="quiet", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
                   DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=f"{h}/dvc-site",
                   DVC_GLOBAL_CONFIG_DIR=f"{h}/dvc-global", DVC_SYSTEM_CONFIG_DIR=f"{h}/dvc-system")
        if system == "wandb" and root:
            env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=f"{root}/run",
                       WANDB_DATA_DIR=f"{root}/data", WANDB_CACHE_DIR=f"{root}/cache",
                       WANDB_ARTIFACT_DIR=f"{root}/artifacts", WANDB_CONFIG_DIR=f"{root}/config")
            for d in ("run", "data", "cache", "artifacts", "config"):
                os.makedirs(f"{root}/{d}", exist_ok=True)
        return env

    def _timed(self, argv: list[str], **kw: Any) -> tuple[subprocess.CompletedProcess, dict]:
        """Run ``argv`` under ``/usr/bin/time``: its own peak RSS and CPU, not inflated by ours.

        (A child forked from this process starts with this process's RSS as
        its high-water mark, so ``wait4`` here would report at least our size.)
        """
        subprocess.run(["sync"])
        stats = os.path.join(self.work, "time.out")
        t0 = time.perf_counter()
        # cwd: `python -c` puts the current folder first on sys.path, which must not be the repo
        proc = subprocess.run([TIME, "-o", stats, "-f", "%M %U %S", *argv], cwd=self.work, **kw)
        seconds = time.perf_counter() - t0
        with open(stats) as f:
            last = f.read().strip().splitlines()[-1].split()
        info = {"maxrss_kib": int(last[0]), "cpu": float(last[1]) + float(last[2]),
                "load": os.getloadavg()[0], "wall": seconds}
        return proc, info

    def step(self, system: str, step_name: str, /, **args: Any) -> dict:
        """Run one step in a fresh process; its JSON result plus peak RSS and CPU time."""
        python = self.localreg_python if system == "localreg" else self.peers_python
        proc, info = self._timed([python, STEPS, step_name, json.dumps(args)], capture_output=True, text=True,
                                 env=self._env(system, args.get("root")))
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            say(f"  ! {system} {step_name} failed: {tail}")
            return {"failed": tail, **info}
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res.update(info)
        return res

    def cmd(self, command: str) -> dict:
        """Time a shell command (minus the cost of spawning an empty one); its peak RSS."""
        proc, info = self._timed(["sh", "-c", command])
        if proc.returncode != 0:
            raise SystemExit(f"baseline command failed: {command}")
        info["seconds"] = max(info["wall"] - self.spawn, 1e-6)
        return info

    def calibrate(self) -> None:
        """The cost of spawning ``time sh -c true``, subtracted from every baseline command."""
        walls = [self._timed(["sh", "-c", "true"])[1]["wall"] for _ in range(15)]
        self.spawn = statistics.median(walls)
        # what one durable commit costs here: every localreg write ends with one
        fd = os.open(os.path.join(self.work, "fsync.probe"), os.O_WRONLY | os.O_CREAT)
        times = []
        for _ in range(50):
            os.write(fd, b"x" * 4096)
            t0 = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t0)
        os.close(fd)
        self.fsync = statistics.median(times)

    def wall(self, argv: list[str], env: dict | None = None) -> float:
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=self.work)
        return time.perf_counter() - t0


# -- pipelines: one system, one workload, one repeat ------------------------------------------


class Bench:
    def __init__(self, sizes: Sizes, work: str, runner: Runner, systems: list[str]) -> None:
        self.sizes = sizes
        self.work = work
        self.run = runner
        self.systems = systems
        self.data = {"small": os.path.join(work, "data", "small"),
                     "big": os.path.join(work, "data", "big", "big.bin"),
                     "tiny": os.path.join(work, "data", "tiny", "weights.bin"),
                     "versions": os.path.join(work, "data", "versions")}
        # results[workload][system][phase] = [result of each repeat]
        self.results: dict[str, dict[str, dict[str, list]]] = {}
        self.notes: dict[str, Any] = {}
        self.counter = 0
        self.repeat_index = 0

    def fresh(self, label: str) -> str:
        """A new path (not created) under the work folder."""
        self.counter += 1
        os.makedirs(os.path.join(self.work, "runs"), exist_ok=True)
        return os.path.join(self.work, "runs", f"{self.counter:04d}-{label}")

    def put(self, workload: str, system: str, phase: str, res: dict) -> None:
        self.results.setdefault(workload, {}).setdefault(system, {}).setdefault(phase, []).append(res)

    def generate(self) -> None:
        s = self.sizes
        say(f"generating (a) {s.small_files:,} files of {s.small_size // 1024} KiB in {s.small_folders} folders")
        make_small(self.data["small"], s)
        say(f"generating (b) one file of {s.big_size // MIB} MiB")
        make_big(self.data["big"], s.big_size)
        os.makedirs(os.path.dirname(self.data["tiny"]))
        with open(self.data["tiny"], "wb") as f:
            f.write(os.urandom(4096))
        say(f"generating (c) {s.versions} versions of a {s.version_size // MIB} MiB file")
        self.notes["versions_logical_bytes"] = make_versions(self.data["versions"], s)
        subprocess.run(["sync"])

    # each pipeline: log, log again unchanged, publish, resolve + materialize, all in fresh processes

    def pipe_localreg(self, w: str, src: str, kind: str, first: bool) -> None:
        # the floor runs next to localreg in every repeat (before it, then after it), so each
        # ratio compares two measures taken moments apart on this shared, noisy machine
        if "floor" in self.systems and self.repeat_index % 2 == 0:
            self.pipe_floor(w, src, kind, first)
        self._localreg(w, src, kind)
        if "floor" in self.systems and self.repeat_index % 2 == 1:
            self.pipe_floor(w, src, kind, first)

    def _localreg(self, w: str, src: str, kind: str) -> None:
        reg = "dataset" if kind == "dataset" else "model"
        target = f"{ORG}/wandb-registry-{reg}/bench-{w}"
        home = self.fresh(f"localreg-{w}")
        self.put(w, "localreg", "log", self.run.step("localreg", "lr_log", home=home, src=src, name=w, type=kind))
        relog = self.run.step("localreg", "lr_log", home=home, src=src, name=w, type=kind)
        if relog.get("created"):
            relog["failed"] = "re-log made a new version"
        self.put(w, "localreg", "relog", relog)
        self.put(w, "localreg", "publish",
                 self.run.step("localreg", "lr_publish", home=home, name=w, target=target, alias="prod", extra=20))
        for mode in ("copy", "hardlink"):
            dest = self.fresh(f"out-{w}-{mode}")
            phase = "materialize" if mode == "copy" else "materialize_hardlink"
            self.put(w, "localreg", phase, self.run.step("localreg", "lr_materialize", home=home,
                                                         ref=f"{target}:prod", dest=dest, link_mode=mode))
            shutil.rmtree(dest, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        if w == "big":
            # W&B's policy="immutable": the file is hard-linked into the store, read once to hash
            home = self.fresh(f"localreg-{w}-immutable")
            self.put(w, "localreg", "log_immutable", self.run.step(
                "localreg", "lr_log", home=home, src=src, name=w, type=kind, immutable=True))
            for mode in ("hardlink", "copy"):
                dest = self.fresh(f"out-{w}-imm-{mode}")
                self.put(w, "localreg", f"materialize_immutable_{mode}", self.run.step(
                    "localreg", "lr_materialize", home=home, ref=f"{w}:latest", dest=dest, link_mode=mode))
                shutil.rmtree(dest, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)

    def pipe_mlflow(self, w: str, src: str, kind: str, first: bool) -> None:
        root = self.fresh(f"mlflow-{w}")
        os.makedirs(root)
        self.put(w, "mlflow", "log", self.run.step("mlflow", "ml_log", root=root, src=src))
        self.put(w, "mlflow", "relog", self.run.step("mlflow", "ml_log", root=root, src=src))
        self.put(w, "mlflow", "publish", self.run.step("mlflow", "ml_publish", root=root, model=f"bench-{w}", alias="prod"))
        dest = self.fresh(f"out-mlflow-{w}")
        self.put(w, "mlflow", "materialize", self.run.step(
            "mlflow", "ml_materialize", root=root, model=f"bench-{w}", alias="prod", dest=dest))
        shutil.rmtree(dest, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)

    def pipe_wandb(self, w: str, src: str, kind: str, first: bool) -> None:
        root = self.fresh(f"wandb-{w}")
        target = f"{ORG}/wandb-registry-{'dataset' if kind == 'dataset' else 'model'}/bench-{w}"
        self.put(w, "wandb", "log", self.run.step("wandb", "wb_log", root=root, src=src, name=w, type=kind))
        self.put(w, "wandb", "relog", self.run.step("wandb", "wb_log", root=root, src=src, name=w, type=kind))
        if first:  # offline W&B refuses both; once per workload shows it
            self.put(w, "wandb", "publish", self.run.step(
                "wandb", "wb_publish", root=root, src=self.data["tiny"], name=f"{w}-tiny", type=kind,
                target=target, alias="prod"))
            self.put(w, "wandb", "materialize", self.run.step(
                "wandb", "wb_materialize", root=root, name=w, target=target, alias="prod",
                dest=self.fresh(f"out-wandb-{w}")))
        shutil.rmtree(root, ignore_errors=True)

    def pipe_dvc(self, w: str, src: str, kind: str, first: bool) -> None:
        root = self.fresh(f"dvc-{w}")
        ws, reg = os.path.join(root, "ws"), os.path.join(root, "registry")
        os.makedirs(ws)
        self.put(w, "dvc", "log", self.run.step("dvc", "dvc_log", ws=ws, src=src, name=w))
        self.put(w, "dvc", "relog", self.run.step("dvc", "dvc_log", ws=ws, src=src, name=w))
        self.put(w, "dvc", "publish", self.run.step("dvc", "dvc_publish", ws=ws, name=w, registry=reg, alias="prod"))
        self.put(w, "dvc", "materialize", self.run.step(
            "dvc", "dvc_materialize", ws=ws, name=w, registry=reg, alias="prod", dest=os.path.join(root, "ws2")))
        shutil.rmtree(root, ignore_errors=True)

    def pipe_floor(self, w: str, src: str, kind: str, first: bool) -> None:
        q = src if os.path.isfile(src) else None
        sha = f"sha256sum {q} > /dev/null" if q else f"cd {src} && find . -type f -print0 | xargs -0 sha256sum > /dev/null"
        phases = [("sha", sha), ("cp", "cp -r {src} {dest}"), ("log", sha + " && cp -r {src} {dest}"),
                  ("materialize", "cp -r {src} {dest}")]
        if q:  # localreg's log is durable (fsync before commit); cp is not, unless asked
            phases.append(("log_durable", sha + " && cp {src} {dest} && sync {dest}"))
        for phase, command in phases:
            dest = self.fresh(f"floor-{w}-{phase}")
            self.put(w, "floor", phase, self.run.cmd(command.format(src=src, dest=dest)))
            shutil.rmtree(dest, ignore_errors=True)

    def workload(self, w: str, src: str, kind: str) -> None:
        pipes: dict[str, Callable] = {"localreg": self.pipe_localreg, "mlflow": self.pipe_mlflow,
                                      "wandb": self.pipe_wandb, "dvc": self.pipe_dvc, "floor": self.pipe_floor}
        # the floor runs inside localreg's pipeline when both are measured
        systems = [x for x in self.systems if not (x == "floor" and "localreg" in self.systems)]
        repeats = max(self.sizes.repeat, self.sizes.peer_repeat)
        for r in range(repeats):
            self.repeat_index = r
            order = systems[r % len(systems):] + systems[: r % len(systems)]
            for system in order:
                n = self.sizes.repeat if system in ("localreg", "floor") else self.sizes.peer_repeat
                if r >= n:
                    continue
                say(f"({w}) repeat {r + 1}/{n}: {system}")
                pipes[system](w, src, kind, r == 0)

    def tiny_publish(self) -> None:
        """Publish a 4 KiB artifact: compare with the 1 GiB one of workload (b)."""
        src = self.data["tiny"]
        for r in range(self.sizes.repeat):
            if "localreg" in self.systems:
                home = self.fresh("localreg-tiny")
                self.run.step("localreg", "lr_log", home=home, src=src, name="tiny", type="model")
                self.put("tiny", "localreg", "publish", self.run.step(
                    "localreg", "lr_publish", home=home, name="tiny", target=f"{ORG}/wandb-registry-model/tiny",
                    alias="prod", extra=20))
                self.put("tiny", "localreg", "resolve", self.run.step(
                    "localreg", "lr_resolve", home=home, ref=f"{ORG}/wandb-registry-model/tiny:prod"))
                shutil.rmtree(home, ignore_errors=True)
            if "mlflow" in self.systems and r < self.sizes.peer_repeat:
                root = self.fresh("mlflow-tiny")
                os.makedirs(root)
                self.run.step("mlflow", "ml_log", root=root, src=src)
                self.put("tiny", "mlflow", "publish", self.run.step(
                    "mlflow", "ml_publish", root=root, model="tiny", alias="prod"))
                shutil.rmtree(root, ignore_errors=True)

    def versions(self) -> None:
        s = self.sizes
        vroot = self.data["versions"]
        for system, name, kw in (("localreg", "lr_versions", "home"), ("mlflow", "ml_versions", "root"),
                                 ("wandb", "wb_versions", "root"), ("dvc", "dvc_versions", "ws")):
            if system not in self.systems:
                continue
            say(f"(c) {s.versions} versions: {system}")
            root = self.fresh(f"{system}-versions")
            os.makedirs(root, exist_ok=system != "localreg")
            if system == "localreg":
                os.rmdir(root)
            args = {kw: root, ("root" if system == "localreg" else "vroot"): vroot, "count": s.versions}
            res = self.run.step(system, name, **args)
            self.put("versions", system, "log", res)
            if system == "localreg" and "failed" not in res:
                self.versions_materialize(root)
            shutil.rmtree(root, ignore_errors=True)

    def versions_materialize(self, home: str) -> None:
        last = self.sizes.versions - 1
        for k in sorted({0, last // 2, last}):
            src = version_path(self.data["versions"], k)
            for r in range(max(self.sizes.repeat, 3)):
                for which in (("localreg", "floor") if r % 2 == 0 else ("floor", "localreg")):
                    dest = self.fresh(f"out-v{k}-{which}")
                    if which == "localreg":
                        res = self.run.step("localreg", "lr_materialize", home=home, ref=f"model-c:v{k}", dest=dest)
                        res["index"] = k
                    else:
                        os.makedirs(dest)
                        res = self.run.cmd(f"cp {src} {dest}/")
                    self.put("versions", which, f"materialize_v{k}", res)
                    shutil.rmtree(dest, ignore_errors=True)

    def links(self) -> None:
        s = self.sizes
        home = self.fresh("localreg-links")
        say(f"building {s.links:,} registry links (setup, not measured)")
        self.notes["links_setup"] = self.run.step("localreg", "lr_build_links", home=home,
                                                  sources=s.link_sources, links=s.links)
        colls = self.notes["links_setup"].get("collections", 1)
        ref = f"{ORG}/wandb-registry-bench/c{colls // 2:05d}:prod"
        for _ in range(s.repeat):
            self.put("links", "localreg", "resolve", self.run.step("localreg", "lr_resolve", home=home, ref=ref))
        shutil.rmtree(home, ignore_errors=True)

    def startup(self) -> None:
        py, peers = self.run.localreg_python, self.run.peers_python
        script = os.path.join(os.path.dirname(py), "localreg")
        helpcmd = [py, script, "--help"] if os.path.exists(script) else [py, "-m", "localreg", "--help"]
        lenv = self.run._env("localreg", None)
        penv = self.run._env("mlflow", None)
        cases = [("localreg", "python -c pass", [py, "-c", "pass"], lenv, 10),
                 ("localreg", "import localreg", [py, "-c", "import localreg"], lenv, 10),
                 ("localreg", "import localreg; localreg.Store", [py, "-c", "import localreg; localreg.Store"], lenv, 10),
                 ("localreg", "localreg --help", helpcmd, lenv, 10)]
        if set(self.systems) & {"mlflow", "wandb", "dvc"}:
            cases += [("peers", "python -c pass", [peers, "-c", "pass"], penv, 5),
                      ("mlflow", "import mlflow", [peers, "-c", "import mlflow"], penv, 5),
                      ("wandb", "import wandb", [peers, "-c", "import wandb"], penv, 5),
                      ("dvc", "import dvc.repo", [peers, "-c", "import dvc.repo"], penv, 5)]
        subprocess.run(["sync"])
        for system, label, argv, env, n in cases:
            self.run.wall(argv, env)  # warm the page cache
            times = [self.run.wall(argv, env) for _ in range(n)]
            self.put("startup", system, label, {"seconds": statistics.median(times), "all": times})


# -- summarising ----------------------------------------------------------------------------------


def med(results: list[dict] | None, key: str = "seconds") -> float | None:
    vals = [r[key] for r in results or [] if key in r and r[key] is not None and "failed" not in r]
    return statistics.median(vals) if vals else None


def peak(results: list[dict] | None) -> float | None:
    vals = [r["maxrss_kib"] for r in results or [] if "maxrss_kib" in r]
    return max(vals) / 1024 if vals else None


def fs(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 0.001:
        return f"{x * 1e6:.0f} µs"
    if x < 0.1:
        return f"{x * 1000:.1f} ms"
    if x < 10:
        return f"{x:.2f} s"
    return f"{x:.1f} s"


def fb(n: float) -> str:
    return f"{n / MIB:,.0f} MiB" if n < 10 * 1024 * MIB else f"{n / (1024 * MIB):,.1f} GiB"


def summarise(b: Bench) -> dict:
    """Medians per workload, system and phase, plus the figures the targets need."""
    R = b.results
    out: dict[str, Any] = {"cells": {}, "rss": {}}
    for w, systems in R.items():
        for system, phases in systems.items():
            for phase, runs in phases.items():
                out["cells"][f"{w}/{system}/{phase}"] = med(runs)
                out["rss"][f"{w}/{system}/{phase}"] = peak(runs)
    logical = b.notes.get("versions_logical_bytes", 0)
    growth = {}
    for system, phases in R.get("versions", {}).items():
        runs = phases.get("log")
        if runs and "store_bytes" in runs[0]:
            total = runs[0]["store_bytes"] + (runs[0].get("db_bytes") or 0)  # bytes and their index
            growth[system] = {"bytes": total, "ratio": total / logical, "blob_bytes": runs[0]["store_bytes"],
                              "per_version": sum(runs[0]["times"]) / len(runs[0]["times"]),
                              "db_bytes": runs[0].get("db_bytes")}
        elif runs:
            growth[system] = {"failed": runs[0].get("failed")}
    out["growth"] = growth
    out["logical"] = logical
    return out


def cell(S: dict, w: str, system: str, phase: str, R: dict, rss: bool = True) -> str:
    runs = R.get(w, {}).get(system, {}).get(phase)
    if not runs:
        return "—"
    if any("failed" in r for r in runs) and med(runs) is None:
        return "failed"
    if any(r.get("possible") is False for r in runs):
        return "not possible"
    t = fs(med(runs))
    p = peak(runs)
    return f"{t} ({p:.0f} MiB)" if rss and p is not None else t


def paired(R: dict, a: tuple[str, str, str], b: tuple[str, str, str]) -> float | None:
    """Median over repeats of a[i] / b[i]: two measures taken moments apart, run by run."""
    ra = R.get(a[0], {}).get(a[1], {}).get(a[2]) or []
    rb = R.get(b[0], {}).get(b[1], {}).get(b[2]) or []
    ratios = [x["seconds"] / y["seconds"] for x, y in zip(ra, rb)
              if x.get("seconds") and y.get("seconds") and "failed" not in x and "failed" not in y]
    return statistics.median(ratios) if ratios else None


def verdict(ratio: float | None, limit: float) -> str:
    """``met``/``missed`` for "at most ``limit``"; a miss says by how much, as a percentage or a factor."""
    if ratio is None:
        return "not measured"
    if ratio <= limit:
        return "**met**"
    over = ratio / limit
    return f"**missed** by {(over - 1) * 100:.0f}%" if over < 2 else f"**missed** by {over:.1f}x"


def targets(b: Bench, S: dict) -> list[tuple[str, str, str, str, str]]:
    """``(target, localreg, baseline, ratio, verdict)`` rows; ratios of paired runs where there is a baseline."""
    R = b.results
    c = S["cells"]
    rows: list[tuple[str, str, str, str, str]] = []

    def g(key: str) -> float | None:
        return c.get(key)

    la = g("small/localreg/log")
    for peer in ("mlflow", "wandb", "dvc"):
        p = g(f"small/{peer}/log")
        if la and p:
            rows.append((f"(a) log ≥ 5x faster than {TITLES[peer]}", fs(la), fs(p), f"{p / la:.1f}x faster",
                         verdict(5 * la / p, 1.0)))
    r = paired(R, ("small", "localreg", "log"), ("small", "floor", "cp"))
    if r is not None:
        rows.append(("(a) log faster than `cp -r`", fs(la), f"cp -r: {fs(g('small/floor/cp'))}", f"{r:.2f}x of cp -r",
                     verdict(r, 1.0)))
    ra = g("small/localreg/relog")
    if ra is not None:
        rows.append(("(a) re-log unchanged < 0.1 s", fs(ra), "—", f"{ra / 0.1:.2f}x of 0.1 s", verdict(ra, 0.1)))
    r = paired(R, ("big", "localreg", "log"), ("big", "floor", "log"))
    if r is not None:
        rd = paired(R, ("big", "localreg", "log"), ("big", "floor", "log_durable"))
        rows.append(("(b) log ≤ 1.2x `sha256sum` + `cp`", fs(g("big/localreg/log")),
                     f"sha256sum + cp: {fs(g('big/floor/log'))}; + sync: {fs(g('big/floor/log_durable'))}",
                     f"{r:.2f}x" + (f" ({rd:.2f}x of the durable one)" if rd else ""), verdict(r, 1.2)))
    r = paired(R, ("big", "localreg", "log_immutable"), ("big", "floor", "sha"))
    if r is not None:
        rows.append(("(b) immutable log ≤ 1.2x `sha256sum` alone", fs(g("big/localreg/log_immutable")),
                     f"sha256sum: {fs(g('big/floor/sha'))}", f"{r:.2f}x", verdict(r, 1.2)))
    big_rss = [S["rss"].get(f"big/localreg/{p}") for p in ("log", "relog", "log_immutable")]
    big_rss = [x for x in big_rss if x is not None]
    if big_rss:
        rows.append(("(b) peak RSS < 100 MiB (logging the big file)", f"{max(big_rss):.0f} MiB",
                     "whole process, worst run", f"{max(big_rss) / 100:.2f}x of 100 MiB", verdict(max(big_rss), 100)))
    gr = S["growth"].get("localreg", {})
    if "ratio" in gr:
        others = ", ".join(f"{TITLES[s]} {v['ratio']:.0%}" for s, v in S["growth"].items() if s != "localreg" and "ratio" in v)
        rows.append(("(c) store growth < 20% of logical", fb(gr["bytes"]), f"logical {fb(S['logical'])}; {others}",
                     f"{gr['ratio']:.1%}", verdict(gr["ratio"], 0.20)))
    worst = None
    for phase in R.get("versions", {}).get("localreg", {}):
        if phase.startswith("materialize_v"):
            r = paired(R, ("versions", "localreg", phase), ("versions", "floor", phase))
            if r is not None and (worst is None or r > worst[0]):
                worst = (r, phase)
    if worst:
        phase = worst[1]
        rows.append(("(c) materialize any version ≤ 1.5x `cp` of its file",
                     f"{fs(g(f'versions/localreg/{phase}'))} ({phase[len('materialize_'):]}, the worst)",
                     f"cp: {fs(g(f'versions/floor/{phase}'))}", f"{worst[0]:.2f}x", verdict(worst[0], 1.5)))
    for w, label in (("tiny", "4 KiB"), ("big", f"{b.sizes.big_size // MIB} MiB")):
        p = g(f"{w}/localreg/publish")
        if p is not None:
            warm = med(R[w]["localreg"]["publish"], "warm_median")
            commit = med(R[w]["localreg"]["publish"], "commit")
            rows.append((f"publish < 5 ms ({label} artifact)", fs(p),
                         f"of which COMMIT (fsync) {fs(commit)}; next links in the same process: {fs(warm)}",
                         f"{p / 0.005:.2f}x of 5 ms", verdict(p, 0.005)))
    rl = g("links/localreg/resolve")
    if rl is not None:
        setup = b.notes.get("links_setup", {})
        first = med(R["links"]["localreg"]["resolve"], "first")
        small = g("tiny/localreg/resolve")
        rows.append((f"resolve < 2 ms with {setup.get('links', 0):,} links", fs(rl),
                     f"first call in a process: {fs(first)}; store with 1 link: {fs(small)}",
                     f"{rl / 0.002:.3f}x of 2 ms", verdict(rl, 0.002)))
    for w, label, cpname in (("small", "(a)", "cp -r"), ("big", "(b)", "cp")):
        r = paired(R, (w, "localreg", "materialize"), (w, "floor", "materialize"))
        cp = g(f"{w}/floor/materialize")
        if r is not None:
            rows.append((f"{label} materialize (copy) ≤ 1.2x `{cpname}`", fs(g(f"{w}/localreg/materialize")),
                         f"{cpname}: {fs(cp)}", f"{r:.2f}x", verdict(r, 1.2)))
        r = paired(R, (w, "localreg", "materialize_hardlink"), (w, "floor", "materialize"))
        if r is not None:
            how = "packed files cannot be linked: copies" if w == "small" else "a chunked file cannot be linked: copies"
            rows.append((f"{label} materialize, link_mode=hardlink, far below `{cpname}` (≤ 0.25x; {how})",
                         fs(g(f"{w}/localreg/materialize_hardlink")), f"{cpname}: {fs(cp)}", f"{r:.2f}x",
                         verdict(r, 0.25)))
    r = paired(R, ("big", "localreg", "materialize_immutable_hardlink"), ("big", "floor", "materialize"))
    if r is not None:
        rows.append(("(b) logged with link=True, materialize link_mode=hardlink ≤ 0.25x `cp`",
                     fs(g("big/localreg/materialize_immutable_hardlink")), f"cp: {fs(g('big/floor/materialize'))}",
                     f"{r:.2f}x", verdict(r, 0.25)))
    st = R.get("startup", {})
    base = med(st.get("localreg", {}).get("python -c pass"))
    for label, limit in (("import localreg", 0.150), ("localreg --help", 0.300)):
        v = med(st.get("localreg", {}).get(label))
        if v is not None:
            extra = ""
            if label == "import localreg":
                ml = med(st.get("mlflow", {}).get("import mlflow"))
                extra = f"; import mlflow: {fs(ml)}" if ml else ""
            rows.append((f"`{label}` < {limit * 1000:.0f} ms (whole process)", fs(v),
                         f"python -c pass: {fs(base)}{extra}", f"{v / limit:.2f}x of {limit * 1000:.0f} ms",
                         verdict(v, limit)))
    return rows


def markdown(b: Bench, S: dict, machine: str, source: dict) -> str:
    R = b.results
    s = b.sizes
    systems = [x for x in SYSTEMS if x in b.systems]
    head = "| workload · phase | " + " | ".join(TITLES[x] for x in systems) + " |"
    sep = "|---|" + "---|" * len(systems)
    loads = [r["load"] for ws in R.values() for ph in ws.values() for runs in ph.values() for r in runs if "load" in r]
    dirty = f", plus {source['dirty_files']} uncommitted files" if source.get("dirty_files") else ""
    lines = [f"localreg: {source['source']} at commit {source['head']}{dirty} (tree {source['tree_sha256']}). "
             f"Machine: {machine}. One fsync of 4 KiB: {fs(b.run.fsync)} (median); "
             f"load average during the run: median {statistics.median(loads) if loads else 0:.1f}, "
             f"max {max(loads) if loads else 0:.1f} (other work shared the machine).", "",
             f"Median of {s.repeat} runs for localreg and the floor, {s.peer_repeat} for the others; time of the verb, "
             "in a process of its own (peak RSS of that process). Start-up (imports, opening the store or client, "
             "`wandb.init`) is not in these times: it has its own row.", "",
             head, sep]
    wl = {"small": f"(a) {s.small_files:,} × 4 KiB", "big": f"(b) 1 × {s.big_size // MIB} MiB"}
    for w in ("small", "big"):
        for phase, label in (("log", "log a new version"), ("relog", "log the unchanged data again"),
                             ("publish", "publish to a registry with an alias"),
                             ("materialize", "resolve the alias, materialize in a new folder")):
            row = []
            for system in systems:
                if system == "floor":
                    if phase == "log":
                        row.append(cell(S, w, "floor", "log", R) + " (sha256sum + cp)")
                    elif phase == "materialize":
                        row.append(cell(S, w, "floor", "materialize", R) + " (cp)")
                    else:
                        row.append("—")
                    continue
                text = cell(S, w, system, phase, R, rss=phase != "publish")
                if system == "dvc" and phase == "publish" and text not in ("—", "failed"):
                    text += " ²"
                if system == "wandb" and text == "not possible":
                    text += " ¹"
                row.append(text)
            lines.append(f"| {wl[w]}: {label} | " + " | ".join(row) + " |")
    if "versions" in R:
        row, row2 = [], []
        for system in systems:
            gr = S["growth"].get(system)
            if system == "floor":
                row.append("—")
                row2.append(f"{fb(S['logical'])} (logical, 100%)")
            elif not gr:
                row.append("—")
                row2.append("—")
            elif "failed" in gr:
                row.append("failed")
                row2.append("failed")
            else:
                row.append(fs(gr["per_version"]))
                row2.append(f"{fb(gr['bytes'])} ({gr['ratio']:.0%})")
        lines.append(f"| (c) {s.versions} × {s.version_size // MIB} MiB: log one version (mean) | " + " | ".join(row) + " |")
        lines.append(f"| (c) store after {s.versions} versions, files + database (% of logical) | " + " | ".join(row2) + " |")
    row = []
    for system in systems:
        row.append(cell(S, "tiny", system, "publish", R, rss=False) if system in ("localreg", "mlflow") else "—")
    lines.append("| publish a 4 KiB artifact | " + " | ".join(row) + " |")
    st = R.get("startup", {})
    imports = {"localreg": "import localreg", "mlflow": "import mlflow", "wandb": "import wandb", "dvc": "import dvc.repo"}
    row = []
    for system in systems:
        if system == "floor":
            row.append(f"python -c pass: {fs(med(st.get('localreg', {}).get('python -c pass')))}")
        else:
            row.append(fs(med(st.get(system, {}).get(imports[system]))))
    lines.append("| start-up: `python -c 'import X'`, whole process | " + " | ".join(row) + " |")
    lines += ["", "¹ W&B offline cannot link or read: "]
    wb_err = []
    for w in ("small", "big"):
        for phase in ("publish", "materialize"):
            for r in R.get(w, {}).get("wandb", {}).get(phase, []):
                for k in ("error", "error_artifact_link", "error_api"):
                    if k in r and r[k] not in wb_err:
                        wb_err.append(r[k])
    lines[-1] += "; ".join(f"`{e}`" for e in wb_err) + "."
    lines += ["² DVC has no registry without git (GTO publishes by git tags); with `dvc init --no-scm` the stand-in "
              "is copying the `.dvc` pointer file to a registry folder under `NAME@ALIAS`, and materialize is "
              "`dvc checkout` in a new workspace sharing the cache (cache type `reflink,copy`: copies on ext4).",
              "", "### Targets", "",
              "Ratios are medians over the repeats of localreg's time over the baseline's, each pair measured "
              "moments apart (the floor runs just before localreg in one repeat and just after it in the next).", "",
              "| target | localreg | baseline (same run) | ratio | verdict |", "|---|---|---|---|---|"]
    for t in targets(b, S):
        lines.append("| " + " | ".join(t) + " |")
    lines += ["", "### localreg in detail", "", "| measure | time | peak RSS |", "|---|---|---|"]
    detail = [("small", "materialize_hardlink", "(a) materialize, link_mode=hardlink (small files are packed: copies)"),
              ("big", "materialize_hardlink", "(b) materialize, link_mode=hardlink, default (chunked) store: copies"),
              ("big", "log_immutable", "(b) log with link=True (policy=\"immutable\")"),
              ("big", "materialize_immutable_hardlink", "(b) immutable store: materialize, hardlink (verifies: reads once)"),
              ("big", "materialize_immutable_copy", "(b) immutable store: materialize, copy"),
              ("big", "floor/sha", "(b) `sha256sum` alone"), ("big", "floor/cp", "(b) `cp` alone"),
              ("big", "floor/log_durable", "(b) `sha256sum` + `cp` + `sync FILE` (durable, as localreg's log is)"),
              ("small", "floor/sha", "(a) `sha256sum` of every file"), ("small", "floor/cp", "(a) `cp -r` alone")]
    for w, phase, label in detail:
        system, ph = phase.split("/") if "/" in phase else ("localreg", phase)
        runs = R.get(w, {}).get(system, {}).get(ph)
        if runs:
            p = peak(runs)
            lines.append(f"| {label} | {fs(med(runs))} | {f'{p:.0f} MiB' if p else '—'} |")
    if "links_setup" in b.notes:
        ls = b.notes["links_setup"]
        lines.append(f"| building {ls.get('links', 0):,} links with `registries.link` in one transaction (setup) "
                     f"| {fs(ls.get('seconds'))} | {ls.get('maxrss_kib', 0) / 1024:.0f} MiB |")
    st = R.get("startup", {}).get("localreg", {})
    for label in ("import localreg; localreg.Store", "localreg --help"):
        if label in st:
            lines.append(f"| `{label}` (whole process) | {fs(med(st[label]))} | — |")
    return "\n".join(lines) + "\n"


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    fstype = "?"
    try:
        out = subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True, text=True).stdout.splitlines()
        fstype = out[1].split()[1]
    except Exception:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {fstype} on a virtual disk, "
            f"Linux {platform.release()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small workloads, one repeat: a smoke run")
    ap.add_argument("--dir", default=None, help="work folder parent (default: the system temp folder)")
    ap.add_argument("--out", default=None, help="results folder (default bench/results, or bench/results/quick)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset of " + ",".join(SYSTEMS))
    ap.add_argument("--peers-python", default=None, help="an interpreter that has the peers (skips the venv)")
    ap.add_argument("--localreg-python", default=None,
                    help="an interpreter with localreg's dependencies (default: bench/.venv-localreg, made if missing)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--source", choices=("worktree", "head"), default="worktree",
                    help="measure a copy of the working tree's localreg/ (default) or of the last commit's")
    args = ap.parse_args()
    sizes = Sizes.quick() if args.quick else Sizes.full()
    systems = [s for s in SYSTEMS if s in args.systems.split(",")]
    out = args.out or os.path.join(BENCH, "results", "quick" if args.quick else "")
    os.makedirs(out, exist_ok=True)
    peers = ensure_peers(args.peers_python) if set(systems) & {"mlflow", "wandb", "dvc"} else sys.executable
    work = tempfile.mkdtemp(prefix="localreg-compare-", dir=args.dir)
    started = time.perf_counter()
    try:
        lr_python = ensure_localreg_env(args.localreg_python)
        src, source = snapshot_source(work, args.source, lr_python)
        say(f"measuring localreg from {args.source} (HEAD {source['head']}, {source['dirty_files']} changed files, "
            f"tree {source['tree_sha256']})")
        runner = Runner(work, peers, src, lr_python)
        runner.calibrate()
        b = Bench(sizes, work, runner, systems)
        b.generate()
        b.startup()
        b.workload("small", b.data["small"], "dataset")
        b.workload("big", b.data["big"], "model")
        b.tiny_publish()
        b.versions()
        if "localreg" in systems:
            b.links()
        machine = machine_line()
        S = summarise(b)
        md = markdown(b, S, machine, source)
        stem = os.path.join(out, "compare")
        with open(stem + ".json", "w") as f:
            json.dump({"machine": machine, "source": source, "sizes": sizes.to_dict(), "systems": systems, "notes": b.notes,
                       "summary": S, "results": b.results, "spawn_seconds": runner.spawn, "fsync_seconds": runner.fsync,
                       "wall_seconds": time.perf_counter() - started}, f, indent=1, default=str)
        with open(stem + ".md", "w") as f:
            f.write(md)
        if peers != sys.executable:
            subprocess.run([peers, os.path.join(BENCH, "chart.py"), stem + ".json", stem + ".png"], check=False)
        print(md)
        say(f"done in {time.perf_counter() - started:.0f} s; results in {os.path.relpath(out, REPO) or '.'}/")
    finally:
        if args.keep:
            say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
