"""Serving: the DuckDB catalog of views over the Delta tables, and read-only SQL over it."""

from lakehouse.serving.catalog import (
    CatalogSummary,
    UnservableTableError,
    check_servable,
    publish_catalog,
)
from lakehouse.serving.query import (
    CatalogNotFoundError,
    TableInfo,
    connect_read_only,
    format_result,
    list_tables,
    run_query,
)

__all__ = [
    "CatalogNotFoundError",
    "CatalogSummary",
    "TableInfo",
    "UnservableTableError",
    "check_servable",
    "connect_read_only",
    "format_result",
    "list_tables",
    "publish_catalog",
    "run_query",
]
