"""Parity with sentence-transformers for the pair, triplet and batch-triplet losses (tiny BERT, dropout 0)."""

from __future__ import annotations

import pytest
import torch

from raypipe.losses.dense import (
    angle,
    batch_all_triplet,
    batch_hard_soft_margin_triplet,
    batch_hard_triplet,
    batch_semi_hard_triplet,
    contrastive,
    cosent,
    cosine_similarity,
    online_contrastive,
    softmax,
    triplet,
)
from tests.losses.dense._st_parity import (
    ANCHORS,
    NEGATIVES,
    NEGATIVES2,
    POSITIVES,
    load_pair,
    run_parity,
    st_losses,
)

BINARY = torch.tensor([1, 0, 1, 1, 0, 0])
SCORES = torch.tensor([0.9, 0.1, 0.75, 0.6, 0.3, 0.45])
CLASSES = torch.tensor([0, 0, 1, 1, 2, 2])
PAIRS = [ANCHORS, POSITIVES]
MIXED = [ANCHORS, POSITIVES[:3] + NEGATIVES[3:]]  # pairs 0-2 similar, 3-5 dissimilar


def _siamese(name):
    return getattr(contrastive.SiameseDistanceMetric, name), getattr(st_losses().SiameseDistanceMetric, name)


def _triplet_metric(name):
    return getattr(triplet.TripletDistanceMetric, name), getattr(st_losses().TripletDistanceMetric, name)


def _batch_metric(name):
    return (
        getattr(batch_hard_triplet.BatchHardTripletLossDistanceFunction, name),
        getattr(st_losses().BatchHardTripletLossDistanceFunction, name),
    )


def _cases():
    """(id, raypipe factory, st factory, columns, labels)."""
    L = st_losses
    cases = []
    for metric in ("COSINE_DISTANCE", "EUCLIDEAN", "MANHATTAN"):
        for size_average in (True, False):
            cases.append(
                (
                    f"contrastive-{metric}-{size_average}",
                    lambda m, metric=metric, sa=size_average: contrastive.ContrastiveLoss(
                        m, distance_metric=_siamese(metric)[0], margin=1.5, size_average=sa
                    ),
                    lambda m, metric=metric, sa=size_average: L().ContrastiveLoss(
                        m, distance_metric=_siamese(metric)[1], margin=1.5, size_average=sa
                    ),
                    MIXED,
                    BINARY.float(),
                )
            )
    for metric in ("COSINE_DISTANCE", "EUCLIDEAN"):
        cases.append(
            (
                f"online_contrastive-{metric}",
                lambda m, metric=metric: online_contrastive.OnlineContrastiveLoss(
                    m, distance_metric=_siamese(metric)[0], margin=2.0
                ),
                lambda m, metric=metric: L().OnlineContrastiveLoss(
                    m, distance_metric=_siamese(metric)[1], margin=2.0
                ),
                MIXED,
                BINARY,
            )
        )
    cases += [
        (
            "online_contrastive-default",
            online_contrastive.OnlineContrastiveLoss,
            lambda m: L().OnlineContrastiveLoss(m),
            MIXED,
            BINARY,
        ),
        ("cosent", cosent.CoSENTLoss, lambda m: L().CoSENTLoss(m), PAIRS, SCORES),
        (
            "cosent-ties-scale5",
            lambda m: cosent.CoSENTLoss(m, scale=5.0),
            lambda m: L().CoSENTLoss(m, scale=5.0),
            PAIRS,
            torch.tensor([1.0, 0.0, 1.0, 0.5, 0.5, 0.0]),
        ),
        ("angle-pairs", angle.AnglELoss, lambda m: L().AnglELoss(m), PAIRS, SCORES),
        (
            "angle-triplets",
            angle.AnglELoss,
            lambda m: L().AnglELoss(m),
            [ANCHORS, POSITIVES, NEGATIVES],
            None,
        ),
        (
            "angle-4cols",
            angle.AnglELoss,
            lambda m: L().AnglELoss(m),
            [ANCHORS, POSITIVES, NEGATIVES, NEGATIVES2],
            None,
        ),
        (
            "cosine_similarity",
            cosine_similarity.CosineSimilarityLoss,
            lambda m: L().CosineSimilarityLoss(m),
            PAIRS,
            SCORES,
        ),
        (
            "cosine_similarity-l1",
            lambda m: cosine_similarity.CosineSimilarityLoss(m, loss_fct=torch.nn.L1Loss()),
            lambda m: L().CosineSimilarityLoss(m, loss_fct=torch.nn.L1Loss()),
            PAIRS,
            SCORES,
        ),
    ]
    for metric in ("EUCLIDEAN", "COSINE", "MANHATTAN"):
        cases.append(
            (
                f"triplet-{metric}",
                lambda m, metric=metric: triplet.TripletLoss(
                    m, distance_metric=_triplet_metric(metric)[0], triplet_margin=1.0
                ),
                lambda m, metric=metric: L().TripletLoss(
                    m, distance_metric=_triplet_metric(metric)[1], triplet_margin=1.0
                ),
                [ANCHORS, POSITIVES, NEGATIVES],
                None,
            )
        )
    cases.append(
        (
            "triplet-default",
            triplet.TripletLoss,
            lambda m: L().TripletLoss(m),
            [ANCHORS, POSITIVES, NEGATIVES],
            None,
        )
    )
    batch_losses = [
        ("batch_hard", batch_hard_triplet.BatchHardTripletLoss, "BatchHardTripletLoss", {"margin": 0.5}),
        (
            "batch_hard_soft",
            batch_hard_soft_margin_triplet.BatchHardSoftMarginTripletLoss,
            "BatchHardSoftMarginTripletLoss",
            {},
        ),
        (
            "batch_semi_hard",
            batch_semi_hard_triplet.BatchSemiHardTripletLoss,
            "BatchSemiHardTripletLoss",
            {"margin": 0.5},
        ),
        ("batch_all", batch_all_triplet.BatchAllTripletLoss, "BatchAllTripletLoss", {"margin": 0.5}),
    ]
    for name, cls, st_name, kw in batch_losses:
        for metric in ("euclidean_distance", "cosine_distance"):
            cases.append(
                (
                    f"{name}-{metric}",
                    lambda m, cls=cls, metric=metric, kw=kw: cls(
                        m, distance_metric=_batch_metric(metric)[0], **kw
                    ),
                    lambda m, st_name=st_name, metric=metric, kw=kw: getattr(L(), st_name)(
                        m, distance_metric=_batch_metric(metric)[1], **kw
                    ),
                    [ANCHORS],
                    CLASSES,
                )
            )
        cases.append(
            (f"{name}-default", cls, lambda m, st_name=st_name: getattr(L(), st_name)(m), [ANCHORS], CLASSES)
        )
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_parity(case):
    _, make_rp, make_st, columns, labels = case
    rp_model, st_model = load_pair()
    run_parity(rp_model, st_model, make_rp(rp_model), make_st(st_model), columns, labels)


def test_batch_semi_hard_without_semi_hard_negatives():
    """Classes whose negatives are all closer than the positive fall back to the farthest negative."""
    rp_model, st_model = load_pair()
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    run_parity(
        rp_model,
        st_model,
        batch_semi_hard_triplet.BatchSemiHardTripletLoss(rp_model, margin=0.1),
        st_losses().BatchSemiHardTripletLoss(st_model, margin=0.1),
        [ANCHORS],
        labels,
    )


@pytest.mark.parametrize("squared", [False, True])
def test_batch_euclidean_distance_matches(squared):
    torch.manual_seed(0)
    x = torch.randn(7, 5)
    x[3] = x[1]  # a zero distance off the diagonal
    ours = batch_hard_triplet.BatchHardTripletLossDistanceFunction.euclidean_distance(x, squared=squared)
    ref = st_losses().BatchHardTripletLossDistanceFunction.euclidean_distance(x, squared=squared)
    assert torch.allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize("flags", [(True, True, False), (True, False, True), (False, True, True)])
def test_softmax_parity(flags):
    rep, diff, mult = flags
    rp_model, st_model = load_pair()
    kwargs = dict(
        embedding_dimension=32,
        num_labels=3,
        concatenation_sent_rep=rep,
        concatenation_sent_difference=diff,
        concatenation_sent_multiplication=mult,
    )
    rp_loss = softmax.SoftmaxLoss(rp_model, **kwargs)
    st_loss = st_losses().SoftmaxLoss(st_model, **kwargs)
    rp_loss.classifier.load_state_dict(st_loss.classifier.state_dict())

    def classifier_params(a, b):
        return dict(a.classifier.named_parameters()), dict(b.classifier.named_parameters())

    run_parity(
        rp_model, st_model, rp_loss, st_loss, PAIRS, torch.tensor([0, 1, 2, 0, 1, 2]), extra=classifier_params
    )


def test_softmax_deprecated_kwarg_and_no_labels():
    rp_model, _ = load_pair()
    with pytest.warns(FutureWarning):
        loss = softmax.SoftmaxLoss(rp_model, sentence_embedding_dimension=32, num_labels=2)
    assert loss.classifier.in_features == 96
    from tests.losses.dense._st_parity import features

    reps, logits = loss(features(rp_model, PAIRS), None)
    assert len(reps) == 2 and logits.shape == (6, 2)


def test_config_dicts_match_st():
    rp_model, st_model = load_pair()
    L = st_losses()
    pairs = [
        (contrastive.ContrastiveLoss(rp_model), L.ContrastiveLoss(st_model)),
        (online_contrastive.OnlineContrastiveLoss(rp_model), L.OnlineContrastiveLoss(st_model)),
        (cosent.CoSENTLoss(rp_model), L.CoSENTLoss(st_model)),
        (angle.AnglELoss(rp_model), L.AnglELoss(st_model)),
        (triplet.TripletLoss(rp_model), L.TripletLoss(st_model)),
        (batch_hard_triplet.BatchHardTripletLoss(rp_model), L.BatchHardTripletLoss(st_model)),
        (batch_all_triplet.BatchAllTripletLoss(rp_model), L.BatchAllTripletLoss(st_model)),
        (batch_semi_hard_triplet.BatchSemiHardTripletLoss(rp_model), L.BatchSemiHardTripletLoss(st_model)),
        (
            batch_hard_soft_margin_triplet.BatchHardSoftMarginTripletLoss(rp_model),
            L.BatchHardSoftMarginTripletLoss(st_model),
        ),
        (softmax.SoftmaxLoss(rp_model, 32, 3), L.SoftmaxLoss(st_model, 32, 3)),
    ]
    for ours, ref in pairs:
        assert ours.get_config_dict() == ref.get_config_dict(), type(ours).__name__
        assert ours.citation is None or "@" in ours.citation
    cs_ours = cosine_similarity.CosineSimilarityLoss(rp_model).get_config_dict()
    cs_ref = L.CosineSimilarityLoss(st_model).get_config_dict()
    assert cs_ours == cs_ref
