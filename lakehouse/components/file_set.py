"""`LandingFileSet`: a component type for a set of files in the landing zone, one `defs.yaml` each."""

import dagster as dg

from lakehouse.components.source import FileSetScaffolder, source_definitions
from lakehouse.defs.orchestration.sensors import file_set_sensor
from lakehouse.defs.raw.files import FileSet, build_raw_file_asset
from lakehouse.sources.declared import FileSource


@dg.scaffold_with(FileSetScaffolder)
class LandingFileSet(dg.Component, dg.Resolvable, FileSource):
    """Files landing in a folder: `raw/<name>` (each ready file once), `quarantine/<name>_files`,
    `<name>_sensor` and/or `<name>_schedule`, and `refined/<name>` with `quarantine/<name>` when a
    `contract` declares it (or `refine` names the built-in one). See README, "Adding a source"."""

    @property
    def file_set(self) -> FileSet:
        return FileSet(self.name, self)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        files = self.file_set
        sensors = [] if self.sensor_seconds is None else [file_set_sensor(files, self.sensor_seconds)]
        return source_definitions(self, build_raw_file_asset(files), sensors)
