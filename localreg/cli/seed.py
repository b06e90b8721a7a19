"""``localreg seed`` and ``localreg dump``: seed files into a store, and a store back out."""

from __future__ import annotations

import os
import tempfile

import click

from ..text import plural
from . import State, _print_json, cli, pass_state


@cli.command(name="seed")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="Only read and check FILE (and the files it names); write nothing.")
@pass_state
def seed_store(state: State, file: str, check: bool) -> None:
    """Load a seed file (TOML or JSON) into the store, in one transaction.

    A seed file lists orgs, registries, projects and artifacts with their
    versions, files, aliases, tags, metadata and links (its JSON Schema is
    localreg/seed_schema.json). Paths in it are relative to FILE. On any
    error nothing is written, and the message names the file, the line or
    key, and the problem. Loading the same file twice changes nothing.
    Creates the store if it is missing.

    Example:

    \b
        localreg --home ./test-store seed fixtures/seeds/basic.toml
        localreg seed --check my-seed.toml
    """
    from .. import seed

    if check:
        counts = seed.check(file)
        if state.as_json:
            _print_json({"file": file, **counts})
            return
        regs = counts["registries"]
        click.echo(f"{file} is a valid seed file: {regs} registr{'y' if regs == 1 else 'ies'}, "
                   f"{plural(counts['artifacts'], 'artifact')}, {plural(counts['versions'], 'version')}, "
                   f"{plural(counts['links'], 'link')}, {plural(counts['files'], 'file')}")
        return
    store = state.store(create=True)
    result = seed.load(store, file)
    if state.as_json:
        _print_json({"home": str(store.home), **result.to_dict()})
        return
    click.echo(f"Seeded {store.home} from {file}")
    click.echo(f"  registries  {len(result.registries)}")
    click.echo(f"  versions    {len(result.versions)} ({result.created_versions} new)")
    click.echo(f"  links       {len(result.links)}")


@cli.command(name="dump")
@click.argument("selections", nargs=-1, metavar="[SELECTION]...")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@pass_state
def dump_store(state: State, selections: tuple[str, ...], output: str | None) -> None:
    """Write the store, or part of it, as a seed file (JSON).

    A SELECTION is ENTITY, ENTITY/PROJECT, ENTITY/PROJECT/NAME,
    [ORG/]wandb-registry-R or [ORG/]wandb-registry-R/NAME, any of them with
    :ALIAS or :vN for one version; none means the whole store. The dump
    holds what the selection needs to load into an empty store (the links
    of its versions, the sources of its links, their registries), with
    file contents inline; `localreg seed` loads it back to the same state.

    Example:

    \b
        localreg dump -o store.json
        localreg dump ml-team/mnist wandb-registry-model/mnist -o mnist.json
        localreg --home ./other seed store.json
    """
    from .. import seed

    if output is not None and output.lower().endswith(".toml"):
        raise click.BadParameter("dump writes JSON; name the file .json", param_hint="'--output'")
    text = seed.dumps(state.store(), selections)
    if output is None:
        click.echo(text, nl=False)
        return
    # write next to the target and rename: an interrupted dump never leaves half a file
    folder = os.path.dirname(os.path.abspath(output))
    fd, tmp = tempfile.mkstemp(prefix=".localreg-dump-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    click.echo(f"Wrote {output}", err=True)
