"""The window gives freed heap memory back to the system (see ndestudio/gui/memory.py)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pytest

from ndestudio.gui.main_window import TRIM_MS
from ndestudio.gui.memory import release_freed_memory

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@linux_only
def test_freed_heap_memory_goes_back_to_the_system() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    block = 64 * 1024  # below the mmap threshold: from the heap, as a plot's arrays are
    blocks = [libc.malloc(block) for _ in range(2000)]  # 125 MB
    for address in blocks:
        libc.memset(address, 1, block)
    pin = libc.malloc(block)  # above the freed blocks: glibc cannot simply shrink the heap
    libc.memset(pin, 1, block)
    for address in blocks:
        libc.free(address)
    held = _rss_mb()
    assert release_freed_memory() is True
    released = held - _rss_mb()
    libc.free(pin)
    assert released > 100, f"only {released:.0f} MB of 125 MB freed went back"


def test_the_window_trims_memory_periodically(make_window) -> None:
    window = make_window()
    assert window.trim_timer.isActive()
    assert window.trim_timer.interval() == TRIM_MS
    window.close()
    assert not window.trim_timer.isActive()
