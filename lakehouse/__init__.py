"""lakehouse: a Dagster asset-based lakehouse for an online shop."""
