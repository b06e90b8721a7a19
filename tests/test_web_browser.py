"""Both linking flows of the web UI, clicked through in a real browser (Playwright + Debian's Chromium).

Each test fills a store with ``localreg quickstart``, starts the real
server (``localreg ui --port 0`` in a subprocess), clicks as a user would,
then checks through the Python API that the link exists with the chosen
aliases. Screenshots of every page land in the test's tmp dir.

Without Chromium at /usr/bin/chromium or the playwright package these
tests skip, saying why; with ``LOCALREG_REQUIRE_BROWSER=1`` (as .ci/run
sets) they fail instead. Nothing is downloaded: ``playwright install`` is
never needed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import localreg
from localreg import versions
from localreg.store import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    for mod in ("starlette", "uvicorn", "jinja2", "python_multipart"):
        try:
            __import__(mod)
        except ImportError:
            return f"the ui extra is not installed ({mod} is missing): pip install -e '.[ui]'"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("LOCALREG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LOCALREG_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"no browser to drive: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_a_missing_browser_is_named(monkeypatch):
    """What the skip (or, with LOCALREG_REQUIRE_BROWSER=1, the failure) says; needs no browser."""
    import tests.test_web_browser as me

    monkeypatch.setattr(me, "CHROMIUM", "/nonexistent/chromium")
    reason = me._missing()
    assert reason in ("Chromium is not installed at /nonexistent/chromium (apt-get install chromium)",
                      "the playwright package is not installed (pip install -e '.[test]')")


def _localreg(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "localreg", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "store"
    _localreg("--home", str(h), "quickstart")
    return h


@pytest.fixture
def server(home, tmp_path):
    """``localreg ui`` on a free port of 127.0.0.1; yields its URL."""
    log = open(tmp_path / "ui.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "localreg", "--home", str(home), "ui", "--port", "0", "--no-open"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    try:
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", first[0] if first else "")
        assert found, f"the server did not start: {first} {(tmp_path / 'ui.log').read_text()}"
        yield found.group(1).rstrip("/")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        log.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    # a 4xx page is how a refused form answers; a failed script, style or API call is a bug
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
          if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    pg.on("response", lambda r: problems.append(f"{r.status} from {r.url}")
          if r.status >= 400 and r.request.resource_type != "document" else None)
    pg.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    pg.on("request", lambda r: problems.append(f"external request: {r.url}")
          if not r.url.startswith(("http://127.0.0.1:", "data:", "about:")) else None)
    yield pg
    context.close()
    assert not problems, problems


class Shots:
    """Numbered full-page screenshots under the test's tmp dir."""

    def __init__(self, page, folder: Path) -> None:
        self.page, self.folder, self.n = page, folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(self.folder / f"{self.n:02}-{name}.png"), full_page=True)


def _log_v1(home: Path, tmp_path: Path) -> None:
    """A second version of sample-model, logged with the CLI while the server runs."""
    src = tmp_path / "new-model"
    src.mkdir()
    (src / "weights.bin").write_bytes(b"retrained weights")
    _localreg("--home", str(home), "log", str(src), "--project", "quickstart", "--name", "sample-model",
              "--type", "model")


def test_registry_app_link_new_version(server, home, page, tmp_path):
    from playwright.sync_api import expect

    shot = Shots(page, tmp_path / "screenshots")
    _log_v1(home, tmp_path)

    page.goto(server + "/")
    expect(page.get_by_role("heading", name="Registry")).to_be_visible()
    shot("registry-home")
    page.get_by_text("wandb-registry-model").click()
    expect(page.get_by_role("heading", name="Collections")).to_be_visible()
    shot("model-registry")
    page.get_by_role("link", name="sample-model").click()
    expect(page.get_by_role("heading", name="Linked versions")).to_be_visible()
    shot("collection")

    page.get_by_label("Collection actions").click()
    page.get_by_role("menuitem", name="Link new version").click()
    panel = page.get_by_role("dialog", name="Link new version")
    expect(panel).to_be_visible()
    panel.get_by_label("Team").select_option("tester")
    panel.get_by_label("Project").select_option("quickstart")
    panel.get_by_label("Artifact").select_option("sample-model")
    panel.get_by_label("Version").select_option("v1")
    panel.get_by_label("Aliases").fill("staging, candidate")
    shot("link-new-version-panel")
    panel.get_by_role("button", name="Link version").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Linked tester/quickstart/sample-model:v1 as local/wandb-registry-model/sample-model:v1")
    row = page.locator("tr#v1")
    expect(row).to_contain_text("links to tester/quickstart/sample-model:v1")
    expect(row).to_contain_text("staging")
    shot("collection-after-link")

    row.get_by_role("link", name="v1", exact=True).click()
    expect(page.locator(".links-to")).to_contain_text("links to tester/quickstart/sample-model:v1")
    shot("linked-version")

    store = Store(home)
    link = versions.resolve(store, "local/wandb-registry-model/sample-model:staging")
    assert link.is_link and link.source_qualified_name == "tester/quickstart/sample-model:v1"
    assert set(link.aliases) == {"latest", "staging", "candidate"}
    store.close()
    art = localreg.Api(home=str(home)).artifact("local/wandb-registry-model/sample-model:candidate")
    assert art.is_link and art.source_qualified_name == "tester/quickstart/sample-model:v1"


def test_artifact_browser_link_to_registry_new_collection(server, home, page, tmp_path):
    from playwright.sync_api import expect

    shot = Shots(page, tmp_path / "screenshots")
    page.goto(server + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Artifacts").click()
    shot("projects")
    page.get_by_role("link", name="tester/quickstart").click()
    shot("project")
    sidebar = page.get_by_role("complementary")
    sidebar.get_by_role("link", name="sample-dataset").click()
    shot("artifact")
    sidebar.locator("details", has=page.get_by_role("link", name="sample-dataset")).get_by_role(
        "link", name="v0", exact=True).click()
    expect(page.get_by_role("heading", name="Version overview")).to_be_visible()
    shot("version-overview")

    page.get_by_role("button", name="Link to registry").click()
    modal = page.get_by_role("dialog", name="Link to registry")
    modal.get_by_label("Registry", exact=True).select_option(label="dataset")
    modal.get_by_label("Collection", exact=True).select_option(label="+ New collection…")
    modal.get_by_label("New collection name").fill("iris-eval")
    shot("link-to-registry-step-1")
    modal.get_by_role("button", name="Next step").click()
    expect(modal.locator(".target-preview")).to_have_text("local/wandb-registry-dataset/iris-eval")
    modal.get_by_label("Aliases").fill("eval, candidate")
    shot("link-to-registry-step-2")
    modal.get_by_role("button", name="Link to registry").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Linked tester/quickstart/sample-dataset:v0 as local/wandb-registry-dataset/iris-eval:v0")
    expect(page.locator("#linked-to")).to_contain_text("local/wandb-registry-dataset/iris-eval")
    shot("version-linked-to")

    # ... and the Registry App shows it
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Registry").click()
    page.get_by_text("wandb-registry-dataset").click()
    page.get_by_role("link", name="iris-eval").click()
    expect(page.locator("tr#v0")).to_contain_text("links to tester/quickstart/sample-dataset:v0")
    shot("registry-collection")

    store = Store(home)
    link = versions.resolve(store, "local/wandb-registry-dataset/iris-eval:eval")
    assert link.source_qualified_name == "tester/quickstart/sample-dataset:v0"
    assert set(link.aliases) == {"latest", "eval", "candidate"}
    store.close()


def test_artifact_browser_link_to_existing_collection(server, home, page, tmp_path):
    from playwright.sync_api import expect

    shot = Shots(page, tmp_path / "screenshots")
    _log_v1(home, tmp_path)
    page.goto(server + "/tester/quickstart/artifacts")
    page.get_by_role("complementary").get_by_role("link", name="v1", exact=True).click()
    expect(page.get_by_role("heading", name="Version overview")).to_be_visible()
    page.get_by_role("button", name="Link to registry").click()
    modal = page.get_by_role("dialog", name="Link to registry")
    modal.get_by_label("Registry", exact=True).select_option(label="model")
    modal.get_by_label("Collection", exact=True).select_option("sample-model")
    modal.get_by_role("button", name="Next step").click()
    modal.get_by_label("Aliases").fill("staging")
    shot("link-to-existing")
    modal.get_by_role("button", name="Link to registry").click()
    expect(page.locator("#linked-to")).to_contain_text("local/wandb-registry-model/sample-model")
    shot("linked")

    store = Store(home)
    link = versions.resolve(store, "wandb-registry-model/sample-model:staging")
    assert (link.version, link.source_qualified_name) == ("v1", "tester/quickstart/sample-model:v1")
    # the earlier link keeps its aliases
    assert "production" in versions.resolve(store, "wandb-registry-model/sample-model:v0").aliases
    store.close()


def test_errors_show_in_the_panel_and_write_nothing(server, home, page, tmp_path):
    from playwright.sync_api import expect

    shot = Shots(page, tmp_path / "screenshots")
    page.goto(server + "/orgs/local/registry/model/sample-model")
    page.get_by_label("Collection actions").click()
    page.get_by_role("menuitem", name="Link new version").click()
    panel = page.get_by_role("dialog", name="Link new version")
    panel.get_by_label("Version").select_option("v0")
    panel.get_by_label("Aliases").fill("v3")
    panel.get_by_role("button", name="Link version").click()
    panel = page.get_by_role("dialog", name="Link new version")
    expect(panel.get_by_role("alert")).to_have_text(
        "invalid alias 'v3': 'vN' names a version and cannot be an alias")
    expect(panel.get_by_label("Version")).to_have_value("v0")  # the choices are kept
    shot("error-in-panel")
    store = Store(home)
    assert versions.resolve(store, "wandb-registry-model/sample-model:v0").aliases == ("latest", "production")
    store.close()
