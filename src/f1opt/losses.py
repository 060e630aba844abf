"""Training-time surrogates of F-beta for PyTorch (the ``torch`` extra).

Every loss here is a :class:`torch.nn.Module` called as ``loss(logits, targets)``
like torch's own losses: ``logits`` are raw scores (before the sigmoid) of shape
``(batch,)`` or ``(batch, n_labels)`` and ``targets`` are 0/1 of the same shape.

- :class:`SoftF1Loss`: ``1 - F-beta`` of soft counts (sigmoidF1).
- :class:`FocalLoss`: binary cross-entropy that down-weights easy entries.
- :class:`RankNetLoss`: pairwise logistic loss, positives above negatives.
- :func:`pos_weight_from_labels`: ``pos_weight`` for torch's own
  :class:`torch.nn.BCEWithLogitsLoss` (class-weighted cross-entropy; use
  torch's loss, it is not rewritten here).

A loss computed on a batch sees only that batch. F-beta is a ratio of sums, so
the F of a batch is a biased estimate of the F of the data set, and its bias
and its variance depend on the batch size; a label with no positive in a batch
gives no signal to the pieces of a loss that need positives. The docstrings
say where this bites, and ``benchmarks/stretcher_epochs.py`` measures it.
"""

from __future__ import annotations

import numbers

import numpy as np

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "f1opt.losses requires PyTorch. You can install it with `pip install f1opt[torch]`."
    ) from exc

from ._validation import check_beta, check_binary_labels, check_indicator_labels

__all__ = ["SoftF1Loss", "FocalLoss", "RankNetLoss", "pos_weight_from_labels"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_pair(logits, targets, name: str):
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError(
            f"{name} expects torch tensors (logits, targets), but got "
            f"{type(logits).__name__} and {type(targets).__name__}."
        )
    if logits.shape != targets.shape:
        raise ValueError(
            f"{name}: `logits` and `targets` must have the same shape, but got "
            f"{tuple(logits.shape)} and {tuple(targets.shape)}."
        )
    if logits.ndim not in (1, 2):
        raise ValueError(
            f"{name}: expected logits of shape (batch,) or (batch, n_labels), but got "
            f"{tuple(logits.shape)}."
        )
    if logits.numel() == 0:
        raise ValueError(f"{name}: the batch is empty.")
    if not torch.is_floating_point(logits):
        raise TypeError(f"{name}: `logits` must be a floating tensor, but got {logits.dtype}.")
    return targets.to(logits.dtype)


def _check_real(value, name: str, *, low=None, low_open=False, high=None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"Expected `{name}` to be a finite number, but got {value!r}.")
    if low is not None and (value < low or (low_open and value == low)):
        side = ">" if low_open else ">="
        raise ValueError(f"Expected `{name}` {side} {low}, but got {value!r}.")
    if high is not None and value > high:
        raise ValueError(f"Expected `{name}` <= {high}, but got {value!r}.")
    return float(value)


def _check_reduction(reduction, allowed=_REDUCTIONS) -> str:
    if reduction not in allowed:
        raise ValueError(f"`reduction` must be one of {allowed}, but got {reduction!r}.")
    return reduction


def _reduce(loss, reduction: str):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def soft_fbeta(logits, targets, *, average="micro", beta=1.0, slope=1.0, offset=0.0):
    """F-beta of soft counts, the differentiable kernel of :class:`SoftF1Loss`.

    Parameters
    ----------
    logits : Tensor of shape (batch,) or (batch, n_labels)
    targets : Tensor of the same shape, 0/1 (values in [0, 1] are accepted)
    average : {"micro", "macro"}, default="micro"
    beta : float, default=1.0
    slope, offset : float
        Soft predictions are ``sigmoid(slope * (logits + offset))``.

    Returns
    -------
    f : 0-d Tensor
        ``(1 + beta^2) tp / (beta^2 p + k)`` with soft ``tp`` and ``k``; a label
        whose denominator is 0 counts 0, as scikit-learn's ``zero_division=0``.
    """
    prob = torch.sigmoid(slope * (logits + offset))
    if logits.ndim == 1:
        prob, targets = prob[:, None], targets[:, None]
    b2 = beta * beta
    dims = (0, 1) if average == "micro" else (0,)
    tp = (prob * targets).sum(dim=dims)
    k = prob.sum(dim=dims)
    p = targets.sum(dim=dims)
    denominator = b2 * p + k
    safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    f = torch.where(denominator > 0, (1.0 + b2) * tp / safe, torch.zeros_like(denominator))
    return f.mean()


class SoftF1Loss(nn.Module):
    """``1 - F-beta`` computed from soft counts: the sigmoidF1 surrogate.

    With ``u = sigmoid(slope * (logits + offset))`` the soft counts are
    ``tp = sum(u * y)``, ``fp = sum(u * (1 - y))`` and ``fn = sum((1 - u) * y)``,
    and the loss is ``1 - (1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp)``.
    When the logits saturate (``u`` in {0, 1}) it equals ``1 - F-beta`` of the
    hard predictions ``logits + offset > 0``.

    Parameters
    ----------
    average : {"micro", "macro"}, default="micro"
        "micro" pools the counts of every entry of the batch; "macro" computes
        F per label (column) and averages. 1-D input is one label (both agree).
    beta : float, default=1.0
        Weight of recall.
    slope : float, default=1.0
        Steepness of the sigmoid (``S`` in sigmoidF1); larger is closer to the
        step function and gives sparser gradients.
    offset : float, default=0.0
        Shift added to the logits before the sigmoid (``E`` in sigmoidF1).

    Notes
    -----
    **Batch bias.** F is a ratio of sums; the F of a batch is not an unbiased
    estimate of the F of the data set (``E[a / b] != E[a] / E[b]``), so the
    minimiser of the expected batch loss moves with the batch size: small
    batches favour predicting more positives than the data-set optimum, and the
    gradient is noisier. Use batches large enough to hold several positives of
    every label (``benchmarks/stretcher_epochs.py`` measures 64 to 4096), or
    follow training by an exact threshold search (:class:`f1opt.PerClassThreshold`).

    **Absent labels.** With ``average="macro"`` a label with no positive in
    the batch has ``tp = 0`` identically, so its F is 0 whatever the logits
    and it sends no gradient at all (false positives of that label are not
    punished in that batch). With ``average="micro"`` its predictions still
    enter the pooled denominator and are pushed down.

    References
    ----------
    .. [1] G. Bénédict, V. Koops, D. Odijk, M. de Rijke. "sigmoidF1: A smooth
       F1 score surrogate loss for multilabel classification." TMLR 2022
       (arXiv:2108.10566, 2021).

    Examples
    --------
    >>> import torch
    >>> from f1opt.losses import SoftF1Loss
    >>> logits = torch.tensor([[50.0, -50.0], [50.0, 50.0]])
    >>> targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> round(float(SoftF1Loss()(logits, targets)), 4)  # 1 - F1 with tp=2, fp=1, fn=0
    0.2
    """

    def __init__(self, average="micro", beta=1.0, slope=1.0, offset=0.0):
        super().__init__()
        if average not in ("micro", "macro"):
            raise ValueError(f"`average` must be 'micro' or 'macro', but got {average!r}.")
        self.average = average
        self.beta = check_beta(beta)
        self.slope = _check_real(slope, "slope", low=0.0, low_open=True)
        self.offset = _check_real(offset, "offset")

    def forward(self, logits, targets):
        """Loss of one batch.

        Parameters
        ----------
        logits : Tensor of shape (batch,) or (batch, n_labels)
        targets : Tensor of the same shape, 0/1

        Returns
        -------
        loss : 0-d Tensor in [0, 1]
        """
        targets = _check_pair(logits, targets, type(self).__name__)
        f = soft_fbeta(
            logits,
            targets,
            average=self.average,
            beta=self.beta,
            slope=self.slope,
            offset=self.offset,
        )
        return 1.0 - f

    def extra_repr(self) -> str:
        """The settings shown in ``repr``."""
        return (
            f"average={self.average!r}, beta={self.beta}, slope={self.slope}, offset={self.offset}"
        )


class FocalLoss(nn.Module):
    """Binary focal loss on logits: ``-alpha_t (1 - p_t)^gamma log(p_t)``.

    ``p_t`` is the probability given to the true value of each entry. With
    ``gamma=0`` and ``alpha=None`` this is exactly
    :class:`torch.nn.BCEWithLogitsLoss`.

    Parameters
    ----------
    gamma : float, default=2.0
        Focusing parameter (>= 0): larger down-weights well classified entries.
    alpha : float in [0, 1] or None, default=None
        Weight of the positive entries (``1 - alpha`` for negatives); None
        weighs both 1.
    reduction : {"mean", "sum", "none"}, default="mean"

    Notes
    -----
    The loss is a sum over entries, so unlike :class:`SoftF1Loss` its batch
    mean is an unbiased estimate of the data-set mean at any batch size. It
    does not target F directly: follow training by a threshold search.

    References
    ----------
    .. [1] T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár. "Focal loss for
       dense object detection." ICCV 2017.

    Examples
    --------
    >>> import torch
    >>> from f1opt.losses import FocalLoss
    >>> logits, targets = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])
    >>> bce = torch.nn.BCEWithLogitsLoss()(logits, targets)
    >>> bool(torch.isclose(FocalLoss(gamma=0.0)(logits, targets), bce))
    True
    """

    def __init__(self, gamma=2.0, alpha=None, reduction="mean"):
        super().__init__()
        self.gamma = _check_real(gamma, "gamma", low=0.0)
        self.alpha = None if alpha is None else _check_real(alpha, "alpha", low=0.0, high=1.0)
        self.reduction = _check_reduction(reduction)

    def forward(self, logits, targets):
        """Loss of one batch.

        Parameters
        ----------
        logits : Tensor of shape (batch,) or (batch, n_labels)
        targets : Tensor of the same shape, 0/1 (values in [0, 1] are accepted)

        Returns
        -------
        loss : Tensor, 0-d for "mean" and "sum", else of the input's shape
        """
        targets = _check_pair(logits, targets, type(self).__name__)
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        if self.gamma != 0.0:
            # 1 - p_t without cancellation: sigmoid(-x) for positives, sigmoid(x) for negatives
            miss = torch.sigmoid(-logits) * targets + torch.sigmoid(logits) * (1.0 - targets)
            loss = loss * miss.pow(self.gamma)
        if self.alpha is not None:
            loss = loss * (self.alpha * targets + (1.0 - self.alpha) * (1.0 - targets))
        return _reduce(loss, self.reduction)

    def extra_repr(self) -> str:
        """The settings shown in ``repr``."""
        return f"gamma={self.gamma}, alpha={self.alpha}, reduction={self.reduction!r}"


def _group_pairs(y_flat, groups, n_groups, max_pairs, generator):
    """Positive-negative pairs within each group; all of them or a weighted sample.

    Returns ``(pos, neg, weight, total)``: flat indices of the two members of
    each pair, a weight per pair such that ``sum(weight * l)`` is the sum of
    ``l`` over every pair (exactly, or unbiased when sampled), and the number
    of pairs ``total``. Returns None when there is no pair.
    """
    device = y_flat.device
    positive = y_flat > 0.5
    pos_idx = torch.nonzero(positive, as_tuple=True)[0]
    neg_idx = torch.nonzero(~positive, as_tuple=True)[0]
    if pos_idx.numel() == 0 or neg_idx.numel() == 0:
        return None
    # negatives sorted by group, with the start and size of each group
    neg_groups = groups[neg_idx]
    order = torch.argsort(neg_groups, stable=True)
    neg_sorted = neg_idx[order]
    n_neg = torch.bincount(neg_groups, minlength=n_groups)
    start = torch.cumsum(n_neg, 0) - n_neg
    pos_groups = groups[pos_idx]
    counts = n_neg[pos_groups]  # pairs of each positive
    keep = counts > 0
    pos_idx, pos_groups, counts = pos_idx[keep], pos_groups[keep], counts[keep]
    total = int(counts.sum())
    if total == 0:
        return None
    if total <= max_pairs:
        pos = torch.repeat_interleave(pos_idx, counts)
        first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        within = torch.arange(total, device=device) - first
        neg = neg_sorted[torch.repeat_interleave(start[pos_groups], counts) + within]
        weight = torch.ones(total, device=device)
        return pos, neg, weight, total
    # Sample: a positive uniformly, then a negative of its group uniformly.
    # Pair (i, j) is drawn with probability 1 / (n_pos * n_neg[group]); the
    # weight n_neg[group] * n_pos / max_pairs makes sum(weight * l) unbiased for
    # the sum over all pairs.
    n_pos = pos_idx.numel()
    pick = torch.randint(n_pos, (max_pairs,), device=device, generator=generator)
    group_size = counts[pick]
    u = torch.rand(max_pairs, device=device, generator=generator)
    within = torch.minimum((u * group_size).long(), group_size - 1)
    neg = neg_sorted[start[pos_groups[pick]] + within]
    weight = group_size.to(torch.get_default_dtype()) * (n_pos / max_pairs)
    return pos_idx[pick], neg, weight, total


class RankNetLoss(nn.Module):
    """Pairwise logistic loss: every positive should score above every negative.

    For a positive ``i`` and a negative ``j`` of the same label the loss is
    ``log(1 + exp(-sigma * (s_i - s_j)))``, RankNet's cross-entropy with target
    "i above j". It depends only on the order of the scores, so it trains a
    ranking; a threshold (for example :class:`f1opt.PerClassThreshold`) then
    turns the ranking into F-optimal decisions.

    Parameters
    ----------
    pairs : {"per_label", "pooled"}, default="per_label"
        "per_label" pairs samples within each label column (what one
        threshold per label needs, and the only choice for 1-D input);
        "pooled" pairs every positive entry of the batch with every negative
        entry of any label (what one global threshold needs).
    max_pairs : int, default=131072
        When a batch has more pairs, ``max_pairs`` of them are sampled (a
        positive uniformly, then a negative of its label uniformly, importance
        weighted so that the loss stays an unbiased estimate).
    sigma : float, default=1.0
        Scale of the score differences.
    reduction : {"mean", "sum"}, default="mean"
        Mean or sum over the pairs of the batch.
    generator : torch.Generator or None, default=None
        Source of the pair sampling (torch's global generator if None); it
        must live on the logits' device.

    Notes
    -----
    A batch with no positive, or no negative, for a label has no pair for that
    label and gives it no signal; a batch with no pair at all returns 0 (with a
    zero gradient). Small batches hold few pairs per label, so rare labels are
    seen in few batches: the batch mean is unbiased for the mean over pairs
    that fall in one batch, which is not the data set's full set of pairs.

    References
    ----------
    .. [1] C. Burges, T. Shaked, E. Renshaw, A. Lazier, M. Deeds, N. Hamilton,
       G. Hullender. "Learning to rank using gradient descent." ICML 2005.

    Examples
    --------
    >>> import torch
    >>> from f1opt.losses import RankNetLoss
    >>> targets = torch.tensor([1.0, 0.0, 1.0, 0.0])
    >>> good = RankNetLoss()(torch.tensor([3.0, -3.0, 2.0, -2.0]), targets)
    >>> bad = RankNetLoss()(torch.tensor([-3.0, 3.0, -2.0, 2.0]), targets)
    >>> bool(good < bad)
    True
    """

    def __init__(
        self, pairs="per_label", max_pairs=131072, sigma=1.0, reduction="mean", generator=None
    ):
        super().__init__()
        if pairs not in ("per_label", "pooled"):
            raise ValueError(f"`pairs` must be 'per_label' or 'pooled', but got {pairs!r}.")
        if (
            isinstance(max_pairs, bool)
            or not isinstance(max_pairs, (int, np.integer))
            or max_pairs < 1
        ):
            raise ValueError(f"`max_pairs` must be a positive integer, but got {max_pairs!r}.")
        self.pairs = pairs
        self.max_pairs = int(max_pairs)
        self.sigma = _check_real(sigma, "sigma", low=0.0, low_open=True)
        self.reduction = _check_reduction(reduction, ("mean", "sum"))
        self.generator = generator

    def forward(self, logits, targets):
        """Loss of one batch.

        Parameters
        ----------
        logits : Tensor of shape (batch,) or (batch, n_labels)
        targets : Tensor of the same shape, 0/1

        Returns
        -------
        loss : 0-d Tensor
        """
        targets = _check_pair(logits, targets, type(self).__name__)
        flat_logits = logits.reshape(-1)
        flat_targets = targets.reshape(-1)
        if logits.ndim == 2 and self.pairs == "per_label":
            n_labels = logits.shape[1]
            groups = torch.arange(n_labels, device=logits.device).repeat(logits.shape[0])
        else:
            n_labels = 1
            groups = torch.zeros(flat_logits.numel(), dtype=torch.long, device=logits.device)
        found = _group_pairs(flat_targets, groups, n_labels, self.max_pairs, self.generator)
        if found is None:
            return flat_logits.sum() * 0.0
        pos, neg, weight, total = found
        loss = F.softplus(-self.sigma * (flat_logits[pos] - flat_logits[neg]))
        summed = (weight.to(logits.dtype) * loss).sum()
        return summed if self.reduction == "sum" else summed / total

    def extra_repr(self) -> str:
        """The settings shown in ``repr``."""
        return (
            f"pairs={self.pairs!r}, max_pairs={self.max_pairs}, sigma={self.sigma}, "
            f"reduction={self.reduction!r}"
        )


def pos_weight_from_labels(y, *, dtype=None, device=None):
    """``pos_weight`` for :class:`torch.nn.BCEWithLogitsLoss`: negatives / positives per label.

    Weighting the positive term of each label by its ratio of negatives to
    positives gives both classes the same total weight (class-weighted
    cross-entropy), which moves the 0.5 threshold towards the rare class.

    Parameters
    ----------
    y : array-like or Tensor of shape (n_samples,) or (n_samples, n_labels)
        0/1 training labels.
    dtype : torch.dtype, default=torch.get_default_dtype()
    device : torch.device or str, default=None (CPU)

    Returns
    -------
    pos_weight : Tensor of shape (1,) for 1-D labels or (n_labels,)

    Raises
    ------
    ValueError
        If a label has no positive (its weight would be infinite), or the
        labels are not 0/1.

    Examples
    --------
    >>> import torch
    >>> from f1opt.losses import pos_weight_from_labels
    >>> pos_weight_from_labels([[1, 0], [0, 1], [0, 1], [0, 1]])
    tensor([3.0000, 0.3333])
    >>> loss = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight_from_labels([1, 0, 0, 0]))
    """
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    array = np.asarray(y)
    if array.ndim == 1:
        labels = check_binary_labels(array)[:, None]
    else:
        labels = check_indicator_labels(array)
    positives = labels.sum(axis=0, dtype=np.int64)
    negatives = labels.shape[0] - positives
    absent = np.flatnonzero(positives == 0)
    if absent.size:
        shown = ", ".join(str(i) for i in absent[:10]) + (", ..." if absent.size > 10 else "")
        raise ValueError(
            f"pos_weight is undefined for labels with no positive example: "
            f"label(s) {shown} ({absent.size} of {positives.size}) have none in `y`."
        )
    weight = negatives / positives
    return torch.as_tensor(
        weight, dtype=dtype if dtype is not None else torch.get_default_dtype(), device=device
    )
