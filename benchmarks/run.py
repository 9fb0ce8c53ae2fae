"""Speed and memory of layerwise against PyTorch and scikit-learn, on six workloads.

    python benchmarks/run.py                 # the full suite (several minutes)
    python benchmarks/run.py --quick         # a smoke run: less work, one repeat
    python benchmarks/run.py --only A,C --repeats 3 --markdown

Workloads (see ``workloads.py``): A-sgdm / A-adam (MNIST 784-256-128-10, batch 128,
one epoch), B (784-1024-1024-10, batch 512, one epoch), C (moons 2-16-1, full batch,
1000 steps), D (2-100-1 regression, 2000 batches of 1000), E (digits 64-64-10,
batch 32, 100 epochs of Adam), F (MNIST loading and ``predict`` throughput).

How it measures: every workload runs once per implementation as a warm-up, then
``--repeats`` rounds in which each implementation runs once, in an order rotated
from round to round (a shared machine slows whatever runs at the wrong moment; the
rotation spreads that over all three). Reported: median, min and max seconds of the
rounds, samples per second, GFLOP/s (GEMMs only, see ``workloads.FLOP_RULE``),
microseconds per optimizer step, and the ratios other / layerwise of the medians
and of the minimums. Only training is timed: data, models and optimizers are built
before, and evaluation happens after. Peak memory of A is measured in fresh child
processes (``--memory-child``, see ``memory.py``) that import only what they measure;
``machine.py`` measures the GEMM peak and watches for other processes on the CPUs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import machine
import memory
import numpy as np
import report
import workloads as wls
from machine import log

HERE = Path(__file__).resolve().parent


# -- what to run --------------------------------------------------------------------


def available_implementations(args) -> tuple[tuple[str, ...], dict[str, str]]:
    """The implementations to run, and why any of them is skipped."""
    impls, skipped = ["layerwise"], {}
    for impl, module, flag in (
        ("torch", "torch", args.no_torch),
        ("sklearn", "sklearn", args.no_sklearn),
    ):
        if flag:
            skipped[impl] = f"--no-{impl}"
            continue
        try:
            importlib.import_module(module)
        except ImportError as e:
            skipped[impl] = f"cannot import {module}: {e}"
            continue
        impls.append(impl)
    return tuple(impls), skipped


# -- timing -----------------------------------------------------------------------


def round_robin(
    impls: tuple[str, ...], run_once, repeats: int, label: str, retries: int
) -> tuple[dict, list]:
    """Warm up each implementation, then ``repeats`` rounds in a rotating order.

    ``run_once(impl, warmup)`` returns ``(seconds, extras)``. A run during which other
    processes took a noticeable share of the CPUs is repeated, up to ``retries`` more
    times, keeping the least disturbed. Returns ``{impl: [(seconds, extras), ...]}``
    for the timed rounds and the machine probes taken before each round.
    """
    log(f"{label}: warm-up")
    for impl in impls:
        run_once(impl, True)
    runs: dict[str, list] = {impl: [] for impl in impls}
    probes = []
    for r in range(repeats):
        probes.append(machine.probe("torch" in impls))
        order = impls[r % len(impls) :] + impls[: r % len(impls)]
        for impl in order:
            result = run_once(impl, False)
            tries = 1
            while machine.disturbed(*result) and tries <= retries:
                log(f"{label}: {impl} was disturbed ({machine.other_text(*result)}); again")
                again = run_once(impl, False)
                tries += 1
                if machine.other_share(*again) < machine.other_share(*result):
                    result = again
            result[1]["tries"] = tries
            runs[impl].append(result)
        times = ", ".join(f"{i} {runs[i][-1][0]:.3f}s" for i in impls)
        log(f"{label}: round {r + 1}/{repeats}: {times}")
    return runs, probes


def summarize(runs: list, samples: int, flops: float, steps: int | None) -> dict:
    seconds = [s for s, _ in runs]
    median = statistics.median(seconds)
    out = {
        "seconds": seconds,
        "median_s": median,
        "min_s": min(seconds),
        "max_s": max(seconds),
        "samples_per_s": samples / median,
        "gflops": flops / median / 1e9,
        "us_per_step": None if steps is None else median / steps * 1e6,
    }
    # Results of the last run (every run starts from the same seed).
    out.update({k: v for k, v in runs[-1][1].items() if k not in ("other_cpu_s", "tries")})
    # CPU-seconds of other processes per second of each run (0: undisturbed; 1: a core),
    # and how many times each run was made (> 1: earlier tries were disturbed).
    out["other_load"] = [
        None if extras["other_cpu_s"] is None else extras["other_cpu_s"] / s for s, extras in runs
    ]
    out["tries"] = [extras["tries"] for _, extras in runs]
    return out


def ratios(impls: dict) -> dict:
    """other / layerwise, of the medians, of the minimums, and paired: the median over
    rounds of the ratio within each round (runs close in time, so in the same machine
    state; robust when the machine changes state between rounds)."""
    if "layerwise" not in impls:
        return {}
    lw = impls["layerwise"]
    return {
        other: {
            "median": r["median_s"] / lw["median_s"],
            "min": r["min_s"] / lw["min_s"],
            "paired": statistics.median(o / m for o, m in zip(r["seconds"], lw["seconds"])),
        }
        for other, r in impls.items()
        if other != "layerwise"
    }


def time_workload(wl: wls.Workload, impls, repeats: int, retries: int) -> dict:
    # The warm-up does a tenth of the work, with the same shapes: enough for lazy
    # imports, thread pools and allocators, and it keeps the suite short.
    warmup = wl.scaled(0.1)

    def run_once(impl: str, is_warmup: bool):
        w = warmup if is_warmup else wl
        data = wls.load_data(w.data, w.n_train)
        run = wls.prepare(impl, w, data)
        losses = []
        machine.settle()
        seconds, other_cpu = machine.timed(lambda: losses.append(run.train()))
        extras = {
            "other_cpu_s": other_cpu,
            "train_loss": float(losses[0]),
            "metrics": wls.evaluate(w, data, run),
            "param_dtype": run.param_dtype(),
        }
        return seconds, extras

    runs, probes = round_robin(impls, run_once, repeats, wl.key, retries)
    per_impl = {i: summarize(runs[i], wl.samples, wl.flops, wl.steps) for i in impls}
    return {
        "title": wl.title,
        "short": _short(wl),
        "description": wl.describe(),
        "samples": wl.samples,
        "steps": wl.steps,
        "flops": wl.flops,
        "sizes": list(wl.sizes),
        "impls": per_impl,
        "ratios": ratios(per_impl),
        "probes": probes,
    }


def _short(wl: wls.Workload) -> str:
    arch = "-".join(map(str, wl.sizes))
    batch = "full batch" if wl.batch_size is None else f"batch {wl.batch_size}"
    opt = "Adam" if wl.optimizer == "adam" else ("SGD+momentum" if wl.momentum else "SGD")
    work = f"{wl.steps} steps" if wl.data in ("moons", "function2d") else f"{wl.epochs} ep."
    return f"{arch}, {opt}, {batch}, {work}"


# -- F: loading and prediction ------------------------------------------------------


def time_prediction(impls, repeats: int, quick: bool, retries: int) -> dict:
    data = wls.load_data("mnist", 12_000 if quick else 60_000)
    log("F: training one layerwise network for the prediction benchmark (not timed)")
    predictors = wls.predictors(impls, data.X, data.y, data.X_eval)
    outputs = {impl: np.asarray(p.predict(), np.float64) for impl, p in predictors.items()}
    checks = _agreement(outputs, data.y_eval)
    calls = 3 if quick else 10
    n = len(data.X_eval)

    def run_once(impl: str, is_warmup: bool):
        predict = predictors[impl].predict

        def many():
            for _ in range(calls):
                predict()

        machine.settle()
        seconds, other_cpu = machine.timed(many)
        return seconds, {"other_cpu_s": other_cpu, "metrics": checks[impl]}

    runs, probes = round_robin(impls, run_once, repeats, "F-predict", retries)
    flops = calls * n * wls.predict_flops_per_sample((784, 256, 128, 10))
    per_impl = {i: summarize(runs[i], calls * n, flops, None) for i in impls}
    return {
        "title": "predict throughput",
        "short": f"predict, 784-256-128-10, {n} images x {calls} calls",
        "description": (
            f"One 784-256-128-10 network (trained by layerwise for one epoch, weights copied "
            f"into each implementation), {calls} calls per run on the {n} MNIST test images: "
            "layerwise model.predict (logits), torch with no_grad (logits), sklearn "
            "predict_proba (softmax probabilities)."
        ),
        "samples": calls * n,
        "steps": None,
        "flops": flops,
        "impls": per_impl,
        "ratios": ratios(per_impl),
        "probes": probes,
    }


def _agreement(outputs: dict, labels: np.ndarray) -> dict:
    """Accuracy of each, its agreement with layerwise's classes and its largest
    difference from layerwise's outputs (softmax of the logits for sklearn)."""
    reference = outputs.get("layerwise")
    checks = {}
    for impl, out in outputs.items():
        classes = out.argmax(axis=1)
        check = {"test acc": float(np.mean(classes == labels))}
        if reference is not None:
            check["same class"] = float(np.mean(classes == reference.argmax(axis=1)))
            ref = _softmax(reference) if impl == "sklearn" else reference
            check["max |diff|"] = float(np.max(np.abs(out - ref)))
        checks[impl] = check
    return checks


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- targets ------------------------------------------------------------------------


def evaluate_targets(results: dict) -> list[dict]:
    """Each target of the issue, measured: ``met`` is True, False, or None (not run)."""
    targets = []

    def add(workload, key, what, measured, required, measured_text, target_text, higher=True):
        if measured is None:
            met, measured_text = None, "-"
        else:
            met = measured >= required if higher else measured <= required
        targets.append(
            {
                "workload": workload,
                "key": key,
                "what": what,
                "measured": measured,
                "required": required,
                "met": met,
                "measured_text": measured_text,
                "target_text": target_text,
            }
        )

    peak = results.get("gemm_peak", {}).get("peak_gflops")
    wanted_by_key = {w.key: w.targets for w in wls.workloads()}
    for name, r in results["workloads"].items():
        wanted = wanted_by_key.get(name, {})
        for other, label in (("torch", "PyTorch"), ("sklearn", "scikit-learn")):
            if f"vs_{other}" not in wanted:
                continue
            ratio = r["ratios"].get(other, {}).get("median")
            paired = r["ratios"].get(other, {}).get("paired")
            need = wanted[f"vs_{other}"]
            text = "" if ratio is None else f"{ratio:.2f}x (paired {paired:.2f}x)"
            what = f"speed vs {label} (median ratio)"
            add(name, f"vs_{other}", what, ratio, need, text, f">= {need:g}x")
        if "gemm_efficiency" in wanted and "layerwise" in r["impls"] and peak:
            achieved = r["impls"]["layerwise"]["gflops"]
            need = wanted["gemm_efficiency"]
            text = f"{achieved / peak:.0%} ({achieved:.0f} GFLOP/s)"
            what = f"GEMM efficiency (of {peak:.0f} GFLOP/s peak)"
            add(name, "gemm_efficiency", what, achieved / peak, need, text, f">= {need:.0%}")
    for name, per_impl in results.get("memory", {}).items():
        m = per_impl.get("layerwise", {})
        if "train_set_mb" not in m:
            continue
        # The bound: 1.5 x the float32 training set + 100 MB, on the peak RSS.
        limit = 1.5 * m["train_set_mb"] + 100
        peak_mb = m["peak_training_mb"] or m["process_peak_mb"]
        what = "layerwise peak RSS while training"
        add(name, "peak_rss", what, peak_mb, limit, f"{peak_mb:.0f} MB", f"<= {limit:.0f} MB",
            higher=False)  # fmt: skip
        # A copy of the data while training would raise the peak by the data's size.
        growth, half = m["training_growth_mb"], 0.5 * m["train_set_mb"]
        what = "no copy of the data (RSS growth while training)"
        text = "" if growth is None else f"{growth:.0f} MB"
        add(name, "no_data_copy", what, growth, half, text, f"< {half:.0f} MB", higher=False)
    return targets


# -- main ---------------------------------------------------------------------------


def _selected(only: str | None) -> set[str]:
    keys = {w.key for w in wls.workloads()} | {"F"}
    if not only:
        return keys
    chosen = set()
    for token in (t.strip() for t in only.split(",") if t.strip()):
        matches = {k for k in keys if k == token or k.split("-")[0] == token}
        if not matches:
            sys.exit(
                f"--only: unknown workload {token!r}; choose from A, {', '.join(sorted(keys))}"
            )
        chosen |= matches
    return chosen


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="less work and 1 repeat (smoke run)")
    p.add_argument("--only", help="comma-separated workloads, e.g. A,C or A-adam,F")
    p.add_argument(
        "--repeats", type=int, help="timed rounds after the warm-up (default 7; quick 1)"
    )
    p.add_argument(
        "--json", type=Path, help="results file (default benchmarks/results/latest.json)"
    )
    p.add_argument("--markdown", action="store_true", help="also print a Markdown summary")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="times to repeat a run that other processes disturbed (default 2; 0: never)",
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        help="PyTorch's threads (default: NumPy's BLAS threads, as the issue asks)",
    )
    p.add_argument("--memory-child", nargs=2, metavar=("IMPL", "WORKLOAD"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.memory_child:
        memory.memory_child(*args.memory_child, quick=args.quick, torch_threads=args.torch_threads)
        return
    started = time.perf_counter()
    repeats = args.repeats or (1 if args.quick else 7)
    selected = _selected(args.only)
    impls, skipped = available_implementations(args)
    for impl, reason in skipped.items():
        print(f"Skipping {report.NAMES[impl]}: {reason}")
    threads = machine.blas_threads()
    torch_threads = args.torch_threads or threads
    if "torch" in impls:
        wls.configure_torch(torch_threads)

    meta = machine.machine_info(impls, threads)
    meta.update(
        quick=args.quick, repeats=repeats, skipped=skipped, flop_rule=wls.FLOP_RULE,
        command=" ".join([Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)]),
    )  # fmt: skip
    log("measuring the float32 GEMM peak")
    machine.settle()
    gemm = machine.gemm_peak(impls, args.quick)
    results = {"meta": meta, "gemm_peak": gemm, "workloads": {}}
    print(report.machine_text(meta, {**gemm, "peak_gflops": gemm["numpy_square_gflops"]}))
    print(f"FLOPs: {wls.FLOP_RULE}\n")

    for wl in wls.workloads(args.quick):
        if wl.key in selected:
            results["workloads"][wl.key] = time_workload(wl, impls, repeats, args.retries)
            print(report.workload_table(wl.key, results["workloads"][wl.key]) + "\n", flush=True)
    if "F" in selected:
        import bench_data

        log("F: MNIST loading (bench_data.run)")
        results["mnist_load"] = bench_data.run(repeats=max(repeats, 3))
        print(_load_text(results["mnist_load"]))
        results["predict"] = time_prediction(impls, repeats, args.quick, args.retries)
        print(report.workload_table("F-predict", results["predict"]) + "\n", flush=True)
    memory_keys = [k for k in ("A-sgdm", "A-adam") if k in selected]
    if args.quick:
        memory_keys = memory_keys[:1]
    if memory_keys and not args.no_memory:
        results["memory"] = memory.measure_memory(
            memory_keys, impls, args.quick, args.torch_threads
        )
        print("Peak memory (fresh child process per run; MB = 10^6 bytes; growth = peak while")
        print("training - RSS after imports, data and model):")
        print(report.memory_table(results["memory"]) + "\n")

    # The peak for the targets: the best square GEMM, measured again at the end so that a
    # disturbed start cannot make the efficiency look better than it is.
    machine.settle()
    gemm["numpy_square_gflops_end"] = machine.gemm_gflops(2048, 2048, 2048, 3 if args.quick else 10)
    gemm["peak_gflops"] = max(gemm["numpy_square_gflops"], gemm["numpy_square_gflops_end"])
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = evaluate_targets(results)
    results["total_seconds"] = time.perf_counter() - started

    print(f"== Targets (float32 GEMM peak {gemm['peak_gflops']:.0f} GFLOP/s, NumPy 2048^3) ==")
    print(report.targets_table(results["targets"]))
    overhead = report.overhead_table(results)
    if overhead:
        print("\nPer-step overhead (median seconds / optimizer steps):")
        print(overhead)
    _noise_warning(results)
    if args.markdown:
        print("\n" + report.markdown(results))

    default = "quick.json" if args.quick else "latest.json"
    path = args.json or HERE / "results" / default
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nResults: {path}  ({results['total_seconds']:.0f} s in all)")


def _load_text(load: dict) -> str:
    if "skipped" in load:
        return f"MNIST loading: skipped ({load['skipped']})\n"
    return (
        f"== F-load: lw.data.mnist on the real files ({load['repeats']} loads) ==\n"
        f"median {load['median_s']:.3f} s (min {load['min_s']:.3f}, max {load['max_s']:.3f}); "
        f"returns {load['returned_float32_mib']:.0f} MiB of float32; tracemalloc peak "
        f"{load['tracemalloc_peak_ratio']:.2f}x of that; RSS growth of a fresh process "
        f"{_ratio(load.get('rss_growth_ratio'))}\n"
    )


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _noise_warning(results: dict) -> None:
    timed_sets = [*results["workloads"].values(), results.get("predict", {"impls": {}})]
    probes = [p for r in timed_sets for p in r.get("probes", [])]
    per_run = [
        (s, {"other_cpu_s": None if load is None else load * s})
        for r in timed_sets
        for impl in r["impls"].values()
        for s, load in zip(impl["seconds"], impl["other_load"])
    ]
    busy = [run for run in per_run if machine.disturbed(*run)]
    retried = sum(t - 1 for r in timed_sets for i in r["impls"].values() for t in i["tries"])
    small = [p["small_gemm_us"] for p in probes]
    spread = max(small) / min(small) if small else 1.0
    results["noise"] = {
        "disturbed_runs_kept": len(busy),
        "runs": len(per_run),
        "runs_repeated": retried,
        "small_gemm_spread": spread,
    }
    if busy or retried:
        print(
            f"\nNote: other processes used more than {machine.DISTURBED} CPUs during "
            f"{retried} timed runs, which were repeated; {len(busy)} of the {len(per_run)} "
            "kept runs were still disturbed."
        )
    if spread > 1.15:
        print(
            f"\nNote: the machine changed state during the run: the small GEMM probe ranged "
            f"{min(small):.0f}-{max(small):.0f} us ({spread:.2f}x). In the slow state "
            "(probably the host placing the two virtual CPUs far apart; nothing shows inside "
            "the machine) every implementation slowed by up to ~40 %. Ratios within a round "
            "('paired') are the most robust; rerun to check ratios close to a target."
        )


if __name__ == "__main__":
    main()
