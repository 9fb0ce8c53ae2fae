"""How much faster is ``lw.sweep`` than a loop of ``fit`` calls, and what does Dask cost?

1. **Notebook 002's study** with five seeds: learning rates 2, 1, 0.5, 0.3, 0.2, 0.1 x
   seeds 0-4 = 30 runs of the 2-16-1 network on the moons (1000 points, full batch,
   1000 epochs of SGD), timed as

   - **loop**: the hand loop of ``examples/002_moons.py``, one ``model.fit`` after
     another in this process;
   - **sweep, 2 cores, cold**: ``lw.sweep(..., n_jobs=2)`` right after the loky workers
     were shut down, so it pays for starting them and importing layerwise there;
   - **sweep, 2 cores, warm**: the same call again (loky keeps its workers between
     calls), the cost a notebook sees from its second sweep on.

   The target is loop / sweep >= 1.8 on 2 cores. The sweep's runs must give the loop's
   losses bit for bit (asserted).
2. **The Dask path's cost per run**: 60 runs of one epoch on a tiny network, where a
   run's own work (~1 ms) is next to nothing, on a ``LocalCluster`` of 2 worker
   processes with 1 thread each, against the same runs on the local backend; and the
   study of 1. on the cluster.

Each figure is the median of ``--rounds`` rounds (default 3), all measured in this run.
A machine busy with other work shows in the load averages and in the *parallel ceiling*:
the speed-up that 2 processes get over 1 on plain Python work at that moment (2.0 on
2 idle cores); no sweep can beat it.

    python benchmarks/sweep.py [--rounds 3] [--no-dask]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import layerwise as lw

RATES = [2, 1, 0.5, 0.3, 0.2, 0.1]
SEEDS = range(5)
X, Y = lw.data.moons(1000, noise=0.2, seed=0)
STUDY = dict(data=(X, Y), layers=[16], optimizer="sgd", epochs=1000, batch_size=None)
TINY_X, TINY_Y = lw.data.moons(200, noise=0.2, seed=0)
TINY = dict(data=(TINY_X, TINY_Y), layers=[4], optimizer="sgd", epochs=1, batch_size=None)


def hand_loop() -> list[list[float]]:
    """examples/002_moons.py's learning-rate study, with seeds: one fit after another."""
    losses = []
    for lr in RATES:
        for seed in SEEDS:
            model = lw.Sequential(
                [lw.Linear(2, 16), lw.ReLU(), lw.Linear(16, 1), lw.Sigmoid()], seed=seed
            )
            optimizer = lw.SGD(lr=lr)
            history = model.fit(X, Y, loss="bce", optimizer=optimizer, epochs=1000,
                                batch_size=None, seed=seed, progress=False)  # fmt: skip
            losses.append(history.history["loss"])
    return losses


def study(**backend) -> lw.SweepResults:
    return lw.sweep({"lr": RATES, "seed": SEEDS}, progress=False, **STUDY, **backend)


def stop_loky() -> None:
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def spin(n: int = 6_000_000) -> int:
    """Pure-Python work with no memory traffic: what the CPUs give a process."""
    total = 0
    for i in range(n):
        total += i & 7
    return total


def parallel_ceiling() -> float:
    """How much faster 2 processes do 2 units of work than 1 process right now: 2.0 on
    2 idle cores, less when other programs (or other sessions, which Linux's autogroup
    scheduler shares the CPUs between) are busy. The sweep cannot beat it."""
    from joblib import Parallel, delayed

    Parallel(n_jobs=2)(delayed(spin)(10) for _ in range(2))  # workers started
    one, _ = timed(lambda: [spin() for _ in range(4)])
    two, _ = timed(lambda: Parallel(n_jobs=2)(delayed(spin)() for _ in range(4)))
    return one / two


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load averages before: {os.getloadavg()}")

    times = {"loop": [], "sweep, 2 cores, cold": [], "sweep, 2 cores, warm": []}
    reference = None
    for _ in range(args.rounds):
        seconds, reference = timed(hand_loop)
        times["loop"].append(seconds)
        stop_loky()
        seconds, cold = timed(lambda: study(n_jobs=2))
        times["sweep, 2 cores, cold"].append(seconds)
        seconds, warm = timed(lambda: study(n_jobs=2))
        times["sweep, 2 cores, warm"].append(seconds)
        for results in (cold, warm):
            assert [h.history["loss"] for h in results.histories] == reference, "not bit-identical"
    ceiling = statistics.median(parallel_ceiling() for _ in range(args.rounds))
    loop = statistics.median(times["loop"])
    print(f"\nnotebook 002's study: {len(RATES)} rates x {len(SEEDS)} seeds = 30 runs, "
          f"median of {args.rounds} rounds")  # fmt: skip
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:22} {median:6.2f} s   loop / this = {loop / median:4.2f}x")
    print("  (the sweep's losses equal the loop's bit for bit)")
    print(f"  parallel ceiling of this machine now: {ceiling:.2f}x (2 processes vs 1 on pure "
          "Python work; 2.0 when the 2 cores are idle)")  # fmt: skip
    warm = loop / statistics.median(times["sweep, 2 cores, warm"])
    print(f"  warm sweep / ceiling = {warm / ceiling:.2f}: the share of the parallelism on offer "
          "that the sweep turns into speed")  # fmt: skip

    if args.no_dask:
        return
    import distributed

    start = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)  # fmt: skip
    client = distributed.Client(cluster, set_as_default=False)
    print(f"\nDask LocalCluster (2 processes x 1 thread) started in "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    try:
        tiny = {"lr": [0.1, 0.2, 0.3, 0.5, 1.0, 2.0], "seed": range(10)}
        runs = 60
        local, dask, dask_study = [], [], []
        lw.sweep(tiny, scheduler=client, progress=False, **TINY)  # warm-up: imports there
        study(n_jobs=2)
        for _ in range(args.rounds):
            local.append(timed(lambda: lw.sweep(tiny, n_jobs=2, progress=False, **TINY))[0])
            dask.append(timed(lambda: lw.sweep(tiny, scheduler=client, progress=False, **TINY))[0])
            seconds, on_dask = timed(lambda: study(scheduler=client))
            dask_study.append(seconds)
            assert [h.history["loss"] for h in on_dask.histories] == reference
        per_local = statistics.median(local) / runs * 1e3
        per_dask = statistics.median(dask) / runs * 1e3
        print(f"  {runs} tiny runs (1 epoch each): local {per_local:.1f} ms a run, "
              f"Dask {per_dask:.1f} ms a run (wall time / runs, 2 workers)")  # fmt: skip
        print(f"  Dask's extra cost per run: {per_dask - per_local:+.1f} ms")
        median = statistics.median(dask_study)
        print(f"  notebook 002's study on Dask: {median:.2f} s, loop / this = "
              f"{loop / median:.2f}x (bit-identical to the loop)")  # fmt: skip
    finally:
        client.close()
        cluster.close()
    print(f"load averages after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
