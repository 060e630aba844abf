import json
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.metrics import f1_score, fbeta_score  # noqa: E402

import f1opt  # noqa: E402
from f1opt import GlobalThreshold, PerClassThreshold  # noqa: E402
from f1opt.datasets import make_stretcher_toy  # noqa: E402
from f1opt.stretch import Stretcher  # noqa: E402

FAST = dict(epochs=25, batch_size=128, learning_rate=3e-3, random_state=0, verbose=False)


@pytest.fixture(scope="module")
def toy():
    return make_stretcher_toy(n_labels=8, n_train=3000, n_test=1000, random_state=0)


@pytest.fixture(scope="module")
def fitted(toy):
    X_train, y_train, _, _ = toy
    return Stretcher(**FAST).fit(X_train, y_train)


@pytest.fixture(scope="module")
def fitted_then(toy):
    X_train, y_train, _, _ = toy
    return Stretcher(then=PerClassThreshold(), validation_fraction=0.3, **FAST).fit(
        X_train, y_train
    )


def test_lazy_attribute():
    assert f1opt.Stretcher is Stretcher


def test_stretcher_beats_one_global_threshold(toy, fitted):
    X_train, y_train, X_test, y_test = toy
    y_pred = fitted.predict(X_test)
    assert y_pred.dtype == np.int8 and y_pred.shape == y_test.shape
    score = f1_score(y_test, y_pred, average="micro")
    assert fitted.score(X_test, y_test) == pytest.approx(score, abs=1e-12)
    glob = GlobalThreshold().fit(X_train, y_train)
    global_score = f1_score(y_test, glob.predict(X_test), average="micro")
    assert score > 0.95 > global_score + 0.05
    proba = fitted.predict_proba(X_test)
    assert proba.dtype == np.float64 and np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_array_equal(y_pred, (proba >= 0.5).astype(np.int8))
    np.testing.assert_array_equal(fitted.transform(X_test), proba)
    assert fitted.threshold_ == 0.5 and fitted.then_ is None and fitted.average_ == "micro"
    assert 1 <= fitted.best_epoch_ <= fitted.n_epochs_ <= 25
    assert len(fitted.history_["val_f1"]) == fitted.n_epochs_


def test_then_per_class_threshold_at_least_as_good(toy, fitted_then):
    _, _, X_test, y_test = toy
    at_half = (fitted_then.predict_proba(X_test) >= 0.5).astype(int)  # the same network alone
    alone = f1_score(y_test, at_half, average="micro")
    y_pred = fitted_then.predict(X_test)
    with_then = f1_score(y_test, y_pred, average="micro")
    assert isinstance(fitted_then.then_, PerClassThreshold)
    assert fitted_then.then is not fitted_then.then_  # cloned
    # on this small toy the thresholds come from 900 held-out rows; the full toy
    # (benchmarks/stretcher_epochs.py) shows the strict gain
    assert with_then >= alone - 0.002, (with_then, alone)
    assert fitted_then.score(X_test, y_test) == pytest.approx(with_then, abs=1e-12)
    np.testing.assert_array_equal(
        y_pred, fitted_then.then_.predict(fitted_then.predict_proba(X_test))
    )


def test_then_with_beta_and_macro_scores_like_sklearn(toy):
    X_train, y_train, X_test, y_test = toy
    decider = PerClassThreshold(beta=2.0, average="macro")
    stretcher = Stretcher(then=decider, **{**FAST, "epochs": 3}).fit(X_train, y_train)
    expected = fbeta_score(y_test, stretcher.predict(X_test), beta=2.0, average="macro")
    assert stretcher.average_ == "macro"
    assert stretcher.score(X_test, y_test) == pytest.approx(expected, abs=1e-12)


def test_deterministic_with_random_state(toy, fitted):
    X_train, y_train, X_test, _ = toy
    again = Stretcher(**FAST).fit(X_train, y_train)
    np.testing.assert_array_equal(again.predict_proba(X_test), fitted.predict_proba(X_test))
    other = Stretcher(**{**FAST, "random_state": 1, "epochs": 2}).fit(X_train, y_train)
    assert not np.array_equal(other.predict_proba(X_test), fitted.predict_proba(X_test))


def test_threads_restored(toy):
    X_train, y_train, _, _ = toy
    before = torch.get_num_threads()
    Stretcher(**{**FAST, "epochs": 1, "early_stopping": False}).fit(X_train, y_train)
    assert torch.get_num_threads() == before


def test_standardize_folded_into_network(toy):
    X_train, y_train, X_test, _ = toy
    stretcher = Stretcher(**{**FAST, "epochs": 2}).fit(X_train, y_train)
    assert set(stretcher.network_.state_dict()) == {
        "hidden.weight",
        "hidden.bias",
        "output.weight",
        "output.bias",
    }
    raw = stretcher.network_(torch.tensor(X_test[:5], dtype=torch.float32)).detach().numpy()
    # same network, but torch's thread count (and so its float32 summation order) may differ
    # between this call and decision_function's single-threaded one
    np.testing.assert_allclose(raw, stretcher.decision_function(X_test[:5]), rtol=1e-5, atol=1e-6)


def test_soft_f1_loss_and_activation(toy):
    X_train, y_train, X_test, y_test = toy
    stretcher = Stretcher(loss="soft_f1", activation="relu", **FAST)
    stretcher.fit(X_train, y_train)
    assert f1_score(y_test, stretcher.predict(X_test), average="micro") > 0.9


def test_early_stopping_stops_and_keeps_best(toy):
    X_train, y_train, _, _ = toy
    stretcher = Stretcher(
        **{**FAST, "epochs": 100, "patience": 2, "tol": 0.05, "learning_rate": 1e-2}
    ).fit(X_train, y_train)
    assert stretcher.n_epochs_ < 100
    history = stretcher.history_["val_f1"]
    assert history[stretcher.best_epoch_ - 1] == max(history)


def test_no_validation(toy):
    X_train, y_train, X_test, y_test = toy
    stretcher = Stretcher(
        **{**FAST, "epochs": 3, "validation_fraction": 0.0, "early_stopping": False}
    ).fit(X_train, y_train)
    assert stretcher.n_epochs_ == 3 and stretcher.history_["val_f1"] == []
    expected = f1_score(y_train, stretcher.predict(X_train), average="micro")
    assert stretcher.best_score_ == pytest.approx(expected, abs=1e-12)


def test_binary_one_dimensional_scores():
    rng = np.random.default_rng(0)
    scores = rng.random(2000)
    y = (scores > 0.8).astype(int)
    stretcher = Stretcher(**{**FAST, "then": GlobalThreshold()}).fit(scores, y)
    y_pred = stretcher.predict(scores)
    assert y_pred.shape == (2000,) and stretcher.average_ == "binary"
    assert stretcher.score(scores, y) == pytest.approx(f1_score(y, y_pred), abs=1e-12)
    assert f1_score(y, y_pred) > 0.95


# ------------------------------------------------------------- save / load
def _no_pickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle or torch.load was used")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


@pytest.mark.parametrize("which", ["fitted", "fitted_then"])
def test_save_load_identical_predictions(which, toy, tmp_path, monkeypatch, request):
    stretcher = request.getfixturevalue(which)
    _, _, X_test, y_test = toy
    path = stretcher.save(tmp_path / "stretcher.json")
    _no_pickle(monkeypatch)
    loaded = f1opt.load(path)
    assert isinstance(loaded, Stretcher)
    np.testing.assert_array_equal(loaded.predict_proba(X_test), stretcher.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.predict(X_test), stretcher.predict(X_test))
    assert loaded.score(X_test, y_test) == stretcher.score(X_test, y_test)
    assert loaded.get_params()["batch_size"] == stretcher.batch_size
    assert type(loaded.then_) is type(stretcher.then_)
    # nothing saved is a pickle: strict JSON plus a safetensors file
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["stretcher.json", "stretcher.safetensors"]
    document = json.loads((tmp_path / "stretcher.json").read_text())
    assert document["class"] == "Stretcher"
    assert document["fitted"]["weights"]["file"] == "stretcher.safetensors"
    for file in tmp_path.iterdir():
        head = file.read_bytes()[:4]
        assert head[:1] != b"\x80" and head[:2] != b"PK"  # no pickle protocol, no torch zip
    from safetensors.numpy import load_file

    arrays = load_file(str(tmp_path / "stretcher.safetensors"))
    assert set(arrays) == set(stretcher.network_.state_dict())


def test_load_refuses_tampered_weights(fitted, tmp_path):
    path = fitted.save(tmp_path / "s.json")
    weights = tmp_path / "s.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        f1opt.load(path)
    weights.unlink()
    with pytest.raises(ValueError, match="missing"):
        f1opt.load(path)


def test_load_refuses_weights_outside_directory(fitted, tmp_path):
    path = fitted.save(tmp_path / "s.json")
    document = json.loads(path.read_text())
    document["fitted"]["weights"]["file"] = "../s.safetensors"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="plain file name"):
        f1opt.load(path)


def test_unfitted_save_raises(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Stretcher().save(tmp_path / "s.json")


# ------------------------------------------------------------------ errors
def test_input_errors(toy, fitted):
    X_train, y_train, X_test, _ = toy
    stretcher = Stretcher(**{**FAST, "epochs": 1})
    with pytest.raises(ValueError, match="same shape"):
        stretcher.fit(X_train, y_train[:, :5])
    bad = y_train.copy()
    bad[0, 0] = 2
    with pytest.raises(ValueError, match="only 0 and 1"):
        stretcher.fit(X_train, bad)
    nan = X_train.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stretcher.fit(nan, y_train)
    with pytest.raises(ValueError, match="8 label columns"):
        fitted.predict(X_test[:, :5])
    nan_test = X_test.copy()
    nan_test[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(nan_test)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden": 0}, "hidden"),
        ({"epochs": 1.5}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"loss": "hinge"}, "loss"),
        ({"activation": "softmax"}, "activation"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"validation_fraction": 0.0}, "no held-out"),
        ({"device": "tpu"}, "device"),
        ({"then": "PerClassThreshold"}, "then"),
    ],
)
def test_parameter_errors(toy, params, match):
    X_train, y_train, _, _ = toy
    with pytest.raises(ValueError, match=match):
        Stretcher(**{**FAST, **params}).fit(X_train, y_train)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_asked_but_absent(toy):
    X_train, y_train, _, _ = toy
    with pytest.raises(ValueError, match="no such GPU"):
        Stretcher(**{**FAST, "device": "cuda"}).fit(X_train, y_train)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_when_present(toy):  # pragma: no cover - no GPU on the CI machines
    X_train, y_train, X_test, _ = toy
    stretcher = Stretcher(**{**FAST, "device": "cuda", "epochs": 2}).fit(X_train, y_train)
    assert stretcher.device_.startswith("cuda")
    assert stretcher.predict(X_test).shape == X_test.shape


# ----------------------------------------------------------------- output
def test_verbose_false_prints_nothing(toy, capfd):
    X_train, y_train, _, _ = toy
    Stretcher(**{**FAST, "epochs": 2}).fit(X_train, y_train)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_verbose_shows_progress(toy, capfd):
    X_train, y_train, _, _ = toy
    Stretcher(**{**FAST, "epochs": 2, "verbose": True}).fit(X_train, y_train)
    _, err = capfd.readouterr()
    assert "epoch" in err and "val_f1" in err and "loss" in err


def test_file_saved_for_a_gpu_loads_on_cpu(fitted, toy, tmp_path):
    _, _, X_test, _ = toy
    path = fitted.save(tmp_path / "s.json")
    document = json.loads(path.read_text())
    document["params"]["device"] = "cuda"
    path.write_text(json.dumps(document))
    loaded = f1opt.load(path)
    if not torch.cuda.is_available():
        assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.predict(X_test), fitted.predict(X_test))


@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_manual_backward_equals_autograd(activation):
    from f1opt.stretch import _bce_manual_backward, _StretchNet

    torch.manual_seed(0)
    network = _StretchNet(6, 9, 6, activation).double()
    xb = torch.randn(11, 6, dtype=torch.float64)
    yb = (torch.rand(11, 6) < 0.4).double()
    loss = torch.nn.BCEWithLogitsLoss()(network(xb), yb)
    loss.backward()
    expected = {name: p.grad.clone() for name, p in network.named_parameters()}
    network.zero_grad(set_to_none=True)
    manual_loss = _bce_manual_backward(network, xb, yb, activation)
    torch.testing.assert_close(manual_loss, loss.detach())
    for name, p in network.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "beta, average, then",
    [
        (1.0, "micro", None),
        (2.0, "micro", PerClassThreshold),
        (1.0, "macro", PerClassThreshold),
        (0.5, "samples", GlobalThreshold),
    ],
)
def test_stretcher_for_targets_the_asked_f(toy, beta, average, then):
    from f1opt.stretch import stretcher_for

    X_train, y_train, X_test, y_test = toy
    model = stretcher_for(beta, average, epochs=3, random_state=0, verbose=False)
    assert (model.then is None) if then is None else isinstance(model.then, then)
    if then is None:
        return
    assert (model.then.beta, model.then.average) == (beta, average)
    model.fit(X_train, y_train)
    assert model.average_ == average
    pred = model.predict(X_test)
    expected = fbeta_score(y_test, pred, beta=beta, average=average, zero_division=0.0)
    assert model.score(X_test, y_test) == pytest.approx(expected, abs=1e-12)
