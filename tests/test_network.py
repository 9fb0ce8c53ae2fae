"""Sequential: construction, input checks, dtypes, state, descriptions, the toy facts."""

from __future__ import annotations

import numpy as np
import pytest

import layerwise as lw

SPEC = [
    {"input_dim": 2, "output_dim": 16, "activation": "relu"},
    {"input_dim": 16, "output_dim": 1, "activation": "sigmoid"},
]


def small(seed=0, dtype=np.float32):
    return lw.Sequential([lw.Linear(4, 3), lw.ReLU(), lw.Linear(3, 2)], seed=seed, dtype=dtype)


# -- construction -------------------------------------------------------------------


def test_from_spec_builds_the_notebook_architecture():
    model = lw.Sequential.from_spec(SPEC, seed=0)
    assert [repr(layer) for layer in model.layers] == [
        "Linear(2 -> 16)",
        "ReLU()",
        "Linear(16 -> 1)",
        "Sigmoid()",
    ]
    assert model.predict(np.zeros((3, 2))).shape == (3, 1)


def test_from_spec_identity_adds_no_layer():
    model = lw.Sequential.from_spec([{"input_dim": 3, "output_dim": 2, "activation": "linear"}])
    assert len(model.layers) == 1


def test_from_spec_errors():
    bad_chain = [SPEC[0], {**SPEC[1], "input_dim": 8}]
    with pytest.raises(
        lw.LayerwiseError, match="entry 1 has input_dim 8 but entry 0 has output_dim 16"
    ):
        lw.Sequential.from_spec(bad_chain)
    with pytest.raises(
        lw.LayerwiseError, match="Unknown activation 'softplus'; known: relu, leaky_relu, sigmoid"
    ):
        lw.Sequential.from_spec([{**SPEC[0], "activation": "softplus"}])
    with pytest.raises(
        lw.LayerwiseError, match="entry 0 must be a dict with 'input_dim', 'output_dim'"
    ):
        lw.Sequential.from_spec([{"input_dim": 2}])
    with pytest.raises(lw.LayerwiseError, match=r"entry 0 has unknown keys \['activaton'\]"):
        lw.Sequential.from_spec([{"input_dim": 2, "output_dim": 1, "activaton": "relu"}])
    with pytest.raises(lw.LayerwiseError, match="non-empty list of layer dicts"):
        lw.Sequential.from_spec([])


def test_sizes_must_chain():
    with pytest.raises(
        lw.LayerwiseError,
        match=r"Linear\(5 -> 2\) at layer 2 expects 5 input features, "
        r"but the layers before it output 3",
    ):
        lw.Sequential([lw.Linear(4, 3), lw.ReLU(), lw.Linear(5, 2)])


def test_bad_layer_lists():
    with pytest.raises(lw.LayerwiseError, match="at least one layer"):
        lw.Sequential([])
    with pytest.raises(lw.LayerwiseError, match=r"Item 1 \('relu'\) is not a layer"):
        lw.Sequential([lw.Linear(2, 2), "relu"])
    shared = lw.ReLU()
    with pytest.raises(lw.LayerwiseError, match=r"ReLU\(\) appears twice \(at layer 3\)"):
        lw.Sequential([lw.Linear(2, 2), shared, lw.Linear(2, 2), shared])
    with pytest.raises(lw.LayerwiseError, match="takes a list of layers"):
        lw.Sequential(lw.Linear(2, 2))


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = small(seed=5), small(seed=5), small(seed=6)
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[name])
    assert not np.array_equal(a.state_dict()["0.W"], c.state_dict()["0.W"])


def test_seed_overrides_the_layers_own_initial_weights():
    layer = lw.Linear(4, 3, rng=99)
    before = layer.params["W"].copy()
    model = lw.Sequential([layer], seed=0)
    assert not np.array_equal(model.layers[0].params["W"], before)
    np.testing.assert_array_equal(
        model.layers[0].params["W"], lw.Sequential([lw.Linear(4, 3)], seed=0).layers[0].params["W"]
    )


@pytest.mark.parametrize("training", [False, True])
def test_every_array_has_the_network_dtype(dtype, training):
    model = lw.Sequential(
        [lw.Linear(4, 6), lw.Dropout(0.2), lw.Tanh(), lw.Linear(6, 3), lw.Softmax()],
        seed=0,
        dtype=dtype,
    )
    x = np.arange(8).reshape(2, 4)  # integers are cast at the boundary
    out = model.forward(x, training=training)
    assert out.dtype == dtype
    assert model.backward(np.ones_like(out)).dtype == dtype
    for name, (p, g) in model.parameters().items():
        assert p.dtype == dtype and g.dtype == dtype, name


def test_parameters_are_named_in_layer_order():
    model = small()
    assert list(model.parameters()) == ["0.W", "0.b", "2.W", "2.b"]
    assert model.num_parameters == 4 * 3 + 3 + 3 * 2 + 2


# -- input checks ---------------------------------------------------------------------


def test_wrong_feature_count_names_the_layer_and_shapes():
    with pytest.raises(
        lw.LayerwiseError,
        match=r"Linear\(4 -> 3\) at layer 0 expects input with 4 features; "
        r"got shape \(32, 64\)\. Check the data",
    ):
        small().forward(np.zeros((32, 64)))


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros(4), r"must be 2-D .* got shape \(4,\)\. Use x.reshape\(-1, 1\)"),
        (np.zeros((2, 2, 4)), r"must be 2-D .* got shape \(2, 2, 4\)\.$"),
        (np.zeros((0, 4)), r"Input is empty \(shape \(0, 4\)\)"),
        (np.array([["a", "b", "c", "d"]]), "must hold numbers; got an array of dtype 'str32'"),
        (
            np.array([[None, 1, 2, 3]], dtype=object),
            "must hold numbers; got an array of dtype 'object'",
        ),
        ([[1, 2, 3, 4], [1, 2]], "could not be read as a numeric array"),
    ],
)
def test_bad_inputs(x, message):
    with pytest.raises(lw.LayerwiseError, match=message):
        small().forward(x)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_inputs_name_the_entry(bad):
    x = np.ones((3, 4))
    x[2, 1] = bad
    with pytest.raises(
        lw.LayerwiseError, match=rf"Input contains {float(bad)!r} at index \(2, 1\)"
    ):
        small().predict(x)


# -- passes -------------------------------------------------------------------------


def test_backward_returns_the_input_gradient_unless_asked_not_to(rng):
    model = small(dtype=np.float64)
    x = rng.normal(size=(5, 4))
    out = model.forward(x)
    g = model.backward(np.ones_like(out))
    assert g.shape == x.shape
    assert model.backward(np.ones_like(out), input_grad=False) is None
    assert model.backward(np.ones_like(out)).shape == x.shape  # the default comes back


def test_predict_in_chunks_equals_all_at_once(rng):
    model = small(dtype=np.float64)
    x = rng.normal(size=(103, 4))
    np.testing.assert_allclose(model.predict(x, batch_size=10), model.predict(x), rtol=1e-12)
    # Both are ordinary C-ordered arrays, whatever layout the layers computed in.
    assert model.predict(x).flags.c_contiguous
    assert model.predict(x, batch_size=10).flags.c_contiguous


def test_predict_batch_size_must_be_positive():
    with pytest.raises(lw.LayerwiseError, match="predict batch_size must be a positive integer"):
        small().predict(np.zeros((3, 4)), batch_size=0)


def test_call_is_forward(rng):
    model = small(dtype=np.float64)
    x = rng.normal(size=(2, 4))
    np.testing.assert_array_equal(model(x), model.forward(x))


# -- state ----------------------------------------------------------------------------


def test_state_dict_round_trip_and_copies():
    a, b = small(seed=1), small(seed=2)
    state = a.state_dict()
    state["0.W"][0, 0] = 42.0  # a copy: the network is unchanged
    assert a.layers[0].params["W"][0, 0] != 42.0
    b.load_state_dict(a.state_dict())
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[name], value)


def test_load_state_dict_copies_in_place():
    model = small()
    W = model.layers[0].params["W"]
    model.load_state_dict({k: np.ones_like(v) for k, v in model.state_dict().items()})
    assert model.layers[0].params["W"] is W and (W == 1).all()


def test_load_state_dict_errors():
    model = small()
    state = model.state_dict()
    with pytest.raises(lw.LayerwiseError, match=r"missing \['2.b'\], unexpected \['9.W'\]"):
        model.load_state_dict(
            {**{k: v for k, v in state.items() if k != "2.b"}, "9.W": state["2.W"]}
        )
    with pytest.raises(
        lw.LayerwiseError,
        match=r"'0.W' has shape \(3, 4\); the network's parameter has shape \(4, 3\)",
    ):
        model.load_state_dict({**state, "0.W": state["0.W"].T})
    bad = {**state, "2.b": np.array([np.nan, 0.0], np.float32)}
    with pytest.raises(lw.LayerwiseError, match="'2.b' holds NaN or infinite values"):
        model.load_state_dict(bad)
    # Nothing was copied by the failed calls.
    np.testing.assert_array_equal(model.state_dict()["2.b"], state["2.b"])


def test_copy_is_independent_and_can_change_dtype(rng):
    model = small(seed=3)
    clone = model.copy()
    clone.layers[0].params["W"] += 1
    assert not np.array_equal(clone.state_dict()["0.W"], model.state_dict()["0.W"])
    wide = model.copy(dtype=np.float64)
    assert wide.dtype == np.float64
    x = rng.normal(size=(4, 4))
    np.testing.assert_allclose(wide.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)


# -- descriptions -------------------------------------------------------------------


def test_summary_prints_the_table_of_layers_shapes_and_counts(capsys):
    model = lw.Sequential([lw.Linear(64, 64), lw.ReLU(), lw.Linear(64, 10)])
    assert model.summary() is None  # as Keras: it shows the table, it does not return it
    text = capsys.readouterr().out
    assert "Linear(64 -> 64)" in text and "(None, 10)" in text and "4,160" in text
    assert "Total parameters: 4,810 (float32" in text
    # print_fn receives the same text, once, and nothing is printed.
    received = []
    model.summary(print_fn=received.append)
    assert received == [text.rstrip("\n")] and capsys.readouterr().out == ""


def test_summary_displays_an_html_table_in_a_kernel(monkeypatch, capsys):
    from layerwise import _display

    shown = []
    monkeypatch.setattr(_display, "in_kernel", lambda: True)
    monkeypatch.setattr(_display, "display", shown.append)
    lw.Sequential([lw.Linear(2, 4), lw.ReLU(), lw.Linear(4, 1)]).summary()
    (table,) = shown
    html = table._repr_html_()
    assert html.count("<tr>") == 5  # header, three layers, total
    assert "Linear(2 -&gt; 4)" in html and "Total parameters: 17" in html
    assert repr(table).startswith("#  Layer") and capsys.readouterr().out == ""


def test_config_round_trip():
    model = lw.Sequential(
        [
            lw.Linear(3, 4, init="glorot_normal"),
            lw.LeakyReLU(0.2),
            lw.Dropout(0.1),
            lw.Linear(4, 1),
        ],
        dtype=np.float64,
    )
    rebuilt = lw.Sequential.from_config(model.config())
    assert repr(rebuilt) == repr(model)
    assert rebuilt.layers[1].alpha == 0.2 and rebuilt.layers[2].p == 0.1
    assert rebuilt.layers[0].init == "glorot_normal" and rebuilt.dtype == np.float64


def test_config_refuses_code():
    model = lw.Sequential([lw.Linear(2, 2), lw.Elementwise(np.tanh, lambda z: 1 - np.tanh(z) ** 2)])
    with pytest.raises(
        lw.LayerwiseError, match=r"Elementwise\(tanh\) at layer 1 cannot be described in a file"
    ):
        model.config()


def test_from_config_errors():
    with pytest.raises(lw.LayerwiseError, match="unknown type 'Conv2d'"):
        lw.Sequential.from_config({"layers": [{"type": "Conv2d"}]})
    with pytest.raises(lw.LayerwiseError, match=r"Layer 0 \(Linear\) has bad arguments"):
        lw.Sequential.from_config({"layers": [{"type": "Linear", "in_features": 2}]})
    with pytest.raises(lw.LayerwiseError, match="needs a 'layers' list"):
        lw.Sequential.from_config({"layer": []})


# -- the toy facts of notebook 003 --------------------------------------------------


def facts(kind: str, n: int, seed: int):
    x = np.random.default_rng(seed).normal(size=(n, 2))
    return x, (x if kind == "identity" else x[:, ::-1].copy())


@pytest.mark.parametrize("kind", ["identity", "swap"])
def test_an_affine_layer_learns_identity_and_swap_online(kind):
    X, y = facts(kind, 200, seed=3)
    model = lw.Sequential([lw.Linear(2, 2)], seed=0, dtype=np.float64)
    model.fit(
        X, y, loss=lw.MSE(), optimizer=lw.SGD(lr=0.05), epochs=10, batch_size=1, progress=False
    )
    expected = np.eye(2) if kind == "identity" else np.eye(2)[::-1]
    np.testing.assert_allclose(model.layers[0].params["W"], expected, atol=1e-4)
    np.testing.assert_allclose(model.layers[0].params["b"], 0, atol=1e-4)


def test_a_constant_through_a_relu():
    X = np.random.default_rng(0).normal(size=(100, 2))
    y = np.full((100, 1), 0.7)
    model = lw.Sequential([lw.Linear(2, 2), lw.ReLU(), lw.Linear(2, 1)], seed=1, dtype=np.float64)
    model.fit(
        X, y, loss=lw.MSE(), optimizer=lw.SGD(lr=0.05), epochs=30, batch_size=1, progress=False
    )
    np.testing.assert_allclose(model.predict(X), 0.7, atol=1e-3)


def test_a_2_2_1_network_learns_xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
    y = np.array([0, 1, 1, 0])
    model = lw.Sequential([lw.Linear(2, 2), lw.Tanh(), lw.Linear(2, 1), lw.Sigmoid()], seed=0)
    model.fit(
        X,
        y,
        loss=lw.BinaryCrossEntropy(),
        optimizer=lw.Adam(lr=0.05),
        epochs=1000,
        batch_size=None,
        progress=False,
    )
    p = model.predict(X)[:, 0]
    np.testing.assert_array_equal(p > 0.5, y.astype(bool))
    assert (np.abs(p - y) < 0.1).all()
