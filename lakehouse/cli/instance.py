"""The project's Dagster instance, opened from its folder: no `DAGSTER_HOME`, no change of directory.

`dagster.yaml` names its folders relative to the project root (`data/dagster/...`), which is where
`make dev` runs the UI. Dagster would resolve them against the working directory, so they are
anchored to the instance's folder first: the CLI records its runs where the UI looks for them from
wherever it is started.

Opening a brand-new instance creates its storage (SQLite files and their alembic version, or the
tables in PostgreSQL); two processes doing it at once, such as two first `lakehouse run`s, race and
one fails (`UNIQUE constraint failed: alembic_version.version_num`, `table runs already exists`).
So the instance is opened holding a lock on its folder: the second waits, then finds the storage made.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from lakehouse.lib import instance_sqlite


def open_instance(home: Path) -> dg.DagsterInstance:
    """The persistent instance configured by `home/dagster.yaml` (Dagster's defaults without one)."""
    config_file = home / "dagster.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else None
    instance_sqlite.flush_less()  # also for commands that never load the definitions (`runs reap`)
    # `local_temp` is the public constructor taking a folder and config: the folder is kept, not
    # temporary, and the anchored sections replace the file's own.
    with holding_folder(home):
        return dg.DagsterInstance.local_temp(str(home), overrides=anchored(config or {}, home))


@contextmanager
def holding_folder(home: Path) -> Iterator[None]:
    """An exclusive `flock` on the instance's folder itself (no lock file to leave behind); it
    serialises the processes of one host, which is where the embedded SQLite instance lives."""
    home.mkdir(parents=True, exist_ok=True)
    folder = os.open(home, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def anchored(config: dict[str, Any], home: Path) -> dict[str, Any]:
    """`config` with every relative `base_dir` made absolute under `home`."""
    return {key: _anchor(key, value, home) for key, value in config.items()}


def _anchor(key: str, value: Any, home: Path) -> Any:
    if isinstance(value, dict):
        return anchored(value, home)
    if key == "base_dir" and isinstance(value, str) and not Path(value).is_absolute():
        return str(home / value)
    return value
