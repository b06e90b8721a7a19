"""Redraw the screenshots of the two linking flows in docs/web-ui.md (docs/ui-*.png).

    python docs/make_screenshots.py

Fills a scratch store with ``localreg quickstart`` (plus a second model
version), serves it with ``localreg ui``, opens each flow in Debian's
Chromium (/usr/bin/chromium) through Playwright and saves a 1100x640
screenshot; ``pngquant``, when installed, makes them smaller.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def localreg(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "localreg", *args], check=True, env=env, capture_output=True)


def main() -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="localreg-shots-"))
    env = {**os.environ, "LOCALREG_USER": "alice", "LOCALREG_ENTITY": "ml-team"}
    home = tmp / "store"
    localreg("--home", str(home), "quickstart", env=env)
    (tmp / "v1").mkdir()
    (tmp / "v1" / "weights.bin").write_bytes(b"retrained")
    localreg("--home", str(home), "log", str(tmp / "v1"), "-p", "quickstart", "-n", "sample-model", "-t", "model",
             "--alias", "candidate", env=env)
    server = subprocess.Popen([sys.executable, "-m", "localreg", "--home", str(home), "ui", "--port", "0"],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = re.search(r"(http://\S+?)/? ", server.stdout.readline()).group(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 640})

            page.goto(f"{url}/orgs/local/registry/model/sample-model")
            page.get_by_label("Collection actions").click()
            page.get_by_role("menuitem", name="Link new version").click()
            panel = page.get_by_role("dialog", name="Link new version")
            panel.get_by_label("Version").select_option("v1")
            panel.get_by_label("Aliases").fill("staging")
            page.wait_for_timeout(300)
            page.screenshot(path=str(HERE / "ui-link-new-version.png"))

            page.goto(f"{url}/ml-team/quickstart/artifacts/model/sample-model/v1")
            page.get_by_role("button", name="Link to registry").click()
            modal = page.get_by_role("dialog", name="Link to registry")
            modal.get_by_label("Registry", exact=True).select_option(label="model")
            modal.get_by_label("Collection", exact=True).select_option("sample-model")
            page.wait_for_timeout(300)
            page.screenshot(path=str(HERE / "ui-link-to-registry.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait()
        server.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if shutil.which("pngquant"):
        for png in HERE.glob("ui-*.png"):
            subprocess.run(["pngquant", "--force", "--skip-if-larger", "--output", str(png), "--quality", "70-95",
                            str(png)], check=False)
    for png in sorted(HERE.glob("ui-*.png")):
        print(f"{png.relative_to(HERE.parent)}: {png.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
