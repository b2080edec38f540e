"""Peak-memory and timing helpers shared by the benchmark scripts (Linux: /proc/self/status and clear_refs)."""

from __future__ import annotations

import ctypes
import gc
import time

_LIBC = ctypes.CDLL(None)


def status_bytes(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, from /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/self/clear_refs``); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def settle() -> None:
    """Free garbage and hand freed heap pages back to the OS: glibc keeps them otherwise, and a run that reuses them
    does not raise the RSS, so its peak would be understated (checked: 24 MB of temporaries read as 16 MB)."""
    gc.collect()
    if hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def timed(op, repeats: int, device=None):
    """``(seconds, peak bytes above the baseline, result of the last run)``, the first two one per repeat.

    On a CUDA ``device`` (a ``torch.device``) the time runs to ``torch.cuda.synchronize`` and the peak is the GPU's
    ``max_memory_allocated``; elsewhere the peak is the process's resident memory (VmHWM)."""
    import torch

    gpu = device is not None and device.type == "cuda"
    times, peaks, result = [], [], None
    for _ in range(repeats):
        del result  # the previous run's output must be gone before the baseline is read
        settle()
        if gpu:
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        else:
            reset_peak()
            base = status_bytes("VmRSS")
        start = time.perf_counter()
        result = op()
        if gpu:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
        peaks.append((torch.cuda.max_memory_allocated(device) if gpu else status_bytes("VmHWM")) - base)
    return times, peaks, result
