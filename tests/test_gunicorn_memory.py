"""The web process keeps the buffers a request frees (consentsvc.gunicorn_conf.malloc_keep): a tus
PATCH streams its 8 MiB through buffers of a megabyte or more, and with glibc's defaults each one
was handed back to the kernel and faulted in again, page by page, for the next."""

import ctypes
import subprocess
import sys
import textwrap

import pytest

from tests.test_serving import ROOT

# In a fresh interpreter (the allocator's settings are the process's): a megabyte of request body
# going through a few buffers at once (read, copied, encrypted) and freed, as a PATCH's pieces are,
# counting the pages faulted in along the way.
PIECES = textwrap.dedent("""
    import resource, sys
    if sys.argv[1] == "configured":
        from consentsvc import gunicorn_conf
        gunicorn_conf.on_starting(None)  # what gunicorn calls in the master before it forks
    piece = bytes(range(256)) * 4096  # 1 MiB
    def one_piece():
        read = bytearray(piece)  # fresh buffers the size of the piece, each touched in full
        copied = bytearray(read)
        sealed = bytearray(copied)
        written = bytearray(sealed)
        del read, copied, sealed, written
    for _ in range(3):
        one_piece()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        one_piece()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PIECES, mode], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_worker_reuses_a_freed_buffer_instead_of_faulting_its_pages_in_again():
    if sys.platform != "linux" or not hasattr(ctypes.CDLL(None), "mallopt"):
        pytest.skip("glibc's mallopt only")
    pages = 1024 * 1024 // 4096
    assert faults("default") >= 40 * pages  # every piece's buffers faulted in anew
    assert faults("configured") < 4 * pages  # the same pages, again and again
