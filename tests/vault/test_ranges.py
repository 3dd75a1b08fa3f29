"""vault.ranges: which bytes a Range header asks for, and a stream cut to them (RFC 9110 §14)."""

import pytest

from vault.ranges import ByteRange, RangeNotSatisfiable, range_parse, slice_stream


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-", ByteRange(0, 999)),
    ("bytes=0-0", ByteRange(0, 0)),
    ("bytes=100-199", ByteRange(100, 199)),
    ("bytes=900-5000", ByteRange(900, 999)),  # an end past the content is cut to it
    ("bytes=-100", ByteRange(900, 999)),
    ("bytes=-5000", ByteRange(0, 999)),
    ("BYTES = 5 - 9", ByteRange(5, 9)),
])
def test_it_reads_one_byte_range(header, expected):
    assert range_parse(header=header, size=1000) == expected


@pytest.mark.parametrize("header", [None, "", "items=0-5", "bytes=0-1,5-9"])
def test_it_serves_the_whole_content_for_no_range_another_unit_or_several_ranges(header):
    assert range_parse(header=header, size=1000) is None


@pytest.mark.parametrize("header", [
    "bytes=1000-", "bytes=5000-6000", "bytes=10-5", "bytes=-0", "bytes=-", "bytes=abc", "bytes=1-2-3", "bytes=0x10-",
])
def test_it_refuses_a_range_it_cannot_serve(header):
    with pytest.raises(RangeNotSatisfiable):
        range_parse(header=header, size=1000)


def test_it_refuses_any_range_of_empty_content():
    with pytest.raises(RangeNotSatisfiable):
        range_parse(header="bytes=0-", size=0)


def test_it_cuts_a_stream_to_the_range_and_stops_reading_after_it():
    data = bytes(range(256)) * 40
    pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    read = []

    def source():
        for piece in pieces:
            read.append(len(read))
            yield piece

    assert b"".join(slice_stream(source(), ByteRange(1500, 2499))) == data[1500:2500]
    assert read == [0, 1, 2]  # pieces 3.. (after the range) were never read, so never decrypted
    for wanted in (ByteRange(0, 0), ByteRange(999, 1000), ByteRange(0, len(data) - 1), ByteRange(10239, 10239)):
        assert b"".join(slice_stream(iter(pieces), wanted)) == data[wanted.start : wanted.end + 1]


def test_it_fails_a_stream_that_ends_before_the_range_does():
    with pytest.raises(RangeNotSatisfiable):
        b"".join(slice_stream(iter([b"x" * 100]), ByteRange(50, 149)))
