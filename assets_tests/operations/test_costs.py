"""The memory sampler and the ranking of step costs (the benchmark's tests run them for real)."""

import time

from lakehouse.operations.costs import MemorySampler, StepCost, peak_rss_mb, rss_mb, top


def cost(what: str, seconds: float) -> StepCost:
    return StepCost(step=what, what=what, seconds=seconds, rows_read=0, rows_written=0, peak_mb=1.0)


def test_the_sampler_sees_memory_taken_while_it_runs():
    with MemorySampler(every=0.005) as sampler:
        time.sleep(0.05)
        start = time.time()
        block = bytearray(200 * 1024 * 1024)  # 200 MB, touched so it is resident
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(0.05)
        end = time.time()
        del block
        time.sleep(0.05)
    assert sampler.peak_between(start, end) >= sampler.peak_between(0, start - 0.04) + 150
    assert sampler.peak_between(end + 10, end + 20) == sampler.samples[-1][1]  # the last one before
    assert 0 < rss_mb() <= peak_rss_mb()


def test_top_ranks_by_work_seconds():
    costs = [cost(name, seconds) for name, seconds in zip("abcdefg", [1, 7, 3, 5, 2, 6, 4], strict=True)]
    assert [c.what for c in top(costs)] == ["b", "f", "d", "g", "c"]
    assert [c.what for c in top(costs, 2)] == ["b", "f"]
