"""Reading ahead: the items in order, an error raised where they are consumed, an early stop ends
the producer."""

from __future__ import annotations

import threading

import pytest

from lakehouse.lib.storage.row_batches import read_ahead


def test_read_ahead_gives_every_item_in_order():
    assert list(read_ahead(iter(range(50)), depth=2)) == list(range(50))


def test_an_error_in_the_producer_is_raised_to_the_consumer_after_the_items_before_it():
    def broken():
        yield 1
        yield 2
        raise ValueError("line 3 of the source is unreadable")

    seen = []
    with pytest.raises(ValueError, match="line 3 of the source"):
        for item in read_ahead(broken()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    items = read_ahead(endless())
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()

    assert not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())
    assert len(produced) <= 5  # three taken, at most one queued and one in hand
