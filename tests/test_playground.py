"""The playground: its Features layer, its run (every command, no thread), and its server
(the framework's test client: the page, the WebSocket, every kind of bad message)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import layerwise as lw
from layerwise.layers import FEATURES, Features

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from layerwise.playground import datasets, engine, protocol  # noqa: E402
from layerwise.playground.engine import Run  # noqa: E402
from layerwise.playground.server import create_app  # noqa: E402


def command(text: str):
    return protocol.parse(text)


def cmd(kind: str, **fields):
    return protocol.parse(json.dumps({"type": kind, **fields}))


def configured(**changes) -> Run:
    return Run(protocol.Config(**changes))


def weights(run: Run) -> np.ndarray:
    return np.concatenate([p.ravel() for p, _ in run.model.parameters().values()])


def decoded(values: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(values), dtype=np.uint8)


# -- the Features layer ------------------------------------------------------------


def test_features_gradcheck_every_feature(rng):
    model = lw.Sequential(
        [Features(list(FEATURES)), lw.Linear(7, 5), lw.Tanh(), lw.Linear(5, 2)], seed=0
    )
    x = rng.normal(size=(6, 2))
    report = lw.gradcheck(model, x, rng.normal(size=(6, 2)), lw.MSE())
    assert report.ok, str(report)
    assert "input" in report.errors


def test_features_batch_of_one_and_values(rng):
    layer = Features(["x1x2", "sin x2", "x1^2"])
    out = layer.forward(np.array([[2.0, 3.0]]))
    np.testing.assert_allclose(out, [[6.0, np.sin(3.0), 4.0]])
    report = lw.gradcheck(
        lw.Sequential([layer, lw.Linear(3, 1)], seed=1), [[0.3, -1.2]], [[1.0]], "mse"
    )
    assert report.ok, str(report)


def test_features_keep_the_dtype():
    out = Features(["x1", "sin x1"]).forward(np.ones((3, 2), np.float32))
    assert out.dtype == np.float32 and out.shape == (3, 2)


def test_features_save_and_load_round_trip(tmp_path, rng):
    model = lw.Sequential(
        [Features(["x1", "x2", "x1x2"]), lw.Linear(3, 4), lw.ReLU(), lw.Linear(4, 1)], seed=3
    )
    lw.save(model, tmp_path / "f.safetensors")
    loaded = lw.load(tmp_path / "f.safetensors")
    assert repr(loaded.layers[0]) == "Features(['x1', 'x2', 'x1x2'])"
    X = rng.normal(size=(9, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("bad", [[], "x1", ["x3"], ["x1", "x1"], None])
def test_features_refuse_bad_names(bad):
    with pytest.raises(lw.LayerwiseError, match="Features"):
        Features(bad)


def test_features_refuse_rows_that_are_not_two_coordinates():
    with pytest.raises(lw.LayerwiseError, match=r"rows of 2 coordinates; got shape \(4, 3\)"):
        Features(["x1", "x2"]).forward(np.zeros((4, 3)))
    model = lw.Sequential([Features(["x1", "x2"]), lw.Linear(2, 1)], seed=0)
    with pytest.raises(lw.LayerwiseError, match=r"expects input with 2 features"):
        model.predict(np.zeros((4, 3)))


def test_features_backward_before_forward():
    with pytest.raises(lw.LayerwiseError, match="before forward"):
        Features().backward(np.ones((1, 2)))


# -- data --------------------------------------------------------------------------


@pytest.mark.parametrize("name", datasets.CLASSIFICATION + datasets.REGRESSION)
def test_every_data_set_trains_a_few_steps(name):
    run = configured(dataset=name, points=100, classes=4, noise=20)
    run.train(5)
    frame = run.frame()
    assert frame["step"] == 5
    assert frame["heatmap"]["kind"] == run.data.task
    assert len(decoded(frame["heatmap"]["values"])) == engine.GRID**2
    assert frame["train"]["loss"] is not None and frame["test"]["loss"] is not None
    low, high = run.data.domain
    assert low < run.data.X_train.min() and run.data.X_train.max() < high
    if name in ("spiral", "gauss"):
        assert run.data.classes == 4 and "classes" in frame["heatmap"]


def test_data_sets_repeat_with_the_seed_and_change_with_another():
    a = datasets.make("moons", points=60, noise=20, seed=5)
    b = datasets.make("moons", points=60, noise=20, seed=5)
    c = datasets.make("moons", points=60, noise=20, seed=6)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)
    assert len(a.X_train) == 30 and len(a.X_test) == 30


def test_csv_parsing_classes_values_and_header():
    X, y = datasets.parse_csv("x1,x2,label\n" + "".join(f"{i},{-i},{i % 3}\n" for i in range(12)))
    assert X.shape == (12, 2) and y.dtype == np.int64 and set(y.tolist()) == {0, 1, 2}
    X, y = datasets.parse_csv("".join(f"{i};{i}\t{i / 7}\n" for i in range(12)))
    assert y.dtype == np.float32
    _, y = datasets.parse_csv("".join(f"{i},{i},{1 if i % 2 else -1}\n" for i in range(12)))
    assert set(y.tolist()) == {0, 1}


ROWS = "".join(f"{i},{i},{i % 2}\n" for i in range(12))


@pytest.mark.parametrize(
    "text, match",
    [
        ("1,2\n" + ROWS, "line 1: expected 3 values"),
        (ROWS + "1,2,3,4\n", "line 13: expected 3 values"),
        (ROWS + "1,zwei,0\n", "line 13: '1,zwei,0' is not three numbers"),
        (ROWS + "1,nan,0\n", "line 13: .* NaN or infinity"),
        (ROWS + "1,1e999,0\n", "NaN or infinity"),
        ("1,2,0\n" * 3, "needs at least 10"),
        ("1,2,0\n" * 10_001, "more than 10,000 rows"),
        ("1" * 1_000_001, "at most 1,000,000"),
        ("", "needs at least 10"),
        ("".join(f"{i},{i * 1e7},0\n" for i in range(12)), "beyond 1e6"),
    ],
)
def test_csv_refused_with_the_line_at_fault(text, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        datasets.parse_csv(text)


# -- the run: every command ----------------------------------------------------------


def test_play_pause_and_step():
    run = Run()
    run.apply(cmd("play"))
    assert run.playing
    run.advance()
    assert run.session.steps >= 1
    run.apply(cmd("pause"))
    assert not run.playing
    before = run.session.steps
    run.apply(cmd("step"))
    assert run.session.steps == before + 1 and not run.playing


def test_training_lowers_the_loss_on_circle():
    run = configured(features=("x1^2", "x2^2"), layers=(4,), activations=("tanh",))
    first = run.frame()["test"]["loss"]
    run.train(500)
    frame = run.frame()
    assert frame["test"]["loss"] < 0.5 * first
    assert frame["test"]["accuracy"] > 0.9
    assert frame["history"]["loss"] and len(frame["history"]["epoch"]) == frame["epoch"]


def test_reset_redraws_the_same_initial_weights():
    run = Run()
    start = weights(run).copy()
    run.train(40)
    run.apply(cmd("lr", lr=0.1))
    run.apply(cmd("reset"))
    assert run.session.steps == 0 and run.session.history.history == {}
    np.testing.assert_array_equal(weights(run), start)
    assert run.session.optimizer.lr == 0.1 and run.lr_events == [(0, 0.1)]


def test_learning_rate_changes_live_without_a_reset():
    run = Run()
    run.train(30)
    kept = weights(run).copy()
    run.apply(cmd("lr", lr=0.001))
    assert run.session.optimizer.lr == 0.001 and run.config.lr == 0.001
    assert run.session.steps == 30
    np.testing.assert_array_equal(weights(run), kept)
    assert run.lr_events == [(0, 0.03), (30, 0.001)]


def test_checkpoint_and_rollback_restore_the_run():
    run = Run()
    run.train(20)
    run.apply(cmd("checkpoint"))
    kept, frame = weights(run).copy(), run.frame()
    run.apply(cmd("lr", lr=1.0))
    run.train(50)
    assert not np.array_equal(weights(run), kept)
    run.apply(cmd("rollback"))
    np.testing.assert_array_equal(weights(run), kept)
    assert run.session.steps == 20 and run.session.optimizer.lr == 0.03
    assert run.frame()["heatmap"] == frame["heatmap"]
    assert run.lr_events == [(0, 0.03)]


def test_rollback_without_a_checkpoint_is_refused():
    with pytest.raises(lw.LayerwiseError, match="No checkpoint yet"):
        Run().apply(cmd("rollback"))


def test_learning_potential_leaves_the_run_as_it_was():
    run = Run()
    run.train(25)
    kept, steps = weights(run).copy(), run.session.steps
    run.apply(cmd("potential", n=50))
    assert run.potential["n"] == 50 and run.potential["after"] > run.potential["now"]
    np.testing.assert_array_equal(weights(run), kept)
    assert run.session.steps == steps
    assert "Learning potential after 50 steps" in run.status
    twin = Run()
    twin.train(25)
    run.train(10)
    twin.train(10)  # the potential's steps left no trace in what follows
    np.testing.assert_array_equal(weights(run), weights(twin))


def test_config_rebuilds_the_network():
    run = Run()
    run.train(10)
    new = run.config.model_copy(update={"layers": (5, 3, 2), "activations": ("relu",) * 3})
    run.apply(protocol.Configure(type="config", config=new))
    assert run.session.steps == 0
    sizes = [layer.out_features for layer in run.model.layers if isinstance(layer, lw.Linear)]
    assert sizes == [5, 3, 2, 1]
    assert [len(layer["thumbs"]) for layer in run.frame()["layers"]] == [5, 3, 2]


def test_a_refused_config_leaves_the_run_as_it_was():
    run = Run()
    run.train(10)
    bad = run.config.model_copy(update={"dataset": "plane", "loss": "cross_entropy"})
    with pytest.raises(lw.LayerwiseError, match="regression data set learns with MSE"):
        run.apply(protocol.Configure(type="config", config=bad))
    assert run.config.dataset == "circle" and run.session.steps == 10
    assert run.data.task == "classification" and run.data_version == 1
    assert run.frame()["heatmap"]["kind"] == "classification"


def test_a_refused_upload_leaves_the_run_as_it_was():
    run = configured(loss="bce")
    values = "".join(f"{i},{i % 5},{i / 3:.3f}\n" for i in range(20))  # a regression set
    with pytest.raises(lw.LayerwiseError, match="learns with MSE"):
        run.apply(cmd("upload", text=values))
    assert run.config.dataset == "circle" and run.csv is None and run.data.classes == 2


def test_csv_config_without_an_upload_is_refused():
    with pytest.raises(lw.LayerwiseError, match="upload it again"):
        configured(dataset="csv")


@pytest.mark.parametrize("loss", ["cross_entropy", "bce", "mse"])
def test_losses_on_three_classes(loss):
    run = configured(dataset="spiral", classes=3, points=90, loss=loss)
    run.train(20)
    frame = run.frame()
    assert run.model.out_features == 3
    assert decoded(frame["heatmap"]["classes"]).max() <= 2
    assert 0 <= frame["test"]["accuracy"] <= 1


def test_upload_classification_and_regression():
    run = Run()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    text = "x1,x2,label\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for (a, b), c in zip(X, labels))
    run.apply(cmd("upload", name="mine.csv", text=text))
    assert run.config.dataset == "csv" and run.data.classes == 3
    assert "Loaded mine.csv: 40 rows, 3 classes" in run.status
    run.train(5)
    values = "".join(f"{a},{b},{a * b:.5f}\n" for a, b in X)
    run.apply(cmd("upload", name="values.csv", text=values))
    assert run.data.task == "regression" and run.session.steps == 0


def test_malformed_upload_keeps_the_run():
    run = Run()
    with pytest.raises(lw.LayerwiseError, match="CSV line 2"):
        run.apply(cmd("upload", text="1,2,0\n1,2\n"))
    assert run.config.dataset == "circle"


def test_divergence_pauses_with_the_message_and_restores_the_weights():
    run = configured(
        dataset="plane", optimizer="sgd", lr=10.0, features=tuple(FEATURES), layers=(16, 16),
        activations=("relu", "relu"), batch_size=50,
    )  # fmt: skip
    run.apply(cmd("play"))
    for _ in range(50):
        run.advance()
        if not run.playing:
            break
    assert not run.playing
    assert (
        run.status.startswith("Training diverged") and "weights and optimizer state" in run.status
    )
    assert np.isfinite(weights(run)).all()
    json.dumps(run.frame(), allow_nan=False)  # what the page gets is still valid JSON


def test_the_step_limit_stops_the_run(monkeypatch):
    monkeypatch.setattr(engine, "MAX_STEPS", 30)
    run = Run()
    run.apply(cmd("play"))
    for _ in range(20):
        run.advance()
    assert run.session.steps == 30 and not run.playing and "Stopped at 30 steps" in run.status


def test_diagnostics_reach_the_frame():
    run = configured(layers=(6,), activations=("relu",), batch_size=40)
    run.train(60)
    (row,) = run.frame()["diagnostics"]
    assert row["layer"] == 1 and 0 <= row["dead"] <= 1 and row["grad_norm"] > 0


def test_frame_is_strict_json_and_small():
    run = configured(layers=(16,) * 8, activations=("tanh",) * 8)
    run.train(5)
    text = json.dumps(run.frame(), allow_nan=False)
    assert len(text) < 200_000


# -- exports -------------------------------------------------------------------------


def grid_points(run: Run) -> np.ndarray:
    low, high = run.data.domain
    return lw.data.grid2d(low, high, resolution=engine.GRID)[0]


def load_download(reply, tmp_path):
    path = tmp_path / reply["filename"]
    path.write_bytes(base64.b64decode(reply["data"]))
    return lw.load(path)


@pytest.mark.parametrize("loss", ["bce", "cross_entropy"])
def test_exported_model_reproduces_the_heatmap(loss, tmp_path):
    run = configured(loss=loss, features=("x1", "x2", "x1^2"))
    run.train(200)
    model = load_download(run.apply(cmd("export_model")), tmp_path)
    assert isinstance(model.layers[0], Features)
    p = model.predict(grid_points(run))[:, -1]  # P(class 1): the sigmoid, or the softmax's
    heat = decoded(run.frame()["heatmap"]["values"]) / 255
    assert np.abs(p - heat).max() <= 0.5 / 255 + 1e-6
    meta = lw.io.read_metadata(tmp_path / "playground.safetensors")
    assert meta["info"]["playground"]["loss"] == loss and meta["info"]["step"] == 200


def test_exported_code_repeats_the_run(tmp_path):
    run = configured(dataset="xor", layers=(5,), activations=("relu",), dropout=0.1)
    run.train(15)
    run.apply(cmd("lr", lr=0.01))
    run.train(10)
    script = tmp_path / "run.py"
    script.write_text(run.apply(cmd("export_code"))["text"])
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "step 25:" in result.stdout
    again = lw.load(tmp_path / "playground_run.safetensors")
    X = grid_points(run)
    np.testing.assert_allclose(again.predict(X), run.model.predict(X), rtol=1e-5, atol=1e-6)


def test_exported_code_of_an_upload_reads_the_file(tmp_path):
    run = Run()
    rows = "".join(f"{i / 10},{(i * 7 % 11) / 10},{i % 2}\n" for i in range(30))
    run.apply(cmd("upload", name="mine.csv", text=rows))
    run.train(8)
    (tmp_path / "mine.csv").write_text(rows)
    script = tmp_path / "run.py"
    script.write_text(run.apply(cmd("export_code"))["text"])
    result = subprocess.run(  # STEPS given: fewer than the page's 8 would also do
        [sys.executable, str(script), "8"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "step 8:" in result.stdout
    again = lw.load(tmp_path / "playground_run.safetensors")
    X = grid_points(run)
    np.testing.assert_allclose(again.predict(X), run.model.predict(X), rtol=1e-5, atol=1e-6)


# -- the protocol ----------------------------------------------------------------------


def test_every_command_parses():
    for text in [
        '{"type": "play", "id": 3}',
        '{"type": "pause"}',
        '{"type": "step"}',
        '{"type": "reset"}',
        '{"type": "lr", "lr": 0.5}',
        '{"type": "checkpoint"}',
        '{"type": "rollback"}',
        '{"type": "potential", "n": 10}',
        '{"type": "upload", "name": "a.csv", "text": "1,2,3"}',
        '{"type": "export_model"}',
        '{"type": "export_code"}',
        '{"type": "config", "config": {"layers": [], "activations": []}}',
    ]:
        assert command(text).type == json.loads(text)["type"]


BAD_MESSAGES = [
    ("not json", "Invalid JSON"),
    ("[1, 2]", "should be an object"),
    ('{"lr": 0.1}', "unknown or missing type"),
    ('{"type": "launch"}', "unknown or missing type"),
    ('{"type": "play", "force": true}', "force: unknown field"),
    ('{"type": "lr", "lr": NaN}', "finite number"),
    ('{"type": "lr", "lr": Infinity}', "finite number"),
    ('{"type": "lr", "lr": "0.1"}', "valid number"),
    ('{"type": "lr", "lr": 100}', "less than or equal to 10"),
    ('{"type": "lr", "lr": 0}', "greater than or equal to 0.00001"),
    ('{"type": "lr"}', "lr: Field required"),
    ('{"type": "potential", "n": 1e9}', "valid integer"),
    ('{"type": "step", "id": -1}', "greater than or equal to 0"),
    ('{"type": "config", "config": {"noise": true}}', "noise: Input should be a valid integer"),
    (
        '{"type": "config", "config": {"layers": [17], "activations": ["relu"]}}',
        "less than or equal to 16",
    ),
    (
        '{"type": "config", "config": {"layers": [1,1,1,1,1,1,1,1,1], "activations": []}}',
        "at most 8",
    ),
    ('{"type": "config", "config": {"layers": [4], "activations": []}}', "need 1 activations"),
    ('{"type": "config", "config": {"features": ["x1", "x1"]}}', "appear once"),
    ('{"type": "config", "config": {"features": ["__import__"]}}', "features.0"),
    ('{"type": "config", "config": {"dataset": "mnist"}}', "dataset"),
    ('{"type": "config", "config": {"batch_size": 0}}', "greater than or equal to 1"),
    ('{"type": "config", "config": {"dropout": 0.95}}', "less than or equal to 0.9"),
    ('{"type": "config", "config": {"code": "print(1)"}}', "code: unknown field"),
    ('{"type": "upload", "text": "' + "1" * 1_000_001 + '"}', "at most 1000000 characters"),
    ('{"type": "upload", "text": "' + "1" * 1_200_000 + '"}', "at most 1,010,000 are taken"),
]


@pytest.mark.parametrize("text, match", BAD_MESSAGES, ids=[m for _, m in BAD_MESSAGES])
def test_bad_messages_are_refused_with_a_reason(text, match):
    with pytest.raises(protocol.ProtocolError, match=match):
        command(text)


# -- the server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(hosts=("testserver",), max_sessions=2)) as c:
        yield c


def receive_until(ws, predicate, limit: int = 500) -> dict:
    """The first message that satisfies ``predicate`` (the ones before are dropped)."""
    for _ in range(limit):
        message = ws.receive_json()
        if predicate(message):
            return message
    raise AssertionError("no such message")


def ack(ws, number: int) -> dict:
    return receive_until(ws, lambda m: m["type"] == "ack" and m["id"] == number)


def test_the_page_and_its_files_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and 'data-testid="heatmap"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../server.py").status_code == 404
    assert client.get("/docs").status_code == 404  # no API explorer


def test_an_unknown_host_is_refused(client):
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 400
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws", headers={"host": "attacker.example"}) as ws:
            ws.receive_json()


@pytest.mark.parametrize("origin", ["http://attacker.example", "http://testserver.evil", "null"])
def test_a_foreign_origin_is_refused(client, origin):
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws", headers={"origin": origin}) as ws:
            ws.receive_json()
    assert refused.value.code == 1008


def test_the_same_origin_is_served(client):
    with client.websocket_connect("/ws", headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "data"
        assert ws.receive_json()["type"] == "frame"


def test_a_page_drives_its_run(client):
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "data"
        assert ws.receive_json()["step"] == 0
        ws.send_text('{"type": "play", "id": 1}')
        ack(ws, 1)
        playing = receive_until(ws, lambda m: m["type"] == "frame" and m["step"] > 20)
        assert playing["playing"]
        ws.send_text('{"type": "lr", "lr": 0.1, "id": 2}')
        ack(ws, 2)
        later = receive_until(ws, lambda m: m["type"] == "frame" and m["lr"] == 0.1)
        assert later["step"] >= playing["step"]  # no reset
        ws.send_text('{"type": "pause", "id": 3}')
        paused = ack(ws, 3)
        frame = receive_until(ws, lambda m: m["type"] == "frame" and not m["playing"])
        assert frame["step"] == paused["step"]
        ws.send_text('{"type": "reset", "id": 4}')
        ack(ws, 4)
        assert receive_until(ws, lambda m: m["type"] == "frame")["step"] == 0
        ws.send_text('{"type": "export_code", "id": 5}')
        code = receive_until(ws, lambda m: m["type"] == "download")
        assert "lw.Session(" in code["text"]
        ws.send_text('{"type": "export_model", "id": 6}')
        model = receive_until(ws, lambda m: m["type"] == "download")
        assert model["filename"].endswith(".safetensors")


def test_a_config_message_sends_new_data_and_a_frame(client):
    config = {"dataset": "spiral", "classes": 4, "layers": [6], "activations": ["relu"]}
    with client.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "config", "config": config, "id": 1}))
        data = receive_until(ws, lambda m: m["type"] == "data" and m["version"] == 2)
        assert data["classes"] == 4 and len(data["train"]["y"]) == 250
        frame = receive_until(ws, lambda m: m["type"] == "frame" and m["data_version"] == 2)
        assert frame["config"]["dataset"] == "spiral" and len(frame["layers"]) == 1


@pytest.mark.parametrize("text, match", BAD_MESSAGES[::3], ids=[m for _, m in BAD_MESSAGES[::3]])
def test_a_bad_message_gets_a_reason_and_the_server_goes_on(client, text, match):
    with client.websocket_connect("/ws") as ws:
        ws.send_text(text)
        error = receive_until(ws, lambda m: m["type"] == "error")
        assert error["message"].startswith("Refused message") and len(error["message"]) < 400
        ws.send_text('{"type": "step", "id": 9}')
        assert ack(ws, 9)["step"] == 1


def test_binary_messages_and_refused_commands_get_a_reason(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_bytes(b"\x00\x01")
        assert "not binary" in receive_until(ws, lambda m: m["type"] == "error")["message"]
        ws.send_text('{"type": "rollback", "id": 1}')
        assert "No checkpoint" in receive_until(ws, lambda m: m["type"] == "error")["message"]
        ws.send_text(json.dumps({"type": "upload", "text": "1,2\n", "id": 2}))
        assert "CSV line 1" in receive_until(ws, lambda m: m["type"] == "error")["message"]
        receive_until(ws, lambda m: m["type"] == "frame" and "CSV line 1" in m["status"])
        ws.send_text('{"type": "step", "id": 3}')
        assert ack(ws, 3)["step"] == 1


def test_sessions_are_bounded_and_end_with_their_page(client):
    def engines_become(count: int) -> bool:
        deadline = time.monotonic() + 10  # an engine ends after its chunk
        while time.monotonic() < deadline:
            if sum(t.name == "playground-engine" for t in threading.enumerate()) == count:
                return True
            time.sleep(0.05)
        return False

    assert engines_become(0)  # the pages of the tests before have ended theirs
    with client.websocket_connect("/ws") as first, client.websocket_connect("/ws") as second:
        first.receive_json()
        second.receive_json()
        with client.websocket_connect("/ws") as third:
            refused = third.receive_json()
            assert refused["type"] == "error" and "at most 2 pages" in refused["message"]
        assert engines_become(2)
    assert engines_become(0)
    with client.websocket_connect("/ws") as again:  # the places are free again
        assert again.receive_json()["type"] == "data"


# -- the command -------------------------------------------------------------------------


def test_the_command_serves_the_page_on_loopback(tmp_path):
    import urllib.request
    from pathlib import Path

    script = Path(sys.executable).parent / "layerwise"
    process = subprocess.Popen(
        [str(script), "playground", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=30) as response:
            assert 'data-testid="export-model"' in response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--host", "0.0.0.0"], "add --allow-remote"),
        (["--port", "70000"], "not a port number"),
        (["--port", "many"], "invalid int value"),
    ],
)
def test_command_usage_errors_are_one_line(argv, match, capsys):
    from layerwise import cli

    assert cli.main(["playground", "--no-browser", *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_command_without_the_web_framework_says_what_to_install(monkeypatch, capsys):
    from layerwise import cli

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn raises ImportError
    import layerwise.playground

    monkeypatch.delitem(sys.modules, "layerwise.playground.server", raising=False)
    monkeypatch.delattr(layerwise.playground, "server", raising=False)
    assert cli.main(["playground", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert 'pip install "layerwise[playground]"' in err and "uvicorn" in err
    assert err.count("\n") == 1
