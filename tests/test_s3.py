"""Blobs on real S3 servers: what only an object store can get wrong.

The store's whole backend-parametrised suite already runs on a moto server
(``blob_backend`` in conftest.py). Here: ages and gc's grace period, writes
that go straight to their final key and never half-appear, incomplete
multipart uploads, folder markers, options kept with the store, and, on
SeaweedFS (a real distributed object store), SIGKILL during a 256 MiB log
and gc running in a loop beside a log.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from localreg import fsck as fsck_mod
from localreg import gc as gc_mod
from localreg import ingest, objstore, versions
from localreg.blobs import BlobStore, parse_blob_options
from localreg.cli import cli
from localreg.errors import InvalidInput
from localreg.objects import Objects, verify_tree
from localreg.store import Store


class Requests:
    """Counts the S3 requests a store's client sends, by operation name."""

    def __init__(self, blobs: BlobStore) -> None:
        self.ops: list[str] = []
        self.keys: list[str] = []
        blobs.fs.s3.meta.events.register("before-call.s3", self._seen)

    def _seen(self, model=None, params=None, **_kw):
        self.ops.append(model.name)
        if isinstance(params, dict) and "Key" in params:
            self.keys.append(params["Key"])

    def clear(self) -> None:
        self.ops.clear()
        self.keys.clear()

    def count(self, op: str | None = None) -> int:
        return len(self.ops) if op is None else self.ops.count(op)


@pytest.fixture
def s3_store(home, s3_env):
    bucket = s3_env.new_bucket()
    store = Store(home, blob_url=f"s3://{bucket}/reg", org="acme", entity="team", project="demo")
    yield store
    store.close()


def _files(root, n: int, size: int = 4096) -> str:
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        with open(os.path.join(root, f"f{i:05d}.bin"), "wb") as f:
            f.write(os.urandom(size))
    return str(root)


def _keys(server, bucket_prefix: str) -> list[str]:
    bucket, _, prefix = bucket_prefix.partition("/")
    out = []
    for page in server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return out


def _uploads(server, bucket_prefix: str) -> list[dict]:
    bucket, _, prefix = bucket_prefix.partition("/")
    return server.client().list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])


def _run_store_clock_ahead(store: Store, seconds: float) -> None:
    """An S3 object cannot be backdated: run this store's view of the server clock ahead instead."""
    server_now = type(store.blobs).now
    store.blobs.now = lambda: server_now(store.blobs) + seconds  # type: ignore[method-assign]


# -- ages -----------------------------------------------------------------------------

def test_modified_time_reads_every_backends_field():
    """One function dates an object on local disk, memory, S3, GCS and Azure."""
    import datetime as dt

    t = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert objstore.modified_time({"mtime": 1700000000.5}) == 1700000000.5           # local
    assert objstore.modified_time({"created": 1700000000.0}) == 1700000000.0         # memory
    assert objstore.modified_time({"LastModified": t}) == t.timestamp()              # s3fs
    assert objstore.modified_time({"updated": "2026-01-02T03:04:05.000Z"}) == t.timestamp()  # gcsfs
    assert objstore.modified_time({"last_modified": t.replace(tzinfo=None)}) == t.timestamp()  # adlfs
    assert objstore.modified_time({"size": 3, "name": "x"}) is None
    assert objstore.modified_time({"LastModified": "not a date"}) is None


def test_listed_s3_objects_carry_their_last_modified(s3_store, make_files):
    ingest.log_path(s3_store, make_files({"a.txt": "hello"}), name="m", type="model")
    start = time.time()
    packs = list(s3_store.blobs.list_packs())
    assert packs and all(m is not None and abs(m - start) < 120 for _n, _s, m in packs)


def test_gc_never_removes_what_a_log_has_just_stored(s3_store, make_files, s3_env):
    """The default grace keeps a pack written but not yet recorded (a log still running)."""
    src = make_files({f"f{i}.txt": os.urandom(100) for i in range(20)})
    with s3_store.blobs.pack_writer() as pw:  # what a running log has stored and not yet recorded
        pw.add(b"bytes of a log that is still running")
        pending = pw.close()
    v, _ = ingest.log_path(s3_store, src, name="m", type="model")
    report = gc_mod.gc(s3_store)
    assert report.bytes_freed == 0 and report.orphan_files_removed == 0
    assert pending in {n for n, _s, _m in s3_store.blobs.list_packs()}
    assert fsck_mod.fsck(s3_store).ok
    _run_store_clock_ahead(s3_store, 7200)
    report = gc_mod.gc(s3_store)
    assert report.removed == [f"orphan pack {pending}"]
    root = s3_store.home.parent / "out"
    entries = versions.entries(s3_store, v)
    Objects(s3_store).materialize(entries, root)
    assert verify_tree(entries, root) == []


def test_gc_keeps_an_object_whose_age_it_cannot_read(tmp_path):
    assert gc_mod._young(None, time.time() + 3600)
    assert not gc_mod._young(0.0, 1.0)


# -- writes ------------------------------------------------------------------------------

def test_a_log_puts_each_pack_once_at_its_final_key(s3_store, tmp_path):
    """Packs go straight to their key: no temp object, no server-side copy, no delete."""
    src = _files(tmp_path / "src", 1000)
    seen = Requests(s3_store.blobs)
    ingest.log_path(s3_store, src, name="small", type="dataset")
    assert seen.count("CopyObject") == 0 and seen.count("DeleteObject") == 0
    assert not [k for k in seen.keys if "/tmp/" in k]
    writes = seen.count("PutObject") + seen.count("UploadPart")
    assert 1 <= writes <= 2  # 4 MiB of small files: one pack, one PUT
    assert seen.count() <= 20  # the budget: 20 requests per 1,000 small files


def test_a_big_pack_goes_up_in_parts_and_a_failure_leaves_nothing(s3_store, s3_env):
    """A pack past one part is a multipart upload; a failure aborts it: no key, no upload left."""
    part = objstore.PART_SIZE
    pw = s3_store.blobs.pack_writer()
    try:
        for _ in range(3):
            pw.add(os.urandom(part))
        raise RuntimeError("the source disappeared")
    except RuntimeError:
        pw.abort()
    prefix = s3_store.blobs.root
    assert _uploads(s3_env, prefix) == []
    assert not [k for k in _keys(s3_env, prefix) if k.endswith(".pack")]

    with s3_store.blobs.pack_writer() as pw:
        pieces = [os.urandom(part) for _ in range(3)]
        offsets = [pw.add(p) for p in pieces]
        name = pw.close()
    assert [s3_store.blobs.read_range(name, o, 100) for o in offsets] == [p[:100] for p in pieces]
    assert _uploads(s3_env, prefix) == []


def test_a_loose_object_is_hashed_before_it_is_sent_and_not_sent_twice(s3_store):
    data = os.urandom(3 << 20)
    seen = Requests(s3_store.blobs)
    w = s3_store.blobs.put_loose(io.BytesIO(data))
    assert s3_store.blobs.loose_exists(w.digest)
    sent = seen.count("PutObject") + seen.count("UploadPart")
    seen.clear()
    again = s3_store.blobs.put_loose(io.BytesIO(data))
    assert again.digest == w.digest and seen.count("PutObject") + seen.count("UploadPart") == 0
    assert sent >= 1


def test_a_loose_object_that_does_not_match_its_digest_is_not_stored(s3_store, s3_env):
    from localreg.errors import CorruptBlob

    with pytest.raises(CorruptBlob, match="expected"):
        s3_store.blobs.put_loose(io.BytesIO(b"these bytes"), expected="sha256:" + "0" * 64)
    assert not [k for k in _keys(s3_env, s3_store.blobs.root) if "/objects/" in k]


# -- leftovers ---------------------------------------------------------------------------

def test_incomplete_multipart_uploads_are_listed_by_fsck_and_aborted_by_gc(s3_store, s3_env):
    bucket, _, prefix = s3_store.blobs.root.partition("/")
    client = s3_env.client()
    up = client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/packs/killed.pack")
    client.upload_part(Bucket=bucket, Key=f"{prefix}/packs/killed.pack", UploadId=up["UploadId"],
                       PartNumber=1, Body=b"x" * 1024)
    outside = client.create_multipart_upload(Bucket=bucket, Key="someone-else/file")
    report = fsck_mod.fsck(s3_store)
    assert report.ok
    [found] = [f for f in report.leftovers if f.kind == "upload"]
    assert "packs/killed.pack" in found.message and up["UploadId"] in found.message

    young = gc_mod.gc(s3_store)
    assert young.kept_young == 1 and len(_uploads(s3_env, s3_store.blobs.root)) == 1
    _run_store_clock_ahead(s3_store, 7200)
    old = gc_mod.gc(s3_store)
    assert any(r.startswith("incomplete upload ") for r in old.removed)
    assert _uploads(s3_env, s3_store.blobs.root) == []
    # nothing outside the store's prefix is touched
    assert [u["UploadId"] for u in _uploads(s3_env, f"{bucket}/someone-else")] == [outside["UploadId"]]


def test_a_folder_marker_is_not_a_stray_file(s3_store, s3_env):
    bucket, _, prefix = s3_store.blobs.root.partition("/")
    s3_env.client().put_object(Bucket=bucket, Key=f"{prefix}/tmp/", Body=b"")
    s3_env.client().put_object(Bucket=bucket, Key=f"{prefix}/packs/", Body=b"")
    report = fsck_mod.fsck(s3_store)
    assert report.ok and [f for f in report.leftovers if f.kind in ("tmp", "orphan")] == []
    _run_store_clock_ahead(s3_store, 7200)
    assert gc_mod.gc(s3_store).orphan_files_removed == 0


# -- configuration -----------------------------------------------------------------------

def test_blob_options_parse_and_refuse_secrets():
    assert parse_blob_options(["endpoint_url=http://127.0.0.1:9000", "anon=false", "default_block_size=5242880",
                               "client_kwargs.region_name=eu-west-1"]) == {
        "endpoint_url": "http://127.0.0.1:9000", "anon": False, "default_block_size": 5242880,
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    for bad in ["secret=x", "key=AKIA", "client_kwargs.aws_secret_access_key=x", "token=t", "password=p"]:
        with pytest.raises(InvalidInput, match="never"):
            parse_blob_options([bad])
    with pytest.raises(InvalidInput, match="NAME=VALUE"):
        parse_blob_options(["endpoint_url"])


def test_init_keeps_the_endpoint_with_the_store_and_credentials_in_the_environment(
        tmp_path, s3_env, monkeypatch, runner):
    bucket = s3_env.new_bucket()
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    home = tmp_path / "home"
    result = runner.invoke(cli, ["--home", str(home), "init", "--blob-url", f"s3://{bucket}/reg",
                                 "--blob-option", f"endpoint_url={s3_env.endpoint}"])
    assert result.exit_code == 0, result.output
    info = Store(home).info()
    assert json.loads(info["blob_options"]) == {"endpoint_url": s3_env.endpoint}
    assert s3_env.secret not in json.dumps(info) and s3_env.key not in json.dumps(info)
    src = _files(tmp_path / "src", 3)
    result = runner.invoke(cli, ["--home", str(home), "log", src, "--name", "m", "--type", "model", "-p", "demo"])
    assert result.exit_code == 0, result.output
    assert [k for k in _keys(s3_env, f"{bucket}/reg") if k.endswith(".pack")]


def test_init_refuses_a_secret_option_and_writes_nothing(tmp_path, s3_env, runner):
    home = tmp_path / "home"
    result = runner.invoke(cli, ["--home", str(home), "init", "--blob-url", "s3://whatever/reg",
                                 "--blob-option", "aws_secret_access_key=hunter2"])
    assert result.exit_code != 0
    assert result.output.startswith("Error: blob option 'aws_secret_access_key' would store a secret")
    assert "Traceback" not in result.output
    assert not home.exists()


# -- SeaweedFS: crashes and races on a real distributed store ---------------------------

@pytest.fixture
def weed_env(seaweedfs, monkeypatch):
    for key, value in seaweedfs.env().items():
        monkeypatch.setenv(key, value)
    return seaweedfs


BIG = 256 << 20


def _weed_options(server) -> dict:
    # the endpoint kept with the store (this process also talks to the moto server
    # of the AWS_* variables: s3fs caches one client per set of options)
    return {"endpoint_url": server.endpoint}

LOG_CHILD = r"""
import os, sys
from localreg import ingest
from localreg.store import Store
store = Store(os.environ["LOCALREG_HOME"])
v, _ = ingest.log_path(store, sys.argv[1], name="big", type="dataset", project="p")
print(v.qualified_name, flush=True)
"""


def _big_source(path, size: int = BIG) -> str:
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "weights.bin"), "wb") as f:  # random: no chunk repeats
        for _ in range(size >> 20):
            f.write(os.urandom(1 << 20))
    return str(path)


def _start_log(home, src) -> subprocess.Popen:
    env = dict(os.environ, LOCALREG_HOME=str(home))
    return subprocess.Popen([sys.executable, "-c", LOG_CHILD, src], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, condition, timeout: float = 180.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if condition():
            return True
        time.sleep(0.02)
    return False


def _readable(store: Store, base) -> None:
    for v in versions.load(store, "1"):
        entries = versions.entries(store, v)
        root = base / f"check-{v.id}"
        Objects(store).materialize(entries, root)
        assert verify_tree(entries, root) == []


MOMENTS = {
    # a pack's multipart upload has begun: parts are on the server, no object yet
    "mid-upload": lambda server, prefix: any(_uploads(server, prefix)),
    # the first pack is stored; its rows are not
    "first-pack": lambda server, prefix: any(k.endswith(".pack") for k in _keys(server, prefix)),
    # most packs are stored
    "late": lambda server, prefix: sum(k.endswith(".pack") for k in _keys(server, prefix)) >= 3,
}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_sigkill_during_a_big_log_on_seaweedfs(moment, tmp_path, weed_env):
    bucket = weed_env.new_bucket()
    prefix = f"{bucket}/reg"
    home = tmp_path / "home"
    Store(home, blob_url=f"s3://{prefix}", org="acme", blob_options=_weed_options(weed_env)).close()
    src = _big_source(tmp_path / "src")

    proc = _start_log(home, src)
    reached = _wait_for(proc, lambda: MOMENTS[moment](weed_env, prefix))
    proc.send_signal(signal.SIGKILL)
    _out, err = proc.communicate(timeout=30)
    assert reached, f"the log ended before {moment}: {err[-2000:]}"

    store = Store(home)
    report = fsck_mod.fsck(store)
    assert report.ok, [p.message for p in report.problems]
    assert versions.load(store, "1") == []  # nothing half-logged is visible
    # gc, once the leftovers are past the grace period, leaves nothing: no pack, no upload
    _run_store_clock_ahead(store, 7200)
    gc_mod.gc(store)
    assert _uploads(weed_env, prefix) == []
    assert not [k for k in _keys(weed_env, prefix) if k.endswith(".pack")]
    assert fsck_mod.fsck(store).leftovers == []
    # and the version logs again
    v, _ = ingest.log_path(store, src, name="big", type="dataset", project="p")
    assert v.version == "v0"
    _readable(store, tmp_path)
    assert fsck_mod.fsck(store).ok
    store.close()


def test_gc_in_a_loop_never_removes_what_a_running_log_writes(tmp_path, weed_env):
    bucket = weed_env.new_bucket()
    home = tmp_path / "home"
    Store(home, blob_url=f"s3://{bucket}/reg", org="acme", blob_options=_weed_options(weed_env)).close()
    src = _big_source(tmp_path / "src", 128 << 20)
    store = Store(home)
    proc = _start_log(home, src)
    rounds = 0
    while proc.poll() is None:
        report = gc_mod.gc(store)  # the default grace: one hour
        assert report.bytes_freed == 0, report.removed
        rounds += 1
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert rounds >= 2
    report = fsck_mod.fsck(store)
    assert report.ok and [f for f in report.leftovers if f.kind != "unneeded"] == []
    _readable(store, tmp_path)
    store.close()


# -- the documentation -------------------------------------------------------------------

def test_the_object_storage_page_runs(tmp_path, s3_env):
    """docs/object-storage.md's S3 blocks, run as written against the moto server."""
    import re

    page = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "object-storage.md")
    with open(page, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"<!-- docs-test: skip: needs an S3 server[^>]*-->\n```bash\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    bucket_a, bucket_b = s3_env.new_bucket(), s3_env.new_bucket()
    script = blocks[0].replace("s3://my-models/", f"s3://{bucket_a}/") + "\n" + \
        blocks[1].replace("s3://models/", f"s3://{bucket_b}/")
    env = dict(os.environ)
    env.pop("AWS_ENDPOINT_URL_S3", None)
    env.pop("AWS_ENDPOINT_URL", None)
    env["ENDPOINT"] = s3_env.endpoint
    env["AWS_CONFIG_FILE"] = str(tmp_path / "aws-config")
    with open(env["AWS_CONFIG_FILE"], "w") as f:  # the profile the page names, pointing at moto
        f.write(f"[profile ml-registry]\nendpoint_url = {s3_env.endpoint}\nregion = us-east-1\n")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "aws-credentials")
    with open(env["AWS_SHARED_CREDENTIALS_FILE"], "w") as f:
        f.write(f"[ml-registry]\naws_access_key_id = {s3_env.key}\naws_secret_access_key = {s3_env.secret}\n")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(var, None)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "localreg").write_text(f"#!/bin/sh\nexec {sys.executable} -m localreg \"$@\"\n")
    (bindir / "localreg").chmod(0o755)
    env["PATH"] = f"{bindir}:{env['PATH']}"
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out" / "model.bin").read_text() == "w\n"
    assert "consistent" in done.stdout


# -- one blob store belongs to one registry ------------------------------------------------------

@pytest.mark.parametrize("server", ["moto", "seaweedfs"])
def test_a_second_registry_on_the_same_prefix_is_refused_and_the_first_stays_whole(
        server, tmp_path, request, runner):
    """The marker at the blob root names the registry; another home on that prefix is refused, nothing of it deleted."""
    from localreg.errors import UnaccountedStore

    env = request.getfixturevalue("s3_env" if server == "moto" else "weed_env")
    options = {"endpoint_url": env.endpoint}
    bucket = env.new_bucket()
    url = f"s3://{bucket}/reg"
    first = Store(tmp_path / "first", blob_url=url, org="acme", blob_options=options)
    v, _ = ingest.log_path(first, _files(tmp_path / "src", 20), name="m", type="model", project="p")
    marker = first.blobs.read_marker()
    assert marker is not None and marker["store_id"] == first.store_id
    keys = sorted(_keys(env, f"{bucket}/reg"))

    with pytest.raises(UnaccountedStore, match="holds the data of store " + first.store_id):
        Store(tmp_path / "second", blob_url=url, org="acme", blob_options=options)
    result = runner.invoke(cli, ["--home", str(tmp_path / "third"), "init", "--blob-url", url,
                                 "--blob-option", f"endpoint_url={env.endpoint}"])
    assert result.exit_code == 1 and result.output.startswith("Error: store ") and "Traceback" not in result.output
    assert sorted(_keys(env, f"{bucket}/reg")) == keys  # nothing written, nothing deleted

    _run_store_clock_ahead(first, 7200)
    gc_mod.gc(first)
    assert sorted(_keys(env, f"{bucket}/reg")) == keys
    _readable(first, tmp_path)
    first.close()


# -- reads: each pack once, in few requests ------------------------------------------------------

def test_verify_and_get_read_each_pack_once_in_few_requests(s3_store, tmp_path):
    """verify of 1,000 packed files and of a chunked file: a handful of ranged GETs, no request per file."""
    small, _ = ingest.log_path(s3_store, _files(tmp_path / "small", 1000), name="small", type="dataset")
    big_src = tmp_path / "big"
    big_src.mkdir()
    (big_src / "w.bin").write_bytes(os.urandom(24 << 20))
    big, _ = ingest.log_path(s3_store, str(big_src), name="big", type="dataset")
    seen = Requests(s3_store.blobs)
    for v, most in ((small, 3), (big, 6)):
        seen.clear()
        report = fsck_mod.verify(s3_store, v)
        assert report.ok and report.checked >= 1
        assert seen.count("HeadObject") == 0 and 1 <= seen.count("GetObject") <= most, seen.ops
    seen.clear()
    entries = versions.entries(s3_store, big)
    Objects(s3_store).materialize(entries, tmp_path / "out")
    assert verify_tree(entries, tmp_path / "out") == []
    assert seen.count("GetObject") <= 6, seen.ops


def test_verify_on_s3_names_a_damaged_chunk(s3_store, tmp_path, s3_env):
    """A flipped byte in a pack on S3 is found by the batched verify, as on disk."""
    v, _ = ingest.log_path(s3_store, _files(tmp_path / "small", 50), name="small", type="dataset")
    [pack] = [n for n, _s, _m in s3_store.blobs.list_packs()]
    bucket, _, key = s3_store.blobs.pack_path(pack).partition("/")
    body = bytearray(s3_env.client().get_object(Bucket=bucket, Key=key)["Body"].read())
    body[100] ^= 0xFF
    s3_env.client().put_object(Bucket=bucket, Key=key, Body=bytes(body))
    report = fsck_mod.verify(s3_store, v)
    assert not report.ok and len(report.bad) == 1
    assert "is corrupt" in next(iter(report.bad.values()))
