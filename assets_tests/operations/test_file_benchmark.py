"""The big-file benchmark's file: deterministic, a settlement file of the declared columns, one
line in a thousand malformed (rescued by the file set, truncated by the plain read)."""

from __future__ import annotations

import hashlib

from lakehouse.components.declared import file_sets
from lakehouse.operations.file_benchmark import HEADER, MALFORMED_EVERY, synthetic_settlements


def test_the_synthetic_settlement_file_is_deterministic_with_one_malformed_line_in_a_thousand(tmp_path):
    first, second = tmp_path / "a" / "settlement.csv", tmp_path / "b" / "settlement.csv"

    lines = synthetic_settlements(first, 0.2)
    synthetic_settlements(second, 0.2)

    text = first.read_text()
    assert hashlib.sha256(text.encode()).digest() == hashlib.sha256(second.read_bytes()).digest()
    header, *rows = text.splitlines()
    assert header + "\n" == HEADER
    assert header.split(",") == file_sets()["payments"].source.columns
    assert len(rows) == lines > MALFORMED_EVERY
    malformed = [n for n, row in enumerate(rows) if row.count(",") != 5]
    assert malformed == list(range(MALFORMED_EVERY - 1, lines, MALFORMED_EVERY))
    assert rows[0] == "pay_000000000,1,0.00,USD,card,2025-01-01T00:00:00Z"
