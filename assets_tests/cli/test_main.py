"""The `lakehouse` group: its options, every command's help, and no change to the process's state."""

import os
import re
from pathlib import Path

import click
import pytest

import lakehouse
from assets_tests.cli.conftest import home_invoker, invoker
from assets_tests.conftest import Lakehouse
from lakehouse.cli import main

# Assigning, deleting or updating an environment variable, or changing directory.
MUTATION = re.compile(
    r"os\.(chdir|putenv|unsetenv)\(|del os\.environ|os\.environ\[[^]]*\]\s*=[^=]"
    r"|os\.environ\.(setdefault|update|pop|popitem|clear)\("
)
# Marks the one sanctioned change: a benchmark child forked for one step sets its own environment
# (as `subprocess` would with `env=`), in a process that exits after the step.
FORKED_CHILD = "# forked child: its own environment"


def commands(group: click.Group = main, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group's path: ("run",), ("quarantine",), ("quarantine", "list"), …"""
    found = []
    for name, command in group.commands.items():
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += commands(command, (*path, name))
    return found


def test_every_command_and_option_explains_itself():
    assert (
        len(commands()) == 40
    )  # 24 commands; quarantine's 6, backup's 3, env's 2, retention's 2, deployment's 2, runs' 1
    for path in [(), *commands()]:
        result = invoker()(*path, "--help")
        assert result.exit_code == 0, path
        command = main
        for name in path:
            command = command.commands[name]
        short = command.get_short_help_str()  # the first sentence, as the list of commands shows it
        assert short and (short.count("(") == short.count(")") or short.endswith("...")), (path, short)
        undocumented = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
        assert undocumented == [], path


def test_the_data_dir_option_wins_over_the_environment(
    lakehouse: Lakehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    assert invoker()("tables").exit_code == 1  # no catalog in tmp_path

    result = invoker("--data-dir", str(lakehouse.settings.data_dir))("tables")
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == 45  # the header and the 44 tables


# Commands that resolve the group's folders and open what they name: the instance (`lineage`,
# `runs reap`), the catalog (`tables`), a table's Delta log (`history`).
RESOLVING = [("lineage", "curated.fact_payments"), ("runs", "reap"), ("tables",), ("history", "raw.orders")]


@pytest.mark.parametrize("given", ["options", "environment"])
def test_commands_change_neither_the_environment_nor_the_working_directory(
    home: tuple[Path, Lakehouse], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
):
    """Given their folders as options (none of the variables set) or by the variables the group
    resolves, from an unrelated working directory, commands leave both as they found them (and
    `invoker` checks that after every command of every test)."""
    root = home[0]
    for variable in ("DAGSTER_HOME", "LAKEHOUSE_DATA_DIR", "LAKEHOUSE_LANDING_DIR"):
        monkeypatch.delenv(variable, raising=False)
    if given == "environment":
        monkeypatch.setenv("DAGSTER_HOME", str(root))
        monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(root / "data"))
    monkeypatch.chdir(tmp_path)
    environ = dict(os.environ)
    invoke = home_invoker(root) if given == "options" else invoker()

    for command in RESOLVING:
        assert invoke(*command).exit_code == 0, command
    assert (dict(os.environ), Path.cwd()) == (environ, tmp_path)


def test_the_invoker_fails_a_command_that_changes_the_environment_or_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """What every test's commands rely on: a command that pins a variable, or changes directory, fails."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    pins = click.Command("pins", callback=lambda: os.environ.__setitem__("DAGSTER_HOME", str(tmp_path)))
    moves = click.Command("moves", callback=lambda: os.chdir("/"))
    monkeypatch.setitem(main.commands, "pins", pins)
    monkeypatch.setitem(main.commands, "moves", moves)

    with pytest.raises(AssertionError, match="the command changed the environment"):
        invoker()("pins")
    with pytest.raises(AssertionError, match="the command changed the working directory"):
        invoker()("moves")


def test_no_module_of_the_package_changes_the_environment_or_the_working_directory():
    package = Path(lakehouse.__file__).parent
    found = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if MUTATION.search(line) and not line.endswith(FORKED_CHILD)
    ]
    assert found == []


@pytest.mark.parametrize(
    "line",
    [
        'os.environ["DAGSTER_HOME"] = home',
        "os.environ.setdefault('DAGSTER_HOME', home)",
        "os.chdir(home)",
        "os.putenv('X', '1')",
        "del os.environ['X']",
    ],
)
def test_the_scan_recognises_each_kind_of_change(line: str):
    assert MUTATION.search(line)
    assert not MUTATION.search('os.environ.get("X") == "1"')
