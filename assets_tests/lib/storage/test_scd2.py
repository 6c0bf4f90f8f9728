"""SCD2 history held against an obviously correct reference model, on random change sequences.

Events arrive in batches, out of order, repeated and with deletions; after each batch the table
must equal the history the reference computes from every event seen so far.
"""

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lakehouse.lib.storage import delta_tables, write_spec
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SPEC = WriteSpec(
    WriteMode.SCD2,
    keys=("customer_id",),
    sequence_column="updated_at",
    tracked_columns=("city",),
    surrogate_key="customer_key",
)
COLUMNS = ["customer_id", "city", "note", "valid_from", "valid_to", "is_current", "is_deleted"]

event = st.tuples(
    st.integers(1, 3),  # customer_id
    st.integers(0, 12),  # minutes after T0
    st.sampled_from(["Berlin", "Paris"]),  # city: tracked
    st.sampled_from(["x", "y", "z"]),  # note: type 1
    st.sampled_from([False, False, False, True]),  # _deleted
)
batches = st.lists(st.lists(event, min_size=1, max_size=6), min_size=1, max_size=4)


def frame(batch: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(k, T0 + timedelta(minutes=m), city, note, deleted) for k, m, city, note, deleted in batch],
        schema={
            "customer_id": pl.Int64,
            "updated_at": pl.Datetime("us", "UTC"),
            "city": pl.String,
            "note": pl.String,
            "_deleted": pl.Boolean,
        },
        orient="row",
    )


def reference(seen: list[tuple]) -> set[tuple]:
    """Versions from every event: the last arrival wins a (key, time); a run of one city, or of
    deletions, is a version until the next; each version shows the key's newest note."""
    latest = {(k, m): (city, note, deleted) for k, m, city, note, deleted in seen}
    versions = set()
    for key in {k for k, _ in latest}:
        history = sorted((m, *latest[(k, m)]) for k, m in latest if k == key)
        notes = [note for _, _, note, deleted in history if not deleted]
        runs: list[list] = []  # [state, start]; state None = deleted
        for minute, city, _, deleted in history:
            state = None if deleted else city
            if not runs or runs[-1][0] != state:
                runs.append([state, minute])
        for (state, start), following in zip(runs, [*runs[1:], None], strict=True):
            end = None if following is None else T0 + timedelta(minutes=following[1])
            note = notes[-1] if notes else None
            versions.add((key, state, note, T0 + timedelta(minutes=start), end, end is None, state is None))
    return versions


B, P = "Berlin", "Paris"


# Each Delta merge costs ~30 ms: a dozen random sequences a run, and always the cases that matter.
@settings(max_examples=12, deadline=None)
@given(batches)
@example([[(1, 0, B, "x", False), (1, 5, B, "y", False)], [(1, 3, P, "z", False)]])  # a late change splits
@example([[(1, 2, B, "x", False)], [(1, 2, P, "y", False)]])  # the same time again: the last arrival wins
@example([[(1, 2, B, "x", False), (1, 2, P, "y", False), (2, 0, P, "z", False)]])  # ... within one batch
@example([[(1, 0, B, "x", False)], [(1, 8, B, "x", False)], [(1, 4, B, "y", True)]])  # deleted, back
@example([[(2, 5, P, "x", True)], [(2, 1, P, "y", False)], [(2, 9, P, "z", True)]])  # deletions first
@example([[(3, 0, B, "x", False), (3, 6, B, "z", False)], [(3, 3, B, "y", False)]])  # only the note
# a version before the first one arrives late; a key born deleted, a run of deletions one version
@example([[(1, 4, P, "x", False)], [(1, 1, B, "y", False), (2, 4, B, "x", True), (2, 5, P, "z", True)]])
def test_history_equals_the_reference_after_every_batch_whatever_the_arrival_order(arrivals):
    with tempfile.TemporaryDirectory() as folder:
        uri = str(Path(folder) / "dim")
        seen: list[tuple] = []
        for batch in arrivals:
            seen += batch
            delta_tables.write(uri, frame(batch), SPEC, {})
            table = pl.read_delta(uri)
            assert set(table.select(COLUMNS).iter_rows()) == reference(seen)
            assert table.get_column("customer_key").is_unique().all()

        delta_tables.write(uri, frame(arrivals[-1]), SPEC, {})  # the same batch again
        assert set(pl.read_delta(uri).select(COLUMNS).iter_rows()) == reference(seen)


def test_a_late_change_splits_the_version_it_falls_in_and_keeps_surrogate_keys():
    with tempfile.TemporaryDirectory() as folder:
        uri = str(Path(folder) / "dim")
        delta_tables.write(uri, frame([(1, 0, "Berlin", "x", False), (1, 5, "Berlin", "y", False)]), SPEC, {})
        first_key = pl.read_delta(uri).get_column("customer_key").to_list()

        result = delta_tables.write(uri, frame([(1, 3, "Paris", "z", False)]), SPEC, {})

        table = pl.read_delta(uri).sort("valid_from")
        assert table.select("city", "valid_from", "valid_to").rows() == [
            ("Berlin", T0, T0 + timedelta(minutes=3)),
            ("Paris", T0 + timedelta(minutes=3), T0 + timedelta(minutes=5)),
            ("Berlin", T0 + timedelta(minutes=5), None),
        ]
        assert table.get_column("customer_key")[0] == first_key[0]
        assert (result.inserted, result.updated, result.deleted) == (2, 1, 0)


def test_a_changed_member_rewrites_only_the_file_holding_its_versions():
    """A day's changes scatter over the keys: each rewrites its own file, never the others'."""
    with tempfile.TemporaryDirectory() as folder:
        uri = str(Path(folder) / "dim")
        for key in (1, 10, 20):  # new members only: a file each
            delta_tables.write(uri, frame([(key, 0, "Berlin", "x", False)]), SPEC, {})
        files = set(DeltaTable(uri).file_uris())

        delta_tables.write(uri, frame([(1, 5, "Paris", "x", False), (20, 5, "Paris", "x", True)]), SPEC, {})

        kept = files & set(DeltaTable(uri).file_uris())
        assert [pl.read_parquet(f).get_column("customer_id").to_list() for f in kept] == [[10]]
        table = pl.read_delta(uri).sort("customer_id", "valid_from")
        assert table.select("customer_id", "city", "is_current", "is_deleted").rows() == [
            (1, "Berlin", False, False),
            (1, "Paris", True, False),
            (10, "Berlin", True, False),
            (20, "Berlin", False, False),
            (20, None, True, True),
        ]


def test_an_scd2_spec_round_trips_through_asset_metadata_and_needs_its_columns():
    metadata = write_spec.scd2(["customer_id"], "updated_at", ["city"], "customer_key")

    assert WriteSpec.from_metadata(metadata) == SPEC
    with pytest.raises(ValueError, match="scd2 needs a sequence column and a surrogate key column"):
        WriteSpec(WriteMode.SCD2, keys=("customer_id",))
