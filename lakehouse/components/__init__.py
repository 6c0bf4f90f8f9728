"""Component types for declared sources (`dg list components`; `dg scaffold defs <type> <path>`):
each source is one `defs.yaml` under `lakehouse/defs/sources/`, loaded with the other definitions."""

from lakehouse.components.database_table import DatabaseTable
from lakehouse.components.file_set import LandingFileSet

__all__ = ["DatabaseTable", "LandingFileSet"]
