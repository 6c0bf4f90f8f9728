"""CSV files in the landing zone: every line lands, parsed or rescued whole with its line number."""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import time
from pathlib import Path

import polars as pl
import pytest

from lakehouse.lib.file_versions import FileChangedError, hashed
from lakehouse.sources import landing
from lakehouse.sources.landing import (
    FILE_COLUMN,
    LINE_COLUMN,
    RESCUED_COLUMN,
    CsvFile,
    FileRejected,
    JsonLinesFile,
    LandingFolderMissingError,
    LandingZone,
    is_ready,
    open_csv_file,
    open_json_lines_file,
    open_parquet_file,
    read_csv_file,
    read_json_lines,
    read_parquet_file,
)

COLUMNS = ("payment_id", "order_id", "amount", "currency", "method", "settled_at")
HEADER = ",".join(COLUMNS)
ALL_TEXT = dict.fromkeys(COLUMNS, pl.String) | {LINE_COLUMN: pl.Int64, RESCUED_COLUMN: pl.String}


def write(tmp_path: Path, text: str | bytes, name: str = "settlement_2025-01-02.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def rows_by_line(frame: pl.DataFrame) -> dict[int, dict]:
    return {row[LINE_COLUMN]: row for row in frame.iter_rows(named=True)}


def test_good_file_parses_every_field_as_text_with_its_line_number(tmp_path):
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "pay_1,101,12.50,EUR,card,2025-01-02T06:00:00Z\n"
        "pay_2,102,7,usd,paypal,2025-01-02T07:30:00Z\n",
    )
    parsed = read_csv_file(path, COLUMNS)

    assert parsed.problems == []
    assert parsed.malformed_lines == 0
    assert dict(parsed.rows.schema) == ALL_TEXT
    assert parsed.rows.select(*COLUMNS, LINE_COLUMN, RESCUED_COLUMN).rows() == [
        ("pay_1", "101", "12.50", "EUR", "card", "2025-01-02T06:00:00Z", 2, None),
        ("pay_2", "102", "7", "usd", "paypal", "2025-01-02T07:30:00Z", 3, None),
    ]


def test_malformed_lines_are_rescued_whole_and_good_lines_still_parse(tmp_path):
    too_few = "pay_2,102,7.00,EUR,card"  # settled_at missing
    too_many = "pay_3,103,12,50,EUR,card,2025-01-02T08:00:00Z"  # amount written 12,50
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "pay_1,101,12.50,EUR,card,2025-01-02T06:00:00Z\n"
        f"{too_few}\n"
        f"{too_many}\n"
        "pay_4,104,1.00,GBP,card,2025-01-02T09:00:00Z\n",
    )
    parsed = read_csv_file(path, COLUMNS)

    assert parsed.malformed_lines == 2
    assert parsed.problems == [
        "settlement_2025-01-02.csv line 3: expected 6 fields (rule: well_formed_line)",
        "settlement_2025-01-02.csv line 4: expected 6 fields (rule: well_formed_line)",
    ]
    rows = rows_by_line(parsed.rows)
    assert sorted(rows) == [2, 3, 4, 5]
    assert rows[3] == dict.fromkeys(COLUMNS) | {LINE_COLUMN: 3, RESCUED_COLUMN: too_few}
    assert rows[4] == dict.fromkeys(COLUMNS) | {LINE_COLUMN: 4, RESCUED_COLUMN: too_many}
    assert (rows[2]["payment_id"], rows[2]["amount"], rows[2][RESCUED_COLUMN]) == ("pay_1", "12.50", None)
    assert (rows[5]["payment_id"], rows[5]["currency"], rows[5][RESCUED_COLUMN]) == ("pay_4", "GBP", None)


def test_quoted_fields_with_commas_and_escaped_quotes_parse_and_are_not_flagged(tmp_path):
    path = write(
        tmp_path,
        f"{HEADER}\n"
        'pay_1,101,"1,250.00",EUR,"card, visa",2025-01-02T06:00:00Z\n'
        'pay_2,102,3.00,EUR,"the ""best"" method",2025-01-02T07:00:00Z\n',
    )
    parsed = read_csv_file(path, COLUMNS)

    assert parsed.problems == []
    assert parsed.malformed_lines == 0
    assert parsed.rows.select("amount", "method", LINE_COLUMN, RESCUED_COLUMN).rows() == [
        ("1,250.00", "card, visa", 2, None),
        ("3.00", 'the "best" method', 3, None),
    ]


def test_blank_lines_are_skipped_and_later_lines_keep_their_file_line_numbers(tmp_path):
    path = write(
        tmp_path,
        f"{HEADER}\n\npay_1,101,1.00,EUR,card,2025-01-02T06:00:00Z\n\n\npay_2,102,2.00,EUR,card,2025-01-02T07:00:00Z",
    )
    parsed = read_csv_file(path, COLUMNS)

    assert parsed.problems == []
    assert parsed.rows.select("payment_id", LINE_COLUMN).rows() == [("pay_1", 3), ("pay_2", 6)]


def test_header_lacking_a_required_column_rejects_the_whole_file(tmp_path):
    path = write(
        tmp_path,
        "payment_id,order_id,amount,method,settled_at\npay_1,101,12.50,card,2025-01-02T06:00:00Z\n",
    )
    with pytest.raises(FileRejected) as rejected:
        read_csv_file(path, COLUMNS)

    assert str(rejected.value) == "settlement_2025-01-02.csv: header lacks currency (rule: expected_columns)"
    assert rejected.value.rule == "expected_columns"


def test_a_headerless_file_with_another_delimiter_is_read_by_the_declared_columns(tmp_path):
    path = write(
        tmp_path,
        'pay_1;101;"12,50";EUR;card;2025-01-02T06:00:00Z\npay_2;102;7.00;EUR;card\n',
    )
    parsed = read_csv_file(path, COLUMNS, delimiter=";", header=False)

    assert parsed.problems == ["settlement_2025-01-02.csv line 2: expected 6 fields (rule: well_formed_line)"]
    assert parsed.rows.select(LINE_COLUMN, "payment_id", "amount", RESCUED_COLUMN).rows() == [
        (1, "pay_1", "12,50", None),
        (2, None, None, "pay_2;102;7.00;EUR;card"),
    ]


def test_a_parquet_file_keeps_its_types_and_numbers_its_rows(tmp_path):
    path = tmp_path / "inventory_2025-01-01.parquet"
    pl.DataFrame({"product_id": [7, 8], "on_hand": [3, 0]}).write_parquet(path)

    rows = read_parquet_file(path)

    assert rows.schema == pl.Schema({LINE_COLUMN: pl.Int64, "product_id": pl.Int64, "on_hand": pl.Int64})
    assert rows.rows() == [(1, 7, 3), (2, 8, 0)]


def test_a_truncated_parquet_file_is_rejected_whole(tmp_path):
    path = tmp_path / "inventory_2025-01-01.parquet"
    pl.DataFrame({"product_id": list(range(1000))}).write_parquet(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.raises(FileRejected) as rejected:
        read_parquet_file(path)

    assert rejected.value.rule == "readable_file"
    assert str(rejected.value).startswith("inventory_2025-01-01.parquet: not a readable Parquet file (")


def test_a_file_is_ready_by_rename_by_its_done_marker_or_once_stable(tmp_path):
    path = write(tmp_path, "x\n", name="inventory_2025-01-01.parquet")
    assert is_ready(path, "on_arrival")
    assert not is_ready(path, "done_marker")
    (tmp_path / "inventory_2025-01-01.parquet.done").touch()
    assert is_ready(path, "done_marker")

    assert not is_ready(path, "stable", stable_seconds=60)  # just written
    old = time.time() - 61
    os.utime(path, (old, old))
    assert is_ready(path, "stable", stable_seconds=60)


def test_empty_file_gives_no_rows_the_full_schema_and_a_problem(tmp_path):
    parsed = read_csv_file(write(tmp_path, ""), COLUMNS)

    assert parsed.rows.height == 0
    assert dict(parsed.rows.schema) == ALL_TEXT
    assert parsed.malformed_lines == 0
    assert parsed.problems == ["settlement_2025-01-02.csv: empty file"]


def test_header_only_file_gives_no_rows_and_no_problem(tmp_path):
    parsed = read_csv_file(write(tmp_path, f"{HEADER}\n"), COLUMNS)

    assert parsed.rows.height == 0
    assert dict(parsed.rows.schema) == ALL_TEXT
    assert parsed.problems == []


def test_a_file_that_is_not_utf8_is_rejected_whole_naming_its_first_bad_line(tmp_path):
    """A latin-1 file would otherwise read `tarjeta_cr\ufffddito`: distorted, without a word."""
    data = (
        HEADER.encode() + b"\npay_1,101,12.50,EUR,card,2025-01-02T06:00:00Z\npay_2,102,1.00,EUR,caf\xe9,x\n"
    )
    with pytest.raises(FileRejected) as rejected:
        read_csv_file(write(tmp_path, data), COLUMNS)

    assert str(rejected.value) == (
        "settlement_2025-01-02.csv: not utf-8 text: line 3 (byte offset 122) has the byte 0xe9 "
        "(declare the file set's encoding, or re-send it as utf-8) (rule: encoding)"
    )
    assert rejected.value.rule == "encoding"


def test_a_file_decodes_from_its_declared_encoding(tmp_path):
    data = HEADER.encode() + "\npay_1,101,12.50,EUR,tarjeta_crédito,2025-01-02T06:00:00Z\n".encode("latin-1")
    parsed = read_csv_file(write(tmp_path, data), COLUMNS, encoding="latin-1")

    assert parsed.rows.select("payment_id", "method").rows() == [("pay_1", "tarjeta_crédito")]


def test_crlf_line_endings_leave_no_carriage_return_in_values(tmp_path):
    data = (
        f"{HEADER}\r\npay_1,101,12.50,EUR,card,2025-01-02T06:00:00Z\r\n"
        "pay_2,102,1.00,EUR,card\r\n"
        "pay_3,103,2.00,EUR,card,2025-01-02T08:00:00Z\r\n"
    )
    parsed = read_csv_file(write(tmp_path, data), COLUMNS)

    assert parsed.problems == ["settlement_2025-01-02.csv line 3: expected 6 fields (rule: well_formed_line)"]
    assert parsed.rows.select("payment_id", "settled_at", LINE_COLUMN, RESCUED_COLUMN).rows() == [
        ("pay_1", "2025-01-02T06:00:00Z", 2, None),
        (None, None, 3, "pay_2,102,1.00,EUR,card"),
        ("pay_3", "2025-01-02T08:00:00Z", 4, None),
    ]


def test_utf8_byte_order_mark_does_not_hide_the_first_column(tmp_path):
    """Spreadsheet exports often start with a BOM; the header's first name must still match."""
    data = b"\xef\xbb\xbf" + HEADER.encode() + b"\npay_1,101,12.50,EUR,card,2025-01-02T06:00:00Z\n"
    parsed = read_csv_file(write(tmp_path, data), COLUMNS)

    assert parsed.problems == []
    assert parsed.rows.select("payment_id", "amount", LINE_COLUMN, RESCUED_COLUMN).rows() == [
        ("pay_1", "12.50", 2, None)
    ]


def test_list_files_returns_matching_files_in_name_order(tmp_path):
    folder = tmp_path / "payments"
    folder.mkdir()
    for name in ("settlement_2025-01-03.csv", "settlement_2025-01-01.csv", "notes.txt"):
        (folder / name).write_text(HEADER)
    (folder / "settlement_dir.csv").mkdir()  # a folder matching the pattern is not a file

    files = LandingZone(root=str(tmp_path)).list_files("payments", "settlement_*.csv")

    assert [f.name for f in files] == ["settlement_2025-01-01.csv", "settlement_2025-01-03.csv"]


def test_list_files_on_a_missing_folder_names_the_path(tmp_path):
    with pytest.raises(LandingFolderMissingError) as error:
        LandingZone(root=str(tmp_path)).list_files("payments")
    assert str(tmp_path / "payments") in str(error.value)
    assert isinstance(error.value, FileNotFoundError)


EVENT_FIELDS = ("event_id", "at", "customer_id")
GOOD_BATCH = (
    '{"event_id": "e1", "at": "2025-01-01T10:00:00Z", "customer_id": 7}\n{"event_id": "e2", "at": "t2"}\n'
)


def test_well_formed_json_lines_parse_every_field_as_text_with_file_and_line(tmp_path):
    first, second = write(tmp_path, GOOD_BATCH, "a.jsonl"), write(tmp_path, '{"event_id": "e3"}\n', "b.jsonl")

    parsed = read_json_lines([first, second], EVENT_FIELDS)

    assert (parsed.malformed_lines, parsed.problems) == (0, [])
    assert parsed.rows.rows() == [
        ("e1", "2025-01-01T10:00:00Z", "7", None, 1, 0),
        ("e2", "t2", None, None, 2, 0),
        ("e3", None, None, None, 1, 1),
    ]


def test_a_bad_line_is_rescued_with_its_number_and_the_good_lines_read_the_same(tmp_path):
    good = write(tmp_path, GOOD_BATCH, "a.jsonl")
    clean = read_json_lines([good], EVENT_FIELDS).rows
    bad = write(tmp_path, b'{"event_id": "e4"}\nnot json \xff\n\n{"event_id": "e5"}\n', "b.jsonl")

    parsed = read_json_lines([good, bad], EVENT_FIELDS)

    assert parsed.rows.filter(pl.col(FILE_COLUMN) == 0).equals(clean)
    assert parsed.rows.filter(pl.col(FILE_COLUMN) == 1).select(
        "event_id", RESCUED_COLUMN, LINE_COLUMN
    ).rows() == [
        ("e4", None, 1),
        (None, "not json \ufffd", 2),
        ("e5", None, 4),
    ]
    assert parsed.problems == ["b.jsonl line 2: not a JSON object (rule: well_formed_line)"]


# A file of every kind of line: a blank line before the header, quoted fields with separators and
# escaped quotes, a short line, a long line, CRLF endings, a blank line inside, an empty field and
# spaces kept. A block without a quote is parsed by splitting, one with quotes by the CSV reader.
MIXED_CSV = (
    "\n"
    f"{HEADER}\r\n"
    'pay_1,101,"1,50",EUR,"say ""hi""",2025-01-02T06:00:00Z\r\n'
    "pay_2,102,1.00,EUR,card\r\n"
    "\r\n"
    "pay_3,103,12,50,EUR,card,2025-01-02T08:00:00Z\n"
    'pay_4,104,2.00,EUR,"open quote,2025-01-02T09:00:00Z\n'
    "pay_6,106,,USD, card ,2025-01-02T11:00:00Z\n"
    "pay_5,105,3.00,USD,card,2025-01-02T10:00:00Z"
)


@pytest.mark.parametrize("batch_bytes", [1, 7, 40, 64])
def test_a_csv_file_read_in_many_batches_gives_the_rows_line_numbers_and_problems_of_one(
    tmp_path, batch_bytes
):
    """Blocks are cut at line ends whatever their size (1 byte: a block a line), so every line
    is parsed or rescued as in one read, under its number in the file."""
    path = write(tmp_path, MIXED_CSV)

    whole = read_csv_file(path, COLUMNS)
    batched = open_csv_file(path, COLUMNS, batch_bytes=batch_bytes)
    parts = list(batched.batches())

    assert len(parts) > 1
    assert pl.concat([p.rows for p in parts]).equals(whole.rows)
    assert [problem for p in parts for problem in p.problems] == whole.problems
    assert sum(p.malformed_lines for p in parts) == whole.malformed_lines == 3
    assert whole.rows.select("payment_id", "amount", "method", LINE_COLUMN).rows() == [
        ("pay_1", "1,50", 'say "hi"', 3),
        (None, None, None, 4),
        (None, None, None, 6),
        (None, None, None, 7),
        ("pay_6", None, " card ", 8),
        ("pay_5", "3.00", "card", 9),
    ]


# Lines without quotes, read by the CSV reader over a whole block with an end mark on each line:
# the mark must tell a line one field short or one empty field long, a line of separators only, a
# single field and spaces from a well-formed line, whatever the block they fall in.
PLAIN_CSV = (
    "\n"
    f"{HEADER}\r\n"
    "pay_1,101,1.00,EUR,card,\r\n"  # last field empty: well formed
    "pay_2,102,1.00,EUR,card,x,\n"  # one empty field too many
    ",,,,,\n"  # every field empty: well formed
    "pay_3\n"
    " \n"
    "\n"
    "pay_4,104,2.00,EUR,tarjeta_crédito\n"  # one field short
    "pay_5,105,3.00,USD, card ,2025-01-02T10:00:00Z"  # no final line end
)


@pytest.mark.parametrize("batch_bytes", [1, 30, 1 << 20])
def test_plain_lines_are_parsed_or_rescued_by_their_field_count_with_their_numbers(
    tmp_path, batch_bytes, monkeypatch
):
    careful = []  # blocks read by the careful path: none, every block is plain
    monkeypatch.setattr(CsvFile, "_parsed", lambda self, lines: careful.append(lines))
    parsed = read_csv_file(write(tmp_path, PLAIN_CSV), COLUMNS, batch_bytes=batch_bytes)

    assert careful == []

    assert parsed.rows.select(*COLUMNS, LINE_COLUMN, RESCUED_COLUMN).rows() == [
        ("pay_1", "101", "1.00", "EUR", "card", None, 3, None),
        (None, None, None, None, None, None, 4, "pay_2,102,1.00,EUR,card,x,"),
        (None, None, None, None, None, None, 5, None),
        (None, None, None, None, None, None, 6, "pay_3"),
        (None, None, None, None, None, None, 7, " "),
        (None, None, None, None, None, None, 9, "pay_4,104,2.00,EUR,tarjeta_crédito"),
        ("pay_5", "105", "3.00", "USD", " card ", "2025-01-02T10:00:00Z", 10, None),
    ]
    assert parsed.problems == [
        f"settlement_2025-01-02.csv line {n}: expected 6 fields (rule: well_formed_line)"
        for n in (4, 6, 7, 9)
    ]


def test_a_bad_byte_in_a_later_block_rejects_the_file_before_any_row_is_read(tmp_path):
    """The whole file is decoded before the first batch: a file is loaded whole or not at all."""
    good = "pay_1,101,12.50,EUR,card,2025-01-02T06:00:00Z\n" * 20
    path = write(tmp_path, (HEADER + "\n" + good).encode() + b"pay_2,102,1.00,EUR,caf\xe9,x\n")

    with pytest.raises(FileRejected) as rejected:
        open_csv_file(path, COLUMNS, batch_bytes=50)

    assert rejected.value.reason == (
        f"not utf-8 text: line 22 (byte offset {len(HEADER) + 1 + len(good) + 22}) has the byte 0xe9 "
        "(declare the file set's encoding, or re-send it as utf-8)"
    )
    with pytest.raises(FileRejected) as whole:
        read_csv_file(path, COLUMNS)
    assert whole.value.reason == rejected.value.reason


def test_a_bad_byte_after_a_byte_order_mark_is_placed_by_the_files_own_bytes(tmp_path):
    """The decoder drops the mark before it decodes: the offset and line still count its 3 bytes."""
    path = write(tmp_path, codecs.BOM_UTF8 + (HEADER + "\n").encode() + b"\xe9pay_2,102,1.00,EUR,card,x\n")

    with pytest.raises(FileRejected) as rejected:
        open_csv_file(path, COLUMNS)

    assert rejected.value.reason == (
        f"not utf-8 text: line 2 (byte offset {3 + len(HEADER) + 1}) has the byte 0xe9 "
        "(declare the file set's encoding, or re-send it as utf-8)"
    )


def test_a_multibyte_letter_cut_by_a_block_end_still_decodes(tmp_path):
    path = write(tmp_path, f"{HEADER}\npay_1,101,1.00,EUR,tarjeta_crédito,x\n")

    for batch_bytes in range(1, 12):
        parsed = read_csv_file(path, COLUMNS, batch_bytes=batch_bytes)
        assert parsed.rows.get_column("method").to_list() == ["tarjeta_crédito"]


@pytest.mark.parametrize(
    "content",
    [
        GOOD_BATCH.encode() * 3,
        b'{"event_id": "e4"}\nnot json \xff\n\n{"event_id": "e5"}\n' + GOOD_BATCH.encode(),
    ],
    ids=["well_formed", "bad_lines"],
)
def test_a_json_lines_file_read_in_many_batches_gives_the_rows_of_one(tmp_path, content):
    path = write(tmp_path, content, "b.jsonl")
    whole = read_json_lines([path], EVENT_FIELDS)

    digest = hashed(path)  # not opened: `open_json_lines_file` would reject the undecodable byte
    file = JsonLinesFile(path, EVENT_FIELDS, 30, True, digest.hexdigest(), digest.seen)
    parts = list(file.batches())

    assert len(parts) > 2
    assert pl.concat([p.rows for p in parts]).equals(whole.rows.drop(FILE_COLUMN))
    assert [problem for p in parts for problem in p.problems] == whole.problems


@pytest.mark.parametrize("quoted", [False, True])
def test_a_line_starting_with_a_byte_order_mark_in_a_later_block_keeps_it(tmp_path, quoted):
    """Only the file's first bytes can be its byte-order mark: U+FEFF starting a later line is
    data, wherever a block starts (Polars' CSV reader drops one at the start of its input)."""
    quote = '"q"' if quoted else "q"
    data = f"{HEADER}\n\ufeffpay_1,101,1.00,EUR,{quote},x\n\ufeffpay_2,102,2.00,EUR,card,y\n"
    parsed = read_csv_file(write(tmp_path, data), COLUMNS, batch_bytes=1)

    assert parsed.rows.select("payment_id", "method", LINE_COLUMN).rows() == [
        ("\ufeffpay_1", "q", 2),
        ("\ufeffpay_2", "card", 3),
    ]


@pytest.mark.parametrize("batch_bytes", [1, 1 << 20])
def test_a_carriage_return_before_a_crlf_end_stays_in_the_last_value(tmp_path, batch_bytes):
    """A line end is LF or CR LF: a CR before it is the last field's (the careful path reads it)."""
    data = f"{HEADER}\r\npay_1,101,1.00,EUR,card,x\r\r\npay_2,102,2.00,EUR,card,y\r\n"
    parsed = read_csv_file(write(tmp_path, data), COLUMNS, batch_bytes=batch_bytes)

    assert parsed.problems == []
    assert parsed.rows.select("payment_id", "settled_at", LINE_COLUMN).rows() == [
        ("pay_1", "x\r", 2),
        ("pay_2", "y", 3),
    ]


def test_polars_ragged_line_options_behave_as_the_plain_path_relies_on():
    """`_parsed_plain` relies on Polars' unstable `missing_columns="insert"` and
    `extra_columns="ignore"`: a short line's missing fields null, a long line's extra ones
    dropped. If a Polars upgrade changes either, this fails before any file is misread."""
    read = pl.read_csv(
        b"a,b,c\na\na,b,c,d,e\n",
        has_header=False,
        schema=dict.fromkeys(["x", "y", "z"], pl.String),
        quote_char=None,
        truncate_ragged_lines=True,
        missing_columns="insert",
        extra_columns="ignore",
    )

    assert read.rows() == [("a", "b", "c"), ("a", None, None), ("a", "b", "c")]


def _replaced(path: Path, data: bytes) -> None:
    """The file replaced by another of the same name (written aside, renamed over it)."""
    aside = path.with_name(path.name + ".new")
    aside.write_bytes(data)
    aside.replace(path)


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_a_file_replaced_after_its_check_raises_before_its_rows_can_be_committed(tmp_path, kind):
    """The digest recorded is that of the bytes checked: when the rows then read are of other
    bytes, reading them ends in `FileChangedError` (after the last batch: the writer has committed
    nothing yet), never in rows of one file under another's digest."""
    if kind == "csv":
        path = write(tmp_path, f"{HEADER}\npay_1,101,1.00,EUR,card,x\n")
        opened = open_csv_file(path, COLUMNS, batch_bytes=8)
        other = f"{HEADER}\npay_2,102,2.00,EUR,card,y\n".encode()
    elif kind == "jsonl":
        path = write(tmp_path, '{"event_id": "e1"}\n', "a.jsonl")
        opened = open_json_lines_file(path, EVENT_FIELDS, batch_bytes=8)
        other = b'{"event_id": "e2"}\n'
    else:
        path = tmp_path / "a.parquet"
        pl.DataFrame({"payment_id": ["pay_1"]}).write_parquet(path)
        opened = open_parquet_file(path)
        other = _parquet_bytes(pl.DataFrame({"payment_id": ["pay_2"]}))
    assert opened.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert opened.seen.st_size == path.stat().st_size

    _replaced(path, other)

    with pytest.raises(FileChangedError, match=f"{path.name} changed while it was ingested"):
        list(opened.batches())


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out)
    return out.getvalue()


def test_crlf_json_lines_are_read_in_one_call_as_their_lf_twin(tmp_path, monkeypatch):
    """CR LF ends are made LF for the one-call JSON reader, as for the plain CSV path (only a CR
    left inside a line needs the careful reading)."""
    lf = write(tmp_path, GOOD_BATCH, "lf.jsonl")
    crlf = write(tmp_path, GOOD_BATCH.replace("\n", "\r\n"), "crlf.jsonl")
    careful = []
    monkeypatch.setattr(landing, "_read_line_by_line", lambda *args: careful.append(args))

    assert read_json_lines([crlf], EVENT_FIELDS).rows.equals(read_json_lines([lf], EVENT_FIELDS).rows)
    assert careful == []
