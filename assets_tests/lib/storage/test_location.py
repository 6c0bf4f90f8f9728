"""Tables and landing files on an S3-compatible object store (moto's server), and clear errors
when the store cannot be used."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from assets_tests.object_store import ObjectStore
from lakehouse.lib.storage import location
from lakehouse.lib.storage.location import ObjectStoreError


def test_join_keeps_a_uri_a_uri_and_a_folder_a_path():
    assert location.join("s3://bucket/lake/", "refined", "orders") == "s3://bucket/lake/refined/orders"
    assert location.join("/data/tables", "refined", "orders") == "/data/tables/refined/orders"
    assert location.join(Path("/data/tables"), "raw", "events") == "/data/tables/raw/events"
    assert location.is_remote("s3://b/p") and not location.is_remote("/s3/b")


def test_tables_are_listed_on_the_store_as_in_a_folder(object_store: ObjectStore, tmp_path: Path):
    bucket = object_store.create_bucket()
    frame = pl.DataFrame({"id": [1, 2]})
    for root in (f"s3://{bucket}/lake", str(tmp_path)):
        for name in ("raw/orders", "refined/orders"):
            write_deltalake(location.join(root, *name.split("/")), frame)
        uris = location.table_uris(root)
        assert uris == {
            name: location.join(root, *name.split("/")) for name in ("raw/orders", "refined/orders")
        }
        assert DeltaTable(uris["raw/orders"]).version() == 0
        assert pl.scan_delta(uris["refined/orders"]).collect().equals(frame)


def test_landing_files_on_the_store_are_listed_and_read(object_store: ObjectStore):
    bucket = object_store.create_bucket()
    folder = location.path(f"s3://{bucket}/landing", "payments")
    (folder / "b.csv").write_text("id\n2\n")
    (folder / "a.csv").write_text("id\n1\n")
    files = sorted(folder.glob("*.csv"), key=str)
    assert [f.name for f in files] == ["a.csv", "b.csv"]
    assert files[0].read_bytes() == b"id\n1\n" and str(files[0]) == f"s3://{bucket}/landing/payments/a.csv"


def test_a_reachable_bucket_passes_the_check(object_store: ObjectStore):
    location.check_reachable(f"s3://{object_store.create_bucket()}/lake")
    location.check_reachable("/any/local/folder")  # nothing to check


def test_a_missing_bucket_is_named_with_the_service(object_store: ObjectStore):
    with pytest.raises(ObjectStoreError) as error:
        location.check_reachable("s3://no-such-bucket/lake")
    assert str(error.value) == (
        f"the object store at {object_store.endpoint} (bucket 'no-such-bucket', from "
        "LAKEHOUSE_TABLES_URI=s3://no-such-bucket/lake): the bucket does not exist; create it, or fix the URI"
    )


def test_an_unreachable_store_names_its_endpoint(object_store: ObjectStore, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(ObjectStoreError) as error:
        location.check_reachable("s3://lake/tables")
    assert str(error.value).startswith("the object store at http://127.0.0.1:9 (bucket 'lake', ")
    assert str(error.value).endswith("check AWS_ENDPOINT_URL and that the service is running")


def test_plain_http_without_allow_http_is_explained(
    object_store: ObjectStore, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("AWS_ALLOW_HTTP")
    with pytest.raises(ObjectStoreError, match="is plain HTTP: set AWS_ALLOW_HTTP=true"):
        location.check_reachable("s3://lake/tables")


def test_no_credential_appears_in_an_error(object_store: ObjectStore):
    with pytest.raises(ObjectStoreError) as error:
        location.check_reachable("s3://no-such-bucket/lake")
    assert "lakehouse-test" not in str(error.value)  # neither the key id nor the secret
