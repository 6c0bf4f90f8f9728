"""How reading a source system fails, for every source alike, and what an error may show of it.

The classes tell the retry policy what to do: an unavailable source or a broken source schema
will not heal by retrying (the step fails at once, see `raw.ingestion`); a failed connection may.
"""

import re


class SourceUnavailableError(RuntimeError):
    """The source system cannot be reached, and retrying will not change that (no such file)."""


class SourceConnectionError(RuntimeError):
    """Connecting to the source system failed (refused, timed out, rejected): retried."""


class SourceSchemaError(RuntimeError):
    """A source lacks, or breaks the shape of, what the lakehouse extracts."""


def redacted(text: str) -> str:
    """The text with every URI password (`//user:password@`, `password=…`) masked."""
    text = re.sub(r"//([^:/@\s]+):[^@\s]*@", r"//\1:***@", text)
    return re.sub(r"(password=)[^&\s]*", r"\1***", text)
