"""Serving decrypted content with HTTP Range requests (RFC 9110 §14), so a <video> can seek.

A media player asks for pieces (``Range: bytes=0-``, then ``bytes=1048576-`` after a seek).
``ranged_response`` answers one piece: 206 with Content-Range, 200 for the whole thing, 416
for a range that cannot be served. It knows nothing of keys or owners: the caller passes
``open_range``, which checks and audits the read and streams the plaintext of that piece,
and is called only once the range is known to be good (a 416 decrypts and audits nothing).

A request with several ranges gets the whole content (200), which RFC 9110 allows: players
never send them, and a multipart answer would only add a way to read more than asked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.http import HttpResponse, StreamingHttpResponse


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``end`` of the content, both included (as in Content-Range)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes that are not there, or is not a byte range we can read."""


_ONE_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def range_parse(*, header: str | None, size: int) -> ByteRange | None:
    """The one byte range a Range header asks for, or None for the whole content.

    None when there is no header, another unit (ignored, RFC 9110 §14.2) or several ranges;
    RangeNotSatisfiable for a malformed byte range, one that starts past the end, or any
    range of empty content.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    match = _ONE_RANGE.match(spec)
    if match is None:
        raise RangeNotSatisfiable(f"Malformed byte range {spec[:40]!r}.")
    first, last = match.groups()
    if size <= 0:
        raise RangeNotSatisfiable("The content is empty.")
    if first == "":
        if last == "" or int(last) == 0:
            raise RangeNotSatisfiable("A suffix range needs a length of at least one byte.")
        return ByteRange(max(size - int(last), 0), size - 1)
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        raise RangeNotSatisfiable(f"Bytes {first}-{last} are not within {size} bytes.")
    return ByteRange(start, end)


def slice_stream(chunks: Iterable[bytes], wanted: ByteRange) -> Iterator[bytes]:
    """The bytes of ``wanted`` from a stream of the whole content; stops reading after its end.

    A stream decrypted in order cannot skip what comes before the range, but it need not go on
    past it: the segments after ``wanted.end`` are never read or decrypted."""
    position = 0
    for chunk in chunks:
        following = position + len(chunk)
        if following > wanted.start:
            yield chunk[max(wanted.start - position, 0) : wanted.end + 1 - position]
        position = following
        if position > wanted.end:
            return
    if position <= wanted.end:
        # The store held less than the row says: never let a response end as if it were whole.
        raise RangeNotSatisfiable(f"The content ended at byte {position}, before {wanted.end + 1}.")


def ranged_response(
    request,
    *,
    size: int,
    content_type: str,
    open_range: Callable[[ByteRange], Iterable[bytes]],
    filename: str | None = None,
    download: bool = False,
    etag: str | None = None,
) -> HttpResponse | StreamingHttpResponse:
    """200, 206 or 416 for a GET of content of ``size`` bytes, streamed from ``open_range``.

    ``etag`` (a quoted strong tag, e.g. from the blob's id) makes If-Range work: a range asked
    for against another version gets the whole content instead. Errors raised by
    ``open_range`` (not found, consent, integrity) propagate before any response begins.
    """
    try:
        wanted = range_parse(header=request.headers.get("Range"), size=size)
    except RangeNotSatisfiable as exc:
        response = HttpResponse(
            json.dumps({"error": {"code": "range_not_satisfiable", "message": str(exc)}}),
            status=416, content_type="application/json",
        )
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    if wanted is not None and request.headers.get("If-Range") is not None and request.headers["If-Range"] != etag:
        wanted = None
    partial = wanted is not None
    if wanted is None:
        wanted = ByteRange(0, size - 1)
    body = iter(open_range(wanted)) if size > 0 else iter(())
    response = StreamingHttpResponse(body, status=206 if partial else 200, content_type=content_type)
    response["Content-Length"] = str(wanted.length if size > 0 else 0)
    if partial:
        response["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
    response["Accept-Ranges"] = "bytes"
    if etag:
        response["ETag"] = etag
    if filename:
        response["Content-Disposition"] = f'{"attachment" if download else "inline"}; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response

