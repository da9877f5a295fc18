import itertools
import math

import numpy as np
import pytest
import torch

from darkroom.losses import KoLeoLoss, MarginContrastiveLoss, NTXentLoss, SupConLoss, TripletLoss


def ntxent_numpy(z1, z2, temperature):
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    sim = z @ z.T / temperature
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        others = [sim[i, k] for k in range(2 * n) if k != i]
        total += -sim[i, j] + np.log(np.sum(np.exp(others)))
    return total / (2 * n)


def test_ntxent_matches_numpy_and_analytic():
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    loss = NTXentLoss(0.3)(torch.tensor(z1), torch.tensor(z2))
    assert math.isclose(float(loss), ntxent_numpy(z1, z2, 0.3), rel_tol=1e-6)
    same = torch.ones(8, 4)
    assert math.isclose(float(NTXentLoss(0.5)(same, same)), math.log(2 * 8 - 1), rel_tol=1e-6)
    assert math.isclose(float(NTXentLoss(0.3)(torch.tensor(z2), torch.tensor(z1))), float(loss), rel_tol=1e-6)


def supcon_numpy(z, labels, temperature):
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T / temperature
    losses = []
    for i in range(len(z)):
        positives = [p for p in range(len(z)) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        log_denominator = np.log(sum(np.exp(sim[i, k]) for k in range(len(z)) if k != i))
        losses.append(-np.mean([sim[i, p] - log_denominator for p in positives]))
    return np.mean(losses)


def test_supcon_matches_numpy_and_analytic():
    rng = np.random.default_rng(1)
    z, labels = rng.normal(size=(9, 4)), np.array([0, 0, 1, 1, 1, 2, 3, 3, 0])  # label 2 has no positive
    loss = SupConLoss(0.2)(torch.tensor(z), torch.tensor(labels))
    assert math.isclose(float(loss), supcon_numpy(z, labels, 0.2), rel_tol=1e-6)
    assert math.isclose(float(SupConLoss(0.5)(torch.ones(6, 3), torch.zeros(6))), math.log(5), rel_tol=1e-6)
    # with distinct labels SupCon has no positives: zero, with a gradient path
    none = SupConLoss()(torch.randn(4, 3, requires_grad=True), torch.arange(4))
    assert float(none.detach()) == 0.0 and none.requires_grad
    # clustering by label lowers it
    centres = torch.eye(4)[torch.tensor(labels)]
    assert float(SupConLoss(0.2)(centres + 0.01 * torch.randn(9, 4), torch.tensor(labels))) < float(loss)
    with pytest.raises(ValueError):
        SupConLoss()(torch.randn(4, 3), torch.arange(3))


def test_ntxent_memory_bank_adds_negatives():
    loss_fn = NTXentLoss(0.5, memory_bank_size=8)
    z1, z2 = torch.randn(4, 3), torch.randn(4, 3)
    first = loss_fn(z1, z2)
    assert loss_fn.bank.shape == (4, 3)
    second = loss_fn(z1, z2)  # same batch, now with 4 extra negatives
    assert float(second) > float(first)
    for _ in range(3):
        loss_fn(z1, z2)
    assert loss_fn.bank.shape == (8, 3)


def test_ntxent_gradcheck_and_errors():
    z1 = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    z2 = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: NTXentLoss(0.5)(a, b), (z1, z2))
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0)
    with pytest.raises(ValueError, match="two views"):
        NTXentLoss()(torch.randn(3, 4), torch.randn(2, 4))


def triplets_numpy(x, labels, margin):
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    losses = []
    for a, p, n in itertools.permutations(range(len(x)), 3):
        if labels[a] == labels[p] and labels[a] != labels[n]:
            losses.append(max(0.0, d[a, p] - d[a, n] + margin))
    losses = [v for v in losses if v > 1e-16]
    all_mean = np.mean(losses) if losses else 0.0
    hard = []
    for a in range(len(x)):
        pos = [d[a, p] for p in range(len(x)) if p != a and labels[p] == labels[a]]
        neg = [d[a, n] for n in range(len(x)) if labels[n] != labels[a]]
        if pos and neg:
            hard.append(max(0.0, max(pos) - min(neg) + margin))
    semi = []
    for a, p in itertools.permutations(range(len(x)), 2):
        if labels[a] != labels[p]:
            continue
        neg = [d[a, n] for n in range(len(x)) if labels[n] != labels[a]]
        farther = [v for v in neg if v > d[a, p]]
        chosen = min(farther) if farther else max(neg)
        semi.append(max(0.0, d[a, p] - chosen + margin))
    return all_mean, np.mean(hard), np.mean(semi)


def test_triplet_mining_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(9, 4))
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    ref_all, ref_hard, ref_semi = triplets_numpy(x, labels, 0.5)
    xt, lt = torch.tensor(x), torch.tensor(labels)
    assert math.isclose(float(TripletLoss(0.5, "all")(xt, lt)), ref_all, rel_tol=1e-6)
    assert math.isclose(float(TripletLoss(0.5, "batch-hard")(xt, lt)), ref_hard, rel_tol=1e-6)
    assert math.isclose(float(TripletLoss(0.5, "semi-hard")(xt, lt)), ref_semi, rel_tol=1e-6)


def test_triplet_separated_classes_cost_nothing_and_gradcheck():
    x = torch.tensor([[0.0, 0], [0, 0.1], [10, 0], [10, 0.1]])
    labels = torch.tensor([0, 0, 1, 1])
    for mining in TripletLoss.MININGS:
        assert float(TripletLoss(1.0, mining)(x, labels)) == 0
    xd = torch.randn(6, 3, dtype=torch.double, requires_grad=True)
    ld = torch.tensor([0, 0, 1, 1, 2, 2])
    assert torch.autograd.gradcheck(lambda v: TripletLoss(0.3, "batch-hard")(v, ld), (xd,))
    with pytest.raises(ValueError, match="mining"):
        TripletLoss(mining="easy")


def test_margin_contrastive():
    x1 = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    x2 = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    loss = MarginContrastiveLoss(margin=1.0)
    assert math.isclose(float(loss(x1, x2, torch.tensor([1, 1]))), (25 + 0.25) / 2, rel_tol=1e-6)
    assert math.isclose(float(loss(x1, x2, torch.tensor([0, 0]))), (0 + 0.25) / 2, rel_tol=1e-6)
    assert math.isclose(float(loss(x2, x1, torch.tensor([0, 1]))), float(loss(x1, x2, torch.tensor([0, 1]))))


def test_koleo_prefers_spread_descriptors():
    spread = torch.eye(4)
    bunched = torch.eye(4) * 0.1 + 1
    koleo = KoLeoLoss()
    assert math.isclose(float(koleo(spread)), -math.log(math.sqrt(2)), rel_tol=1e-5)
    assert float(koleo(bunched)) > float(koleo(spread))
    with pytest.raises(ValueError):
        koleo(torch.randn(1, 4))
