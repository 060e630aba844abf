import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.metrics import fbeta_score  # noqa: E402

from f1opt.losses import (  # noqa: E402
    FocalLoss,
    RankNetLoss,
    SoftF1Loss,
    pos_weight_from_labels,
)


def _batch(n=8, n_labels=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, n_labels, generator=g, dtype=dtype)
    targets = (torch.rand(n, n_labels, generator=g) < 0.4).to(dtype)
    targets[0] = 1.0  # every label has a positive and a negative
    targets[1] = 0.0
    return logits, targets


# ---------------------------------------------------------------- gradcheck
LOSSES = {
    "soft_f1_micro": lambda: SoftF1Loss(),
    "soft_f1_macro": lambda: SoftF1Loss(average="macro"),
    "soft_f1_beta2_slope_offset": lambda: SoftF1Loss(beta=2.0, slope=3.0, offset=-0.5),
    "soft_f1_macro_beta05": lambda: SoftF1Loss(average="macro", beta=0.5),
    "focal": lambda: FocalLoss(),
    "focal_alpha_sum": lambda: FocalLoss(gamma=1.5, alpha=0.25, reduction="sum"),
    "focal_none": lambda: FocalLoss(gamma=3.0, reduction="none"),
    "ranknet": lambda: RankNetLoss(),
    "ranknet_pooled_sum": lambda: RankNetLoss(pairs="pooled", sigma=2.0, reduction="sum"),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("ndim", [1, 2])
def test_gradcheck(name, ndim):
    logits, targets = _batch()
    if ndim == 1:
        logits, targets = logits[:, 0].contiguous(), targets[:, 0].contiguous()
    logits.requires_grad_(True)
    loss = LOSSES[name]()
    assert torch.autograd.gradcheck(lambda x: loss(x, targets), (logits,))


def test_gradcheck_ranknet_sampled():
    logits, targets = _batch(n=20, n_labels=4)
    logits.requires_grad_(True)

    def sampled(x):  # a fresh generator per call: the same pairs every time
        generator = torch.Generator().manual_seed(3)
        return RankNetLoss(max_pairs=25, generator=generator)(x, targets)

    assert torch.autograd.gradcheck(sampled, (logits,))


# --------------------------------------------------------------- soft F-beta
@pytest.mark.parametrize("average", ["micro", "macro"])
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("seed", range(4))
def test_soft_f1_saturated_equals_hard_fbeta(average, beta, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((30, 5)) < 0.3).astype(np.int8)
    y_pred = (rng.random((30, 5)) < 0.3).astype(np.int8)
    y[:, 4] = 0  # a label with no positive (and, for one seed, no prediction)
    if seed == 0:
        y_pred[:, 4] = 0
    logits = torch.tensor(np.where(y_pred == 1, 50.0, -50.0))
    loss = SoftF1Loss(average=average, beta=beta)(logits, torch.tensor(y, dtype=torch.float64))
    expected = fbeta_score(y, y_pred, beta=beta, average=average, zero_division=0.0)
    assert float(loss) == pytest.approx(1.0 - expected, abs=1e-12)


def test_soft_f1_saturated_binary_and_offset():
    y = np.array([1, 0, 1, 1, 0, 0])
    raw = np.array([2.0, 1.5, 0.5, -1.0, -2.0, 0.8])
    offset = -0.7  # hard predictions raw + offset > 0
    loss = SoftF1Loss(slope=1000.0, offset=offset)(torch.tensor(raw), torch.tensor(y * 1.0))
    expected = fbeta_score(y, (raw + offset > 0).astype(int), beta=1.0)
    assert float(loss) == pytest.approx(1.0 - expected, abs=1e-12)


def test_soft_f1_macro_absent_label_gives_no_gradient():
    logits, targets = _batch()
    targets[:, 2] = 0.0
    logits.requires_grad_(True)
    SoftF1Loss(average="macro")(logits, targets).backward()
    assert torch.all(logits.grad[:, 2] == 0)
    assert torch.any(logits.grad[:, :2] != 0)
    logits.grad = None
    SoftF1Loss(average="micro")(logits, targets).backward()
    assert torch.all(logits.grad[:, 2] > 0)  # micro still pushes the false positives down


# ------------------------------------------------------------------- focal
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_focal_gamma0_equals_bce(reduction):
    logits, targets = _batch(n=40, n_labels=6)
    logits = logits * 10  # include saturated entries
    focal = FocalLoss(gamma=0.0, reduction=reduction)(logits, targets)
    bce = torch.nn.BCEWithLogitsLoss(reduction=reduction)(logits, targets)
    torch.testing.assert_close(focal, bce, rtol=1e-12, atol=1e-12)


def test_focal_matches_definition_and_down_weights():
    logits, targets = _batch(n=40, n_labels=6)
    p = torch.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = 0.25 * targets + 0.75 * (1 - targets)
    reference = -alpha_t * (1 - p_t) ** 2 * torch.log(p_t)
    got = FocalLoss(gamma=2.0, alpha=0.25, reduction="none")(logits, targets)
    torch.testing.assert_close(got, reference)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")(logits, targets)
    assert torch.all(FocalLoss(reduction="none")(logits, targets) <= bce)


# ------------------------------------------------------------------ ranknet
def _ranknet_brute(logits, targets, pooled):
    s, y = logits.numpy(), targets.numpy()
    if s.ndim == 1 or pooled:
        columns = [(s.ravel(), y.ravel())]
    else:
        columns = [(s[:, j], y[:, j]) for j in range(s.shape[1])]
    losses = [
        np.log1p(np.exp(-(sc[i] - sc[k])))
        for sc, yc in columns
        for i, k in itertools.product(range(len(sc)), repeat=2)
        if yc[i] == 1 and yc[k] == 0
    ]
    return np.mean(losses), np.sum(losses)


@pytest.mark.parametrize("pairs", ["per_label", "pooled"])
@pytest.mark.parametrize("seed", range(3))
def test_ranknet_equals_brute_force(pairs, seed):
    logits, targets = _batch(n=9, n_labels=3, seed=seed)
    mean, total = _ranknet_brute(logits, targets, pairs == "pooled")
    assert float(RankNetLoss(pairs=pairs)(logits, targets)) == pytest.approx(mean, rel=1e-12)
    got = RankNetLoss(pairs=pairs, reduction="sum")(logits, targets)
    assert float(got) == pytest.approx(total, rel=1e-12)


def test_ranknet_falls_as_positives_move_above_negatives():
    logits, targets = _batch(n=30, n_labels=4)
    direction = 2 * targets - 1  # up for positives, down for negatives
    values = [float(RankNetLoss()(logits + t * direction, targets)) for t in np.linspace(-3, 3, 13)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


def test_ranknet_sampling_is_unbiased():
    logits, targets = _batch(n=40, n_labels=5)
    exact = float(RankNetLoss()(logits, targets))
    generator = torch.Generator().manual_seed(0)
    sampled = RankNetLoss(max_pairs=200, generator=generator)
    estimates = [float(sampled(logits, targets)) for _ in range(400)]
    assert np.mean(estimates) == pytest.approx(exact, rel=0.02)


def test_ranknet_without_pairs_is_zero_with_zero_gradient():
    logits = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    loss = RankNetLoss()(logits, torch.zeros(5, 2, dtype=torch.float64))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.all(logits.grad == 0)


# --------------------------------------------------------------- pos_weight
def test_pos_weight_from_labels():
    rng = np.random.default_rng(0)
    y = (rng.random((50, 4)) < [0.1, 0.3, 0.5, 0.9]).astype(int)
    y[0] = 1
    weight = pos_weight_from_labels(y)
    expected = (y == 0).sum(axis=0) / (y == 1).sum(axis=0)
    np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-6)
    assert weight.dtype == torch.get_default_dtype()
    torch.testing.assert_close(pos_weight_from_labels(torch.tensor(y)), weight)
    logits = torch.randn(50, 4)
    loss = torch.nn.BCEWithLogitsLoss(pos_weight=weight)(
        logits, torch.tensor(y, dtype=torch.float32)
    )
    assert torch.isfinite(loss)
    binary = pos_weight_from_labels(np.array([1, 0, 0, 0, 1]), dtype=torch.float64)
    assert binary.shape == (1,) and float(binary) == 1.5


def test_pos_weight_errors():
    with pytest.raises(ValueError, match=r"no positive.*label\(s\) 1 "):
        pos_weight_from_labels([[1, 0], [0, 0]])
    with pytest.raises(ValueError, match="only 0 and 1"):
        pos_weight_from_labels([[1, 2], [0, 1]])


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "loss", [SoftF1Loss(), FocalLoss(), RankNetLoss()], ids=["soft_f1", "focal", "ranknet"]
)
def test_shape_mismatch(loss):
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(TypeError, match="torch tensors"):
        loss(np.zeros((4, 3)), torch.zeros(4, 3))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SoftF1Loss(average="samples"), "average"),
        (lambda: SoftF1Loss(beta=0), "beta"),
        (lambda: SoftF1Loss(slope=0), "slope"),
        (lambda: FocalLoss(gamma=-1), "gamma"),
        (lambda: FocalLoss(alpha=1.5), "alpha"),
        (lambda: FocalLoss(reduction="avg"), "reduction"),
        (lambda: RankNetLoss(max_pairs=0), "max_pairs"),
        (lambda: RankNetLoss(pairs="all"), "pairs"),
        (lambda: RankNetLoss(reduction="none"), "reduction"),
    ],
)
def test_bad_settings(make, match):
    with pytest.raises(ValueError, match=match):
        make()
