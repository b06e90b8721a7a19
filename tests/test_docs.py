"""Every command and subcommand of the CLI documents itself with an example."""

from __future__ import annotations

import click
import pytest

from localreg.cli import cli


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
