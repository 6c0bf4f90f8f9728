"""Built lakehouses cached on disk, so a test that changes a lakehouse copies one instead of building it.

A build is keyed by scale, seed, days and a hash of the `lakehouse/` package source: any change to
the code builds afresh. The cache (`data/test-cache/`, deleted by `make clean`) is shared by the
xdist workers and by later runs; a lock makes the first one build while the others wait for it.

An entry may also hold the on-disk Dagster instance that built it (`dagster.yaml` beside the data
folder, its storage in the data folder's `dagster/`, as `INSTANCE_CONFIG` says), so a copy can carry
the build's run history (`assets_tests.conftest.copy_of_home`).

An entry is made in a temporary folder (on tmpfs under `make test`: the instance's SQLite and the
Delta tables sync to disk at every commit) and copied into the cache when complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lakehouse.settings import PROJECT_ROOT

CACHE_DIR = PROJECT_ROOT / "data" / "test-cache"
PACKAGE_DIR = PROJECT_ROOT / "lakehouse"
OUTCOME_FILE = "outcome.pickle"
# What an entry holds changed: 2 = an entry may hold the instance that built it.
LAYOUT = 2

# The project's dagster.yaml names its folders relative to the instance's folder, as this one does: an
# instance in HOME keeps its history in HOME/data/dagster, the data folder of a lakehouse in HOME/data.
INSTANCE_CONFIG = """\
storage:
  sqlite:
    base_dir: data/dagster/storage
local_artifact_storage:
  module: dagster._core.storage.root
  class: LocalArtifactStorage
  config:
    base_dir: data/dagster
compute_logs:
  module: dagster._core.storage.local_compute_log_manager
  class: LocalComputeLogManager
  config:
    base_dir: data/dagster/compute_logs
telemetry:
  enabled: false
"""


def code_hash() -> str:
    """A hash of every source file of the package (paths and contents)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(*, scale: float, seed: int, days: int) -> str:
    return f"scale{scale}-seed{seed}-days{days}-{code_hash()}-layout{LAYOUT}"


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached(key: str, build: Callable[[Path], object]) -> tuple[Path, object]:
    """The cached data folder of `key` and the outcome its build returned, building it first if needed.

    `build(data_dir)` builds a lakehouse into `data_dir` and returns its outcome (pickled beside it);
    it may keep more beside `data_dir` (the instance's `dagster.yaml`). The entry is copied into the
    cache under a temporary name and renamed when complete, so an interrupted build never leaves a
    half-built entry.
    """
    entry = CACHE_DIR / key
    with _locked(CACHE_DIR / f"{key}.lock"):
        if not (entry / OUTCOME_FILE).is_file():
            with tempfile.TemporaryDirectory(prefix=f"{key}-") as made:
                outcome = build(Path(made) / "data")
                (Path(made) / OUTCOME_FILE).write_bytes(pickle.dumps(outcome))
                partial = CACHE_DIR / f"{key}.partial"
                shutil.rmtree(partial, ignore_errors=True)
                shutil.copytree(made, partial)
            shutil.rmtree(entry, ignore_errors=True)
            partial.rename(entry)
    return entry / "data", pickle.loads((entry / OUTCOME_FILE).read_bytes())
