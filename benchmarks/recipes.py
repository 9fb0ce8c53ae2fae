"""The recipes' results: run ``layerwise train --recipe NAME`` and append a line to
``benchmarks/results/recipes.md`` (data set, recipe, test error, training time, command,
date, machine, and how busy the machine was meanwhile).

    python benchmarks/recipes.py mnist                # one recipe, ~15 min on 2 cores
    python benchmarks/recipes.py mnist mnist-shift fashion-mnist digits
    python benchmarks/recipes.py --quick mnist        # a few hundred steps: the loss falls

Each run goes through the real command in a child process, one at a time. The data
folder is ``../shared/data`` beside the repository, or ``$LAYERWISE_DATA``. ``--quick``
writes nothing to the results file; it prints the epoch losses and fails (exit code 1)
unless the loss fell.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "recipes.md"
HEADER = (
    "| data set | recipe | test error | training time | command | date | machine | "
    "other load |\n|---|---|---|---|---|---|---|---|\n"
)


def data_folder(data: str) -> Path:
    """``$LAYERWISE_DATA/<data>``, or ``../shared/data/<data>`` beside the repository."""
    env = os.environ.get("LAYERWISE_DATA")
    root = Path(env) if env else HERE.parents[1] / "shared" / "data"
    return root / data


def machine() -> str:
    """CPU model and count, in a few words."""
    name = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def _busy_cpu_seconds() -> float:
    """CPU-seconds all CPUs have been busy since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks + [0] * (8 - len(ticks))
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(recipe: str, *, quick: bool, extra: list[str]) -> dict:
    """Run one recipe through the command; return its config.json plus the run's facts."""
    from layerwise.cli import RECIPES  # the recipe table itself: which data set

    data = RECIPES[recipe].data
    out = Path(tempfile.mkdtemp(prefix=f"recipe-{recipe}-"))
    command = ["layerwise", "train", "--recipe", recipe, *(["--quick"] if quick else []), *extra]
    if data != "digits":
        command += ["--data-path", str(data_folder(data))]
    argv = [str(Path(sys.executable).with_name("layerwise")), *command[1:]]
    argv += ["--out", str(out / "run"), "--no-progress"]
    threads = os.environ.get("OPENBLAS_NUM_THREADS")
    if threads:  # part of the command: on a busy machine 1 thread was 2-3x faster than 2
        command.insert(0, f"OPENBLAS_NUM_THREADS={threads}")
    print(
        f"[{time.strftime('%H:%M:%S')}] {shlex.join(command)}  (load {os.getloadavg()})",
        file=sys.stderr,
        flush=True,
    )
    busy, own = _busy_cpu_seconds(), _children_cpu_seconds()
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    wall = time.perf_counter() - start
    # The CPUs that other processes kept busy meanwhile: the machine is shared.
    other = (_busy_cpu_seconds() - busy) - (_children_cpu_seconds() - own)
    config = json.loads((out / "run" / "config.json").read_text())
    history = (out / "run" / "history.csv").read_text().split()
    columns = history[0].split(",")
    losses = [float(row.split(",")[columns.index("loss")]) for row in history[1:]]
    if quick:  # nothing worth keeping; a full run keeps its folder (the model) in /tmp
        shutil.rmtree(out)
    else:
        print(f"the run folder: {out / 'run'}", file=sys.stderr)
    return {
        **config,
        "command_line": shlex.join(command),
        "losses": losses,
        "wall_seconds": wall,
        "other_cpus": max(0.0, other) / wall,
        "loadavg_end": os.getloadavg(),
    }


def result_line(recipe: str, result: dict) -> str:
    """One Markdown table row for the results file."""
    error = 100 * (1 - result["test"]["accuracy"])
    minutes, seconds = divmod(result["training_seconds"], 60)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = result["command_line"].replace(
        "--data-path " + str(data_folder(result["data"])), "--data-path DATA"
    )
    return (
        f"| {result['data']} | {recipe} | {error:.2f} % | {int(minutes)} min {seconds:.0f} s "
        f"({result['epochs_run']} epochs) | `{command}` | {date} | {machine()} | "
        f"{result['other_cpus']:.2f} CPUs, load {result['loadavg_end'][0]:.1f} |\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="+", metavar="RECIPE")
    parser.add_argument("--quick", action="store_true", help="a few hundred steps; no results")
    parser.add_argument("--epochs", help="passed on to layerwise train")
    parser.add_argument("--seed", help="passed on to layerwise train")
    args = parser.parse_args(argv)
    extra = [f"--{k}={v}" for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v]
    failed = False
    for recipe in args.recipes:
        result = run(recipe, quick=args.quick, extra=extra)
        error = 100 * (1 - result["test"]["accuracy"])
        print(
            f"{recipe}: test error {error:.2f} % in {result['training_seconds']:.0f} s of "
            f"training; epoch losses {[round(v, 4) for v in result['losses']]}; other "
            f"processes kept {result['other_cpus']:.2f} CPUs busy"
        )
        if args.quick:
            failed |= not result["losses"][-1] < result["losses"][0]
            continue
        if not RESULTS.exists():
            RESULTS.write_text("# Recipe runs (benchmarks/recipes.py)\n\n" + HEADER)
        with open(RESULTS, "a") as f:
            f.write(result_line(recipe, result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
