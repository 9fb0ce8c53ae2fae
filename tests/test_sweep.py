"""lw.sweep: local processes and a Dask LocalCluster agree bit for bit, the sweep folder
resumes an interrupted sweep, failing runs are rows, and the `layerwise sweep` command."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import layerwise as lw
from layerwise.sweep import SweepResults, _SweepFolder

SCRIPT = Path(sys.executable).parent / "layerwise"

X, Y = lw.data.moons(200, noise=0.2, seed=0)
GRID = {"lr": [2.0, 0.5], "seed": [0, 1, 2]}
TINY = dict(data=(X, Y), layers=[8], optimizer="sgd", epochs=15, batch_size=50, progress=False)


def same_runs(a: SweepResults, b: SweepResults) -> None:
    """Equal tables and histories, bit for bit, but for the wall-clock times."""
    assert [{k: v for k, v in r.items() if k != "time"} for r in a.rows] == [
        {k: v for k, v in r.items() if k != "time"} for r in b.rows
    ]
    for ha, hb in zip(a.histories, b.histories, strict=True):
        assert ha.history.keys() == hb.history.keys()
        for key in ha.history:
            if key != "time":
                assert np.array_equal(ha.history[key], hb.history[key]), key


@pytest.fixture(scope="module")
def local():
    """The tiny grid on the local backend (loky, two processes)."""
    return lw.sweep(GRID, n_jobs=2, **TINY)


@pytest.fixture(scope="module")
def client():
    """One Dask LocalCluster for the module: two worker processes on 127.0.0.1."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


# -- the table -------------------------------------------------------------------------


def test_one_row_per_point_in_grid_order_with_final_and_best(local):
    assert [(r["lr"], r["seed"]) for r in local] == [
        (2.0, 0),
        (2.0, 1),
        (2.0, 2),
        (0.5, 0),
        (0.5, 1),
        (0.5, 2),
    ]
    assert local.names == ["lr", "seed"]
    for row, hist in zip(local.rows, local.histories):
        losses = hist.history["loss"]
        assert row["status"] == "ok" and row["error"] == ""
        assert row["epochs_run"] == len(losses) == 15
        assert row["final_loss"] == losses[-1] and row["best_loss"] == min(losses)
        assert row["best_accuracy"] == max(hist.history["accuracy"])
    assert local.best() is min(local.rows, key=lambda r: r["final_loss"])
    assert len({r["key"] for r in local}) == len(local)


def test_a_run_is_the_same_training_as_fit(local):
    model = lw.Sequential([lw.Linear(2, 8), lw.ReLU(), lw.Linear(8, 1), lw.Sigmoid()], seed=1)
    hist = model.fit(X, Y, loss="bce", optimizer=lw.SGD(lr=0.5), epochs=15, batch_size=50,
                     seed=1, progress=False)  # fmt: skip
    assert hist.history["loss"] == local.histories[4].history["loss"]


def test_to_csv_and_to_pandas(local, tmp_path):
    local.to_csv(tmp_path / "t.csv")
    with open(tmp_path / "t.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == local.columns
    assert [float(r["final_loss"]) for r in rows] == local.column("final_loss")  # exact floats
    pd = pytest.importorskip("pandas")
    df = local.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == local.columns
    assert df.groupby("lr")["final_loss"].count().to_dict() == {0.5: 3, 2.0: 3}


def test_list_of_points_and_build(tmp_path):
    def build(width, seed):
        return lw.Sequential([lw.Linear(2, width), lw.Tanh(), lw.Linear(width, 1), lw.Sigmoid()],
                             seed=seed)  # fmt: skip

    points = [{"width": 4, "seed": 0}, {"width": 6, "seed": 3}]
    results = lw.sweep(points, build=build, n_jobs=1, **{**TINY, "layers": None})
    assert [r["width"] for r in results] == [4, 6]
    assert all(r["status"] == "ok" for r in results)


@pytest.mark.parametrize(
    ("params", "settings", "match"),
    [
        ({"lr": []}, {}, r"params\['lr'\] is empty"),
        ({"lr": 0.5}, {}, r"must be a list of values.*sweep\(\.\.\., lr=\.\.\.\)"),
        ([{"lr": 1}, {"lr": 1}], {}, r"point 1 \{'lr': 1\} repeats point 0"),
        ({"width": [1, 2]}, {}, r"unknown name\(s\) \['width'\].*build="),
        ({"status": [1, 2]}, {}, r"'status' is a column of the results"),
        ({"optimizer": [lw.SGD(lr=1.0)]}, {}, r"is not plain data"),
        ({"lr": [1.0]}, {"save_models": True}, r"pass out="),
        ({"lr": [1.0]}, {"scheduler": "localhost:8786"}, r"Dask scheduler address"),
        ([], {}, r"empty list"),
        ({"lr": [1.0]}, {"layers": None}, r"No model: give layers="),
        ({"lr": [1.0]}, {"lr": 0.5}, r"'lr' is both a parameter of the points and a shared"),
        ({"lr": [1.0]}, {"optimizer": "adamm"}, r"Unknown optimizer 'adamm'; known: sgd"),
        ({"lr": [1.0]}, {"epochs": 0}, r"epochs must be a positive integer; got 0"),
        ("lr", {}, r"must be a grid"),
    ],
)
def test_bad_grids_are_refused(params, settings, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        lw.sweep(params, **{**TINY, **settings})


def test_diverging_and_failing_points_are_rows_and_the_others_finish(tmp_path):
    points = [{"lr": 0.5, "layers": 8}, {"lr": 1e30, "layers": 8}, {"lr": 0.5, "layers": 0}]
    unshared = {k: v for k, v in TINY.items() if k != "layers"}
    results = lw.sweep(points, out=tmp_path, n_jobs=2, **unshared)
    ok, diverged, failed = results.rows
    assert ok["status"] == "ok" and ok["epochs_run"] == 15
    assert diverged["status"] == "diverged" and "diverged at epoch 1/15" in diverged["error"]
    assert failed["status"] == "failed"
    assert failed["error"] == "LayerwiseError: layers must be a positive integer; got 0."
    saved = json.loads((tmp_path / "runs" / diverged["key"] / "result.json").read_text())
    assert saved["status"] == "diverged" and saved["error"] == diverged["error"]
    assert results.best() is ok
    fig = lw.plot.sweep(results)  # the finished run only, the others counted
    assert fig.get_suptitle() == "3 runs, 2 diverged or failed (left out)"
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == [15]


def test_dask_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(lw.LayerwiseError, match=r'pip install "layerwise\[dask\]"'):
        lw.sweep(GRID, scheduler="tcp://127.0.0.1:1", **TINY)


# -- the sweep folder -------------------------------------------------------------------


def test_folder_holds_each_run_as_json_csv_and_safetensors(local, tmp_path):
    results = lw.sweep(GRID, out=tmp_path, save_models=True, n_jobs=2, **TINY)
    same_runs(results, local)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "sweep.csv", "sweep.json"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(results.column("key"))
    row = results.rows[3]
    run = tmp_path / "runs" / row["key"]
    assert sorted(p.name for p in run.iterdir()) == [
        "history.csv",
        "model.safetensors",
        "result.json",
    ]
    saved = json.loads((run / "result.json").read_text())
    assert saved["params"] == {"lr": 0.5, "seed": 0}
    assert saved["history"]["loss"] == results.histories[3].history["loss"]
    model = lw.load(run / "model.safetensors")
    assert lw.metrics.accuracy(Y, model.predict(X)) == pytest.approx(
        row["final_accuracy"], abs=0.05
    )
    assert (tmp_path / "sweep.csv").read_text() == results._csv()
    leftovers = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and p.suffix not in (".json", ".csv", ".safetensors")
    ]
    assert leftovers == []  # no pickle, no temporary files


class _Calls:
    """A build that counts its calls in files (it may run in another process) and raises
    KeyboardInterrupt at one point while ``stop`` exists."""

    def __init__(self, folder: Path, stop_at: dict):
        self.folder, self.stop_at = folder, stop_at
        self.stop = folder / "stop"

    def __call__(self, lr, seed):
        if {"lr": lr, "seed": seed} == self.stop_at and self.stop.exists():
            raise KeyboardInterrupt  # Ctrl-C in the middle of the sweep
        (self.folder / f"call-{lr}-{seed}-{time.monotonic_ns()}").touch()
        return lw.Sequential([lw.Linear(2, 8), lw.ReLU(), lw.Linear(8, 1), lw.Sigmoid()], seed=seed)

    def count(self) -> int:
        return len(list(self.folder.glob("call-*")))


def test_interrupted_sweep_runs_only_the_rest_and_ends_with_the_same_table(tmp_path):
    calls = _Calls(tmp_path, stop_at={"lr": 0.5, "seed": 1})
    calls.stop.touch()
    settings = {**TINY, "layers": None, "build": calls, "n_jobs": 1}
    with pytest.raises(KeyboardInterrupt):
        lw.sweep(GRID, out=tmp_path / "out", **settings)
    assert calls.count() == 4  # the four points before the interrupted one
    assert len(list((tmp_path / "out" / "runs").iterdir())) == 4
    with open(tmp_path / "out" / "sweep.csv") as f:
        assert len(f.read().splitlines()) == 1 + 4  # the table so far
    calls.stop.unlink()
    resumed = lw.sweep(GRID, out=tmp_path / "out", **settings)
    assert calls.count() == 6  # only the two left
    fresh = lw.sweep(GRID, out=tmp_path / "fresh", **settings)
    same_runs(resumed, fresh)
    again = lw.sweep(GRID, out=tmp_path / "out", **settings)
    assert calls.count() == 6 + 6 and again.column("time") == resumed.column("time")  # read back


def test_other_settings_are_other_runs_and_a_run_written_twice_counts_once(tmp_path):
    first = lw.sweep(GRID, out=tmp_path, n_jobs=1, **TINY)
    folder = _SweepFolder(tmp_path, first.names, {"shared": {}, "build": None, "data": ""})
    record = {**json.loads((tmp_path / "runs" / first.rows[0]["key"] / "result.json").read_text())}
    folder.write(record, first.points[0], first.names)  # a retried run arriving again
    again = lw.sweep(GRID, out=tmp_path, n_jobs=1, **TINY)
    assert len(again) == len(GRID["lr"]) * len(GRID["seed"])
    assert again.column("time") == first.column("time")  # nothing ran again
    longer = lw.sweep(GRID, out=tmp_path, n_jobs=1, **{**TINY, "epochs": 16})
    assert set(longer.column("key")).isdisjoint(first.column("key"))
    assert len(list((tmp_path / "runs").iterdir())) == 12


# -- Dask ----------------------------------------------------------------------------------


def test_dask_local_cluster_gives_the_local_table_bit_for_bit(client, local, tmp_path):
    on_dask = lw.sweep(GRID, scheduler=client, out=tmp_path, **TINY)
    same_runs(on_dask, local)
    by_address = lw.sweep(GRID, scheduler=client.scheduler.address, **TINY)
    same_runs(by_address, local)


def _slow_first_build(lr, seed, marker):
    """Sleeps on its first call (the marker file does not exist yet), long enough to be
    killed; every later call builds at once."""
    path = Path(marker)
    if lr == 2.0 and seed == 0 and not path.exists():
        path.write_text(str(os.getpid()))
        for _ in range(300):  # at most 30 s: the test kills this process long before
            time.sleep(0.1)
    return lw.Sequential([lw.Linear(2, 8), lw.ReLU(), lw.Linear(8, 1), lw.Sigmoid()], seed=seed)


def test_dask_worker_killed_mid_run_retries_it_and_loses_nothing(client, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers get the build
    marker = tmp_path / "slow.pid"
    grid = {**GRID, "marker": [str(marker)]}
    settings = {**TINY, "layers": None, "build": _slow_first_build}
    killed = []

    def kill_the_slow_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not marker.exists():
            time.sleep(0.05)
        time.sleep(0.2)  # the pid is written
        if marker.exists():
            pid = int(marker.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_the_slow_worker, daemon=True)
    killer.start()
    on_dask = lw.sweep(grid, scheduler=client, out=tmp_path / "out", **settings)
    killer.join(timeout=10)
    assert killed and killed[0] != os.getpid()
    assert [r["status"] for r in on_dask] == ["ok"] * 6
    assert len(set(on_dask.column("key"))) == 6 == len(list((tmp_path / "out" / "runs").iterdir()))
    here = lw.sweep(grid, n_jobs=1, **settings)  # the marker exists: no sleep
    same_runs(on_dask, here)


# -- plot ------------------------------------------------------------------------------------


def test_plot_sweep_draws_median_and_spread_over_seeds_and_metric_against_lr(local, tmp_path):
    fig = lw.plot.sweep(local)
    curves, against = fig.axes
    assert [line.get_label() for line in curves.lines] == ["lr=2", "lr=0.5"]
    losses = np.array([h.history["loss"] for h in local.histories])
    assert np.array_equal(curves.lines[0].get_ydata(), np.median(losses[:3], axis=0))
    assert np.array_equal(curves.lines[1].get_xdata(), np.arange(1, 16))
    band = curves.collections[1].get_paths()[0].vertices  # lr=0.5's min-max band
    assert band[:, 1].min() == pytest.approx(losses[3:].min())
    assert band[:, 1].max() == pytest.approx(losses[3:].max())
    dots, medians = against.lines
    assert sorted(dots.get_xdata()) == sorted(local.column("lr"))
    finals = np.array(local.column("final_loss"))
    assert np.array_equal(medians.get_xdata(), [0.5, 2.0])
    assert np.allclose(medians.get_ydata(), [np.median(finals[3:]), np.median(finals[:3])])
    assert against.get_xlabel() == "lr" and against.get_xscale() == "linear"  # 0.5 to 2
    fig.savefig(tmp_path / "sweep.png", dpi=40)
    assert (tmp_path / "sweep.png").stat().st_size > 5_000


def test_plot_sweep_refuses_what_it_cannot_draw(local):
    with pytest.raises(lw.LayerwiseError, match="draws what lw.sweep returns"):
        lw.plot.sweep({"lr": [1]})
    with pytest.raises(lw.LayerwiseError, match="no run recorded 'val_loss'"):
        lw.plot.sweep(local, key="val_loss")
    with pytest.raises(lw.LayerwiseError, match=r"x='width' is not a parameter"):
        lw.plot.sweep(local, x="width")


# -- the command line ----------------------------------------------------------------------


def layerwise(*args, cwd=None) -> subprocess.CompletedProcess:
    assert SCRIPT.exists(), f"the console script is not installed beside {sys.executable}"
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_cli_sweep_writes_table_plot_and_runs_and_prints_the_best(tmp_path):
    out = tmp_path / "moons"
    result = layerwise("sweep", "--data", "moons", "--layers", "8", "--lr", "1,0.5", "--seeds",
                       "0-1", "--epochs", "5", "--batch-size", "full", "--out", out,
                       "--no-progress", "--workers", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["runs", "sweep.csv", "sweep.json", "sweep.png"]
    with open(out / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["lr"], r["seed"]) for r in rows] == [
        ("1.0", "0"),
        ("1.0", "1"),
        ("0.5", "0"),
        ("0.5", "1"),
    ]
    assert len(list((out / "runs").iterdir())) == 4
    best = min(rows, key=lambda r: float(r["final_val_loss"]))
    assert (
        f"best: lr={best['lr']}, seed={best['seed']}: test loss {float(best['final_val_loss']):.4f}"
        in result.stdout
    )


def test_cli_sweep_rejects_a_bad_grid_with_one_line_and_exit_2(tmp_path):
    result = layerwise("sweep", "--lr", "1,x", "--out", tmp_path / "never")
    assert result.returncode == 2
    assert (
        result.stderr
        == "layerwise: error: argument --lr: 'x' is not a number (see layerwise sweep --help)\n"
    )
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "1,,2"], "'1,,2' has an empty rate"),
        (["--lr", "0.5,0.5"], "'0.5,0.5' gives 0.5 twice"),
        (["--seeds", "4-1"], "the seed range '4-1' goes down"),
        (["--seeds", "0,x"], "'0,x' is not a seed range (0-4) or a list of seeds (0,1,2)"),
        (["--optimizer", "sgd,adamm"], "unknown optimizer 'adamm'"),
        (["--layers", "8", "8"], "--layers gives the same network twice"),
        (["--data", "nope"], "unknown data set 'nope'"),
    ],
)
def test_cli_sweep_bad_grids_in_process(args, message, tmp_path, capsys):
    from layerwise.cli import main

    assert main(["sweep", *args, "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "never").exists()


def test_one_progress_bar_for_the_sweep_with_the_best_so_far(monkeypatch, capsys):
    import layerwise.training

    monkeypatch.setattr(layerwise.training, "_isatty", lambda stream: True)
    results = lw.sweep(GRID, n_jobs=1, **{**TINY, "progress": True})
    err = capsys.readouterr().err
    best = results.best()
    # One bar (tqdm may draw its last state twice: at the update and at close), none per run.
    assert set(re.findall(r"\r(\w+): +\d+%", err)) == {"sweep"} and "6/6" in err
    assert "Epoch" not in err
    assert f"best loss {best['final_loss']:.4g} (lr={best['lr']}, seed={best['seed']})" in err


def test_without_a_terminal_a_line_per_finished_run(capsys):
    lw.sweep(GRID, n_jobs=1, **{**TINY, "progress": True})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 6 and lines[0].startswith("sweep: 1/6 lr=2.0, seed=0: ok - best loss")


def test_cli_sweep_on_a_dask_scheduler_gives_the_local_table(client, tmp_path, capsys):
    from layerwise.cli import main

    grid = ["sweep", "--layers", "4", "--lr", "1,0.5", "--epochs", "3", "--no-progress"]
    assert main([*grid, "--scheduler", client.scheduler.address, "--out", str(tmp_path / "d")]) == 0
    assert main([*grid, "--workers", "1", "--out", str(tmp_path / "l")]) == 0
    assert "best: lr=" in capsys.readouterr().out

    def table(folder):
        with open(folder / "sweep.csv", newline="") as f:
            return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(f)]

    assert table(tmp_path / "d") == table(tmp_path / "l") and len(table(tmp_path / "l")) == 2
