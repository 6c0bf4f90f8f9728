"""Every path, URI and secret in one place, read from the environment.

| variable | default | what |
| --- | --- | --- |
| `LAKEHOUSE_DATA_DIR` | `<project>/data` | root of everything the lakehouse writes |
| `LAKEHOUSE_TABLES_URI` | `<data>/tables` | where the Delta tables live: a folder, or `s3://bucket/prefix` |
| `LAKEHOUSE_SHOP_DB_URI` | `sqlite:///<data>/sources/shop.db` | the shop database (source) |
| `LAKEHOUSE_LANDING_DIR` | `<data>/sources/landing` | the landing zone: a folder, or `s3://bucket/prefix` |
| `LAKEHOUSE_PII_KEY` | a development key | key of the HMAC that pseudonymises emails |
| `LAKEHOUSE_EXCHANGE_RATES_URL` | none: the simulated provider | base URL of the exchange-rate API |
| `LAKEHOUSE_ALERT_WEBHOOK_URL` | none: alerts go to the alerts file only | where failed runs are POSTed |
| `LAKEHOUSE_SQL_MEMORY_LIMIT` | `2GB` | memory limit of a catalog reader (`lakehouse sql`, `tables`) |
| `LAKEHOUSE_SQL_THREADS` | `2` | thread limit of a catalog reader |
| `LAKEHOUSE_SQL_TIMEOUT_SECONDS` | `300` | how long one `lakehouse sql` statement may run |
| `LAKEHOUSE_PII_CLEAR_PURPOSE` | none: masked | privileged: direct PII in clear, audited |
| `LAKEHOUSE_ERASURE_KEY` | a development key | key of the HMAC signing erasure certificates |
| `LAKEHOUSE_SHOP_OPENED` | `2024-01-01` | the shop's first day: no business time long before it |
| `LAKEHOUSE_PLAUSIBLE_SLACK_DAYS` | `30` | days before the shop opened still plausible (migrated history) |
| `LAKEHOUSE_PLAUSIBLE_DAYS_AHEAD` | `1` | days after now still plausible (clock skew, time zones) |
| `LAKEHOUSE_READ_BATCH_MB` | `8` | how much of a landing file is read (and held) at a time |
| `LAKEHOUSE_EXTRACT_BATCH_ROWS` | `100000` | rows of a shop database table read (and held) at a time |
| `LAKEHOUSE_CATALOG_STORAGE_VERSION` | `v1.0.0` | oldest DuckDB release whose clients must open the catalog |
| `LAKEHOUSE_EXECUTOR` | `in_process` | where a run's steps run: `in_process`, `multiprocess` or `dask` |
| `LAKEHOUSE_DASK_SCHEDULER` | none: a local cluster per run | a Dask scheduler's address, `tcp://host:8786` |
| `LAKEHOUSE_DASK_WORKERS` | `2` | worker processes of the local cluster (no scheduler address) |
| `LAKEHOUSE_SIMULATOR` | `on` | `off`: generate nothing; load only the declared sources' assets |
| `LAKEHOUSE_PROFILE` | `embedded` | the deployment shape: `embedded` (SQLite instance) or `production` |
| `LAKEHOUSE_DAGSTER_PG_URL` | none | production: the Dagster instance's database, `postgresql+psycopg2://…` |

The profile picks the Dagster instance's folder (`DAGSTER_HOME`, its `dagster.yaml`): the project
root for `embedded`, `deploy/production` for `production`, whose instance keeps runs, events and
schedules in PostgreSQL (`LAKEHOUSE_DAGSTER_PG_URL`, read by Dagster itself from the environment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXECUTORS = ("in_process", "multiprocess", "dask")

# Only for local development and tests: production sets LAKEHOUSE_PII_KEY to a real secret.
DEVELOPMENT_PII_KEY = "lakehouse-development-only-pii-key"
DEVELOPMENT_ERASURE_KEY = "lakehouse-development-only-erasure-key"

EMBEDDED, PRODUCTION = "embedded", "production"
PROFILES = (EMBEDDED, PRODUCTION)
DAGSTER_PG_URL_VARIABLE = "LAKEHOUSE_DAGSTER_PG_URL"
# SQLAlchemy 2.1 reads a bare `postgresql://` as psycopg 3, which dagster-postgres does not support
# (its webserver connections break): the instance's URL names psycopg2, the driver it ships with.
DAGSTER_PG_SCHEME = "postgresql+psycopg2://"


class SettingsError(ValueError):
    """The environment describes no deployment the lakehouse can run as (names the variables)."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    shop_db_uri: str
    landing_uri: str  # a folder, or an object store's `s3://bucket/prefix`
    pii_key: str
    exchange_rates_url: str | None  # None: the simulated provider, started for each fetch
    alert_webhook_url: str | None = None  # None: alerts are only logged and written to the alerts file
    sql_memory_limit: str = "2GB"  # DuckDB's syntax: `512MB`, `2GB`
    sql_threads: int = 2
    sql_timeout_seconds: float = 300.0
    pii_clear_purpose: str | None = None  # privileged readers only: why they need clear PII
    erasure_key: str = DEVELOPMENT_ERASURE_KEY  # signs erasure certificates
    shop_opened: date = date(2024, 1, 1)
    plausible_slack_days: int = 30
    plausible_days_ahead: int = 1
    # DuckDB writes its newest storage format unless told otherwise, which 1.x clients (the CLI,
    # most BI drivers) cannot read; v1.0.0 is readable by every DuckDB since 1.0.
    catalog_storage_version: str = "v1.0.0"
    # Of a landing file, read at a time: memory follows it. Blocks well under glibc's largest mmap
    # threshold (32 MiB) reuse heap memory; 32 MB blocks were each mapped afresh, and their page
    # faults cost as much CPU as parsing them (a 766 MB CSV: 4.2 s of system time, 1.1 s at 8 MB).
    read_batch_bytes: int = 8 * 1024 * 1024
    extract_batch_rows: int = 100_000  # of a shop database table, read at a time: memory follows it
    batch_rows: int = 500_000  # of a step's new raw rows, transformed at a time: memory follows it
    # Rows whose keys a whole-table key count, group or join holds at a time (`key_buckets`): about
    # 0.7 GB for 4M event ids; one bucket, and no extra pass, up to scale 1.
    key_bucket_rows: int = 4_000_000
    tables_uri_override: str | None = None  # None: the tables folder under the data folder
    # An environment's: the main tables folder its unchanged tables link to (readable, never written)
    linked_tables_dir: Path | None = None
    executor: str = "in_process"  # one of EXECUTORS: where the steps of a launched run run
    dask_scheduler: str | None = None  # None: each Dask run starts a local cluster of `dask_workers`
    dask_workers: int = 2

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"LAKEHOUSE_EXECUTOR={self.executor!r}: use one of {', '.join(EXECUTORS)}")

    # False (LAKEHOUSE_SIMULATOR=off): a team's own sources only: nothing is generated, and only the
    # declared sources' assets are loaded (not the simulated shop's star schema)
    simulator: bool = True
    profile: str = EMBEDDED  # the deployment shape (`PROFILES`): picks the Dagster instance
    # production: the instance's PostgreSQL database; a secret (its password), so kept out of repr
    dagster_pg_url: str | None = field(default=None, repr=False)

    def plausible_window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The business times a source may carry: from shortly before the shop opened to shortly
        after now (a timestamp in year 0001 or 9999 is a defect, not an order)."""
        opened = datetime.combine(self.shop_opened, time(), tzinfo=UTC)
        ahead = (now or datetime.now(UTC)) + timedelta(days=self.plausible_days_ahead)
        return opened - timedelta(days=self.plausible_slack_days), ahead

    @property
    def tables_uri(self) -> str:
        """Where the Delta tables live: `tables_dir`, or an object store's `s3://bucket/prefix`."""
        return self.tables_uri_override or str(self.tables_dir)

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance's folder (its `dagster.yaml`) of this profile: what `DAGSTER_HOME`
        is set to for the UI, the daemon and `lakehouse run`, unless given explicitly."""
        return PROJECT_ROOT if self.profile == EMBEDDED else PROJECT_ROOT / "deploy" / self.profile

    def deployment_problems(self) -> list[str]:
        """What keeps this profile from running as it should, one line each naming the variable;
        empty when nothing does. Production refuses development keys and needs the instance's
        database; the embedded profile refuses a PostgreSQL URL it would silently ignore."""
        if self.profile == EMBEDDED:
            if self.dagster_pg_url:
                return [
                    f"{DAGSTER_PG_URL_VARIABLE} is set, but LAKEHOUSE_PROFILE is {EMBEDDED!r}, whose "
                    "Dagster instance is SQLite under data/dagster: set LAKEHOUSE_PROFILE=production "
                    f"to record runs in PostgreSQL, or unset {DAGSTER_PG_URL_VARIABLE}"
                ]
            return []
        problems = []
        if not self.dagster_pg_url:
            problems.append(
                f"{DAGSTER_PG_URL_VARIABLE} is not set: the production instance records runs, events "
                f"and schedules in PostgreSQL ({DAGSTER_PG_SCHEME}user@host:5432/database, password in "
                "the URL or in PGPASSWORD)"
            )
        elif not self.dagster_pg_url.startswith(DAGSTER_PG_SCHEME):
            scheme = self.dagster_pg_url.split("://", 1)[0]
            problems.append(
                f"{DAGSTER_PG_URL_VARIABLE} starts with {scheme}://: write {DAGSTER_PG_SCHEME}... "
                "(dagster-postgres runs on psycopg2; SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3)"
            )
        if self.uses_development_pii_key:
            problems.append("LAKEHOUSE_PII_KEY is the development key: set it to a secret of your own")
        if self.erasure_key == DEVELOPMENT_ERASURE_KEY:
            problems.append("LAKEHOUSE_ERASURE_KEY is the development key: set it to a secret of your own")
        return problems

    @property
    def sources_dir(self) -> Path:
        return self.data_dir / "sources"

    @property
    def tables_dir(self) -> Path:
        """The local tables folder (see `tables_uri` for where the tables are)."""
        return self.data_dir / "tables"

    @property
    def scratch_dir(self) -> Path:
        """Where steps spill rows they hold on disk for a while (`scratch_beside`)."""
        return scratch_beside(self.tables_dir)

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "lakehouse.duckdb"

    @property
    def alerts_path(self) -> Path:
        return self.data_dir / "alerts" / "alerts.jsonl"

    @property
    def manifest_path(self) -> Path:
        return self.sources_dir / "manifest.json"

    @property
    def uses_development_pii_key(self) -> bool:
        return self.pii_key == DEVELOPMENT_PII_KEY

    def environment(self, name: str) -> Settings:
        """The settings of an isolated environment (`lakehouse plan --env NAME`): its own tables and
        catalog under `<data>/envs/NAME`, the same sources."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"environment name {name!r}: use letters, digits, - and _")
        return replace(self, data_dir=self.data_dir / "envs" / name, linked_tables_dir=self.tables_dir)


def scratch_beside(tables_dir: Path) -> Path:
    """The scratch folder of the data folder whose local tables folder is `tables_dir`: where steps
    spill rows they hold on disk for a while (`lib/storage/spill.py`). Under the data folder even
    when the tables are in an object store, since a spill is written and read back by the one
    process of its step (a round trip to the store per file, for nothing any other process reads),
    and whether that process is gone is told by a file lock, which an object store does not have."""
    return tables_dir.parent / "scratch"


def get_settings(data_dir: Path | str | None = None) -> Settings:
    """Settings from the environment; `data_dir` overrides `LAKEHOUSE_DATA_DIR` (tests use it)."""
    root = Path(data_dir or os.environ.get("LAKEHOUSE_DATA_DIR") or PROJECT_ROOT / "data")
    root = root.resolve()
    sources = root / "sources"
    return Settings(
        data_dir=root,
        shop_db_uri=os.environ.get("LAKEHOUSE_SHOP_DB_URI") or f"sqlite:///{sources / 'shop.db'}",
        landing_uri=(os.environ.get("LAKEHOUSE_LANDING_DIR") or str(sources / "landing")).rstrip("/"),
        pii_key=os.environ.get("LAKEHOUSE_PII_KEY") or DEVELOPMENT_PII_KEY,
        exchange_rates_url=os.environ.get("LAKEHOUSE_EXCHANGE_RATES_URL") or None,
        alert_webhook_url=os.environ.get("LAKEHOUSE_ALERT_WEBHOOK_URL") or None,
        sql_memory_limit=os.environ.get("LAKEHOUSE_SQL_MEMORY_LIMIT") or Settings.sql_memory_limit,
        sql_threads=int(os.environ.get("LAKEHOUSE_SQL_THREADS") or Settings.sql_threads),
        sql_timeout_seconds=float(
            os.environ.get("LAKEHOUSE_SQL_TIMEOUT_SECONDS") or Settings.sql_timeout_seconds
        ),
        pii_clear_purpose=os.environ.get("LAKEHOUSE_PII_CLEAR_PURPOSE") or None,
        erasure_key=os.environ.get("LAKEHOUSE_ERASURE_KEY") or Settings.erasure_key,
        shop_opened=date.fromisoformat(os.environ.get("LAKEHOUSE_SHOP_OPENED") or "2024-01-01"),
        plausible_slack_days=int(
            os.environ.get("LAKEHOUSE_PLAUSIBLE_SLACK_DAYS") or Settings.plausible_slack_days
        ),
        plausible_days_ahead=int(
            os.environ.get("LAKEHOUSE_PLAUSIBLE_DAYS_AHEAD") or Settings.plausible_days_ahead
        ),
        catalog_storage_version=os.environ.get("LAKEHOUSE_CATALOG_STORAGE_VERSION")
        or Settings.catalog_storage_version,
        tables_uri_override=os.environ.get("LAKEHOUSE_TABLES_URI", "").rstrip("/") or None,
        executor=os.environ.get("LAKEHOUSE_EXECUTOR") or Settings.executor,
        dask_scheduler=os.environ.get("LAKEHOUSE_DASK_SCHEDULER") or None,
        dask_workers=int(os.environ.get("LAKEHOUSE_DASK_WORKERS") or Settings.dask_workers),
        simulator=_switch("LAKEHOUSE_SIMULATOR", default=True),
        profile=_profile(),
        dagster_pg_url=os.environ.get(DAGSTER_PG_URL_VARIABLE) or None,
        read_batch_bytes=_megabytes("LAKEHOUSE_READ_BATCH_MB") or Settings.read_batch_bytes,
        extract_batch_rows=int(os.environ.get("LAKEHOUSE_EXTRACT_BATCH_ROWS") or Settings.extract_batch_rows),
        batch_rows=int(os.environ.get("LAKEHOUSE_BATCH_ROWS") or Settings.batch_rows),
        key_bucket_rows=int(os.environ.get("LAKEHOUSE_KEY_BUCKET_ROWS") or Settings.key_bucket_rows),
    )


def _megabytes(variable: str) -> int | None:
    """A size given in (possibly fractional) megabytes, in bytes; None when the variable is unset."""
    value = os.environ.get(variable)
    return int(float(value) * 1024 * 1024) if value else None


_SWITCH_VALUES = {"on": True, "off": False}


def _switch(variable: str, default: bool) -> bool:
    """An on/off setting; anything else is an error naming the variable and its values."""
    value = os.environ.get(variable, "").strip().lower()
    if not value:
        return default
    if value not in _SWITCH_VALUES:
        raise SettingsError(f"{variable}={os.environ[variable]!r}: use on or off")
    return _SWITCH_VALUES[value]


def _profile() -> str:
    profile = (os.environ.get("LAKEHOUSE_PROFILE") or EMBEDDED).strip().lower()
    if profile not in PROFILES:
        raise SettingsError(f"LAKEHOUSE_PROFILE={profile!r}: use one of {', '.join(PROFILES)}")
    return profile
