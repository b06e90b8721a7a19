"""The documentation is true: the CLI documents itself, and README.md and docs/*.md run as written.

Every fenced code block of every page is classified by its language and run:

- ``python``: run as a script, in a fresh process, in the page's sandbox (a folder holding
  ``fixtures/``, with ``$LOCALREG_HOME`` and ``$HOME`` inside it); ``print(...)  # OUTPUT``
  lines must print OUTPUT, in order. A block whose first line is ``# <path>.py`` is a file of
  an example project instead (below).
- ``bash``: run with ``bash -euo pipefail`` in the page's sandbox, ``localreg`` being this
  checkout's CLI.
- ``toml`` / ``json``: parsed. A block whose first line is ``# <path>`` is a file of an example
  project.
- ``text``: not run (layouts, diagrams).

A page's blocks run in order in one sandbox, so a block can use what the blocks before it made.
When a page has file blocks, they are written out as a project after its other blocks ran, and
pytest runs that project's tests: every ``def test_`` must pass (``import wandb`` in it finds a
stand-in that fails if it is ever reached: the fixtures must be what answers).

A block that cannot run here (it installs packages, serves until stopped, runs for minutes)
says so in the line right before it: ``<!-- docs-test: skip: REASON -->``; it is reported as
skipped with that reason.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import tomllib

from localreg.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGE_IDS = [str(p.relative_to(ROOT)) for p in PAGES]

# Pages other branches are writing: links to them may dangle until those branches merge.
# Empty this list at merge; a link to a missing page is an error from then on.
PENDING_PAGES = {
    "docs/guarantees.md",
    "docs/backup.md",
    "docs/format.md",
    "docs/wandb.md",
    "docs/integrations.md",
}

TIMEOUT = 600


# -- the CLI documents itself -----------------------------------------------------------------------


def _walk(group: click.Group, path: tuple[str, ...] = ()):
    yield path, group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _walk(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = list(_walk(cli))


def test_every_expected_command_exists():
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert paths >= {
        "", "log", "get", "ls", "show", "alias", "alias add", "alias rm", "link", "unlink",
        "registry", "registry create", "registry ls", "registry show", "versions", "verify",
        "info", "init", "quickstart",
    }


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "localreg" for p, _ in COMMANDS])
def test_help_has_an_example(runner, path, command):
    result = runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert command.help and command.help.strip(), f"{' '.join(path)} has no help text"
    assert "Example" in result.output
    example = result.output.split("Example", 1)[1]
    assert "localreg " in example


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "localreg" for p, _ in COMMANDS])
def test_options_are_documented(path, command):
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("help", "version"):
            assert param.help, f"option {param.opts[0]} of {' '.join(path) or 'localreg'} has no help"


def test_command_names_are_kebab_case():
    for path, _command in COMMANDS:
        for part in path:
            assert part == part.lower() and "_" not in part


# -- reading the pages ------------------------------------------------------------------------------


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None  # the reason given in a docs-test comment, if it must not run

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def file_path(self) -> str | None:
        """``<path>`` when the block is a file of an example project (its first line ``# <path>``)."""
        first = self.code.partition("\n")[0].strip()
        m = re.fullmatch(r"# (\S+\.(?:py|toml|json))", first)
        return m.group(1) if m and self.lang in ("python", "toml", "json") else None


FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->\s*$")


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = None
        d = DIRECTIVE.search(before)
        if d:
            kind, _, reason = d.group(1).partition(":")
            assert kind.strip() == "skip" and reason.strip(), (
                f"{page.name}: a docs-test comment reads 'skip: REASON', not {d.group(0)!r}")
            skip = reason.strip()
        found.append(Block(page, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2), skip))
    return found


def _sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder to run a page's blocks in, and the environment they run with."""
    box = tmp_path / "sandbox"
    (box / "bin").mkdir(parents=True)
    (box / "fixtures").symlink_to(ROOT / "fixtures", target_is_directory=True)
    shim = box / "bin" / "localreg"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m localreg "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCALREG_", "WANDB_", "PYTEST_"))}
    env.update(
        HOME=str(box), LOCALREG_HOME=str(box / "home"), LOCALREG_USER="reader",
        PATH=f"{box / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return box, env


def _expected_prints(code: str) -> list[str]:
    """The OUTPUT of each ``print(...)  # OUTPUT`` line, in order."""
    return [m.group(1).strip() for m in re.finditer(r"^\s*print\(.*\)\s+#\s*(.+)$", code, re.MULTILINE)]


def _run(block: Block, argv: list[str], box: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=box, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, (
        f"{block.where}: the {block.lang} block failed (exit {done.returncode})\n"
        f"--- code\n{block.code}--- stdout\n{done.stdout}--- stderr\n{done.stderr}")
    return done


def _run_block(block: Block, box: Path, env: dict[str, str]) -> None:
    if block.lang == "python":
        done = _run(block, [sys.executable, "-c", block.code], box, env)
        expected = _expected_prints(block.code)
        if expected:
            printed = [line.strip() for line in done.stdout.splitlines()]
            assert printed[: len(expected)] == expected, f"{block.where}: printed {printed}, the page says {expected}"
    elif block.lang == "bash":
        assert not re.search(r"^\s*pip install", block.code, re.MULTILINE), (
            f"{block.where}: a block that installs packages must say '<!-- docs-test: skip: REASON -->'")
        _run(block, ["bash", "-euo", "pipefail", "-c", block.code], box, env)
    elif block.lang == "toml":
        tomllib.loads(block.code)
    elif block.lang == "json":
        json.loads(block.code)
    elif block.lang == "text":
        pass
    else:
        pytest.fail(f"{block.where}: a code block needs a language this test knows "
                    f"(python, bash, toml, json, text), not {block.lang!r}")


# a stand-in for the wandb the example tool imports: calling it means the fixtures did not answer
FAKE_WANDB = '''
"""Not localreg: calling this means the code under test reached the real wandb."""
def init(*args, **kwargs):
    raise RuntimeError("the real wandb was called")
class Api:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("the real wandb was called")
'''


def _run_project(files: list[Block], box: Path, env: dict[str, str]) -> None:
    """Write the file blocks out as a project and run its tests: all of them must pass."""
    project = box / "project"
    for block in files:
        target = project / block.file_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.code.partition("\n")[2], encoding="utf-8")
    for block in files:  # the tool's packages are packages; tests/ is pytest's rootdir-relative folder
        parent = (project / block.file_path).parent
        if block.file_path.endswith(".py") and parent != project and parent.name != "tests":
            (parent / "__init__.py").touch()
    (project / "wandb").mkdir(exist_ok=True)
    (project / "wandb" / "__init__.py").write_text(FAKE_WANDB)
    tests = sum(len(re.findall(r"^def test_", b.code, re.MULTILINE)) for b in files if b.file_path.endswith(".py"))
    assert tests, f"{files[0].page.name}: example project files with no test in them"
    env = dict(env, PYTHONPATH=os.pathsep.join([str(project), env["PYTHONPATH"]]))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-o", "filterwarnings=error", "tests"],
        cwd=project, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and f"{tests} passed" in done.stdout, (
        f"{files[0].page.name}: the example project's {tests} tests did not all pass\n"
        f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}")


# -- every page runs as written ---------------------------------------------------------------------


def test_pages_are_found():
    names = {p.name for p in PAGES}
    assert {"README.md", "cli.md", "python-api.md", "testing.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_code_blocks_run(page, tmp_path):
    box, env = _sandbox(tmp_path)
    ran, skipped, files = 0, [], []
    for block in blocks(page):
        if block.skip:
            skipped.append(f"{block.where}: {block.skip}")
        elif block.file_path:
            files.append(block)
        else:
            _run_block(block, box, env)
            ran += 1
    if files:
        _run_project(files, box, env)
        ran += len(files)
    if skipped and not ran:
        pytest.skip("; ".join(skipped))


def test_a_failing_block_fails(tmp_path):
    """The runner is not blind: a block that fails, or prints something else, is an error."""
    page = tmp_path / "page.md"
    page.write_text("```bash\nlocalreg show no/such/thing:v0\n```\n\n"
                    "```python\nprint(1 + 1)  # 3\n```\n\n<!-- docs-test: skip: why -->\n```bash\nfalse\n```\n")
    found = blocks(page)
    assert [(b.lang, b.skip) for b in found] == [("bash", None), ("python", None), ("bash", "why")]
    box, env = _sandbox(tmp_path)
    for block in found[:2]:
        block.page = ROOT / "README.md"  # so that .where can name it
        with pytest.raises(AssertionError):
            _run_block(block, box, env)


# -- the README is the front door -------------------------------------------------------------------


def _readme_first_block() -> list[str]:
    first = blocks(ROOT / "README.md")[0]
    return [line for line in first.code.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_first_block_holds_exactly_two_commands():
    lines = _readme_first_block()
    assert len(lines) == 2, lines
    install, suite = lines
    assert install.startswith("pip install -e ") and install.endswith("&& localreg quickstart"), install
    assert suite.startswith("pip install -e '.[test]'") and suite.endswith("&& python -m pytest"), suite


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci.replace(" -q ", " ") == _readme_first_block()[1]


def test_readme_quickstart_runs(tmp_path):
    """The first command, after its install: a fresh store gets the samples, linked."""
    box, env = _sandbox(tmp_path)
    command = _readme_first_block()[0].split("&&", 1)[1].strip()
    done = subprocess.run(["bash", "-c", command], cwd=box, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    assert "wandb-registry-model/sample-model:v0" in done.stdout
    shown = subprocess.run(["localreg", "versions", "wandb-registry-model/sample-model"], cwd=box, env=env,
                           capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert shown.returncode == 0 and "production" in shown.stdout, shown.stdout + shown.stderr


def test_readme_maps_every_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)", readme))
    pages = {f"docs/{p.name}" for p in PAGES if p.parent == ROOT / "docs" and not p.name.startswith("_")}
    assert pages - linked == set(), "docs pages the README's Documentation map does not link"
    assert PENDING_PAGES - linked == set(), "pending pages the README's Documentation map does not link"


# -- links --------------------------------------------------------------------------------------------


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _slugs(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    out = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", FENCE.sub("", page.read_text(encoding="utf-8")), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower().replace("`", "")).replace(" ", "-")
        out.add(slug)
    return out


def _broken_links(page: Path, text: str) -> list[str]:
    text = FENCE.sub("", text)
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans hold no links
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        rel = os.path.relpath(file, ROOT)
        if not file.exists():
            if rel not in PENDING_PAGES:
                broken.append(f"{target}: no file {rel}")
            continue
        if anchor and file.suffix == ".md" and anchor not in _slugs(file):
            broken.append(f"{target}: no heading #{anchor} in {rel}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_relative_links_resolve(page):
    broken = _broken_links(page, page.read_text(encoding="utf-8"))
    assert not broken, f"{page.name}: broken links\n" + "\n".join(broken)


def test_the_link_check_sees_broken_links():
    page = ROOT / "docs" / "a-page.md"
    text = ("[a](missing.md) [b](cli.md#no-such-heading) [c](https://example.org/x.md) [d](wandb.md) "
            "[e](../README.md#documentation) ![f](ui-link-to-registry.png) `[g](in-code.md)`")
    broken = _broken_links(page, text)
    assert [b.split(":")[0] for b in broken] == ["missing.md", "cli.md#no-such-heading"]


# -- every CLI command has its section in docs/cli.md ------------------------------------------------


def _cli_sections() -> dict[str, str]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    parts = re.split(r"^### `?localreg ([a-z][a-z -]*?)`?\s*$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1].split("\n## ", 1)[0] for i in range(1, len(parts), 2)}


def _invocations(section: str) -> list[list[str]]:
    """The arguments of each ``localreg`` command line in a section's code blocks, global options dropped."""
    out = []
    for code in (m.group(2) for m in FENCE.finditer(section)):
        for line in code.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line.startswith("localreg "):
                continue
            args = shlex.split(line)[1:]
            while args and args[0] in ("--json", "--home"):
                args = args[2:] if args[0] == "--home" else args[1:]
            out.append(args)
    return out


@pytest.mark.parametrize("path, command", [c for c in COMMANDS if c[0]], ids=[" ".join(p) for p, _ in COMMANDS if p])
def test_cli_page_documents_every_command(path, command):
    sections = _cli_sections()
    name = " ".join(path)
    if isinstance(command, click.Group):  # a group is documented by the sections of its commands
        section = "".join(text for title, text in sections.items() if title.startswith(name + " "))
        assert section, f"docs/cli.md has no '### localreg {name} ...' section"
    else:
        assert name in sections, f"docs/cli.md has no '### localreg {name}' section"
        section = sections[name]
    assert any(args[: len(path)] == list(path) for args in _invocations(section)), (
        f"docs/cli.md: the section of 'localreg {name}' shows no example running it")
