"""A deterministic stand-in for the shop's source systems, with a ground truth of its defects.

`generate` writes a simulation from scratch into a folder (usually `data/sources`), `advance`
appends the next days to it:

- `shop.db`: the shop database (SQLite) with customers, products, orders and order_items, or
  the same tables in the database `db_uri` names (e.g. `postgresql://…`);
- `landing/payments/settlement_YYYY-MM-DD.csv`: the payments settled each day from day 1 on;
- `landing/clickstream/YYYY-MM-DD/batch-NNNN.jsonl`: the clickstream's micro-batches;
- `landing/inventory/inventory_YYYY-MM-DD.parquet` (+ an empty `.done` marker): each day's stock;
- `manifest.json`, `defects.parquet`, `clickstream_defects.parquet` and
  `inventory_defects.parquet`: the ground truth (rows, defects, expected totals);
- `state.json`: the parameters; `carry-<days>/`: what the next day depends on from the days
  before (stock, clickstream lines on their way, running counts: see `carry`), so that `advance`
  simulates only the new days.

Same (scale, seed, start, days), same content; see `model` for the entities, `defects` for the
defects and their rates, `clickstream` for the events, `inventory` for the stock snapshots,
`manifest` for the expected totals.
"""

from lakehouse.simulator.defects import DEFECT_KINDS, KEYS, TABLES, DefectKind, Sources
from lakehouse.simulator.inventory import INVENTORY_DEFECTS_FILE, INVENTORY_DIR
from lakehouse.simulator.simulation import State, advance, build_state, generate
from lakehouse.simulator.state import Params, read_params
from lakehouse.simulator.writer import (
    CLICKSTREAM_BATCHES,
    CLICKSTREAM_DEFECTS_FILE,
    CLICKSTREAM_DIR,
    DB_FILE,
    DEFECTS_FILE,
    KEY_COLUMNS,
    MANIFEST_FILE,
    PAYMENTS_DIR,
    SCHEMAS,
)

__all__ = [
    "CLICKSTREAM_BATCHES",
    "CLICKSTREAM_DEFECTS_FILE",
    "CLICKSTREAM_DIR",
    "DB_FILE",
    "DEFECTS_FILE",
    "DEFECT_KINDS",
    "INVENTORY_DEFECTS_FILE",
    "INVENTORY_DIR",
    "KEYS",
    "KEY_COLUMNS",
    "MANIFEST_FILE",
    "PAYMENTS_DIR",
    "SCHEMAS",
    "TABLES",
    "DefectKind",
    "Params",
    "Sources",
    "State",
    "advance",
    "build_state",
    "generate",
    "read_params",
]
