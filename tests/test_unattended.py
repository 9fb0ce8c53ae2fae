"""Runs nobody watches: the streaming CSV log, the best checkpoint, and ``backup_dir``.

The crash tests kill a real training process with SIGKILL (nothing of Python's own
clean-up runs), then look at what it left behind, or start it again.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys

import numpy as np
import pytest

import layerwise as lw

SCRIPT = """
import json, os, signal, sys
import numpy as np
import layerwise as lw

folder, kill_at, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
X = rng.normal(size=(160, 5))
y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)

class Kill(lw.Callback):
    def on_batch_end(self, run, step, loss):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

model = lw.Sequential(
    [lw.Linear(5, 16), lw.ReLU(), lw.Dropout(0.2), lw.Linear(16, 3)], seed=1, dtype=np.float64
)
callbacks = [
    lw.CSVLogger(os.path.join(folder, name + ".csv")),
    lw.ReduceLROnPlateau("val_loss", factor=0.5, patience=1, threshold=0.2),
    lw.EarlyStopping("val_loss", patience=50),
    Kill(),
]
history = model.fit(
    X, y, loss=lw.CrossEntropy(), optimizer=lw.Adam(0.02), epochs=8, batch_size=24, seed=3,
    validation_split=0.25, callbacks=callbacks, progress=False,
    backup_dir=os.path.join(folder, name + "-backup") if kill_at >= 0 else None,
)
lw.save(model, os.path.join(folder, name + ".safetensors"))
with open(os.path.join(folder, name + ".json"), "w") as f:
    json.dump({k: v for k, v in history.history.items() if k != "time"}, f)
"""

STEPS_PER_EPOCH = 5  # 120 training rows in batches of 24


def _run(tmp_path, kill_at: int, name: str):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(kill_at), name],
        capture_output=True,
        timeout=120,
    )


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_csv_log_of_a_killed_run_holds_every_finished_epoch(tmp_path):
    straight = _run(tmp_path, -1, "straight")
    assert straight.returncode == 0, straight.stderr.decode()
    kill_at = 3 * STEPS_PER_EPOCH + 2  # in the fourth epoch
    killed = _run(tmp_path, kill_at, "killed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    rows, full = _rows(tmp_path / "killed.csv"), _rows(tmp_path / "straight.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert len(full) == 8
    for row, reference in zip(rows, full):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            assert float(row[key]) == float(reference[key])
    history = json.loads((tmp_path / "straight.json").read_text())
    assert [float(r["val_loss"]) for r in full] == history["val_loss"]


@pytest.mark.parametrize("kill_at", [2 * STEPS_PER_EPOCH + 3, 5 * STEPS_PER_EPOCH])
def test_backup_dir_resumes_a_killed_run_bit_for_bit(tmp_path, kill_at):
    straight = _run(tmp_path, -1, "straight")
    assert straight.returncode == 0, straight.stderr.decode()
    killed = _run(tmp_path, kill_at, "again")
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    backup = tmp_path / "again-backup" / "backup.safetensors"
    assert backup.is_file()
    done = lw.load_checkpoint(backup).state.epoch
    # At most one backup a second: the first epoch's, and maybe later ones before the kill.
    assert 1 <= done <= (kill_at - 1) // STEPS_PER_EPOCH
    resumed = _run(tmp_path, 10**9, "again")  # the same command, started again
    assert resumed.returncode == 0, resumed.stderr.decode()

    a, b = lw.load(tmp_path / "straight.safetensors"), lw.load(tmp_path / "again.safetensors")
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[name], value)  # bit for bit
    h1 = json.loads((tmp_path / "straight.json").read_text())
    h2 = json.loads((tmp_path / "again.json").read_text())
    assert h1 == h2 and len(h1["loss"]) == 8
    assert min(h1["lr"]) < max(h1["lr"])  # the plateau callback's state mattered
    # The log goes on where the backup left off, with the epochs run again only once.
    rows, full = _rows(tmp_path / "again.csv"), _rows(tmp_path / "straight.csv")
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in full]
    assert [r["val_loss"] for r in rows] == [r["val_loss"] for r in full]
    assert not backup.parent.exists()  # a completed run deletes its backup


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] - X[:, 1] > 0).astype(int)


def _model(seed=0):
    return lw.Sequential([lw.Linear(4, 8), lw.Tanh(), lw.Linear(8, 2)], seed=seed)


def test_a_backup_of_another_run_is_refused_and_an_interrupted_run_keeps_its_backup(tmp_path):
    X, y = _data()

    class Interrupt(lw.Callback):
        def on_epoch_end(self, run, epoch, logs):
            if epoch == 2:
                raise KeyboardInterrupt

    kwargs = dict(loss=lw.CrossEntropy(), epochs=5, progress=False, backup_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _model().fit(X, y, optimizer=lw.SGD(0.1), callbacks=[Interrupt()], **kwargs)
    # Epoch 1 was backed up; the next backups wait a second (or came before the interrupt).
    assert lw.load_checkpoint(tmp_path / "backup.safetensors").state.epoch in (1, 2)
    with pytest.raises(lw.LayerwiseError, match="of another run: its optimizer is"):
        _model().fit(X, y, optimizer=lw.SGD(0.2), **kwargs)
    with pytest.raises(lw.LayerwiseError, match="of another run: its batching"):
        _model().fit(X, y, optimizer=lw.SGD(0.1), batch_size=8, **kwargs)
    history = _model().fit(X, y, optimizer=lw.SGD(0.1), **kwargs)
    assert len(history) == 5
    assert not (tmp_path / "backup.safetensors").exists()


def test_a_damaged_backup_is_refused_with_its_name(tmp_path):
    X, y = _data()
    (tmp_path / "backup.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(lw.LayerwiseError, match="backup.safetensors"):
        _model().fit(
            X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(0.1), progress=False,
            backup_dir=tmp_path,
        )  # fmt: skip


def test_backups_are_written_at_most_once_an_interval(tmp_path, monkeypatch):
    X, y = _data()
    writes = []
    real_write = lw.training._files.write
    monkeypatch.setattr(lw.training._files, "write", lambda *a: writes.append(a) or real_write(*a))
    session = lw.Session(
        _model(), lw.CrossEntropy(), lw.SGD(0.1), (X, y), batch_size=None,
        callbacks=[lw.BackupAndRestore(tmp_path, interval=3600, delete_on_end=False)],
    )  # fmt: skip
    session.epochs = 50
    session.run(50)
    assert len(writes) == 2  # the first epoch, then nothing for an hour but the last
    assert lw.load_checkpoint(tmp_path / "backup.safetensors").state.epoch == 50


def test_model_checkpoint_keeps_the_best_epoch_only(tmp_path):
    X, y = _data()
    Xv, yv = _data(seed=1)
    best = lw.ModelCheckpoint(
        tmp_path / "best.safetensors", monitor="val_accuracy", save_best_only=True
    )
    named = lw.ModelCheckpoint(tmp_path / "e{epoch:02d}-{val_loss:.4f}.safetensors", every=4)
    weights = []

    class Snapshot(lw.Callback):
        def on_epoch_end(self, run, epoch, logs):
            weights.append(run.model.state_dict())

    model = _model()
    history = model.fit(
        X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(0.5), epochs=12, progress=False,
        validation_data=(Xv, yv), callbacks=[best, named, Snapshot()],
    )  # fmt: skip
    accuracy = history.history["val_accuracy"]
    first_best = int(np.argmax(accuracy))  # the first epoch of the maximum
    assert best.best == accuracy[first_best] and best.best_epoch == first_best + 1
    saved = lw.load(tmp_path / "best.safetensors").state_dict()
    for name, value in weights[first_best].items():
        np.testing.assert_array_equal(saved[name], value)
    losses = history.history["val_loss"]
    assert sorted(p.name for p in tmp_path.glob("e*.safetensors")) == [
        f"e{e:02d}-{losses[e - 1]:.4f}.safetensors" for e in (4, 8, 12)
    ]
    plain = dict(loss=lw.CrossEntropy(), optimizer=lw.SGD(0.5), progress=False)
    best_val = lw.ModelCheckpoint(tmp_path / "x", save_best_only=True)
    with pytest.raises(lw.LayerwiseError, match="monitors 'val_loss'"):
        _model().fit(X, y, callbacks=[best_val], **plain)
    with pytest.raises(lw.LayerwiseError, match="do not fill"):
        _model().fit(X, y, callbacks=[lw.ModelCheckpoint(tmp_path / "{nothing}.st")], **plain)


def test_checkpoint_files_keep_the_step_losses_and_the_callback_states(tmp_path):
    X, y = _data()
    plateau = lw.ReduceLROnPlateau("loss", patience=0, factor=0.5, threshold=10.0)
    model = _model()
    history = model.fit(
        X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(0.1), epochs=3, batch_size=20,
        progress=False, callbacks=[plateau, lw.ModelCheckpoint(tmp_path / "c.safetensors")],
    )  # fmt: skip
    state = lw.load_checkpoint(tmp_path / "c.safetensors").state
    assert len(state.losses) == 9 and state.losses[-1] > 0
    assert np.mean(state.losses[-3:]) == pytest.approx(history.history["loss"][-1])
    (name, saved), _ = state.callbacks
    assert name == "ReduceLROnPlateau" and saved == json.loads(json.dumps(plateau.state_dict()))


def test_csv_logger_starts_a_new_file_or_appends(tmp_path):
    X, y = _data()
    path = tmp_path / "log.csv"
    for _ in range(2):
        _model().fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(0.1), epochs=2,
                     progress=False, callbacks=[lw.CSVLogger(path)])  # fmt: skip
    rows = _rows(path)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "lr", "time"]
    _model().fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.SGD(0.1), epochs=2,
                 progress=False, callbacks=[lw.CSVLogger(path, append=True)])  # fmt: skip
    assert [r["epoch"] for r in _rows(path)] == ["1", "2", "1", "2"]
    with pytest.raises(lw.LayerwiseError, match="does not exist"):
        lw.CSVLogger(tmp_path / "no" / "log.csv").on_train_begin(None)


def test_session_rollback_restores_the_callbacks_too():
    X, y = _data()
    plateau = lw.ReduceLROnPlateau("loss", patience=0, factor=0.5)
    session = lw.Session(
        _model(), lw.CrossEntropy(), lw.SGD(0.1), (X, y), batch_size=None, callbacks=[plateau]
    )
    session.run(2)
    session.checkpoint()
    before = plateau.state_dict()
    session.run(6)
    assert plateau.state_dict() != before
    session.rollback()
    assert plateau.state_dict() == before
