import threading

import pytest

from audit.streaming import prefetched


def _source(chunks):
    items = iter(chunks)
    return lambda: next(items, [])


def test_it_yields_every_chunk_in_order():
    chunks = [[i, i + 1] for i in range(0, 40, 2)]
    assert list(prefetched(_source(chunks))) == chunks


def test_it_stops_its_thread_when_the_reader_stops_early():
    before = threading.active_count()
    stream = prefetched(_source([[i] for i in range(100)]))
    assert next(stream) == [0]
    stream.close()
    assert threading.active_count() == before


def test_it_hands_a_fetch_error_to_the_reader():
    calls = iter([[1], RuntimeError("connection lost")])

    def fetch():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    stream = prefetched(fetch)
    assert next(stream) == [1]
    with pytest.raises(RuntimeError, match="connection lost"):
        next(stream)
