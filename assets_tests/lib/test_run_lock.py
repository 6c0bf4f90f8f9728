"""The data folder's run lock: builds share it; an erasure, a retention pass or a backup holds it alone."""

from pathlib import Path

import pytest

from lakehouse.lib.run_lock import FolderBusyError, holding

BUSY_FOR_AN_ERASURE = r"^a `lakehouse run` is building this data folder; wait"
BUSY_FOR_A_BUILD = r"^an erasure or a backup holds this data folder; wait"


def test_builds_share_the_folder_and_keep_an_erasure_out(tmp_path: Path):
    with (
        holding(tmp_path, exclusive=False),
        holding(tmp_path, exclusive=False),
        pytest.raises(FolderBusyError, match=BUSY_FOR_AN_ERASURE),
        holding(tmp_path, exclusive=True),
    ):
        pass
    with holding(tmp_path, exclusive=True):  # free again once the builds let go
        pass


def test_a_build_is_refused_while_the_folder_is_held_alone(tmp_path: Path):
    with (
        holding(tmp_path, exclusive=True),
        pytest.raises(FolderBusyError, match=BUSY_FOR_A_BUILD),
        holding(tmp_path, exclusive=False),
    ):
        pass
