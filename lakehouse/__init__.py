"""lakehouse: a Dagster asset-based lakehouse for an online shop."""

import warnings

# Dagster's beta and preview notices (we pin its minor version) are for us, not the user: hidden in
# every process that imports the lakehouse (the CLI, the benchmark's forked steps, the code server),
# by their text, so that a command that needs no Dagster does not import it.
warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
