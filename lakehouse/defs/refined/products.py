"""Refined products: the catalogue with USD list prices."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from lakehouse.defs.refined.refine import RefinedTable, TransformContext
from lakehouse.lib.cleansing import integer, money, trimmed, utc_from_zulu
from lakehouse.lib.columns import RAW_LINEAGE
from lakehouse.lib.quality.contract import Contract, Money, UtcTimestamp, plausible_times


class ProductContract(Contract):
    product_id: pl.Int64 = pa.Field(nullable=False, description="The shop's product id.")
    sku: pl.String = pa.Field(nullable=True, description="Stock keeping unit.")
    name: pl.String = pa.Field(nullable=True, description="Product name.")
    category: pl.String = pa.Field(nullable=True, description="Category, lower case.")
    unit_price: Money = pa.Field(nullable=False, ge=0, description="List price in USD.")
    updated_at: UtcTimestamp = pa.Field(nullable=False, description="Last change in the shop database (UTC).")
    deleted_at: UtcTimestamp = pa.Field(
        nullable=True,
        description=(
            "When the product was discontinued, or found removed from the shop database (UTC); "
            "null while sold. A deleted product stays, marked: its order lines keep their product."
        ),
    )

    plausible = plausible_times("updated_at", "deleted_at")

    class Config(Contract.Config):
        metadata = {
            "severity": {"plausible_time": "drop", "not_nullable": "drop", "greater_than_or_equal_to": "drop"}
        }


def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
    return raw.select(
        integer("product_id"),
        trimmed("sku"),
        trimmed("name"),
        trimmed("category").str.to_lowercase(),
        money("unit_price"),
        utc_from_zulu("updated_at"),
        utc_from_zulu("deleted_at"),
        *RAW_LINEAGE,
    )


PRODUCTS = RefinedTable(
    name="products",
    keys=("product_id",),
    contract=ProductContract,
    transform=transform,
    description="Products: one row per product, list price in USD; deleted ones kept with `deleted_at` set.",
    monitored_columns=("unit_price",),
)
