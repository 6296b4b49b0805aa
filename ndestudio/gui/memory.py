"""Give freed heap memory back to the system, so that a window open for hours stays flat.

Training runs on a worker thread and the plots on the GUI thread; glibc's malloc gives each
thread its own arena, and memory freed in an arena is kept there in pieces too small to
return. Over an hour of live plotting that grew the window's RSS by ~70 MB while the live
data stayed flat (``benchmarks/window_soak.py`` with and without ``--trim``).
``malloc_trim(0)`` returns the free pages of every arena; it takes about a millisecond.
Elsewhere (macOS, Windows, musl) it is not there and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _malloc_trim():  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Return freed heap pages to the system; True if the C library could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
