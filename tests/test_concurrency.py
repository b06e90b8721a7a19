"""Many processes on one store at once: nothing lost, nothing duplicated, no "database is locked".

Real processes (``subprocess``), a real SQLite file and real blob files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from localreg import ingest, versions
from localreg.fsck import fsck
from localreg.store import Store

WRITERS = 8
PER_WRITER = 50

WRITER = r"""
import os, sys
import localreg as wandb
w, n = int(sys.argv[1]), int(sys.argv[2])
run = wandb.init(entity="team", project="conc", job_type="writer", config={"writer": w})
for i in range(n):
    artifact = wandb.Artifact("shared", type="model", metadata={"writer": w, "i": i})
    with artifact.new_file("id.txt") as f:
        f.write(f"{w}-{i}")
    run.log_artifact(artifact)
    run.link_artifact(artifact, "acme/wandb-registry-model/shared", aliases=["candidate", f"w{w}"])
run.finish()
print("done")
"""

READER = r"""
import json, os, sys, tempfile, time
from localreg import ingest, versions
from localreg.objects import Objects, verify_tree
from localreg.store import Store
stop, deadline = sys.argv[1], time.time() + float(sys.argv[2])
store = Store(os.environ["LOCALREG_HOME"])
seen = {"reads": 0, "problems": []}
while not os.path.exists(stop) and time.time() < deadline:
    for ref in ("team/conc/shared:latest", "acme/wandb-registry-model/shared:candidate"):
        try:
            v = versions.resolve(store, ref)
        except LookupError:
            continue  # nothing logged or linked yet
        entries = versions.entries(store, v)
        if not entries:
            seen["problems"].append(f"{v.qualified_name} has no files")
            continue
        if v.is_link and versions.get(store, v.source_id).digest != v.digest:
            seen["problems"].append(f"half-made link {v.qualified_name}")
        root = tempfile.mkdtemp()
        Objects(store).materialize(entries, root)
        bad = verify_tree(entries, root)
        if bad:
            seen["problems"].append(f"{v.qualified_name}: {bad}")
        seen["reads"] += 1
    page = versions.list_versions(store, where="c.name = 'shared'", limit=20, order="-version")
    for v in page.items:
        if v.file_count != 1:
            seen["problems"].append(f"{v.qualified_name} lists {v.file_count} files")
print(json.dumps(seen))
"""


def _env(home) -> dict:
    env = dict(os.environ, LOCALREG_HOME=str(home), LOCALREG_ORG="acme")
    return env


def test_many_writers_and_readers(tmp_path, home):
    Store(home, org="acme").close()  # created once, as a real deployment would be
    stop = tmp_path / "stop"
    env = _env(home)
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(stop), "120"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(PER_WRITER)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(WRITERS)
    ]
    outs = [p.communicate(timeout=300) for p in writers]
    stop.write_text("stop")
    reader_outs = [p.communicate(timeout=120) for p in readers]
    for p, (out, err) in zip(writers, outs):
        assert p.returncode == 0, err
        assert err == "", err  # no warning, no "database is locked", nothing
        assert out.strip() == "done"
    for p, (out, err) in zip(readers, reader_outs):
        assert p.returncode == 0, err
        seen = json.loads(out)
        assert seen["problems"] == []

    store = Store(home)
    total = WRITERS * PER_WRITER
    sources = versions.list_versions(store, where="c.project_id IS NOT NULL", limit=total + 10).items
    links = versions.list_versions(store, where="c.registry_id IS NOT NULL", limit=total + 10).items
    assert [v.index for v in sources] == list(range(total))
    assert [v.index for v in links] == list(range(total))
    # every writer's every version is there once, and linked once
    ids = sorted(versions.entries(store, v)[0].digest for v in sources)
    assert len(set(ids)) == total
    assert sorted(l.source_id for l in links) == sorted(v.id for v in sources)
    # every alias on exactly one version; latest on the newest
    assert [v.index for v in sources if "latest" in v.aliases] == [total - 1]
    assert [v.index for v in links if "latest" in v.aliases] == [total - 1]
    assert len([l for l in links if "candidate" in l.aliases]) == 1
    for w in range(WRITERS):
        holders = [l for l in links if f"w{w}" in l.aliases]
        assert len(holders) == 1
        assert holders[0].metadata["writer"] == w and holders[0].metadata["i"] == PER_WRITER - 1
    assert fsck(store).ok


SAME_BLOB = r"""
import os, sys
from localreg.objects import Objects
from localreg.store import Store
store = Store(os.environ["LOCALREG_HOME"])
entries = Objects(store).add_files([("big.bin", sys.argv[1]), ("small.bin", sys.argv[2])])
print(" ".join(e.digest for e in entries))
"""


def test_two_processes_store_the_same_blob(tmp_path, home):
    Store(home).close()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(24 << 20))
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(1000))
    env = _env(home)
    procs = [subprocess.Popen([sys.executable, "-c", SAME_BLOB, str(big), str(small)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and err == "", err
    assert len({out for out, _ in outs}) == 1
    store = Store(home)
    from localreg.objects import Objects
    big_digest, small_digest = outs[0][0].split()
    assert Objects(store).read_bytes(big_digest) == big.read_bytes()
    assert Objects(store).read_bytes(small_digest) == small.read_bytes()
    assert fsck(store).ok


UI_LOGS = 15


def _start_ui(home, tmp_path):
    import re
    import threading

    log = open(tmp_path / "ui.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "localreg", "--home", str(home), "ui", "--port", "0", "--no-open"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    found = re.search(r"at (http://127\.0\.0\.1:\d+/)", first[0] if first else "")
    if not found:
        proc.kill()
        raise AssertionError(f"the UI did not start: {first} {(tmp_path / 'ui.log').read_text()}")
    return proc, log, found.group(1).rstrip("/")


def test_web_ui_links_while_the_cli_logs(tmp_path, home, make_files):
    """The UI's JSON API links every version the CLI logs, as it lands; nothing is lost or half-made."""
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    import http.cookiejar
    import urllib.error
    import urllib.request

    store = Store(home, org="acme")
    src = make_files({"w.bin": "v0"})
    ingest.log_path(store, src, name="model", type="model", project="p")
    proc, log, url = _start_ui(home, tmp_path)
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        token = json.loads(opener.open(f"{url}/api/session", timeout=30).read())["csrf_token"]

        env = _env(home)
        script = (
            "import sys, os\n"
            "from localreg import ingest\n"
            "from localreg.store import Store\n"
            "store = Store(os.environ['LOCALREG_HOME'])\n"
            "for i in range(1, int(sys.argv[1]) + 1):\n"
            "    p = os.path.join(sys.argv[2], f'w{i}')\n"
            "    os.makedirs(p)\n"
            "    open(os.path.join(p, 'w.bin'), 'w').write(f'v{i}')\n"
            "    ingest.log_path(store, p, name='model', type='model', project='p')\n"
        )
        writer = subprocess.Popen([sys.executable, "-c", script, str(UI_LOGS), str(tmp_path / "w")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        linked: set[str] = set()
        errors: list[str] = []
        deadline = time.time() + 120
        entity = store.default("entity")
        while time.time() < deadline and len(linked) < UI_LOGS + 1:
            for i in range(UI_LOGS + 1):
                ref = f"{entity}/p/model:v{i}"
                if ref in linked:
                    continue
                body = json.dumps({"source": ref, "target": "acme/wandb-registry-model/live",
                                   "aliases": ["candidate"]}).encode()
                req = urllib.request.Request(f"{url}/api/links", data=body, method="POST",
                                             headers={"Content-Type": "application/json", "X-CSRF-Token": token,
                                                      "Origin": url})
                try:
                    opener.open(req, timeout=30).read()
                    linked.add(ref)
                except urllib.error.HTTPError as e:
                    text = e.read().decode()
                    if e.code == 404:
                        continue  # not logged yet
                    errors.append(f"{e.code} {text}")
            time.sleep(0.05)
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0 and err == "", err
        assert errors == []
        assert len(linked) == UI_LOGS + 1
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        log.close()

    store = Store(home)
    sources = versions.list_versions(store, where="c.project_id IS NOT NULL", limit=100).items
    links = versions.list_versions(store, where="c.registry_id IS NOT NULL", limit=100).items
    assert [v.index for v in sources] == list(range(UI_LOGS + 1))
    assert [v.index for v in links] == list(range(UI_LOGS + 1))
    assert sorted(l.source_id for l in links) == sorted(v.id for v in sources)
    assert len([l for l in links if "candidate" in l.aliases]) == 1
    assert fsck(store).ok
