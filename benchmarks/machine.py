"""The machine under the benchmarks: its description, its float32 GEMM peak, and noise.

A shared 2-core machine can slow a 2-thread BLAS job several times over without any
sign in ``top``. :func:`timed` measures, with every run, the CPU time that other
processes took meanwhile (from ``/proc/stat``); :func:`settle` waits for a quiet moment
before a run.
"""

from __future__ import annotations

import datetime
import gc
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SETTLE_S = 0.2  # quiet pause before each timed run (OpenBLAS workers spin ~0.1 s after a call)
# A run during which other processes used more than this many CPUs (on average) was
# disturbed: on 2 cores that is enough to slow a 2-thread BLAS job noticeably.
DISTURBED = 0.1


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def blas_threads() -> int:
    """Threads of NumPy's BLAS (threadpoolctl), else the CPUs this process may use."""
    try:
        from threadpoolctl import threadpool_info

        for lib in threadpool_info():
            if lib.get("user_api") == "blas" and "numpy" in lib.get("filepath", ""):
                return int(lib["num_threads"])
    except ImportError:
        pass
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def machine_info(impls: tuple[str, ...], threads: int) -> dict:
    import layerwise

    cpu_model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
        fields = {
            k: re.search(rf"^{k}\s*:\s*(.*)$", cpuinfo, re.M)
            for k in ("model name", "cpu family", "model", "flags")
        }
        fields = {k: m.group(1).strip() for k, m in fields.items() if m}
        flags = set(fields.get("flags", "").split())
        simd = "/".join(f for f in ("avx2", "avx512f") if f in flags) or "no AVX2"
        cpu_model = (
            f"{fields.get('model name', cpu_model)} (family {fields.get('cpu family', '?')} "
            f"model {fields.get('model', '?')}, {simd})"
        )
    except OSError:
        pass
    versions = {"numpy": np.__version__, "layerwise": layerwise.__version__}
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "threads": threads,
        "commit": _git_commit(),
    }
    if "torch" in impls:
        import torch

        versions["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "not MKL"
        info["torch_blas"] += ", oneDNN" if torch.backends.mkldnn.is_available() else ""
    if "sklearn" in impls:
        import sklearn

        versions["sklearn"] = sklearn.__version__
    try:
        from threadpoolctl import threadpool_info

        keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture")
        info["blas"] = [
            {**{k: lib.get(k) for k in keys}, "owner": _owner(lib.get("filepath", ""))}
            for lib in threadpool_info()
        ]
    except ImportError:
        info["blas"] = []
    # Variables that choose BLAS kernels and threads (OPENBLAS_CORETYPE changes the peak).
    info["env"] = {
        k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "MKL", "GOMP"))
    }
    return info


def _owner(filepath: str) -> str:
    """The package that ships a shared library: "numpy" for .../numpy.libs/..., etc."""
    for part in Path(filepath).parts:
        if part.endswith(".libs") or part == "torch":
            name = part.removesuffix(".libs")
            return "sklearn" if name == "scikit_learn" else name
    return "?"


def _git_commit() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=HERE,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return f"{head}{' (with uncommitted changes)' if dirty else ''}" if head else None
    except OSError:
        return None


# -- float32 GEMM peak ----------------------------------------------------------------


def _best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_gflops(m: int, k: int, n: int, repeats: int, lib: str = "numpy") -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    if lib == "torch":
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out = torch.empty(m, n)
        seconds = _best_seconds(lambda: torch.mm(ta, tb, out=out), repeats)
    else:
        c = np.empty((m, n), np.float32)
        seconds = _best_seconds(lambda: np.dot(a, b, out=c), repeats)
    return 2 * m * k * n / seconds / 1e9


def gemm_peak(impls: tuple[str, ...], quick: bool) -> dict:
    """Best-of-several float32 GEMM speeds: a 2048^3 square product and B's shape."""
    reps = 3 if quick else 10
    result = {
        "numpy_square_gflops": gemm_gflops(2048, 2048, 2048, reps),
        "numpy_b_shape_gflops": gemm_gflops(512, 1024, 1024, 3 * reps),
    }
    if "torch" in impls:
        result["torch_square_gflops"] = gemm_gflops(2048, 2048, 2048, reps, "torch")
        result["torch_b_shape_gflops"] = gemm_gflops(512, 1024, 1024, 3 * reps, "torch")
    return result


def probe(with_torch: bool) -> dict[str, float]:
    """A look at the machine before each round, best of a few tries of each:

    - ``gemm_gflops``: B's GEMM shape (512x1024 @ 1024x1024): is a core missing?
    - ``small_gemm_us``: a 128x784 @ 784x256 product, as in A, where OpenBLAS's two
      threads synchronise often. On the development machine it switched between
      ~215 and ~265 us, every few seconds to minutes, with no other process running;
      in the slow state every implementation trained up to ~40 % slower (probably the
      host placing the two virtual CPUs far apart).
    - ``torch_add_us``: ``torch.add`` on 1000x100 (two OpenMP threads), the same for
      PyTorch's thread pool.
    """
    settle()
    rng = np.random.default_rng(0)
    x = rng.random((128, 784), dtype=np.float32)
    w = rng.random((784, 256), dtype=np.float32)
    out = np.empty((128, 256), np.float32)
    result = {
        "gemm_gflops": gemm_gflops(512, 1024, 1024, 3),
        "small_gemm_us": _best_seconds(lambda: [np.dot(x, w, out=out) for _ in range(20)], 5)
        / 20
        * 1e6,
    }
    if with_torch:
        import torch

        a, b = torch.ones(1000, 100), torch.ones(1000, 100)
        c = torch.empty(1000, 100)
        seconds = _best_seconds(lambda: [torch.add(a, b, out=c) for _ in range(100)], 5)
        result["torch_add_us"] = seconds / 100 * 1e6
    return result


# -- noise ----------------------------------------------------------------------------


def _busy_cpu_seconds() -> float | None:
    """CPU-seconds that all CPUs have spent busy (steal included), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks + [0] * (8 - len(ticks))
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def settle(max_wait: float = 5.0) -> float:
    """Collect garbage, then wait for a quiet 0.2 s: no CPU use by other processes (to
    within 3 ticks of /proc/stat), and the previous run's BLAS and OpenMP workers, which
    spin for ~0.1 s after their last task, asleep. Gives up after ``max_wait`` seconds;
    returns the seconds waited."""
    gc.collect()
    start = time.perf_counter()
    while True:
        busy, own = _busy_cpu_seconds(), time.process_time()
        time.sleep(SETTLE_S)
        busy_after, own_after = _busy_cpu_seconds(), time.process_time()
        waited = time.perf_counter() - start
        if busy is None or busy_after is None or waited > max_wait:
            return waited
        if (busy_after - busy) - (own_after - own) < 0.03:
            return waited


def timed(fn) -> tuple[float, float | None]:
    """Run ``fn()``; return its wall seconds and the CPU-seconds that *other* processes
    (or the hypervisor) took meanwhile, a sign of a disturbed measurement."""
    busy, own = _busy_cpu_seconds(), time.process_time()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    busy_after, own_after = _busy_cpu_seconds(), time.process_time()
    if busy is None or busy_after is None:
        return seconds, None
    return seconds, max(0.0, (busy_after - busy) - (own_after - own))


def disturbed(seconds: float, extras: dict) -> bool:
    """Did other processes use more than ``DISTURBED`` CPUs during the run?

    /proc/stat counts in ticks of 10 ms, hence the allowance of 3 ticks.
    """
    other = extras.get("other_cpu_s")
    return other is not None and other > max(DISTURBED * seconds, 0.03)


def other_share(seconds: float, extras: dict) -> float:
    return (extras.get("other_cpu_s") or 0.0) / seconds


def other_text(seconds: float, extras: dict) -> str:
    return f"other processes used {other_share(seconds, extras):.2f} CPUs for {seconds:.2f} s"
