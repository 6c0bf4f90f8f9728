"""Refined customers: trimmed, emails lower-cased, validated, then pseudonymised."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from lakehouse.defs.refined.refine import RefinedTable, TransformContext
from lakehouse.lib.cleansing import (
    code,
    integer,
    trimmed,
    utc_from_local,
    utc_from_zulu,
)
from lakehouse.lib.columns import RAW_LINEAGE
from lakehouse.lib.quality.contract import Contract, UtcTimestamp, pii, plausible_times

EMAIL_PATTERN = r"^[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}$"
COUNTRIES = ["US", "DE", "FR", "GB", "CA", "AU"]


class CustomerContract(Contract):
    customer_id: pl.Int64 = pa.Field(
        nullable=False, description="The shop's customer id.", metadata=pii("indirect")
    )
    email: pl.String = pa.Field(
        nullable=False,
        description="Lower-cased email; validated, then dropped (never stored).",
        metadata=pii("direct"),
    )
    # derived from email, whose rules decide
    email_hash: pl.String = pa.Field(
        nullable=True,
        description="HMAC-SHA256 pseudonym of the email (LAKEHOUSE_PII_KEY).",
        metadata=pii("indirect"),
    )
    first_name: pl.String = pa.Field(
        nullable=True, description="First name, trimmed.", metadata=pii("direct")
    )
    last_name: pl.String = pa.Field(nullable=True, description="Last name, trimmed.", metadata=pii("direct"))
    country: pl.String = pa.Field(nullable=True, description="ISO country code, upper case.")
    signup_at: UtcTimestamp = pa.Field(nullable=True, description="When the customer signed up (UTC).")
    updated_at: UtcTimestamp = pa.Field(nullable=False, description="Last change in the shop database (UTC).")
    deleted_at: UtcTimestamp = pa.Field(
        nullable=True,
        description=(
            "When the account was closed, or found purged from the shop database (UTC); null while "
            "active. A deleted customer stays, marked: their orders keep their customer."
        ),
    )

    @pa.check("email", name="valid_email")
    def valid_email(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).str.contains(EMAIL_PATTERN))

    @pa.check("country", name="known_country")
    def known_country(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).is_in(COUNTRIES))

    plausible = plausible_times("signup_at", "updated_at", "deleted_at")

    class Config(Contract.Config):
        metadata = {
            "severity": {
                "plausible_time": "drop",
                "not_nullable": "drop",
                "valid_email": "drop",
                "known_country": "warn",
            }
        }


def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
    email = trimmed("email").str.to_lowercase()
    return raw.select(
        integer("customer_id"),
        email.alias("email"),
        email.map_batches(context.pseudonymiser.token, return_dtype=pl.String).alias("email_hash"),
        trimmed("first_name"),
        trimmed("last_name"),
        code("country"),
        utc_from_local("signup_at"),
        utc_from_zulu("updated_at"),
        utc_from_zulu("deleted_at"),
        *RAW_LINEAGE,
    )


CUSTOMERS = RefinedTable(
    name="customers",
    keys=("customer_id",),
    contract=CustomerContract,
    transform=transform,
    description=(
        "Customers: one row per customer, email pseudonymised (`email_hash`), UTC timestamps; "
        "deleted customers kept with `deleted_at` set."
    ),
    drop_after_validation=("email",),
    derived_from={"email_hash": ("email",)},
    # A day's updates (closed accounts) fall at random over the keys, and each rewrites its file:
    # files of 512 kB (~5k customers) bound that to a few percent of the table a file.
    file_size=512 * 1024,
)
