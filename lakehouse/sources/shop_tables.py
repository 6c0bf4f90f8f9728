"""The shop database's tables as the lakehouse extracts them: columns, business keys, watermark."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    watermark_column: str = "updated_at"


SHOP_TABLES: dict[str, SourceTable] = {
    t.name: t
    for t in (
        SourceTable(
            "customers",
            (
                "customer_id",
                "email",
                "first_name",
                "last_name",
                "country",
                "signup_at",
                "updated_at",
            ),
            keys=("customer_id",),
        ),
        SourceTable(
            "products",
            ("product_id", "sku", "name", "category", "unit_price", "updated_at"),
            keys=("product_id",),
        ),
        SourceTable(
            "orders",
            ("order_id", "customer_id", "order_at", "status", "currency", "channel", "updated_at"),
            keys=("order_id",),
        ),
        SourceTable(
            "order_items",
            (
                "order_id",
                "line_no",
                "product_id",
                "quantity",
                "unit_price",
                "discount",
                "updated_at",
            ),
            keys=("order_id", "line_no"),
        ),
    )
}
