"""Speed of the web UI's long lists: a registry collection with 10,000 linked versions.

    python bench/ui.py [--links 10000] [--requests 30]

Builds a store (through the library: N source versions, each linked into
one registry collection), serves it with the real server (uvicorn on a
free port of 127.0.0.1, as ``localreg ui`` does), and times over one
kept-alive HTTP connection, in the same run:

  * the first page of that collection (the figure with a target: < 300 ms);
  * the same page for a collection holding a single linked version (the
    baseline: what any page costs here), and a static file (no database);
  * the API's first page of the same links, the last page reached by
    cursor, the registry page and one linked version's page.

Each figure is the median (and 95th percentile) of --requests requests,
after a warm-up request.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localreg import registries, versions  # noqa: E402
from localreg.objects import Entry  # noqa: E402
from localreg.store import Store  # noqa: E402


def build(home: Path, n: int) -> float:
    """N source versions of one artifact (one reference file each), all linked into one collection."""
    store = Store(home, org="bench", entity="team", project="demo")
    t0 = time.perf_counter()
    with store.transaction():
        for i in range(n):
            entry = Entry("model.bin", "sha256:" + f"{i:064x}", 1000 + i, f"file:///models/{i}.bin")
            v, _ = versions.log_version(store, name="big-model", type="model", entries=[entry],
                                        metadata={"step": i})
            registries.link(store, v, "wandb-registry-model/big-model", ["production"] if i == n - 1 else None)
        small, _ = versions.log_version(store, name="small-model", type="model",
                                        entries=[Entry("model.bin", "sha256:" + "f" * 64, 1, "file:///m")])
        registries.link(store, small, "wandb-registry-model/small-model")
    seconds = time.perf_counter() - t0
    store.close()
    return seconds


class Server:
    def __init__(self, home: Path) -> None:
        import uvicorn

        from localreg.web import create_app

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as localreg ui does
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        app = create_app(home, host="127.0.0.1", port=self.port)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def timed(conn: http.client.HTTPConnection, path: str, n: int) -> tuple[float, float, int]:
    """(median ms, p95 ms, bytes) of ``n`` GETs of ``path`` after one warm-up."""
    def get() -> bytes:
        conn.request("GET", path, headers={"Host": f"127.0.0.1:{conn.port}"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status}\n{body[:500]!r}")
        return body

    size = len(get())
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        get()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))], size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--links", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="localreg-bench-ui-") as tmp:
        home = Path(tmp) / "home"
        built = build(home, args.links)
        print(f"built {args.links:,} source versions + links in one collection: {built:.1f} s")
        with Server(home) as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            big = "/orgs/bench/registry/model/big-model"
            # the cursor of the last API page, walked to once, so its timing reads one page only
            import json
            api = "/api/orgs/bench/registries/model/collections/big-model/versions?limit=500"
            last = api
            while True:
                conn.request("GET", last, headers={"Host": f"127.0.0.1:{server.port}"})
                data = json.loads(conn.getresponse().read())
                if not data["cursor"]:
                    break
                last = f"{api}&cursor={urllib.parse.quote(data['cursor'])}"
            rows = [
                ("static file (baseline, no database)", "/-/static/favicon.svg"),
                ("collection page, 1 linked version (baseline)", "/orgs/bench/registry/model/small-model"),
                (f"collection page, {args.links:,} linked versions: first page", big),
                (f"collection page, {args.links:,} linked versions: page by cursor", None),
                ("registry page (2 collections)", "/orgs/bench/registry/model"),
                ("linked version page", f"{big}/v{args.links - 1}"),
                ("API: first 50 linked versions", "/api/orgs/bench/registries/model/collections/big-model/versions"),
                ("API: last 500 linked versions (by cursor)", last),
            ]
            conn.request("GET", big, headers={"Host": f"127.0.0.1:{server.port}"})
            first = conn.getresponse().read().decode()
            import re
            nxt = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
            print(f"{'page':<58} {'median':>9} {'p95':>9} {'bytes':>9}")
            results = {}
            for label, path in rows:
                median, p95, size = timed(conn, path or nxt, args.requests)
                results[label] = median
                print(f"{label:<58} {median:>7.1f}ms {p95:>7.1f}ms {size:>9,}")
            conn.close()
        target = results[f"collection page, {args.links:,} linked versions: first page"]
        base = results["collection page, 1 linked version (baseline)"]
        print(f"\nfirst page of {args.links:,} links: {target:.1f} ms = {target / base:.2f}x the 1-link page "
              f"({base:.1f} ms); target < 300 ms: {'met' if target < 300 else 'MISSED'}")


if __name__ == "__main__":
    main()
