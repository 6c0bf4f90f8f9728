"""Per-asset code versions: a hash of the code that computes the asset.

Dagster marks an asset stale when its code version changes, and our IO manager records the code
version in every Delta commit. Hashing the transform's source and its contract's source (rather
than bumping one package-wide version) marks only the asset whose code changed, and what is
downstream of it.
"""

from __future__ import annotations

import hashlib
import inspect
from types import FunctionType, ModuleType

import pandera.polars as pa

DIGITS = 12


def _source(part: object) -> str:
    """The source of a function, class or module; for a contract class, that of every contract it
    extends too. A contract built at run time (declared in YAML) has no source file: its schema
    stands in for it."""
    if isinstance(part, type) and issubclass(part, pa.DataFrameModel):
        models = [c for c in part.__mro__ if issubclass(c, pa.DataFrameModel) and c is not pa.DataFrameModel]
        try:
            return "\n".join(inspect.getsource(model) for model in models)
        except (OSError, TypeError):
            return repr(part.to_schema())
    if not isinstance(part, FunctionType | ModuleType | type):
        raise TypeError(f"cannot version {part!r}: give a function, class or module")
    return inspect.getsource(part)


def code_version(*parts: object) -> str:
    """The first 12 hex digits of the sha256 of the parts' sources (functions, contracts, modules)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(_source(part).encode())
    return digest.hexdigest()[:DIGITS]
