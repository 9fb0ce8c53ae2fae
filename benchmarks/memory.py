"""Peak memory of workload A, measured in a fresh child process per implementation.

``python benchmarks/run.py --memory-child IMPL WORKLOAD`` imports NumPy and the one
library it measures, reads MNIST with NumPy, builds the model, resets the peak RSS
(VmHWM) and trains; it prints RSS figures as JSON on its last line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import workloads as wls
from machine import HERE, blas_threads, log

MB = 1e6  # memory is reported in MB = 10^6 bytes (the targets' unit)


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            found = re.search(rf"^{field}:\s*(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def _reset_peak_rss() -> bool:
    """Reset VmHWM (Linux >= 4.0), so that the next peak is that of what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(impl: str, key: str, quick: bool, torch_threads: int | None) -> None:
    """Train workload ``key`` once with ``impl`` and print RSS figures as JSON (child).

    Peaks come from VmHWM, not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux the
    latter survives ``exec`` and so reports the parent's peak when that is higher.
    """
    if impl == "torch":
        wls.configure_torch(torch_threads or blas_threads())
    elif impl == "sklearn":
        import sklearn.neural_network  # noqa: F401
    else:
        import layerwise  # noqa: F401
    after_imports = _status_kb("VmRSS")
    wl = next(w for w in wls.workloads(quick) if w.key == key)
    X, y = wls.read_mnist_train(wl.n_train)
    data = wls.Data(X, y, X[:0], y[:0], "none")
    run = wls.prepare(impl, wl, data)
    after_data = _status_kb("VmRSS")
    peak_before = _status_kb("VmHWM")
    reset = _reset_peak_rss()
    start = time.perf_counter()
    run.train()
    seconds = time.perf_counter() - start
    peak_training = _status_kb("VmHWM") if reset else None
    kb = 1024 / MB
    print(
        json.dumps(
            {
                "rss_after_imports_mb": after_imports * kb,
                "rss_after_data_mb": after_data * kb,
                "peak_before_training_mb": peak_before * kb,
                "peak_training_mb": None if peak_training is None else peak_training * kb,
                "training_growth_mb": None
                if peak_training is None
                else (peak_training - after_data) * kb,
                "process_peak_mb": max(peak_before, peak_training or 0) * kb,
                "train_set_mb": X.nbytes / MB,
                "train_s": seconds,
            }
        )
    )


def measure_memory(keys: list[str], impls, quick: bool, torch_threads: int | None) -> dict:
    """Run a child per workload and implementation; ``{key: {impl: figures}}``."""
    results: dict[str, dict] = {}
    for key in keys:
        results[key] = {}
        for impl in impls:
            log(f"memory: {key} with {impl} in a child process")
            command = [sys.executable, str(HERE / "run.py"), "--memory-child", impl, key]
            if quick:
                command.append("--quick")
            if torch_threads:
                command += ["--torch-threads", str(torch_threads)]
            child = subprocess.run(command, capture_output=True, text=True)
            if child.returncode != 0:
                tail = child.stderr.strip().splitlines()[-1:] or ["no output"]
                results[key][impl] = {"error": f"child failed: {tail[0]}"}
                continue
            results[key][impl] = json.loads(child.stdout.strip().splitlines()[-1])
    return results
