"""lakehouse: a Dagster asset-based lakehouse for an online shop."""

from importlib.metadata import version

# Every asset's Dagster code version, recorded in each Delta commit it makes: bump the package
# version when a transform changes, and the UI marks what was built by older code.
CODE_VERSION = version("lakehouse")
