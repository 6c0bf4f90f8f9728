"""What every declared source's component builds besides its raw asset: the raw table's checks, its
schedule, and its refined table (declared inline, or a built-in one it links to with `refine`)."""

from collections.abc import Sequence

import dagster as dg

from lakehouse.defs.orchestration.schedules import source_schedule
from lakehouse.defs.raw.checks import raw_table_checks
from lakehouse.defs.refined.assets import REFINED_TABLES
from lakehouse.defs.refined.checks import refined_table_checks
from lakehouse.defs.refined.declared import declared_refined_table
from lakehouse.defs.refined.refine import build_refined_asset
from lakehouse.sources.declared import Source


def _check_refine(source: Source) -> None:
    """`refine` names the built-in refined table that reads `raw/<source name>`: its own name."""
    built_in = sorted(t.name for t in REFINED_TABLES)
    if source.refine and (source.refine not in built_in or source.refine != source.name):
        raise ValueError(
            f"{source.name}: refine names {source.refine!r}: a built-in refined table "
            f"({', '.join(built_in)}) reads raw/<its name>, so it must be the source's name"
        )


def source_definitions(
    source: Source,
    raw: dg.AssetsDefinition,
    sensors: Sequence[dg.SensorDefinition] = (),
) -> dg.Definitions:
    """The definitions of a source whose extraction is `raw` (and, for files, its `sensors`)."""
    _check_refine(source)
    raw_keys = list(raw.keys)
    schedules = [source_schedule(source.name, raw_keys, source.schedule)] if source.schedule else []
    assets, checks = [raw], raw_table_checks([raw])
    if source.contract:
        refined = declared_refined_table(source)
        refined_asset = build_refined_asset(refined)
        assets.append(refined_asset)
        checks.append(refined_table_checks(refined, refined_asset))
    return dg.Definitions(assets=assets, asset_checks=checks, schedules=schedules, sensors=sensors)


class SourceScaffolder(dg.Scaffolder):
    """`dg scaffold defs <type> sources/<name>`: a `defs.yaml` naming the source after its folder,
    with the fields to fill in (it does not load until they are)."""

    fields: dict[str, object] = {}

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        name = request.target_path.name
        dg.scaffold_component(request, {"name": name, "description": "", **self.fields, "primary_key": []})


class FileSetScaffolder(SourceScaffolder):
    fields = {
        "location": "<folder under the landing zone>",
        "pattern": "*.csv",
        "format": "csv",
        "columns": [],
    }


class DatabaseTableScaffolder(SourceScaffolder):
    fields = {"columns": {"updated_at": "text"}, "watermark": "updated_at"}
