"""The stretcher: a small network on top of soft predictions, then a threshold.

A multilabel classifier's scores are often well ranked within each label but on
different scales across labels, so one global threshold serves them badly. The
stretcher trains a small network on the soft predictions against the true
labels (Dense(hidden, linear), then Dense(n_labels, sigmoid), Adam, binary
cross-entropy) so that its outputs can share the threshold 0.5, or hands its
outputs to any decider (``then=PerClassThreshold()``) fitted on a held-out part.

This module needs the ``torch`` extra (``pip install f1opt[torch]``): torch,
safetensors (for the weights file; npz is the fallback) and tqdm (progress bar).
"""

from __future__ import annotations

import contextlib
import copy
import numbers
from pathlib import Path

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "f1opt.Stretcher requires PyTorch. You can install it with `pip install f1opt[torch]`."
    ) from exc

from scipy.special import expit
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _io
from ._validation import check_scores, check_scores_and_labels
from .deciders import BaseDecider, _check_width
from .losses import SoftF1Loss
from .metrics import fbeta_score

__all__ = ["Stretcher", "stretcher_for"]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}
_LOSSES = ("bce", "soft_f1")
_PREDICT_CHUNK = 65536


class _StretchNet(nn.Module):
    """Linear(L, hidden), optional activation, Linear(hidden, L): the write-up's network.

    Returns logits; the sigmoid is applied by the loss (BCE with logits) and by
    ``predict_proba``.
    """

    def __init__(self, n_features: int, hidden: int, n_outputs: int, activation=None):
        super().__init__()
        self.hidden = nn.Linear(n_features, hidden)
        self.activation = _ACTIVATIONS[activation]() if activation is not None else nn.Identity()
        self.output = nn.Linear(hidden, n_outputs)

    def forward(self, x):
        return self.output(self.activation(self.hidden(x)))

    @torch.no_grad()
    def fold_standardization(self, mean, scale):
        """Make the network take raw inputs when it was trained on ``(x - mean) / scale``."""
        weight = self.hidden.weight / scale
        self.hidden.bias -= weight @ mean
        self.hidden.weight.copy_(weight)


_MANUAL_ACTIVATIONS = (None, "relu", "tanh")


@torch.no_grad()
def _bce_manual_backward(network: _StretchNet, xb, yb, activation):
    """Set the gradients of ``BCEWithLogitsLoss()(network(xb), yb)`` without autograd.

    The same arithmetic as autograd for this two-layer network (activation None,
    "relu" or "tanh"), with fewer operator calls: at these sizes each call
    costs about as much as its arithmetic. Returns the batch loss.
    """
    W1, b1 = network.hidden.weight, network.hidden.bias
    W2, b2 = network.output.weight, network.output.bias
    pre = torch.addmm(b1, xb, W1.t())
    if activation == "relu":
        h = pre.clamp_min(0.0)
    elif activation == "tanh":
        h = torch.tanh(pre)
    else:
        h = pre
    out = torch.addmm(b2, h, W2.t())
    loss = nn.functional.binary_cross_entropy_with_logits(out, yb)
    g = torch.sigmoid(out).sub_(yb).mul_(1.0 / out.numel())
    W2.grad = g.t().mm(h)
    b2.grad = g.sum(0)
    gh = g.mm(W2)
    if activation == "relu":
        gh.mul_(pre > 0)
    elif activation == "tanh":
        gh.mul_(1.0 - h * h)
    W1.grad = gh.t().mm(xb)
    b1.grad = gh.sum(0)
    return loss


@contextlib.contextmanager
def _torch_threads(n_threads):
    """Run the block with ``n_threads`` intra-op threads, restoring the setting after."""
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _resolve_device(device, *, strict: bool = True) -> torch.device:
    """Map the ``device`` parameter to a torch device.

    "auto" and "cpu" give the CPU; "cuda" (or "cuda:N") gives that GPU when
    torch sees one, and raises otherwise (``strict=False``, used when loading
    a saved stretcher, falls back to the CPU instead).
    """
    if device is None or device == "auto":
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"`device` must be 'auto', 'cpu', 'cuda' or 'cuda:N', but got {device!r}."
        ) from None
    if resolved.type == "cuda":
        available = torch.cuda.is_available()
        if available and resolved.index is not None:
            available = resolved.index < torch.cuda.device_count()
        if not available:
            if not strict:
                return torch.device("cpu")
            raise ValueError(
                f"device={device!r} was asked for, but torch sees no such GPU "
                f"(torch.cuda.is_available() is {torch.cuda.is_available()}). "
                "Use device='cpu', or install a CUDA build of torch."
            )
    elif resolved.type != "cpu":
        raise ValueError(f"`device` must be 'auto', 'cpu', 'cuda' or 'cuda:N', but got {device!r}.")
    return resolved


def _check_int(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral,)) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}, but got {value!r}.")
    return int(value)


def _micro_f1_counts(logits, y):
    """Micro-F1 of ``logits >= 0`` (probability >= 0.5) against 0/1 ``y``, on device."""
    predicted = logits >= 0
    tp = (predicted & (y > 0.5)).sum()
    denominator = predicted.sum() + (y > 0.5).sum()
    if int(denominator) == 0:
        return 0.0
    return float(2.0 * tp / denominator)


def _weights_path(path: Path) -> tuple[Path, str]:
    try:
        import safetensors.numpy  # noqa: F401

        suffix = ".safetensors"
    except ImportError:  # pragma: no cover - safetensors is part of the torch extra
        suffix = ".npz"
    name = path.stem if path.suffix == ".json" else path.name
    return path.with_name(name + suffix), suffix[1:]


def _sha256(path: Path) -> str:
    return _io.file_sha256(path)  # in chunks: bounded memory for any file


def _nested_path(path: Path) -> Path:
    """Where a nested ``then`` decider writes files of its own (a nested network)."""
    return path.with_name(path.stem + ".then" + (path.suffix or ".json"))


@_io.register_decider
class Stretcher(BaseDecider):
    """A small network that stretches soft predictions so that 0.5 serves every label.

    Fitted on soft predictions ``scores`` (any classifier's, shape
    ``(n_samples, n_labels)``) against the true 0/1 labels, the network learns
    a map after which one threshold (0.5) separates every label; ``then``
    replaces that threshold by any decider fitted on the held-out part.

    Parameters
    ----------
    hidden : int, default=200
        Width of the hidden layer.
    activation : {None, "relu", "tanh", "sigmoid", "gelu", "elu", "silu", "leaky_relu"}, \
default=None
        Activation after the hidden layer; None is linear, as in the write-up.
    epochs : int, default=200
        Most passes over the training part (early stopping usually ends sooner).
    batch_size : int, default=256
        The write-up used 64; 256 reaches the same validation F per epoch on
        the toy problem in about half the time (see Notes).
    learning_rate : float, default=1e-3
        Adam's step size.
    loss : {"bce", "soft_f1"}, default="bce"
        Binary cross-entropy (torch's ``BCEWithLogitsLoss``) or
        :class:`f1opt.losses.SoftF1Loss` (micro). The soft-F1 of a batch is a
        biased estimate of the data set's F that depends on the batch size:
        prefer large batches with it. On the toy problem it trails BCE.
    validation_fraction : float in [0, 1), default=0.1
        Part of the data held out (randomly) for early stopping and for
        fitting ``then``. 0 trains on everything (then ``early_stopping`` must
        be False and ``then`` None).
    early_stopping : bool, default=True
        Stop when the validation micro-F1 at 0.5 has not risen by more than
        ``tol`` for ``patience`` epochs, and keep the weights of the best epoch.
    patience : int, default=10
    tol : float, default=1e-3
        Smallest rise of the validation micro-F1 that counts as progress.
    then : decider or None, default=None
        A decider (e.g. :class:`f1opt.PerClassThreshold`) cloned and fitted on
        the stretched scores of the held-out part; None thresholds at 0.5.
    standardize : bool, default=True
        Train on inputs centred and scaled per column (training-part mean and
        standard deviation), then fold that map into the first layer, so the
        fitted network takes raw scores. The first layer is affine, so this
        changes nothing the network can represent, only how fast Adam gets
        there (see Notes).
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        "auto" is the CPU: for a network this small a GPU gains nothing at
        small batches. "cuda" uses the GPU and raises a ``ValueError`` when
        torch sees none.
    n_threads : int or None, default=1
        Torch intra-op threads while fitting and predicting (restored after);
        None keeps torch's setting. See Notes.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the initial weights and the shuffling: with an int,
        two fits on the same CPU give identical networks.
    verbose : bool, default=False
        Show a progress bar (epoch, training loss, validation loss and
        micro-F1) on stderr; False (the default, as in scikit-learn) prints
        nothing.

    Attributes
    ----------
    network_ : torch.nn.Module
        The fitted network (outputs logits).
    threshold_ : float
        0.5 (used when ``then`` is None).
    then_ : decider or None
        The fitted clone of ``then``.
    best_score_ : float
        F of the final decisions on the held-out part (on the training data
        when ``validation_fraction=0``), with ``then_``'s beta and average, or
        micro-F1 at 0.5.
    average_ : str
        The average of ``score``: ``then_.average_``, else "micro" ("binary"
        for 1-D scores).
    n_labels_ : int
        Number of label columns (0 for 1-D scores).
    n_features_in_ : int
        Number of score columns (1 for 1-D scores).
    n_epochs_ : int
        Epochs run.
    best_epoch_ : int
        The epoch (1-based) whose weights were kept.
    history_ : dict of lists
        Per epoch: "loss" (training), "val_loss" and "val_f1" (micro-F1 at 0.5).
    device_ : str

    Notes
    -----
    Departures from the write-up, each measured in
    ``benchmarks/stretcher_epochs.py`` (BENCHMARKS.md, section 5):

    - inputs are standardised (``standardize=True``): on the toy problem the
      test micro-F1 after 5 epochs at batch 64 is 0.991 instead of 0.984;
    - batches of 256 rather than 64: per epoch the validation F is as good,
      and an epoch costs about half (each step of this small network is
      mostly fixed overhead);
    - early stopping on the validation micro-F1 (``tol``, ``patience``)
      replaces a fixed 200 epochs;
    - one intra-op thread (``n_threads=1``): at batch 64 each step is tiny, a
      second thread gains little on an idle machine and, when the cores are
      shared, made training 9 to 28 times slower.

    The network's output is a logit; ``predict_proba`` applies the sigmoid in
    float64 so that fewer outputs saturate to exactly 0 or 1 and ``then``
    can still order them.

    References
    ----------
    .. [1] The "stretcher" write-up: a neural network trained on soft
       predictions so that one threshold serves every label (a blog post;
       f1opt's copy: shared/seeds/002).
    .. [2] D. P. Kingma, J. Ba. "Adam: A method for stochastic optimization."
       ICLR 2015.

    Examples
    --------
    >>> from f1opt import Stretcher
    >>> from f1opt.datasets import make_stretcher_toy
    >>> X_train, y_train, X_test, y_test = make_stretcher_toy(
    ...     n_labels=5, n_train=3000, n_test=500, random_state=0)
    >>> stretcher = Stretcher(epochs=20, batch_size=128, random_state=0, verbose=False)
    >>> stretcher.fit(X_train, y_train).score(X_test, y_test) > 0.95
    True
    """

    _fitted_attributes = (
        "threshold_",
        "best_score_",
        "average_",
        "n_labels_",
        "n_features_in_",
        "n_epochs_",
        "best_epoch_",
        "history_",
    )

    def __init__(
        self,
        hidden=200,
        activation=None,
        epochs=200,
        batch_size=256,
        learning_rate=1e-3,
        loss="bce",
        validation_fraction=0.1,
        early_stopping=True,
        patience=10,
        tol=1e-3,
        then=None,
        standardize=True,
        device="auto",
        n_threads=1,
        random_state=None,
        verbose=False,
    ):
        self.hidden = hidden
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.loss = loss
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.tol = tol
        self.then = then
        self.standardize = standardize
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _validate_params(self, strict_device: bool = True):
        _check_int(self.hidden, "hidden")
        _check_int(self.epochs, "epochs")
        _check_int(self.batch_size, "batch_size")
        _check_int(self.patience, "patience")
        if self.n_threads is not None:
            _check_int(self.n_threads, "n_threads")
        if self.activation is not None and self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"`activation` must be None or one of {sorted(_ACTIVATIONS)}, "
                f"but got {self.activation!r}."
            )
        if self.loss not in _LOSSES:
            raise ValueError(f"`loss` must be one of {_LOSSES}, but got {self.loss!r}.")
        for name in ("learning_rate", "tol", "validation_fraction"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not np.isfinite(value)
            ):
                raise ValueError(f"`{name}` must be a finite number, but got {value!r}.")
        if self.learning_rate <= 0:
            raise ValueError(f"`learning_rate` must be > 0, but got {self.learning_rate!r}.")
        if self.tol < 0:
            raise ValueError(f"`tol` must be >= 0, but got {self.tol!r}.")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                f"`validation_fraction` must be in [0, 1), but got {self.validation_fraction!r}."
            )
        if self.validation_fraction == 0.0 and (self.early_stopping or self.then is not None):
            raise ValueError(
                "validation_fraction=0 leaves no held-out part: early_stopping must be "
                "False and `then` None."
            )
        if self.then is not None and not (
            hasattr(self.then, "fit") and hasattr(self.then, "predict")
        ):
            raise ValueError(
                f"`then` must be a decider (with fit and predict), but got {self.then!r}."
            )
        return _resolve_device(self.device, strict=strict_device)

    # ----------------------------------------------------------------- fitting
    def fit(self, scores, y):
        """Train the network, then fit ``then`` on the held-out part.

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_labels) or (n_samples,)
            Soft predictions of some classifier.
        y : array-like of the same shape, 0/1
            True labels.

        Returns
        -------
        self : Stretcher
        """
        device = self._validate_params()
        scores_arr = check_scores(scores)
        multilabel = scores_arr.ndim == 2
        scores_arr, y_arr = check_scores_and_labels(scores_arr, y, multilabel=multilabel)
        if not multilabel:
            scores_arr, y_arr = scores_arr[:, None], y_arr[:, None]
        n_samples, n_labels = scores_arr.shape

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(0, 2**31 - 1))
        order = rng.permutation(n_samples)
        n_val = int(round(self.validation_fraction * n_samples))
        if self.validation_fraction > 0:
            n_val = max(n_val, 1)
        if n_samples - n_val < 1:
            raise ValueError(
                f"{n_samples} samples leave nothing to train on with "
                f"validation_fraction={self.validation_fraction}."
            )
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])

        with _torch_threads(self.n_threads if device.type == "cpu" else None):
            network, history, best_epoch = self._train(
                scores_arr[train_idx], y_arr[train_idx], scores_arr[val_idx], y_arr[val_idx],
                n_labels, device, seed,
            )  # fmt: skip
        self.network_ = network
        self.device_ = str(device)
        self.history_ = history
        self.n_epochs_ = len(history["loss"])
        self.best_epoch_ = best_epoch
        self.threshold_ = 0.5
        self.n_labels_ = n_labels if multilabel else 0
        self.n_features_in_ = n_labels

        held_idx = val_idx if n_val > 0 else train_idx
        held_scores = scores_arr[held_idx] if multilabel else scores_arr[held_idx, 0]
        held_y = y_arr[held_idx] if multilabel else y_arr[held_idx, 0]
        self.then_ = None
        if self.then is not None:
            self.then_ = clone(self.then).fit(self.predict_proba(held_scores), held_y)
        self.average_ = self._average()
        self.best_score_ = self.score(held_scores, held_y)
        return self

    def _criterion(self):
        if self.loss == "soft_f1":
            return SoftF1Loss(average="micro")
        return nn.BCEWithLogitsLoss()

    def _train(self, X_train, y_train, X_val, y_val, n_labels, device, seed):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = _StretchNet(n_labels, int(self.hidden), n_labels, self.activation)
        network.to(device)
        # Standardise once, train on the standardised data, fold it into the first
        # layer at the end: the saved network takes raw scores.
        mean = np.zeros(n_labels)
        scale = np.ones(n_labels)
        if self.standardize:
            mean = X_train.mean(axis=0)
            scale = X_train.std(axis=0)
            scale = np.where(scale > 1e-12, scale, 1.0)
        mean_t = torch.as_tensor(mean, dtype=torch.float32, device=device)
        scale_t = torch.as_tensor(scale, dtype=torch.float32, device=device)
        X = (torch.as_tensor(X_train, dtype=torch.float32, device=device) - mean_t) / scale_t
        Y = torch.as_tensor(y_train, dtype=torch.float32, device=device)
        has_val = X_val.shape[0] > 0
        if has_val:
            Xv = (torch.as_tensor(X_val, dtype=torch.float32, device=device) - mean_t) / scale_t
            Yv = torch.as_tensor(y_val, dtype=torch.float32, device=device)
        try:
            optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate, fused=True)
        except (RuntimeError, TypeError, ValueError):  # fused Adam missing on this device
            optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        criterion = self._criterion()
        manual = self.loss == "bce" and self.activation in _MANUAL_ACTIVATIONS
        generator = torch.Generator().manual_seed(seed)

        n_train, batch_size = X.shape[0], int(self.batch_size)
        history = {"loss": [], "val_loss": [], "val_f1": []}
        best_f, reference_f, wait = -np.inf, -np.inf, 0
        best_state, best_epoch = None, 0
        bar = None
        if self.verbose:
            from ._progress import progress_bar

            # asked for: drawn even when stderr is a file (the CLI keeps verbose=False)
            bar = progress_bar(
                int(self.epochs), desc="Stretcher", unit="epoch", enabled=True, leave=True
            )
        try:
            for epoch in range(1, int(self.epochs) + 1):
                network.train()
                permutation = torch.randperm(n_train, generator=generator).to(device)
                running = torch.zeros((), device=device)
                for start in range(0, n_train, batch_size):
                    index = permutation[start : start + batch_size]
                    xb, yb = X.index_select(0, index), Y.index_select(0, index)
                    if manual:
                        batch_loss = _bce_manual_backward(network, xb, yb, self.activation)
                    else:
                        batch_loss = criterion(network(xb), yb)
                        optimizer.zero_grad(set_to_none=True)
                        batch_loss.backward()
                    optimizer.step()
                    running += batch_loss.detach() * index.numel()
                history["loss"].append(float(running) / n_train)
                postfix = {"loss": f"{history['loss'][-1]:.4f}"}
                if has_val:
                    network.eval()
                    with torch.inference_mode():
                        logits = self._logits(network, Xv)
                        val_loss = float(criterion(logits, Yv))
                    val_f1 = _micro_f1_counts(logits, Yv)
                    history["val_loss"].append(val_loss)
                    history["val_f1"].append(val_f1)
                    postfix.update(val_loss=f"{val_loss:.4f}", val_f1=f"{val_f1:.4f}")
                    if val_f1 > best_f:
                        best_f, best_epoch = val_f1, epoch
                        best_state = copy.deepcopy(network.state_dict())
                    if val_f1 > reference_f + self.tol:
                        reference_f, wait = val_f1, 0
                    else:
                        wait += 1
                if bar is not None:
                    bar.set_postfix(postfix, refresh=False)
                    bar.update()
                if self.early_stopping and has_val and wait >= self.patience:
                    break
        finally:
            if bar is not None:
                bar.close()
        if self.early_stopping and best_state is not None:
            network.load_state_dict(best_state)
        else:
            best_epoch = len(history["loss"])
        if self.standardize:
            network.fold_standardization(mean_t, scale_t)
        network.eval()
        return network, history, best_epoch

    @staticmethod
    def _logits(network, X):
        if X.shape[0] <= _PREDICT_CHUNK:
            return network(X)
        return torch.cat(
            [network(X[i : i + _PREDICT_CHUNK]) for i in range(0, X.shape[0], _PREDICT_CHUNK)]
        )

    def _average(self) -> str:
        if self.then_ is not None and hasattr(self.then_, "average_"):
            return self.then_.average_
        return "micro" if self.n_labels_ else "binary"

    # -------------------------------------------------------------- predicting
    def _check_input(self, scores):
        check_is_fitted(self, "network_")
        scores = check_scores(scores, ndim=2 if self.n_labels_ else 1)
        _check_width(scores, self.n_labels_, type(self).__name__)
        return scores

    def decision_function(self, scores):
        """The network's logits (the stretched scores before the sigmoid).

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_labels) or (n_samples,)

        Returns
        -------
        logits : ndarray of float32 of the same shape
        """
        scores = self._check_input(scores)
        X = scores if scores.ndim == 2 else scores[:, None]
        device = next(self.network_.parameters()).device
        with _torch_threads(self.n_threads if device.type == "cpu" else None):
            with torch.inference_mode():
                tensor = torch.as_tensor(X, dtype=torch.float32, device=device)
                logits = self._logits(self.network_, tensor).cpu().numpy()
        return logits if scores.ndim == 2 else logits[:, 0]

    def predict_proba(self, scores):
        """Stretched probabilities, ``sigmoid(decision_function(scores))`` in float64.

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_labels) or (n_samples,)

        Returns
        -------
        proba : ndarray of float64 of the same shape, in [0, 1]
        """
        return expit(self.decision_function(scores).astype(np.float64))

    def transform(self, scores):
        """Same as :meth:`predict_proba` (the stretcher as a transformer)."""
        return self.predict_proba(scores)

    def predict(self, scores):
        """0/1 decisions: ``then_.predict`` of the stretched scores, or ``proba >= 0.5``.

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_labels) or (n_samples,)

        Returns
        -------
        y_pred : ndarray of int8 of the same shape
        """
        proba = self.predict_proba(scores)
        if self.then_ is not None:
            return np.asarray(self.then_.predict(proba)).astype(np.int8)
        return (proba >= self.threshold_).astype(np.int8)

    def score(self, scores, y) -> float:
        """F of :meth:`predict` against ``y`` (``then_``'s beta and average, else micro-F1).

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_labels) or (n_samples,)
        y : array-like of the same shape, 0/1

        Returns
        -------
        score : float
            Equal to :func:`sklearn.metrics.fbeta_score` on the same predictions.
        """
        check_is_fitted(self, "network_")
        then = self.then_
        return fbeta_score(
            y,
            self.predict(scores),
            beta=getattr(then, "beta", 1.0),
            average=self.average_,
            zero_division=getattr(then, "zero_division", 0.0),
        )

    # ------------------------------------------------------------ save / load
    def _params_to_json(self) -> dict:
        params = self.get_params(deep=False)
        then = params.pop("then")
        params["then"] = None if then is None else _decider_to_json(then, fitted=False)
        seed = params["random_state"]
        params["random_state"] = int(seed) if isinstance(seed, (int, np.integer)) else None
        return params

    def _fitted_to_json(self, path) -> dict:
        path = Path(path)
        fitted = super()._fitted_to_json(path)
        fitted["then_"] = (
            None
            if self.then_ is None
            else _decider_to_json(self.then_, fitted=True, path=_nested_path(path))
        )
        weights_path, weights_format = _weights_path(path)
        arrays = {
            name: tensor.detach().cpu().numpy().astype(np.float32)
            for name, tensor in self.network_.state_dict().items()
        }
        with _io.atomic_path(weights_path, suffix="." + weights_format) as tmp:
            if weights_format == "safetensors":
                from safetensors.numpy import save_file

                save_file(arrays, str(tmp), metadata={"format": "f1opt-stretcher"})
            else:  # pragma: no cover - safetensors is part of the torch extra
                np.savez(tmp, **arrays)
            digest = _sha256(tmp)
        fitted["weights"] = {
            "file": weights_path.name,
            "format": weights_format,
            "sha256": digest,
        }
        return fitted

    @classmethod
    def _from_json(cls, params: dict, fitted: dict, path):
        # Every field is checked (here and in f1opt._io) before the network is built, and
        # the network's sizes are checked against the weights file's header first.
        path = Path(path)
        params = dict(params)
        then = params.pop("then", None)
        stretcher = cls(**params, then=None if then is None else _decider_from_json(then))
        missing = [name for name in cls._fitted_attributes if name not in fitted]
        if missing:
            raise KeyError(f"missing fitted attributes {missing}")
        for name in cls._fitted_attributes:
            setattr(stretcher, name, fitted[name])
        then_ = fitted.get("then_")
        stretcher.then_ = (
            None
            if then_ is None
            else _decider_from_json(then_, path=_nested_path(path), where="fitted.then_.")
        )
        stretcher._check_loaded()
        stretcher.network_ = _load_network(stretcher, fitted.get("weights"), path)
        stretcher.device_ = str(next(stretcher.network_.parameters()).device)
        return stretcher

    def _check_loaded(self):
        # bad saved parameters raise ValueError; a GPU that is absent here means the CPU
        self._validate_params(strict_device=False)
        self.threshold_ = float(self.threshold_)
        self.n_labels_ = int(self.n_labels_)
        self.n_features_in_ = int(self.n_features_in_)
        self.n_epochs_ = int(self.n_epochs_)
        self.best_epoch_ = int(self.best_epoch_)
        if self.n_features_in_ < 1 or self.n_labels_ not in (0, self.n_features_in_):
            raise _io.RuleFileError(
                f"fields 'fitted.n_labels_' ({self.n_labels_}) and 'fitted.n_features_in_' "
                f"({self.n_features_in_}) disagree"
            )
        if self.n_labels_ == 0 and self.n_features_in_ != 1:
            raise _io.RuleFileError("field 'fitted.n_features_in_' must be 1 for 1-D scores")
        if not isinstance(self.history_, dict):
            raise _io.RuleFileError("field 'fitted.history_' must be an object")
        if not 0.0 < self.threshold_ < 1.0:
            raise _io.RuleFileError(
                f"field 'fitted.threshold_' must be a probability in (0, 1), "
                f"but is {self.threshold_!r}"
            )
        if self.then is not None and (
            self.then_ is None or type(self.then_) is not type(self.then)
        ):
            raise _io.RuleFileError("field 'fitted.then_' must be a fitted copy of `then`")
        if self.then is None and self.then_ is not None:
            raise _io.RuleFileError("field 'fitted.then_' must be null when `then` is null")
        if self.average_ != self._average():
            raise _io.RuleFileError(
                f"field 'fitted.average_' is {self.average_!r}, but the decisions use "
                f"{self._average()!r}"
            )
        if self.then_ is not None:
            then_labels = getattr(self.then_, "n_labels_", None)
            if hasattr(self.then_, "thresholds_"):
                then_labels = self.then_.thresholds_.size
            if then_labels is not None and then_labels != self.n_labels_:
                raise _io.RuleFileError(
                    f"field 'fitted.then_' was fitted on {then_labels} labels, the network "
                    f"has {self.n_labels_}"
                )


def stretcher_for(beta: float = 1.0, average: str = "micro", **params) -> Stretcher:
    """A :class:`Stretcher` whose decisions target F-beta with ``average``.

    The network is the same for every target; what changes is the decision
    after it. Micro F1 keeps the write-up's threshold 0.5; any other beta or
    average tunes the decision on the held-out part of the data:
    :class:`f1opt.PerClassThreshold` for micro, macro and weighted,
    :class:`f1opt.GlobalThreshold` for samples and binary.

    Parameters
    ----------
    beta : float, default=1.0
    average : {"binary", "micro", "macro", "weighted", "samples"}, default="micro"
    **params
        Other :class:`Stretcher` parameters (``then`` is set here).
    """
    from .deciders import GlobalThreshold, PerClassThreshold

    if beta == 1.0 and average in ("micro", "binary"):
        then = None
    elif average in ("micro", "macro", "weighted"):
        then = PerClassThreshold(beta=beta, average=average)
    elif average in ("samples", "binary"):
        then = GlobalThreshold(beta=beta, average=average)
    else:
        raise ValueError(
            "`average` must be one of 'binary', 'micro', 'macro', 'weighted', 'samples', "
            f"but got {average!r}."
        )
    return Stretcher(then=then, **params)


def _decider_to_json(decider, *, fitted: bool, path=None) -> dict:
    name = type(decider).__name__
    if _io._REGISTRY.get(name) is not type(decider):
        raise TypeError(f"`then` must be a registered f1opt decider to be saved, not {name}")
    document = {"class": name, "params": decider._params_to_json()}
    if fitted:
        document["fitted"] = decider._fitted_to_json(path)
    return document


def _decider_from_json(document, path=None, where="params.then."):
    if not isinstance(document, dict) or not isinstance(document.get("class"), str):
        raise _io.RuleFileError(
            f"field {where[:-1]!r}: a nested decider must be an object with a 'class'"
        )
    if "fitted" not in document:  # an unfitted template (the `then` parameter)
        cls = _io._REGISTRY.get(document["class"])
        params = document.get("params")
        if cls is None or not isinstance(params, dict):
            raise _io.RuleFileError(
                f"field {where[:-1]!r}: a nested decider needs a known 'class' and 'params'"
            )
        params = _io.from_jsonable(params, where + "params")
        _io.check_params(params, where + "params.")
        return cls(**params)
    return _io.decider_from_document(document, path, where=where)


_SAFETENSORS_HEADER_BYTES = 1 << 20  # ours hold four tensors: a few hundred bytes


def _expected_shapes(n_features: int, hidden: int) -> dict:
    """The state_dict shapes of ``_StretchNet(n_features, hidden, n_features)``.

    Built from numbers only: nothing is allocated.
    """
    return {
        "hidden.weight": (hidden, n_features),
        "hidden.bias": (hidden,),
        "output.weight": (n_features, hidden),
        "output.bias": (n_features,),
    }


def _check_safetensors_header(weights_path: Path, expected: dict, field: str) -> None:
    """Check names, dtypes, shapes and offsets in the header; no tensor is read."""
    size = weights_path.stat().st_size
    with open(weights_path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise _io.RuleFileError(f"{field}: the weights file is too short for safetensors")
        n_header = int.from_bytes(head, "little")
        if n_header > _SAFETENSORS_HEADER_BYTES or 8 + n_header > size:
            raise _io.RuleFileError(
                f"{field}: the weights file's header claims {n_header} bytes (file: {size}, "
                f"at most {_SAFETENSORS_HEADER_BYTES})"
            )
        raw = handle.read(n_header)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _io.RuleFileError(f"{field}: the weights file's header is not UTF-8") from None
    header = _io.parse_json(text, f"{field}: the weights file's header", max_depth=4)
    if not isinstance(header, dict):
        raise _io.RuleFileError(f"{field}: the weights file's header is not an object")
    header.pop("__metadata__", None)
    if set(header) != set(expected):
        raise _io.RuleFileError(
            f"{field}: the weights file holds {sorted(header)[:8]}, expected {sorted(expected)}"
        )
    spans = []
    for name, shape in expected.items():
        entry = header[name]
        if not isinstance(entry, dict) or entry.get("dtype") != "F32":
            raise _io.RuleFileError(f"{field}: tensor {name!r} must be float32 (F32)")
        got = entry.get("shape")
        if not isinstance(got, list) or tuple(got) != shape:
            raise _io.RuleFileError(
                f"{field}: tensor {name!r} has shape {_io._short(got)}, but hidden and "
                f"n_features_in_ make it {shape}"
            )
        offsets = entry.get("data_offsets")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_io._is_int(o) for o in offsets)
            or offsets[1] - offsets[0] != 4 * int(np.prod(shape))
        ):
            raise _io.RuleFileError(f"{field}: tensor {name!r} has bad data_offsets")
        spans.append(tuple(offsets))
    spans.sort()
    position = 0
    for begin, end in spans:
        if begin != position:
            raise _io.RuleFileError(f"{field}: the tensors do not tile the weights file")
        position = end
    if position != size - 8 - n_header:
        raise _io.RuleFileError(f"{field}: the tensors do not tile the weights file")


def _check_npz_members(weights_path: Path, expected: dict, field: str) -> None:
    """Check an npz's members (stored, not compressed) and their .npy headers; no data read."""
    import zipfile

    try:
        archive = zipfile.ZipFile(weights_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _io.RuleFileError(f"{field}: the weights file is not a valid npz ({exc})") from None
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        if set(members) != {name + ".npy" for name in expected}:
            raise _io.RuleFileError(
                f"{field}: the weights file holds {sorted(members)[:8]}, expected "
                f"{sorted(name + '.npy' for name in expected)}"
            )
        for name, shape in expected.items():
            info = members[name + ".npy"]
            if info.compress_type != zipfile.ZIP_STORED:
                raise _io.RuleFileError(f"{field}: member {name!r} must be stored uncompressed")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    got, fortran, dtype = np.lib.format.read_array_header_1_0(member)
                else:
                    got, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            if tuple(got) != shape or dtype != np.dtype("<f4") or fortran:
                raise _io.RuleFileError(
                    f"{field}: member {name!r} is {dtype} of shape {got}, expected float32 {shape}"
                )


def _load_network(stretcher: Stretcher, weights: dict, path: Path):
    if not isinstance(weights, dict):
        raise _io.RuleFileError("field 'fitted.weights' is missing or not an object")
    name, weights_format, digest = weights.get("file"), weights.get("format"), weights.get("sha256")
    if weights_format not in ("safetensors", "npz"):
        raise _io.RuleFileError(
            f"field 'fitted.weights.format' must be 'safetensors' or 'npz', but is "
            f"{_io._short(weights_format)}"
        )
    if not isinstance(digest, str) or len(digest) != 64:
        raise _io.RuleFileError("field 'fitted.weights.sha256' must be a SHA-256 hex digest")
    weights_path = _io.file_beside(path, name, "fitted.weights.file", _io.MAX_WEIGHTS_BYTES)
    expected = _expected_shapes(stretcher.n_features_in_, stretcher.hidden)
    field = "fitted.weights"
    if weights_format == "safetensors":
        _check_safetensors_header(weights_path, expected, field)
    else:
        _check_npz_members(weights_path, expected, field)
    if digest != _sha256(weights_path):
        raise _io.RuleFileError(
            f"the weights file {str(weights_path)!r} does not match its checksum"
        )
    if weights_format == "safetensors":
        from safetensors.numpy import load_file

        arrays = load_file(str(weights_path))
    else:
        with np.load(weights_path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    for key, value in arrays.items():
        if tuple(value.shape) != expected[key] or not np.isfinite(value).all():
            raise _io.RuleFileError(f"{field}: tensor {key!r} changed or holds NaN/inf values")
    network = _StretchNet(
        stretcher.n_features_in_,
        int(stretcher.hidden),
        stretcher.n_features_in_,
        stretcher.activation,
    )
    state = {
        key: torch.as_tensor(np.asarray(value, dtype=np.float32)) for key, value in arrays.items()
    }
    network.load_state_dict(state)
    network.to(_resolve_device(stretcher.device, strict=False))
    network.eval()
    return network
