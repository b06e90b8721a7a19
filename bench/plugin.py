"""What the pytest plugin's fixtures add to a test: setup + call + teardown, medians.

    python bench/plugin.py [--tests N]

Runs a throwaway pytest project (N tests per kind) in this process and
reports, per kind of test, the median of setup + call + teardown as pytest
measures them, and that minus a test that asks for nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

KINDS = {
    "nothing": "def test_{i}():\n    pass\n",
    "tmp_path": "def test_{i}(tmp_path):\n    pass\n",
    "localreg_store": "def test_{i}(localreg_store):\n    pass\n",
    "localreg_store (disk)": "@pytest.mark.localreg(blobs='disk')\ndef test_{i}(localreg_store):\n    pass\n",
    "localreg_api + make_artifact + link": textwrap.dedent("""\
        def test_{i}(make_artifact, localreg_api):
            make_artifact("m", "model", files={{"w.bin": b"{i}"}}, link_to="wandb-registry-model/m")
            assert localreg_api.artifact("wandb-registry-model/m:latest").version == "v0"
        """),
    "wandb_offline: init + log + link + Api": textwrap.dedent("""\
        def test_{i}(wandb_offline):
            import wandb
            with wandb.init(project="p") as run:
                art = wandb.Artifact("m", type="model")
                with art.new_file("w.txt") as f:
                    f.write("{i}")
                run.link_artifact(art, "wandb-registry-model/m", aliases=["prod"])
            assert wandb.Api().artifact("wandb-registry-model/m:prod").version == "v0"
        """),
    "localreg_seed(basic.toml)": "def test_{i}(localreg_seed):\n    localreg_seed(SEED)\n",
}


class Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tests", type=int, default=200, help="tests per kind (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for k, (kind, body) in enumerate(KINDS.items()):
            src = "import pytest\n" + f"SEED = {str(ROOT / 'fixtures' / 'seeds' / 'basic.toml')!r}\n\n"
            src += "\n".join(body.format(i=i) for i in range(args.tests))
            path = Path(tmp) / f"test_kind{k}.py"
            path.write_text(src)
            files[kind] = path.name
        timer = Timer()
        os.chdir(tmp)
        code = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--basetemp", str(Path(tmp) / "bt"),
                            *files.values()], plugins=[timer])
        if code != 0:
            sys.exit(f"the benchmark's tests failed (exit {code})")
    medians = {}
    for kind, name in files.items():
        times = [s for nodeid, s in timer.seconds.items() if nodeid.startswith(name)]
        medians[kind] = statistics.median(times) * 1000
    print(f"\n{'test asks for':<42} {'median ms':>10} {'added ms':>9}")
    for kind, ms in medians.items():
        print(f"{kind:<42} {ms:>10.2f} {ms - medians['nothing']:>9.2f}")
    print(f"\n{args.tests} tests per kind; Python {sys.version.split()[0]}, pytest {pytest.__version__}")


if __name__ == "__main__":
    main()
