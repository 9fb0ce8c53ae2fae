"""Text and Markdown tables for the results of ``benchmarks/run.py``.

``python benchmarks/report.py [results.json]`` prints the Markdown summary of a saved
run (default ``benchmarks/results/latest.json``), for the README's "Speed" section.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAMES = {"layerwise": "layerwise", "torch": "PyTorch", "sklearn": "scikit-learn"}


def _table(header: list[str], rows: list[list[str]], align: str) -> str:
    """A plain-text table; ``align`` holds "<" or ">" per column."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:,.{max(digits - 1, 1)}f}"


def workload_table(key: str, result: dict) -> str:
    """The per-implementation table of one timed workload, with its ratios."""
    impls = result["impls"]
    metric_names = list(next(iter(impls.values()))["metrics"])
    header = [
        "implementation",
        "median s",
        "min s",
        "max s",
        "samples/s",
        "GFLOP/s",
        "us/step",
        "train loss",
        *metric_names,
        "dtype",
    ]
    rows = []
    for impl, r in impls.items():
        rows.append(
            [
                NAMES[impl],
                f"{r['median_s']:.4f}",
                f"{r['min_s']:.4f}",
                f"{r['max_s']:.4f}",
                f"{r['samples_per_s']:,.0f}",
                f"{r['gflops']:.1f}",
                "-" if r.get("us_per_step") is None else f"{r['us_per_step']:.1f}",
                "-" if r.get("train_loss") is None else f"{r['train_loss']:.4f}",
                *(f"{r['metrics'][m]:.4f}" for m in metric_names),
                r.get("param_dtype", "-"),
            ]
        )
    align = "<" + ">" * (len(header) - 2) + "<"
    lines = [f"== {key}: {result['title']} ==", result["description"], _table(header, rows, align)]
    lines.append(ratio_line(result))
    lines.append(noise_line(result))
    return "\n".join(lines)


def noise_line(result: dict) -> str:
    """How disturbed the rounds were: the machine probes and other processes' CPU use."""
    probes = result.get("probes") or []
    loads = [x for r in result["impls"].values() for x in r.get("other_load", []) if x is not None]
    parts = []
    for key, label, unit in (
        ("gemm_gflops", "B-shaped GEMM", "GFLOP/s"),
        ("small_gemm_us", "small GEMM", "us"),
        ("torch_add_us", "torch.add", "us"),
    ):
        values = [p[key] for p in probes if key in p]
        if values:
            digits = 0 if unit == "GFLOP/s" or min(values) >= 100 else 1
            parts.append(f"{label} {min(values):.{digits}f}-{max(values):.{digits}f} {unit}")
    if loads:
        parts.append(f"other processes used up to {max(loads):.2f} CPUs in a kept run")
    repeated = sum(t - 1 for r in result["impls"].values() for t in r.get("tries", []))
    if repeated:
        parts.append(f"{repeated} disturbed run(s) repeated")
    return "Machine during the rounds: " + "; ".join(parts)


def ratio_line(result: dict) -> str:
    parts = []
    for other, ratio in result.get("ratios", {}).items():
        parts.append(
            f"{NAMES[other]} / layerwise = {ratio['median']:.2f}x by median "
            f"({ratio['min']:.2f}x by min, {ratio['paired']:.2f}x paired by round)"
        )
    if not parts:
        return "(no ratios: layerwise or the others were not run)"
    return "Speed-up of layerwise (>1 = layerwise faster): " + "; ".join(parts)


def memory_table(memory: dict) -> str:
    header = [
        "workload",
        "implementation",
        "after imports MB",
        "after data MB",
        "peak training MB",
        "growth MB",
        "process peak MB",
        "train s",
    ]
    rows = []
    for key, per_impl in memory.items():
        for impl, m in per_impl.items():
            if "error" in m:
                rows.append([key, NAMES[impl], m["error"], "", "", "", "", ""])
                continue
            rows.append(
                [
                    key,
                    NAMES[impl],
                    f"{m['rss_after_imports_mb']:.0f}",
                    f"{m['rss_after_data_mb']:.0f}",
                    _mb(m.get("peak_training_mb")),
                    _mb(m.get("training_growth_mb")),
                    f"{m['process_peak_mb']:.0f}",
                    f"{m['train_s']:.2f}",
                ]
            )
    return _table(header, rows, "<<" + ">" * 6)


def _mb(value) -> str:
    return "-" if value is None else f"{value:.0f}"


def targets_table(targets: list[dict]) -> str:
    rows = []
    for t in targets:
        met = {True: "yes ✓", False: "NO ✗", None: "n/a"}[t["met"]]
        rows.append([t["workload"], t["what"], t["measured_text"], t["target_text"], met])
    return _table(["workload", "target", "measured", "required", "met"], rows, "<<>><")


def overhead_table(results: dict) -> str:
    """Per-step overhead (seconds / optimizer steps) of the tiny workloads."""
    rows = []
    for key in ("C", "D", "E"):
        if key not in results["workloads"]:
            continue
        impls = results["workloads"][key]["impls"]
        rows.append([key, *(_us(impls.get(i)) for i in NAMES)])
    if not rows:
        return ""
    return _table(["workload", *(f"{NAMES[i]} us/step" for i in NAMES)], rows, "<>>>")


def _us(r: dict | None) -> str:
    return "-" if r is None else f"{r['us_per_step']:.1f}"


def machine_text(meta: dict, gemm: dict) -> str:
    blas = "; ".join(
        f"{b.get('owner', '?')}: {b['internal_api']} {b['version']} "
        f"({b.get('architecture') or '?'} kernels, {b['num_threads']} threads)"
        for b in meta.get("blas", [])
        if b.get("user_api") == "blas"
    )
    env = " ".join(f"{k}={v}" for k, v in sorted(meta.get("env", {}).items()))
    lines = [
        f"Date: {meta['date']}   commit: {meta.get('commit', '?')}",
        f"CPU: {meta['cpu_model']}, {meta['cpus']} logical CPUs ({meta['usable_cpus']} usable); "
        f"load average at start {meta['loadavg_start']}",
        f"Python {meta['python']}; numpy {meta['versions'].get('numpy')}, layerwise "
        f"{meta['versions'].get('layerwise')}, torch {meta['versions'].get('torch', '-')}, "
        f"scikit-learn {meta['versions'].get('sklearn', '-')}",
        f"BLAS (NumPy's is used by layerwise and scikit-learn): {blas or 'unknown'}",
        f"Environment: {env or '(no OPENBLAS_/OMP_/MKL_/GOMP_ variables)'}",
        f"Threads: BLAS {meta['threads']}, "
        f"torch.set_num_threads({meta.get('torch_threads', '-')})"
        + (f"; torch BLAS: {meta['torch_blas']}" if meta.get("torch_blas") else ""),
    ]
    if gemm:
        lines.append(
            f"float32 GEMM peak (best of several, measured in this run): NumPy "
            f"{gemm['numpy_square_gflops']:.0f} GFLOP/s (2048^3), "
            f"{gemm['numpy_b_shape_gflops']:.0f} GFLOP/s (512x1024 @ 1024x1024)"
            + (
                f"; PyTorch {gemm['torch_square_gflops']:.0f} / "
                f"{gemm['torch_b_shape_gflops']:.0f} GFLOP/s"
                if "torch_square_gflops" in gemm
                else ""
            )
            + f". Peak used for targets: {gemm['peak_gflops']:.0f} GFLOP/s."
        )
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """A compact Markdown table of the medians, ratios and targets (README "Speed")."""
    meta, gemm = results["meta"], results.get("gemm_peak", {})
    targets = {}
    for t in results.get("targets", []):
        targets.setdefault(t["workload"], {})[t["key"]] = t
    lines = [
        "| Workload | layerwise | PyTorch | scikit-learn | vs PyTorch | vs scikit-learn |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, r in results["workloads"].items():
        impls = r["impls"]
        cells = [f"**{key}** {r['short']}"]
        for impl in NAMES:
            cells.append("-" if impl not in impls else f"{impls[impl]['median_s']:.3g} s")
        for other in ("torch", "sklearn"):
            ratio = r.get("ratios", {}).get(other)
            t = targets.get(key, {}).get(f"vs_{other}")
            text = "-" if ratio is None else f"{ratio['median']:.2f}x"
            if t is not None and ratio is not None:
                text += f" (target {t['target_text']} {'✓' if t['met'] else '✗'})"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        f"Median seconds of {meta['repeats']} round-robin repeats after a warm-up; "
        "ratios are PyTorch or scikit-learn time / layerwise time (>1: layerwise faster).",
        f"{meta['cpu_model']}, {meta['usable_cpus']} cores, {meta['threads']} BLAS threads, "
        f"{meta.get('torch_threads', '-')} PyTorch threads; "
        f"numpy {meta['versions'].get('numpy')}, torch {meta['versions'].get('torch', '-')}, "
        f"scikit-learn {meta['versions'].get('sklearn', '-')}; {meta['date'][:10]}.",
    ]
    if gemm:
        notes.append(f"Measured float32 GEMM peak: {gemm['peak_gflops']:.0f} GFLOP/s.")
    for t in results.get("targets", []):
        if t["key"] in ("gemm_efficiency", "peak_rss", "no_data_copy"):
            notes.append(
                f"{t['workload']} {t['what']}: {t['measured_text']} "
                f"(target {t['target_text']} {'✓' if t['met'] else '✗'})."
            )
    if meta.get("quick"):
        notes.append("**Quick run: reduced work, one repeat; not for publication.**")
    return "\n".join(lines + notes)


if __name__ == "__main__":
    default = Path(__file__).resolve().parent / "results" / "latest.json"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    print(markdown(json.loads(path.read_text())))
