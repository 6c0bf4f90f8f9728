"""Files in the landing zone: discovery, readiness, and CSV, JSON-lines and Parquet reading that
never loses a line.

A line that does not parse (wrong number of fields, not a JSON object) is kept whole in
`_rescued_data` with its line number, so refined can quarantine it with the file, line and rule;
the file's good lines still land. A file that cannot be read at all (a CSV header without the
expected columns, a Parquet file that is truncated or corrupt) raises `FileRejected`, so that the
file is quarantined whole and the others still load. Parsing is vectorised: a CSV block without
quotes is read by Polars' CSV reader whole, each line marked at its end so that its field count
shows; a block with quotes has its lines classified with one regex, the good ones then read by
Polars' CSV reader; JSON-lines files are read by Polars' JSON reader when they are well formed,
else line by line; every value as text (nested values as their JSON). Parquet keeps its own types.

Files of any size: a file is checked whole first (it decodes, its header has the expected
columns; its SHA-256 taken on the way), then read a block of `batch_bytes` at a time, cut at
line ends, so memory follows the block, not the file, and a file is loaded whole or rejected whole.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dagster as dg
import numpy as np
import polars as pl

from lakehouse.lib.columns import RESCUED_DATA
from lakehouse.lib.file_versions import Digest
from lakehouse.lib.storage import location
from lakehouse.settings import Settings

RESCUED_COLUMN = RESCUED_DATA
DEFAULT_ENCODING = "utf-8"
LINE_COLUMN = "_row_number"  # the line number in the file (header = 1)
# How much of a file is read at a time: memory follows this, not the file's size.
DEFAULT_BATCH_BYTES = Settings.read_batch_bytes


class LandingFolderMissingError(FileNotFoundError):
    """The landing folder a source reads from does not exist."""


class FileRejected(ValueError):
    """A file that cannot be read as a whole: quarantined with this reason, named by its rule."""

    def __init__(self, path: Path, reason: str, rule: str) -> None:
        super().__init__(f"{path.name}: {reason} (rule: {rule})")
        self.reason, self.rule = reason, rule


class LandingZone(dg.ConfigurableResource):
    """A folder per file set; files are listed in name order (daily files sort by date).

    `root` is a folder or an object store's `s3://bucket/prefix`: files are then `UPath`s, read
    through s3fs with the AWS variables' endpoint and credentials.
    """

    root: str
    batch_bytes: int = DEFAULT_BATCH_BYTES  # how much of a file is read at a time

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A run whose landing zone is on an object store that cannot be used fails at once."""
        location.check_reachable(self.root, "LAKEHOUSE_LANDING_DIR")

    def list_files(self, folder: str, pattern: str = "*.csv") -> list[Path]:
        path = location.path(self.root, folder)
        if not path.is_dir():
            raise LandingFolderMissingError(
                f"landing folder {path} does not exist (run `lakehouse generate` or set "
                "LAKEHOUSE_LANDING_DIR)"
            )
        return sorted((p for p in path.glob(pattern) if p.is_file()), key=str)


def is_ready(path: Path, ready: str, done_suffix: str = ".done", stable_seconds: int = 60) -> bool:
    """Whether a data file is complete: `on_arrival` (written by rename), `done_marker` (its
    marker file exists) or `stable` (unchanged for `stable_seconds`)."""
    if ready == "done_marker":
        return path.with_name(path.name + done_suffix).is_file()
    if ready == "stable":
        return time.time() - path.stat().st_mtime >= stable_seconds
    return True


@dataclass(frozen=True)
class ParsedFile:
    rows: pl.DataFrame
    malformed_lines: int
    problems: list[str]


def read_csv_file(
    path: Path,
    expected_columns: tuple[str, ...],
    delimiter: str = ",",
    header: bool = True,
    encoding: str = DEFAULT_ENCODING,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> ParsedFile:
    """All data lines of a CSV file as strings, at once (see `open_csv_file` for a file of any size)."""
    return concatenated(open_csv_file(path, expected_columns, delimiter, header, encoding, batch_bytes))


@dataclass(frozen=True)
class CsvFile:
    """A CSV file checked whole (it decodes, its header has the expected columns), read in batches.

    Each batch is a block of about `batch_bytes` of the file, cut at a line end, so a file of any
    size is read in bounded memory; lines keep their numbers in the file, and each batch is parsed
    and rescued exactly as the whole file would be (a line never spans two batches).
    """

    path: Path
    columns: tuple[str, ...]  # the header's names (without a header: the expected columns)
    expected_columns: tuple[str, ...]
    delimiter: str
    header_line: int | None  # the header's line number (None: the file has no header)
    encoding: str
    batch_bytes: int
    empty: bool  # no line at all
    has_rows: bool  # a line besides the header
    sha256: str  # of its bytes as they were checked: its rows are of these bytes, or not read
    seen: os.stat_result  # the file's size and modification time as it was checked

    @property
    def schema(self) -> pl.Schema:
        """The columns of every batch: the fields as text, the line number and the rescued line."""
        return pl.Schema(
            dict.fromkeys(self.columns, pl.String) | {LINE_COLUMN: pl.Int64, RESCUED_COLUMN: pl.String}
        )

    def batches(self) -> Iterator[ParsedFile]:
        """The file's rows a block at a time (one batch with a problem for an empty file);
        `FileChangedError` after the last when the bytes read are not those checked."""
        digest = Digest()
        blocks = utf8_blocks(self.path, self.encoding, self.batch_bytes, digest)
        if self.empty:
            for _ in blocks:  # bytes only to compare: the file was empty when checked
                pass
            yield ParsedFile(
                empty_rows(self.expected_columns).select(self.schema.names()),
                0,
                [f"{self.path.name}: empty file"],
            )
        else:
            for first_line, block in blocks:
                plain = _plain_lines(block, self.delimiter)
                if plain is None:
                    yield self._parsed(_lines_of_block(block.decode(), first_line))
                else:
                    yield self._parsed_plain(plain, first_line)
        digest.check(self.path, self.sha256)

    def _parsed(self, lines: pl.DataFrame) -> ParsedFile:
        body = self._body(lines)
        field, sep = _field(self.delimiter), re.escape(self.delimiter)
        pattern = f"^{field}(?:{sep}{field}){{{len(self.columns) - 1}}}$"
        well_formed = pl.col("line").str.contains(pattern)
        good, bad = body.filter(well_formed), body.filter(~well_formed)
        parsed = _parse(list(self.columns), good, self.delimiter)
        rows = pl.concat([parsed, _rescued(bad, self.expected_columns)], how="diagonal_relaxed")
        return self._result(rows.sort(LINE_COLUMN), bad)

    def _parsed_plain(self, block: bytes, first_line: int) -> ParsedFile:
        """`_parsed` of plain lines (`_plain_lines`: most files), by Polars' multi-threaded CSV
        reader over the whole block, 3-4x cheaper than a line at a time.

        Each line is given one more field, the mark `_END`: a line is well formed when the mark
        is its field after the header's (the reader truncates a longer line, leaves a shorter
        one's last fields null), blank when the mark is its second field and its first is empty.
        Fields are what lies between separators, an empty one null; rows are lines in order, so a
        line's number is its position. Only the few lines rescued are looked up in the bytes.
        """
        names = [f"_{i}" for i in range(len(self.columns) + 1)]
        marked = block.replace(b"\n", f"{self.delimiter}{_END}\n".encode())
        fields = pl.read_csv(
            marked,
            has_header=False,
            schema=dict.fromkeys(names, pl.String),
            separator=self.delimiter,
            quote_char=None,
            truncate_ragged_lines=True,
            missing_columns="insert",
            extra_columns="ignore",
            raise_if_empty=False,
        )
        numbered = fields.with_columns(
            pl.int_range(first_line + 1, first_line + 1 + pl.len(), dtype=pl.Int64).alias(LINE_COLUMN),
            pl.col(names[-1]).eq_missing(_END).alias("_well_formed"),
        )
        blank = pl.col(names[0]).is_null() & pl.col(names[1]).eq_missing(_END)
        kept = numbered.filter(~blank, pl.col(LINE_COLUMN) != (self.header_line or 0))
        well_formed = pl.col("_well_formed")
        fields_of = (pl.when(well_formed).then(n).alias(c) for n, c in zip(names, self.columns, strict=False))
        rows = kept.select(*fields_of, LINE_COLUMN)
        bad = kept.with_row_index("_at").filter(~well_formed).select("_at", LINE_COLUMN)
        rescued = pl.repeat(None, rows.height, dtype=pl.String, eager=True).alias(RESCUED_COLUMN)
        if bad.height:
            rescued.scatter(
                bad.get_column("_at"), _lines_at(block, bad.get_column(LINE_COLUMN) - first_line - 1)
            )
        return self._result(rows.with_columns(rescued), bad)

    def _body(self, lines: pl.DataFrame) -> pl.DataFrame:
        return lines if self.header_line is None else lines.filter(pl.col(LINE_COLUMN) != self.header_line)

    def _result(self, rows: pl.DataFrame, bad: pl.DataFrame) -> ParsedFile:
        problems = [
            f"{self.path.name} line {n}: expected {len(self.columns)} fields (rule: well_formed_line)"
            for n in bad.get_column(LINE_COLUMN).to_list()
        ]
        return ParsedFile(rows.select(self.schema.names()), bad.height, problems)


def open_csv_file(
    path: Path,
    expected_columns: tuple[str, ...],
    delimiter: str = ",",
    header: bool = True,
    encoding: str = DEFAULT_ENCODING,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> CsvFile:
    """A CSV file to read in batches, checked whole first, so that reading it cannot fail half-way.

    One pass decodes the whole file from its declared `encoding` (`FileRejected` under rule
    `encoding` when a byte does not decode) and finds its header, the first line that is not empty
    (`FileRejected` under rule `expected_columns` when it lacks one). Without a header,
    `expected_columns` name the fields in file order.
    """
    digest = Digest()
    lines = first_lines(path, encoding, batch_bytes, digest=digest)
    columns = tuple(expected_columns)
    if header and lines:
        columns = tuple(lines[0][1].split(delimiter))
        missing = [c for c in expected_columns if c not in columns]
        if missing:
            raise FileRejected(path, f"header lacks {', '.join(missing)}", "expected_columns")
    header_line = lines[0][0] if header and lines else None
    expected, body = tuple(expected_columns), len(lines) > (1 if header else 0)
    opened = (path, columns, expected, delimiter, header_line, encoding, batch_bytes, not lines, body)
    return CsvFile(*opened, sha256=digest.hexdigest(), seen=digest.seen)


class LandingFile(Protocol):
    """A landing file checked whole, read a batch at a time (rows of `schema`)."""

    @property
    def schema(self) -> pl.Schema: ...

    @property
    def has_rows(self) -> bool: ...  # known before reading: whether the file gives any row

    @property
    def sha256(self) -> str: ...  # the digest of the bytes checked (and then read: else an error)

    @property
    def seen(self) -> os.stat_result: ...  # the file's size and modification time when checked

    def batches(self) -> Iterator[ParsedFile]: ...


@dataclass(frozen=True)
class ParquetFile:
    """A Parquet file (compressed: read whole, as one batch), checked readable when opened and
    read again when its batch is taken, so that a run holds one file's rows at a time."""

    path: Path
    schema: pl.Schema
    has_rows: bool
    sha256: str
    seen: os.stat_result

    def batches(self) -> Iterator[ParsedFile]:
        """The file's rows; `FileChangedError` when its bytes are not those checked."""
        digest = Digest()
        rows = read_parquet_file(self.path, digest)
        digest.check(self.path, self.sha256)
        yield ParsedFile(rows, 0, [])


def open_parquet_file(path: Path) -> ParquetFile:
    """`FileRejected` when the file cannot be read (truncated, corrupt, not Parquet)."""
    digest = Digest()
    rows = read_parquet_file(path, digest)
    return ParquetFile(path, rows.schema, rows.height > 0, digest.hexdigest(), digest.seen)


def concatenated(file: LandingFile) -> ParsedFile:
    """A file's batches as one (for small files and tests: holds the whole file)."""
    batches = list(file.batches())
    rows = pl.concat([b.rows for b in batches]) if batches else pl.DataFrame(schema=file.schema)
    return ParsedFile(rows, sum(b.malformed_lines for b in batches), [p for b in batches for p in b.problems])


def first_lines(
    path: Path, encoding: str, batch_bytes: int, wanted: int = 2, digest: Digest | None = None
) -> list[tuple[int, str]]:
    """The number and text of the file's first `wanted` lines that are not empty (fewer: the file
    has fewer), having decoded the whole file: `FileRejected` under rule `encoding` when a byte
    does not decode. `digest` is given the file's bytes as they are read (one read for both)."""
    found: list[tuple[int, str]] = []
    carry, lines_before = "", 0
    for text in decoded_blocks(path, encoding, batch_bytes, digest):
        if len(found) < wanted:  # the text up to the last line end read so far, lines numbered
            text = carry + text
            cut = text.rfind("\n") + 1
            found += _nonempty_lines(text[:cut], lines_before, wanted - len(found))
            carry, lines_before = text[cut:], lines_before + text.count("\n", 0, cut)
    return found + _nonempty_lines(carry, lines_before, wanted - len(found))


def decoded_blocks(
    path: Path, encoding: str, batch_bytes: int, digest: Digest | None = None
) -> Iterator[str]:
    """The file's text, `batch_bytes` at a time (cut anywhere); `FileRejected` under rule
    `encoding`, naming the first byte that does not decode (a UTF-8 byte-order mark dropped).

    Never replaced: that would turn a latin-1 file's accented letters into U+FFFD and could even
    merge two keys, without a word."""
    decoder = codecs.getincrementaldecoder(_codec(encoding))()
    offset = 0
    with path.open("rb") as stream:
        if digest is not None:
            digest.opened(stream, path)
        while True:
            block = stream.read(batch_bytes)
            if digest is not None:
                digest.update(block)
            try:
                yield decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                # what failed to decode ends where the block does (it may begin with bytes held
                # from the block before, or after a byte-order mark the decoder dropped)
                at = offset + len(block) - len(error.object) + error.start
                reason = undecodable_at(_line_of(path, at), at, error.object[error.start], encoding)
                raise FileRejected(path, reason, "encoding") from error
            if not block:
                return
            offset += len(block)


def _line_of(path: Path, offset: int) -> int:
    """The number of the line holding the file's byte at `offset`: its bytes before it read again,
    so that the decoding pass need not count lines for the error it rarely finds."""
    newlines, left = 0, offset
    with path.open("rb") as stream:
        while left > 0 and (chunk := stream.read(min(left, DEFAULT_BATCH_BYTES))):
            newlines, left = newlines + chunk.count(b"\n"), left - len(chunk)
    return newlines + 1


def _nonempty_lines(text: str, lines_before: int, wanted: int) -> list[tuple[int, str]]:
    """The first `wanted` lines of a block that are not empty (as `_lines_in` tells lines), with
    their numbers."""
    found: list[tuple[int, str]] = []
    start, number = 0, lines_before + 1
    while start < len(text) and len(found) < wanted:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if line := text[start:end].removesuffix("\r"):
            found.append((number, line))
        start, number = end + 1, number + 1
    return found


def text_blocks(
    path: Path, encoding: str, batch_bytes: int, digest: Digest | None = None
) -> Iterator[tuple[int, str]]:
    """The file's text in blocks of about `batch_bytes`, each ending at a line end (the last at the
    file's end), with the number of lines before it (decoded as by `decoded_blocks`)."""
    carry, lines_before = "", 0
    for decoded in decoded_blocks(path, encoding, batch_bytes, digest):
        text = carry + decoded
        cut = text.rfind("\n") + 1
        if cut:
            yield lines_before, text[:cut]
            lines_before += text.count("\n", 0, cut)
        carry = text[cut:]
    if carry:  # the last line, without a line end
        yield lines_before, carry


def utf8_blocks(
    path: Path, encoding: str, batch_bytes: int, digest: Digest | None = None
) -> Iterator[tuple[int, bytes]]:
    """`text_blocks` as UTF-8 bytes: a UTF-8 file's own bytes (no decoding: the file was checked
    whole when opened; its byte-order mark dropped), another encoding's text encoded; `digest`
    given the file's bytes as they are read."""
    if _codec(encoding) != "utf-8-sig":
        texts = text_blocks(path, encoding, batch_bytes, digest)
        yield from ((lines_before, text.encode()) for lines_before, text in texts)
        return
    lines_before = 0
    for number, block in enumerate(byte_blocks(path, batch_bytes, digest)):
        yield lines_before, block.removeprefix(codecs.BOM_UTF8) if number == 0 else block
        lines_before += block.count(b"\n")


# The field `_parsed_plain` ends every line with: a byte no plain line holds.
_END = "\x00"


def _plain_lines(block: bytes, delimiter: str) -> bytes | None:
    """The block's lines for `_parsed_plain`, each ended by a line feed (CR LF ends as LF), or
    None when one needs the careful reading: a quote, a carriage return or NUL byte left, a
    delimiter that is not one byte, or a first line starting with U+FEFF (Polars' reader would
    take it for a byte-order mark and drop it)."""
    if len(delimiter.encode()) != 1 or block.startswith(codecs.BOM_UTF8):
        return None
    lines = _lf_ended(block)
    if lines is None or any(byte in lines for byte in (b'"', _END.encode())):
        return None
    return lines if lines.endswith(b"\n") else lines + b"\n"


def _lf_ended(block: bytes) -> bytes | None:
    """The block with its CR LF line ends made LF, for the one-call readers (CSV and JSON lines
    alike); None when a carriage return is left (inside a line: only the careful readings keep it)."""
    lines = block.replace(b"\r\n", b"\n") if b"\r" in block else block
    return None if b"\r" in lines else lines


def _lines_at(block: bytes, indices: pl.Series) -> list[str]:
    """The text of the block's lines at these positions (0: its first line)."""
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == ord("\n"))
    starts = np.concatenate(([0], ends[:-1] + 1))
    at = indices.to_numpy()
    return [block[start:end].decode() for start, end in zip(starts[at], ends[at], strict=True)]


def _codec(encoding: str) -> str:
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


FILE_COLUMN = "_file"  # which of the files read a line comes from (its index)


def read_json_lines(paths: list[Path], fields: tuple[str, ...]) -> ParsedFile:
    """Every line of JSON-lines files: the `fields` of each object as text, any other line rescued
    whole; `_file` is the index of the line's file in `paths`.

    Well-formed files (every line a JSON object, UTF-8, no blank lines) are parsed by Polars' JSON
    reader at once (measured: 6x faster and a fraction of the memory); any other input is read line
    by line, so that each bad line is rescued with its number and nothing is lost.
    """
    return parse_json_lines([path.read_bytes() for path in paths], [path.name for path in paths], fields)


def parse_json_lines(
    contents: list[bytes], names: list[str], fields: tuple[str, ...], lines_before: int = 0
) -> ParsedFile:
    """`read_json_lines` of files' contents (named `names`), the first line of each numbered
    `lines_before + 1` (a block of a larger file)."""
    well_formed = _read_well_formed(contents, fields, lines_before)
    if well_formed is not None:
        return well_formed
    return _read_line_by_line(contents, names, fields, lines_before)


@dataclass(frozen=True)
class JsonLinesFile:
    """A JSON-lines file checked whole (it decodes), read in blocks of about `batch_bytes` cut at
    line ends, each parsed as the whole file would be, lines keeping their numbers in the file."""

    path: Path
    fields: tuple[str, ...]
    batch_bytes: int
    has_rows: bool  # a line that is not empty
    sha256: str  # of its bytes as they were checked: its rows are of these bytes, or not read
    seen: os.stat_result  # the file's size and modification time as it was checked

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema(
            dict.fromkeys(self.fields, pl.String) | {RESCUED_COLUMN: pl.String, LINE_COLUMN: pl.Int64}
        )

    def batches(self) -> Iterator[ParsedFile]:
        """The file's rows a block at a time; `FileChangedError` after the last when the bytes
        read are not those checked."""
        lines_before, digest = 0, Digest()
        for block in byte_blocks(self.path, self.batch_bytes, digest):
            parsed = parse_json_lines([block], [self.path.name], self.fields, lines_before)
            yield ParsedFile(parsed.rows.drop(FILE_COLUMN), parsed.malformed_lines, parsed.problems)
            lines_before += block.count(b"\n")
        digest.check(self.path, self.sha256)


def open_json_lines_file(
    path: Path,
    fields: tuple[str, ...],
    encoding: str = DEFAULT_ENCODING,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> JsonLinesFile:
    """A JSON-lines file to read in batches, decoded whole first (strict: `FileRejected` under rule
    `encoding` when a byte does not decode), so that reading it cannot fail half-way."""
    digest = Digest()
    has_rows = bool(first_lines(path, encoding, batch_bytes, wanted=1, digest=digest))
    return JsonLinesFile(path, fields, batch_bytes, has_rows, digest.hexdigest(), digest.seen)


def byte_blocks(path: Path, batch_bytes: int, digest: Digest | None = None) -> Iterator[bytes]:
    """The file's bytes in blocks of about `batch_bytes`, each ending at a line end (the last at
    the file's end): a block read, then the rest of its last line (one copy of the block, not
    two); `digest` given them as they are read."""
    with path.open("rb") as stream:
        if digest is not None:
            digest.opened(stream, path)
        while block := stream.read(batch_bytes):
            block = block if block.endswith(b"\n") else block + stream.readline()
            if digest is not None:
                digest.update(block)
            yield block


def _read_well_formed(contents: list[bytes], fields: tuple[str, ...], lines_before: int) -> ParsedFile | None:
    """The contents parsed in one call (CR LF ends as LF), or None when any of them is not
    plainly well formed."""
    lf_ended = [_lf_ended(content) for content in contents]
    if any(content is None or _needs_care(content) for content in lf_ended):
        return None
    contents = lf_ended
    counts = [content.count(b"\n") for content in contents]
    joined = b"".join(contents)
    try:
        rows = pl.read_ndjson(io.BytesIO(joined), schema=dict.fromkeys(fields, pl.String))
    except pl.exceptions.ComputeError:  # a line that is not a JSON object, or not UTF-8
        return None
    if rows.height != sum(counts):
        return None
    files = pl.Series(FILE_COLUMN, np.repeat(np.arange(len(contents), dtype=np.int64), counts))
    located = pl.DataFrame([files]).with_columns(
        (pl.int_range(pl.len()).over(FILE_COLUMN) + 1 + lines_before).cast(pl.Int64).alias(LINE_COLUMN)
    )
    rows = rows.with_columns(pl.lit(None, pl.String).alias(RESCUED_COLUMN), *located.get_columns())
    return ParsedFile(rows.select(*fields, RESCUED_COLUMN, LINE_COLUMN, FILE_COLUMN), 0, [])


def _needs_care(content: bytes) -> bool:
    """Anything the one-call reader could miscount or misread in LF-ended lines: a blank line, a
    line not ended by a newline or a byte-order mark."""
    return (
        (content != b"" and not content.endswith(b"\n"))
        or content.startswith((b"\n", b"\xef\xbb\xbf"))
        or b"\n\n" in content
    )


def _read_line_by_line(
    contents: list[bytes], names: list[str], fields: tuple[str, ...], lines_before: int
) -> ParsedFile:
    lines = _lines_of(contents, lines_before)
    line = pl.col("line")
    is_object = line.str.strip_chars().str.starts_with("{") & line.str.json_path_match("$").is_not_null()
    good, bad = lines.filter(is_object), lines.filter(~is_object)
    problems = [
        f"{names[index]} line {n}: not a JSON object (rule: well_formed_line)"
        for index, n in bad.select(FILE_COLUMN, LINE_COLUMN).iter_rows()
    ]
    parsed = _json_fields(good, fields).with_columns(good.select(LINE_COLUMN, FILE_COLUMN))
    rescued = _rescued(bad, fields).with_columns(bad.get_column(FILE_COLUMN))
    rows = pl.concat([parsed, rescued], how="diagonal_relaxed").sort(FILE_COLUMN, LINE_COLUMN)
    return ParsedFile(rows.select(*fields, RESCUED_COLUMN, LINE_COLUMN, FILE_COLUMN), bad.height, problems)


def _json_fields(good: pl.DataFrame, fields: tuple[str, ...]) -> pl.DataFrame:
    """The fields of well-formed JSON objects as text: decoded in one pass when every value is a
    scalar, else field by field with JSON paths (nested values then come as their JSON text)."""
    line = pl.col("line")
    try:
        return good.select(line.str.json_decode(pl.Struct(dict.fromkeys(fields, pl.String)))).unnest("line")
    except pl.exceptions.ComputeError:
        return good.select(line.str.json_path_match(f"$.{name}").alias(name) for name in fields)


def undecodable_at(line: int, offset: int, byte: int, encoding: str) -> str:
    """Where a file stops decoding: its line, the byte's offset in the file and its value."""
    return (
        f"not {encoding} text: line {line} (byte offset {offset}) has the byte "
        f"0x{byte:02x} (declare the file set's encoding, or re-send it as {encoding})"
    )


def _lines_of(contents: list[bytes], lines_before: int = 0) -> pl.DataFrame:
    """The lines of JSON-lines contents; undecodable bytes become U+FFFD (in a line that is not JSON
    anyway, it is rescued whole; inside a JSON string it stays: still to be made strict)."""
    return _lines_in([content.decode("utf-8-sig", errors="replace") for content in contents], lines_before)


def _lines_of_block(text: str, lines_before: int) -> pl.DataFrame:
    """`_lines_in` of one block of a file (no file index), in a third of its time: numbered by
    position, CR ends stripped only when there are some."""
    lines = pl.Series("line", [text]).str.split("\n").explode().to_frame()
    if "\r" in text:
        lines = lines.with_columns(pl.col("line").str.strip_suffix("\r"))
    numbered = lines.with_row_index(LINE_COLUMN, offset=lines_before + 1)
    return numbered.with_columns(pl.col(LINE_COLUMN).cast(pl.Int64)).filter(pl.col("line") != "")


def _lines_in(texts: list[str], lines_before: int = 0) -> pl.DataFrame:
    """Non-empty lines of each text (a file's), with its index and line numbers (the first line of
    each text is `lines_before + 1`)."""
    return (
        pl.DataFrame(
            {FILE_COLUMN: range(len(texts)), "line": texts}, schema={FILE_COLUMN: pl.Int64, "line": pl.String}
        )
        .with_columns(pl.col("line").str.split("\n"))
        .explode("line")
        .with_columns(
            pl.col("line").str.strip_suffix("\r"),
            (pl.int_range(pl.len()).over(FILE_COLUMN) + 1 + lines_before).cast(pl.Int64).alias(LINE_COLUMN),
        )
        .filter(pl.col("line") != "")
    )


def _field(delimiter: str) -> str:
    """One CSV field: quoted (with "" escapes) or unquoted without separators or quotes."""
    return f'(?:"(?:[^"]|"")*"|[^{re.escape(delimiter)}"]*)'


def _parse(columns: list[str], good: pl.DataFrame, delimiter: str) -> pl.DataFrame:
    """Well-formed lines' fields, by Polars' CSV reader. Two of its habits would lose data here:
    it drops a U+FEFF starting its input (a byte-order mark: each line is read after an empty
    field), and a CR ending an unquoted field (a CR LF end: a CR is read as a character absent
    from the lines, then put back)."""
    if good.is_empty():
        return pl.DataFrame(schema=dict.fromkeys(columns, pl.String) | {LINE_COLUMN: pl.Int64})
    text = good.select((delimiter + pl.col("line")).str.join("\n")).item()
    stand_in = _absent_character(text) if "\r" in text else None
    if stand_in is not None:
        text = text.replace("\r", stand_in)
    names = ["_before", *columns]
    parsed = pl.read_csv(  # bytes: read 3x faster than text
        text.encode(), has_header=False, new_columns=names, separator=delimiter, infer_schema=False
    ).select(columns)
    if stand_in is not None:
        parsed = parsed.with_columns(pl.all().str.replace_all(stand_in, "\r", literal=True))
    return parsed.with_columns(good.get_column(LINE_COLUMN))


def _absent_character(text: str) -> str:
    """A private-use character the text does not hold."""
    return next(c for c in map(chr, range(0xE000, 0xF900)) if c not in text)


def read_parquet_file(path: Path, digest: Digest | None = None) -> pl.DataFrame:
    """A Parquet file with its own types and `_row_number` (1-based); `FileRejected` when it
    cannot be read (truncated, corrupt, not Parquet). `digest` is given the bytes parsed."""
    with path.open("rb") as stream:  # a local path or an object store's
        if digest is not None:
            digest.opened(stream, path)
        data = stream.read()
    if digest is not None:
        digest.update(data)
    try:
        rows = pl.read_parquet(data)
    except (pl.exceptions.PolarsError, OSError) as error:
        reason = f"not a readable Parquet file ({_first_line(error)})"
        raise FileRejected(path, reason, "readable_file") from error
    return rows.with_row_index(LINE_COLUMN, offset=1).with_columns(pl.col(LINE_COLUMN).cast(pl.Int64))


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__


def _rescued(bad: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    return bad.select(
        *[pl.lit(None, pl.String).alias(c) for c in columns],
        pl.col("line").alias(RESCUED_COLUMN),
        pl.col(LINE_COLUMN),
    )


def empty_rows(columns: tuple[str, ...]) -> pl.DataFrame:
    schema = dict.fromkeys(columns, pl.String) | {RESCUED_COLUMN: pl.String, LINE_COLUMN: pl.Int64}
    return pl.DataFrame(schema=schema)
