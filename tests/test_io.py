"""Model files and checkpoints: round trips, refusals, atomic writes, exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import layerwise as lw
from layerwise import _files


def model(dtype=np.float32, seed=0):
    return lw.Sequential(
        [lw.Linear(6, 8), lw.LeakyReLU(0.2), lw.Dropout(0.1), lw.Linear(8, 3), lw.Softmax()],
        seed=seed,
        dtype=dtype,
    )


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "model.safetensors"
    lw.save(model(), path)
    return path


# -- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_then_load_is_the_identity(tmp_path, dtype):
    original = model(dtype)
    path = tmp_path / "m.safetensors"
    lw.save(original, path)
    loaded = lw.load(path)
    assert repr(loaded) == repr(original) and loaded.dtype == dtype
    for name, value in original.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], value)
        assert loaded.state_dict()[name].dtype == dtype
    x = np.random.default_rng(1).normal(size=(5, 6))
    np.testing.assert_array_equal(loaded.predict(x), original.predict(x))


def test_the_file_is_safetensors_with_a_json_header(saved):
    raw = saved.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    assert header["__metadata__"]["format"] == "layerwise"
    assert json.loads(header["__metadata__"]["model"])["layers"][0] == {
        "type": "Linear",
        "in_features": 6,
        "out_features": 8,
        "init": "he_uniform",
        "bias_init": "zeros",
    }
    assert set(header) - {"__metadata__"} == {"0.W", "0.b", "3.W", "3.b"}


def test_models_with_code_cannot_be_saved(tmp_path):
    m = lw.Sequential([lw.Linear(2, 2), lw.Elementwise(np.sin, np.cos)])
    with pytest.raises(
        lw.LayerwiseError, match=r"Elementwise\(sin\) at layer 1 cannot be described"
    ):
        lw.save(m, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_saved_files_get_the_usual_permissions_without_touching_the_umask(
    tmp_path, monkeypatch, umask, mode
):
    old = os.umask(umask)
    try:
        # Reading the umask means setting it, for a moment, for every thread: never do it.
        monkeypatch.setattr(os, "umask", lambda *a: pytest.fail("os.umask was called"))
        lw.save(model(), tmp_path / "m.safetensors")
        lw.save(model(), tmp_path / "m.safetensors")  # and when replacing a file
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == mode  # not mkstemp's 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_saving_into_a_missing_folder(tmp_path):
    with pytest.raises(lw.LayerwiseError, match="folder .*nowhere' does not exist"):
        lw.save(model(), tmp_path / "nowhere" / "m.safetensors")


# -- refusals -------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(lw.LayerwiseError, match="No such model file: .*absent.safetensors"):
        lw.load(tmp_path / "absent.safetensors")


@pytest.mark.parametrize("cut", [0, 4, 8, 20, 100, -100, -1])
def test_truncated_files_are_refused(saved, cut):
    raw = saved.read_bytes()
    saved.write_bytes(raw[:cut] if cut >= 0 else raw[:cut])
    with pytest.raises(lw.LayerwiseError, match="truncated or corrupted|corrupted"):
        lw.load(saved)


def test_random_bytes_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(50):
        path = tmp_path / f"noise{i}.safetensors"
        path.write_bytes(rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes())
        with pytest.raises(lw.LayerwiseError):
            lw.load(path)


def test_every_flipped_byte_is_refused(saved):
    """Flip bytes all over header and data: none loads, none crashes or hangs."""
    raw = bytearray(saved.read_bytes())
    header_end = 8 + int.from_bytes(raw[:8], "little")
    positions = sorted(set(range(0, header_end, 3)) | set(range(header_end, len(raw))))
    start = time.perf_counter()
    loaded = []
    for pos in positions:
        corrupt = bytearray(raw)
        corrupt[pos] ^= 0x5A
        saved.write_bytes(bytes(corrupt))
        try:
            lw.load(saved)
            loaded.append(pos)
        except lw.LayerwiseError:
            pass
    # A flip inside the header's padding spaces may leave valid JSON with the same
    # meaning; anything that changes meaning or data must be refused.
    for pos in loaded:
        assert pos < header_end and raw[pos : pos + 1] == b" ", pos
    assert len(positions) > 500 and time.perf_counter() - start < 30


def test_a_safetensors_file_from_elsewhere_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, str(path))
    with pytest.raises(lw.LayerwiseError, match="not one written by layerwise"):
        lw.load(path)


def forge(path, tensors, meta, **metadata_overrides):
    """Write a file with a valid digest but arbitrary contents (a consistent liar)."""
    metadata = {"format": "layerwise", "format_version": "1"}
    metadata.update({k: json.dumps(v) for k, v in meta.items()})
    metadata.update(metadata_overrides)
    metadata["sha256"] = _files.digest(metadata, tensors)
    save_file(tensors, str(path), metadata=metadata)


def test_shapes_that_do_not_match_the_description(tmp_path, saved):
    tensors = {k: v for k, v in model().state_dict().items()}
    config = model().config()
    config["layers"][0]["out_features"] = 5
    config["layers"][3]["in_features"] = 5
    forge(tmp_path / "m.safetensors", tensors, {"kind": "model", "model": config})
    with pytest.raises(
        lw.LayerwiseError,
        match=r"does not describe a valid network: State entry '0.W' has shape \(6, 8\)",
    ):
        lw.load(tmp_path / "m.safetensors")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layers": [{"type": "Conv2d"}]}, "unknown type 'Conv2d'"),
        (
            {"layers": [{"type": "Linear", "in_features": -6, "out_features": 8}]},
            "in_features must be a positive integer",
        ),
        ({"layers": "Linear"}, "needs a 'layers' list"),
        ({"dtype": "float16", "layers": [{"type": "ReLU"}]}, "dtype must be float32 or float64"),
    ],
)
def test_bad_descriptions(tmp_path, change, message):
    forge(tmp_path / "m.safetensors", model().state_dict(), {"kind": "model", "model": change})
    with pytest.raises(lw.LayerwiseError, match=message):
        lw.load(tmp_path / "m.safetensors")


def test_bad_json_and_versions(tmp_path):
    path = tmp_path / "m.safetensors"
    forge(path, model().state_dict(), {"kind": "model"}, model="{not json")
    with pytest.raises(lw.LayerwiseError, match="metadata 'model' is not valid JSON"):
        lw.load(path)
    forge(
        path, model().state_dict(), {"kind": "model", "model": model().config()}, format_version="9"
    )
    with pytest.raises(lw.LayerwiseError, match="format version '9'; this version reads '1'"):
        lw.load(path)


# -- atomic writes --------------------------------------------------------------------


def test_an_exception_while_writing_keeps_the_old_file(saved, monkeypatch):
    before = saved.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        lw.save(model(seed=99), saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]  # no temp file left
    lw.load(saved)


def test_a_process_killed_while_saving_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "big.safetensors"
    big = lw.Sequential([lw.Linear(1000, 1000), lw.ReLU(), lw.Linear(1000, 1000)], seed=0)
    lw.save(big, path)
    script = textwrap.dedent(
        f"""
        import layerwise as lw
        big = lw.Sequential([lw.Linear(1000, 1000), lw.ReLU(), lw.Linear(1000, 1000)], seed=1)
        print("ready", flush=True)
        while True:
            lw.save(big, {str(path)!r})
        """
    )
    for delay in (0.05, 0.13, 0.31):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        loaded = lw.load(path)  # the old model or the new one, never a broken file
        assert loaded.layers[0].params["W"].shape == (1000, 1000)


# -- checkpoints ----------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path):
    X, y = data()
    m, opt = model(), lw.Adam(lr=1e-2)
    path = tmp_path / "ckpt.safetensors"
    hist = m.fit(
        X,
        y,
        loss=lw.CrossEntropy(),
        optimizer=opt,
        epochs=3,
        batch_size=16,
        seed=5,
        progress=False,
        callbacks=[lw.ModelCheckpoint(path)],
    )
    ckpt = lw.load_checkpoint(path)
    assert ckpt.state.epoch == 3 and ckpt.state.step == 12
    assert ckpt.history.history["loss"] == hist.history["loss"]
    assert ckpt.fit_config == {"epochs": 3, "batch_size": 16, "shuffle": True}
    assert type(ckpt.loss) is lw.CrossEntropy and ckpt.optimizer.step_count == 12
    ours, theirs = opt.state_dict(), ckpt.optimizer.state_dict()
    for key, value in ours["buffers"].items():
        np.testing.assert_array_equal(theirs["buffers"][key], value)
    for name, value in m.state_dict().items():
        np.testing.assert_array_equal(ckpt.model.state_dict()[name], value)
    assert lw.load(path).num_parameters == m.num_parameters  # a checkpoint is also a model


def test_load_checkpoint_refuses_a_plain_model(saved):
    with pytest.raises(lw.LayerwiseError, match="is a model file, not a training checkpoint"):
        lw.load_checkpoint(saved)


def test_checkpoint_every_and_keep_last(tmp_path):
    X, y = data()
    pattern = str(tmp_path / "ckpt-{epoch:02d}.safetensors")
    callback = lw.ModelCheckpoint(pattern, every=2, keep_last=2)
    model().fit(
        X,
        y,
        loss=lw.CrossEntropy(),
        optimizer=lw.SGD(lr=0.1),
        epochs=7,
        progress=False,
        callbacks=[callback],
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-04.safetensors",
        "ckpt-06.safetensors",
    ]


def test_a_checkpoint_is_not_overwritten_with_overflowed_weights(tmp_path):
    # Full batch: epoch 3's update overflows the weights. The guard stops the run at that
    # step, before the epoch's checkpoint: the file must keep epoch 2's finite weights.
    m = lw.Sequential([lw.Linear(1, 1)], seed=0)
    m.load_state_dict({"0.W": np.ones((1, 1)), "0.b": np.zeros(1)})
    X, y = np.ones((2, 1)), -np.ones(2)
    path = tmp_path / "ckpt.safetensors"
    callbacks = [
        lw.LearningRateScheduler(lambda epoch, base: 1e38 if epoch == 2 else 0.01),
        lw.ModelCheckpoint(path),
    ]
    with pytest.raises(lw.DivergenceError, match="epoch 3/6.*overflowed"):
        m.fit(X, y, loss=lw.MSE(), optimizer=lw.SGD(lr=0.01), epochs=6,
              batch_size=None, progress=False, callbacks=callbacks)  # fmt: skip
    saved = lw.load_checkpoint(path)
    assert saved.state.epoch == 2
    assert all(np.isfinite(v).all() for v in saved.model.state_dict().values())


def test_a_corrupted_training_state_is_refused(tmp_path):
    X, y = data()
    path = tmp_path / "ckpt.safetensors"
    m, opt = model(), lw.SGD(lr=0.1, momentum=0.9)
    m.fit(
        X,
        y,
        loss="cross_entropy",
        optimizer=opt,
        progress=False,
        callbacks=[lw.ModelCheckpoint(path)],
    )
    tensors, meta = _files.read(path)
    meta["training"]["epoch"] = -3
    forge(path, tensors, meta)
    with pytest.raises(
        lw.LayerwiseError, match="bad checkpoint: epoch must be a non-negative integer; got -3"
    ):
        lw.load_checkpoint(path)
    meta["training"]["epoch"] = 1
    meta["training"]["rng_state"] = {"bit_generator": "PCG64", "state": "nonsense"}
    forge(path, tensors, meta)
    with pytest.raises(lw.LayerwiseError, match="bad checkpoint"):
        lw.load_checkpoint(path)
    del tensors["optimizer/momentum_buffer.0.W"]
    meta["training"]["rng_state"] = np.random.default_rng(0).bit_generator.state
    forge(path, tensors, meta)
    with pytest.raises(lw.LayerwiseError, match=r"optimizer state lacks \['momentum_buffer.0.W'\]"):
        lw.load_checkpoint(path)


RESUME_SCRIPT = """
import json, os, signal, sys
import numpy as np
import layerwise as lw

mode, folder = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 6)).astype(np.float32)
y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
ckpt = os.path.join(folder, "ckpt.safetensors")
schedule = lw.LearningRateScheduler(lw.optim.CosineDecay(40), per="step")

class KillAfter(lw.Callback):
    def on_epoch_end(self, run, epoch, logs):
        if epoch + 1 == 3:
            os.kill(os.getpid(), signal.SIGKILL)

if mode == "resume":
    model, hist = lw.resume(ckpt, X, y, callbacks=[schedule], progress=False)
else:
    model = lw.Sequential([lw.Linear(6, 16), lw.ReLU(), lw.Dropout(0.3), lw.Linear(16, 3)], seed=1)
    callbacks = [schedule] + ([lw.ModelCheckpoint(ckpt), KillAfter()] if mode == "killed" else [])
    hist = model.fit(X, y, loss=lw.CrossEntropy(), optimizer=lw.AdamW(lr=1e-2), epochs=6,
                     batch_size=32, seed=7, callbacks=callbacks, progress=False)
lw.save(model, os.path.join(folder, mode + ".safetensors"))
with open(os.path.join(folder, mode + ".json"), "w") as f:
    json.dump({k: v for k, v in hist.history.items() if k != "time"}, f)
"""


def test_a_killed_run_resumes_bit_for_bit(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)

    def run(mode):
        return subprocess.run(
            [sys.executable, str(script), mode, str(tmp_path)], capture_output=True
        )

    assert run("straight").returncode == 0
    killed = run("killed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert not (tmp_path / "killed.safetensors").exists()
    resumed = run("resume")
    assert resumed.returncode == 0, resumed.stderr.decode()

    straight, again = (
        lw.load(tmp_path / "straight.safetensors"),
        lw.load(tmp_path / "resume.safetensors"),
    )
    for name, value in straight.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], value)  # bit for bit
    h1 = json.loads((tmp_path / "straight.json").read_text())
    h2 = json.loads((tmp_path / "resume.json").read_text())
    assert h1 == h2 and len(h1["loss"]) == 6
