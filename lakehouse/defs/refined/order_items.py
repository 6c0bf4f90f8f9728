"""Refined order lines: positive quantities, lines only for products the shop has."""

from __future__ import annotations

import dagster as dg
import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from lakehouse.defs.refined.refine import RefinedTable, TransformContext
from lakehouse.lib.cleansing import integer, money, utc_from_zulu
from lakehouse.lib.columns import RAW_LINEAGE
from lakehouse.lib.quality.contract import Contract, Money, UtcTimestamp, plausible_times

KNOWN_PRODUCT = "_known_product"


class OrderItemContract(Contract):
    order_id: pl.Int64 = pa.Field(nullable=False, description="The order the line belongs to.")
    line_no: pl.Int64 = pa.Field(nullable=False, description="Line number within the order.")
    product_id: pl.Int64 = pa.Field(nullable=False, description="The product (one the shop has).")
    quantity: pl.Int64 = pa.Field(nullable=False, description="Units ordered (positive).")
    unit_price: Money = pa.Field(nullable=False, ge=0, description="Unit price in the order's currency.")
    discount: Money = pa.Field(nullable=False, ge=0, description="Discount on the line, order currency.")
    updated_at: UtcTimestamp = pa.Field(nullable=False, description="Last change in the shop database (UTC).")

    @pa.check("quantity", name="positive_quantity")
    def positive_quantity(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) > 0)

    @pa.check("product_id", name="known_product")
    def known_product(cls, data: PolarsData) -> pl.LazyFrame:
        """The product exists in the shop's catalogue (any version ever extracted)."""
        return data.lazyframe.select(pl.col(KNOWN_PRODUCT))

    plausible = plausible_times("updated_at")

    class Config(Contract.Config):
        metadata = {
            "severity": {
                "plausible_time": "drop",
                "not_nullable": "drop",
                "positive_quantity": "drop",
                "known_product": "drop",
                "greater_than_or_equal_to": "drop",
            }
        }


def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
    catalogue = (
        context.lookups["raw_products"]
        .select(integer("product_id"), pl.lit(True).alias(KNOWN_PRODUCT))
        .unique()
    )
    return (
        raw.select(
            integer("order_id"),
            integer("line_no"),
            integer("product_id"),
            integer("quantity"),
            money("unit_price"),
            money("discount"),
            utc_from_zulu("updated_at"),
            *RAW_LINEAGE,
        )
        .join(catalogue, on="product_id", how="left", maintain_order="left")
        .with_columns(pl.col(KNOWN_PRODUCT).fill_null(False))
    )


ORDER_ITEMS = RefinedTable(
    name="order_items",
    keys=("order_id", "line_no"),
    contract=OrderItemContract,
    transform=transform,
    description="Order lines: one row per (order_id, line_no), prices in the order's currency.",
    lookups={"raw_products": dg.AssetKey(["raw", "products"])},
    monitored_columns=("quantity", "unit_price", "discount"),
)
