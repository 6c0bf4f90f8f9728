"""Serving: the DuckDB catalog of views over the Delta tables, and read-only SQL over it, every
connection from one DuckDB resource."""

from lakehouse.serving.catalog import (
    CatalogSummary,
    UnservableTableError,
    check_servable,
    publish_catalog,
    views_over,
)
from lakehouse.serving.query import (
    CatalogNotFoundError,
    TableInfo,
    connect_read_only,
    format_result,
    list_tables,
    run_query,
)
from lakehouse.serving.resource import ServingCatalog

__all__ = [
    "CatalogNotFoundError",
    "CatalogSummary",
    "ServingCatalog",
    "TableInfo",
    "UnservableTableError",
    "check_servable",
    "connect_read_only",
    "format_result",
    "list_tables",
    "publish_catalog",
    "run_query",
    "views_over",
]
