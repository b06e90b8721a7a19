"""SeaweedFS for bench/s3.py: tests/servers.py's ``weed mini``, plus its Prometheus port.

The benchmark counts requests on the server's side, the same way for every
client: SeaweedFS's S3 gateway counts each request it answers in
``SeaweedFS_s3_request_total{bucket, code, type}`` (a HEAD counts as a GET,
multipart calls as POST/PUT) and the bytes it sends and receives per bucket
in ``SeaweedFS_s3_bucket_traffic_{sent,received}_bytes_total``. ``weed mini``
serves them on ``-metricsPort``.

The server is ``tests/servers.py``'s :func:`start_seaweedfs` with ``metrics=True``.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

import servers  # noqa: E402  (tests/servers.py)
from servers import S3Server, ServerUnavailable  # noqa: E402

__all__ = ["Counts", "MeteredServer", "start_metered_seaweedfs", "ServerUnavailable"]


@dataclass
class Counts:
    """Requests by type, and bytes sent and received, over all buckets."""

    requests: dict[str, float] = field(default_factory=dict)
    sent: float = 0.0
    received: float = 0.0

    def __sub__(self, other: "Counts") -> "Counts":
        req = {k: v - other.requests.get(k, 0.0) for k, v in self.requests.items()}
        return Counts({k: v for k, v in req.items() if v}, self.sent - other.sent, self.received - other.received)

    @property
    def total(self) -> int:
        return int(sum(self.requests.values()))

    def by_type(self) -> dict[str, int]:
        """``{"PUT": 12, "GET": 3, ...}`` (a HEAD is a GET to SeaweedFS's counter)."""
        out: dict[str, int] = {}
        for labels, v in self.requests.items():
            kind = _label(labels, "type") or "?"
            out[kind] = out.get(kind, 0) + int(v)
        return out

    def errors(self) -> int:
        """Answers with a 4xx/5xx code (404s of existence checks included)."""
        return int(sum(v for labels, v in self.requests.items() if (_label(labels, "code") or "200")[0] in "45"))


def _label(labels: str, name: str) -> str | None:
    key = f'{name}="'
    at = labels.find(key)
    if at < 0:
        return None
    start = at + len(key)
    return labels[start:labels.index('"', start)]


@dataclass
class MeteredServer:
    server: S3Server
    metrics_url: str

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def counts(self) -> Counts:
        with urllib.request.urlopen(self.metrics_url, timeout=10) as r:
            text = r.read().decode()
        c = Counts()
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            name_labels, value = line.rsplit(" ", 1)
            name = name_labels.split("{", 1)[0]
            if name == "SeaweedFS_s3_request_total":
                c.requests[name_labels[len(name):]] = float(value)
            elif name == "SeaweedFS_s3_bucket_traffic_sent_bytes_total":
                c.sent += float(value)
            elif name == "SeaweedFS_s3_bucket_traffic_received_bytes_total":
                c.received += float(value)
        return c

    def settled_counts(self, timeout: float = 3.0) -> Counts:
        """The counters once they stop moving (a request is counted as its handler returns,
        which may be a moment after the client has its answer)."""
        last = self.counts()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.15)
            now = self.counts()
            if now.requests == last.requests and now.sent == last.sent:
                return now
            last = now
        return last

    def stop(self) -> None:
        self.server.stop()


def start_metered_seaweedfs(timeout: float = 60.0) -> MeteredServer:
    """``weed mini`` as tests/servers.py starts it, with Prometheus metrics on a free loopback port."""
    server = servers.start_seaweedfs(timeout, metrics=True)
    metrics = server.metrics_url
    metered = MeteredServer(server, str(metrics))
    try:
        metered.counts()
    except OSError as e:
        server.stop()
        raise ServerUnavailable(f"SeaweedFS serves no metrics at {metrics}: {e}") from None
    return metered
