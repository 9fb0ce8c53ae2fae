"""Is layerwise as fast as it was? Two versions of its ``fit``, timed in one run.

    python benchmarks/compare.py --base HEAD~3              # all workloads, 5 rounds
    python benchmarks/compare.py --base 89e566b --only C,E --rounds 9

The base revision is checked out into a temporary git worktree. Each round times every
workload once with each version, in alternating order, each in a fresh child process
whose ``PYTHONPATH`` points at that version's ``src/`` (so the two never share a
process, an allocator or a BLAS thread pool); a child warms up on a tenth of the work,
then times one full run exactly as ``run.py`` does. Prints the median seconds of each
version and the ratio base / current (> 1: the current code is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def child(key: str) -> None:
    """Time one run of workload ``key`` with whichever layerwise is importable."""
    import machine
    import workloads as wls

    import layerwise

    wl = next(w for w in wls.workloads() if w.key == key)
    for w in (wl.scaled(0.1), wl):
        data = wls.load_data(w.data, w.n_train)
        run = wls.prepare("layerwise", w, data)
        machine.settle()
        seconds, _ = machine.timed(run.train)
    print(json.dumps({"seconds": seconds, "steps": wl.steps, "from": layerwise.__file__}))


def time_in_child(key: str, src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, str(HERE / "compare.py"), "--child", key],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(result["from"]).is_relative_to(src), result["from"]  # the right version ran
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="the git revision to compare with (required)")
    parser.add_argument("--only", default="A-sgdm,A-adam,B,C,D,E")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    if not args.base:
        parser.error("--base REV is required")
    keys = args.only.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), args.base],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            trees = {"current": REPO / "src", "base": base / "src"}
            times = {k: {name: [] for name in trees} for k in keys}
            for r in range(args.rounds):
                for key in keys:
                    order = list(trees) if (r + keys.index(key)) % 2 == 0 else list(trees)[::-1]
                    for name in order:
                        times[key][name].append(time_in_child(key, trees[name])["seconds"])
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)],
                check=False, capture_output=True,
            )  # fmt: skip
    print(f"median of {args.rounds} rounds, seconds; base = {args.base}")
    print(f"{'workload':10} {'current':>9} {'base':>9} {'base/current':>13}")
    for key in keys:
        current = statistics.median(times[key]["current"])
        old = statistics.median(times[key]["base"])
        print(f"{key:10} {current:9.4f} {old:9.4f} {old / current:12.2f}x")


if __name__ == "__main__":
    main()
