"""Per-asset code versions: a hash of the code that computes the asset.

Dagster marks an asset stale when its code version changes, and our IO manager records the code
version in every Delta commit. Hashing the transform's source and its contract's source (rather
than bumping one package-wide version) marks only the asset whose code changed, and what is
downstream of it. A transform's version covers what it uses from its own module too: the functions
it calls (and so on) and the Polars expressions (column lists) they read, so a change to a helper
or to a column expression of that table counts; library code shared by many tables does not.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import sys
from collections.abc import Iterator
from types import CodeType, FunctionType, ModuleType

import pandera.polars as pa
import polars as pl

DIGITS = 12


def _source(part: object) -> str:
    """The source of a function, class or module; for a contract class, that of every contract it
    extends too. A contract built at run time (declared in YAML) has no source file: its schema
    stands in for it."""
    if isinstance(part, type) and issubclass(part, pa.DataFrameModel):
        models = [c for c in part.__mro__ if issubclass(c, pa.DataFrameModel) and c is not pa.DataFrameModel]
        try:
            return "\n".join(_class_source(model) for model in models)
        except (OSError, TypeError, LookupError):
            return repr(part.to_schema())
    if isinstance(part, type):
        return _class_source(part)
    if not isinstance(part, FunctionType | ModuleType):
        raise TypeError(f"cannot version {part!r}: give a function, class or module")
    return inspect.getsource(part)


def _class_source(cls: type) -> str:
    """A class's source: from its `class` line to the next line indented no deeper.

    Read from its module's text, because `inspect.getsource` parses the module with `ast` to find a
    class, and CPython 3.11.7 can fail there ("AST constructor recursion depth mismatch",
    python/cpython#106905, fixed in 3.11.8) when called deep in a stack, as Dagster's loaders do.
    """
    module = sys.modules.get(cls.__module__)
    if module is None:
        raise LookupError(f"the module of {cls.__qualname__} is not loaded")
    lines = inspect.getsource(module).splitlines()
    header = re.compile(rf"^(\s*)class {re.escape(cls.__name__)}\b")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        raise LookupError(f"no `class {cls.__name__}` line in {cls.__module__}")
    indent = len(header.match(lines[start]).group(1))
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= indent
        ),
        len(lines),
    )
    return "\n".join(lines[start:end])


def _names(code: CodeType) -> Iterator[str]:
    """The global names a function's code reads, its nested code (comprehensions, lambdas) included."""
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _names(constant)


def _expressions(value: object) -> bool:
    return isinstance(value, pl.Expr) or (
        type(value) in (list, tuple) and bool(value) and all(_expressions(v) for v in value)
    )


def _text(expressions: object) -> str:
    """An expression, or a (nested) list of them, as text: the full expressions, no addresses."""
    if isinstance(expressions, pl.Expr):
        return str(expressions)
    return "[" + ", ".join(_text(e) for e in expressions) + "]"  # type: ignore[attr-defined]


def _module_uses(function: FunctionType) -> list[str]:
    """The sources of what `function` uses from its own module: functions, recursively, and
    Polars expressions (as their text), in a stable order."""
    seen: dict[str, str] = {}
    pending = [function]
    while pending:
        current = pending.pop()
        for name in sorted(set(_names(current.__code__))):
            value = current.__globals__.get(name)
            if name in seen or value is None:
                continue
            if isinstance(value, FunctionType) and value.__module__ == function.__module__:
                seen[name] = inspect.getsource(value)
                pending.append(value)
            elif _expressions(value):
                seen[name] = _text(value)
    return [seen[name] for name in sorted(seen)]


def code_version(*parts: object) -> str:
    """The first 12 hex digits of the sha256 of the parts' sources (functions with what they use
    from their module, contracts, modules)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(_source(part).encode())
        if isinstance(part, FunctionType):
            for used in _module_uses(part):
                digest.update(used.encode())
    return digest.hexdigest()[:DIGITS]
