"""How fast and how lean is ``lw.data.mnist()`` on the real MNIST files?

Times the whole load (four gzipped IDX files to float32 arrays) and measures its peak
memory against the size of the float32 arrays it returns: the tracemalloc peak in this
process, and the growth of the peak resident set size in a fresh child process (which
also counts memory that tracemalloc does not see, such as zlib's buffers).

Run ``python benchmarks/bench_data.py``; the data folder is ``../shared/data`` beside the
repository, or ``$LAYERWISE_DATA``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from layerwise import data

MIB = 2**20

# Runs in a child process so that its peak RSS starts from a clean slate. VmHWM is the
# peak RSS of the process's own address space; ru_maxrss would inherit the parent's peak.
_RSS_PROBE = r"""
import json, re, sys
from layerwise import data

def peak_rss_kib():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s*(\d+) kB", status.read()).group(1))

before = peak_rss_kib()
X_train, X_test, y_train, y_test = data.mnist(path=sys.argv[1])
print(json.dumps({"before": before, "after": peak_rss_kib()}))
"""


def data_root() -> Path:
    """``$LAYERWISE_DATA``, or the ``shared/data`` folder beside the repository."""
    env = os.environ.get("LAYERWISE_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def run(repeats: int = 5) -> dict:
    """Time ``repeats`` loads of MNIST and measure the peak memory of one.

    Returns a flat dict of results (seconds and MiB), or ``{"skipped": reason}`` when
    the MNIST files are not there.
    """
    folder = data_root() / "mnist"
    if not folder.is_dir():
        return {"benchmark": "data.mnist", "skipped": f"no MNIST folder at {folder}"}
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        arrays = data.mnist(path=folder)
        seconds.append(time.perf_counter() - start)
        del arrays
    tracemalloc.start()
    try:
        X_train, X_test, _, _ = data.mnist(path=folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    returned = X_train.nbytes + X_test.nbytes
    rss_growth = _rss_growth(folder)
    return {
        "benchmark": "data.mnist",
        "path": str(folder),
        "repeats": repeats,
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "returned_float32_mib": returned / MIB,
        "tracemalloc_peak_mib": peak / MIB,
        "tracemalloc_peak_ratio": peak / returned,
        "rss_growth_mib": None if rss_growth is None else rss_growth / MIB,
        "rss_growth_ratio": None if rss_growth is None else rss_growth / returned,
    }


def _rss_growth(folder: Path) -> int | None:
    """Bytes by which one load raises a fresh process's peak RSS (None where unsupported)."""
    if not Path("/proc/self/status").is_file():  # Linux only
        return None
    child = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    usage = json.loads(child.stdout.strip().splitlines()[-1])
    return (usage["after"] - usage["before"]) * 1024


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:>24}: {value:.3f}" if isinstance(value, float) else f"{key:>24}: {value}")
