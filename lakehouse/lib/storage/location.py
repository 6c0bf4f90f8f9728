"""Where the tables live: a local folder, or a prefix of an S3-compatible object store
(`s3://bucket/prefix`), named by one root URI (`LAKEHOUSE_TABLES_URI`).

The same code serves both. delta-rs, Polars and s3fs each read the object store's endpoint and
credentials from the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, ...) themselves: no credential is ever
held in the lakehouse's configuration, Dagster's resource config or a log line.

Commits to a Delta table on S3 are safe with concurrent writers without a lock service: delta-rs
(1.x) writes each commit file with a conditional put (`If-None-Match: *`), which S3 and most
S3-compatible stores honour, so of two writers of the same version one fails and retries. A store
without conditional writes needs `AWS_CONDITIONAL_PUT=etag` (MinIO before 2024, say); the unsafe
rename (`AWS_S3_ALLOW_UNSAFE_RENAME`) is never used: it loses commits under concurrent writers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from upath import UPath

if TYPE_CHECKING:
    import fsspec

REMOTE_SCHEMES = ("s3://",)


class ObjectStoreError(RuntimeError):
    """The object store cannot be reached or used: the message names the service and what to check."""


def is_remote(uri: str | Path) -> bool:
    return str(uri).startswith(REMOTE_SCHEMES)


def join(root: str | Path, *parts: str) -> str:
    """`root` with `parts` appended, as a URI (`s3://b/p/raw/orders`) or a local path."""
    if is_remote(root):
        return "/".join([str(root).rstrip("/"), *parts])
    return str(Path(root, *parts))


def filesystem(uri: str | Path) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem holding `uri`: s3fs for the object store (endpoint and credentials
    from the AWS variables), else the local one. Listings are never cached: tables appear while
    the lakehouse runs."""
    if is_remote(uri):
        import s3fs  # only the object store needs it

        return s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    import fsspec

    return fsspec.filesystem("file")


def path(uri: str | Path, *parts: str) -> UPath:
    """A `pathlib.Path`-like handle on a file or folder, local (a real `Path`) or on the object
    store (listings never cached: files land while the lakehouse runs)."""
    if is_remote(uri):
        return UPath(join(uri, *parts), skip_instance_cache=True, use_listings_cache=False)
    return UPath(Path(uri, *parts))


def table_uris(root: str | Path) -> dict[str, str]:
    """Every Delta table under `root`, by `layer/table`, in name order."""
    if not is_remote(root):
        logs = Path(root).glob("*/*/_delta_log")
        return {f"{log.parent.parent.name}/{log.parent.name}": str(log.parent) for log in sorted(logs)}
    base = str(root).rstrip("/")
    logs = filesystem(root).glob(f"{base.removeprefix('s3://')}/*/*/_delta_log")
    names = sorted("/".join(log.split("/")[-3:-1]) for log in logs)
    return {name: f"{base}/{name}" for name in names}


def check_reachable(root: str | Path, variable: str = "LAKEHOUSE_TABLES_URI") -> None:
    """Fail early, and clearly, when the object store holding `root` cannot be used.

    Names the service (its endpoint), the bucket, and what to check; never a credential.
    """
    if not is_remote(root):
        return
    bucket = str(root).removeprefix("s3://").split("/", 1)[0]
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
    where = f"the object store at {endpoint} (bucket {bucket!r}, from {variable}={root})"
    if endpoint.startswith("http://") and os.environ.get("AWS_ALLOW_HTTP", "").lower() != "true":
        raise ObjectStoreError(f"{where} is plain HTTP: set AWS_ALLOW_HTTP=true, or use an https endpoint")
    try:
        filesystem(root).ls(bucket)
    except FileNotFoundError as error:
        raise ObjectStoreError(f"{where}: the bucket does not exist; create it, or fix the URI") from error
    except PermissionError as error:
        raise ObjectStoreError(
            f"{where} refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(and that they may list and write the bucket)"
        ) from error
    except Exception as error:  # botocore's connection errors share no base with OSError
        raise ObjectStoreError(
            f"{where} is unreachable ({type(error).__name__}): check AWS_ENDPOINT_URL and that the "
            "service is running"
        ) from error


@contextmanager
def outage_explained(root: str, doing: str) -> Iterator[None]:
    """Re-raise an error of the block as an `ObjectStoreError` when the object store holding `root`
    no longer answers (delta-rs' and Polars' own errors name neither the service nor what to do)."""
    try:
        yield
    except Exception as error:
        if not is_remote(root) or isinstance(error, ObjectStoreError):
            raise
        try:
            check_reachable(root)
        except ObjectStoreError as down:
            raise ObjectStoreError(
                f"{down}. It stopped answering while {doing}; no table holds part of the step (a "
                "Delta commit is written last and whole), so once the store answers, run the same "
                "command again"
            ) from error
        raise
