"""The simulation's landing files, moved to the landing zone the lakehouse reads.

The simulator writes its landing files into its own folder (`out_dir/landing`). When the landing
zone (`LAKEHOUSE_LANDING_DIR`, `Settings.landing_uri`) is elsewhere, another folder or an object
store's `s3://bucket/prefix`, `generate` and `advance` move them there: each is copied, then
removed from the simulator's folder, so an advance moves only its new days, and a file the
landing retention deleted from the zone is not brought back. A file goes before its `.done`
marker, so a reader that waits for the marker never sees the data file half there (a put to an
object store is whole or absent; a local copy is not). A generation from scratch first removes
the simulator's own folders from the zone (a declared file set's folder is left alone), as it
does locally.
"""

from __future__ import annotations

from pathlib import Path

from lakehouse.lib.storage.location import check_reachable, filesystem, is_remote, join
from lakehouse.simulator.inventory import DONE_SUFFIX, INVENTORY_DIR
from lakehouse.simulator.writer import CLICKSTREAM_DIR, LANDING_DIR, PAYMENTS_DIR

# The landing zone's folders the simulator writes, relative to the zone.
SIMULATED_FOLDERS = [
    d.relative_to(LANDING_DIR).as_posix() for d in (PAYMENTS_DIR, CLICKSTREAM_DIR, INVENTORY_DIR)
]
UNFINISHED_SUFFIX = ".tmp"  # a file being written (then renamed)


def is_elsewhere(out_dir: Path, landing_uri: str | None) -> bool:
    """Whether the landing zone is not the simulator's own landing folder."""
    if landing_uri is None:
        return False
    return is_remote(landing_uri) or Path(landing_uri).resolve() != (Path(out_dir) / LANDING_DIR).resolve()


def publish(out_dir: Path, landing_uri: str | None, fresh: bool) -> int:
    """Move the simulation's landing files to the zone at `landing_uri`; `fresh`: a new simulation,
    whose folders in the zone are emptied first. Returns the number of files moved (0 when the
    zone is the simulator's own folder)."""
    if not is_elsewhere(out_dir, landing_uri):
        return 0
    assert landing_uri is not None
    check_reachable(landing_uri, "LAKEHOUSE_LANDING_DIR")
    store, zone = filesystem(landing_uri), _bare(landing_uri)
    if fresh:
        for folder in SIMULATED_FOLDERS:
            if store.exists(f"{zone}/{folder}"):
                store.rm(f"{zone}/{folder}", recursive=True)
    local = Path(out_dir) / LANDING_DIR
    files = [f for f in local.rglob("*") if f.is_file() and not f.name.endswith(UNFINISHED_SUFFIX)]
    files.sort(key=lambda f: (f.name.endswith(DONE_SUFFIX), f.as_posix()))  # markers last
    for file in files:
        target = _bare(join(landing_uri, *file.relative_to(local).parts))
        store.makedirs(str(Path(target).parent), exist_ok=True)
        store.put_file(str(file), target)
        file.unlink()
    return len(files)


def _bare(uri: str) -> str:
    """A path as fsspec names it: `bucket/key` on the object store, absolute locally."""
    return uri.removeprefix("s3://") if is_remote(uri) else str(Path(uri).resolve())
