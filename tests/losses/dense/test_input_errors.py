"""Wrong inputs raise a ValueError that names the loss, what it expects and what it got; input_requirements()
describes the accepted datasets."""

from __future__ import annotations

import pytest
import torch

from raypipe.losses.base import LABEL_NONE, LABEL_OPTIONAL, LABEL_REQUIRED, LossRequirements
from raypipe.losses.dense.adaptive_layer import AdaptiveLayerLoss
from raypipe.losses.dense.angle import AnglELoss
from raypipe.losses.dense.batch_all_triplet import BatchAllTripletLoss
from raypipe.losses.dense.batch_hard_soft_margin_triplet import BatchHardSoftMarginTripletLoss
from raypipe.losses.dense.batch_hard_triplet import BatchHardTripletLoss
from raypipe.losses.dense.batch_semi_hard_triplet import BatchSemiHardTripletLoss
from raypipe.losses.dense.contrastive import ContrastiveLoss
from raypipe.losses.dense.contrastive_tension import ContrastiveTensionLoss
from raypipe.losses.dense.contrastive_tension_in_batch_negatives import ContrastiveTensionLossInBatchNegatives
from raypipe.losses.dense.cosent import CoSENTLoss
from raypipe.losses.dense.cosine_similarity import CosineSimilarityLoss
from raypipe.losses.dense.denoising_auto_encoder import DenoisingAutoEncoderLoss
from raypipe.losses.dense.distill_kl_div import DistillKLDivLoss
from raypipe.losses.dense.embed_distill import EmbedDistillLoss
from raypipe.losses.dense.global_orthogonal_regularization import GlobalOrthogonalRegularizationLoss
from raypipe.losses.dense.margin_mse import MarginMSELoss
from raypipe.losses.dense.matryoshka import MatryoshkaLoss
from raypipe.losses.dense.matryoshka_2d import Matryoshka2dLoss
from raypipe.losses.dense.mse import MSELoss
from raypipe.losses.dense.online_contrastive import OnlineContrastiveLoss
from raypipe.losses.dense.softmax import SoftmaxLoss
from raypipe.losses.dense.triplet import TripletLoss
from tests.losses.dense._st_parity import ANCHORS, NEGATIVES, NEGATIVES2, POSITIVES, features, load_pair

B = len(ANCHORS)
COLS = [ANCHORS, POSITIVES, NEGATIVES, NEGATIVES2]
ONE = torch.ones(B)

# (loss factory, number of text columns, labels, regex the message must match)
BAD = [
    (ContrastiveLoss, 3, ONE, r"ContrastiveLoss expects exactly 2 input column\(s\), but got 3"),
    (ContrastiveLoss, 2, None, r"ContrastiveLoss expects .* labels, but got labels=None"),
    (
        ContrastiveLoss,
        2,
        torch.ones(3),
        r"ContrastiveLoss expects 6 labels .* but got 3 labels with shape \(3,\)",
    ),
    (OnlineContrastiveLoss, 1, ONE, r"OnlineContrastiveLoss expects exactly 2 input column\(s\), but got 1"),
    (OnlineContrastiveLoss, 2, torch.ones(B, 2), r"OnlineContrastiveLoss expects 6 labels .* got 12"),
    (CoSENTLoss, 3, ONE, r"CoSENTLoss expects exactly 2 input column\(s\), but got 3"),
    (CoSENTLoss, 2, None, r"CoSENTLoss expects .* labels, but got labels=None"),
    (AnglELoss, 2, None, r"AnglELoss expects .* labels, but got labels=None"),
    (AnglELoss, 1, ONE, r"AnglELoss expects at least 2 input column\(s\), but got 1"),
    (CosineSimilarityLoss, 2, torch.ones(5), r"CosineSimilarityLoss expects 6 labels .* got 5"),
    (TripletLoss, 2, None, r"TripletLoss expects exactly 3 input column\(s\), but got 2"),
    (BatchHardTripletLoss, 2, ONE, r"BatchHardTripletLoss expects exactly 1 input column\(s\), but got 2"),
    (BatchHardTripletLoss, 1, None, r"BatchHardTripletLoss expects .* labels, but got labels=None"),
    (BatchAllTripletLoss, 1, torch.ones(2), r"BatchAllTripletLoss expects 6 labels .* got 2"),
    (BatchSemiHardTripletLoss, 3, ONE, r"BatchSemiHardTripletLoss expects exactly 1 input"),
    (BatchHardSoftMarginTripletLoss, 1, None, r"BatchHardSoftMarginTripletLoss expects .* labels=None"),
    (MSELoss, 1, None, r"MSELoss expects pre-computed teacher embeddings .* but got labels=None"),
    (
        MSELoss,
        2,
        torch.ones(B, 16),
        r"MSELoss expects teacher embeddings shaped like the student's \(6, 32\), "
        r"but got \(6, 16\)",
    ),
    (
        EmbedDistillLoss,
        2,
        torch.ones(B, 3, 32),
        r"EmbedDistillLoss expects one teacher embedding per text column "
        r"\(2\), but got 3",
    ),
    (
        EmbedDistillLoss,
        1,
        torch.ones(B),
        r"EmbedDistillLoss expects teacher embeddings of shape .* got shape \(6,\)",
    ),
    (MarginMSELoss, 2, ONE, r"MarginMSELoss expects at least 3 input column\(s\), but got 2"),
    (
        MarginMSELoss,
        4,
        torch.ones(B, 5),
        r"MarginMSELoss expects labels of shape \(6, 2\) .* but got \(6, 5\)",
    ),
    (
        DistillKLDivLoss,
        2,
        torch.ones(B, 1),
        r"DistillKLDivLoss expects at least 3 input columns .* but got 2",
    ),
    (
        DistillKLDivLoss,
        3,
        torch.ones(B, 3),
        r"DistillKLDivLoss expects teacher scores of shape \(6, 2\) .* "
        r"but got \(6, 3\)",
    ),
    (
        GlobalOrthogonalRegularizationLoss,
        0,
        None,
        r"GlobalOrthogonalRegularizationLoss expects at least 1 input",
    ),
    (
        ContrastiveTensionLoss,
        1,
        None,
        r"ContrastiveTensionLoss expects exactly 2 input column\(s\), but got 1",
    ),
    (ContrastiveTensionLoss, 2, torch.ones(2), r"ContrastiveTensionLoss expects 6 labels .* got 2"),
    (
        ContrastiveTensionLossInBatchNegatives,
        2,
        None,
        r"ContrastiveTensionLossInBatchNegatives expects exactly 1 input column\(s\), but got 2",
    ),
    (lambda m: SoftmaxLoss(m, 32, 3), 3, ONE, r"SoftmaxLoss expects exactly 2 input column\(s\), but got 3"),
    (
        lambda m: SoftmaxLoss(m, 32, 3),
        2,
        torch.ones(4, dtype=torch.long),
        r"SoftmaxLoss expects one class label per pair \(6\), but got labels of shape \(4,\)",
    ),
    (lambda m: SoftmaxLoss(m, 16, 3), 2, ONE.long(), r"SoftmaxLoss was built for 16-dim .* got 32-dim"),
    (
        DenoisingAutoEncoderLoss,
        1,
        None,
        r"DenoisingAutoEncoderLoss expects exactly 2 input column\(s\), but got 1",
    ),
    (
        lambda m: MatryoshkaLoss(m, CoSENTLoss(m), [32, 16]),
        3,
        ONE,
        r"CoSENTLoss expects exactly 2 input column",
    ),
    (lambda m: AdaptiveLayerLoss(m, TripletLoss(m)), 2, None, r"TripletLoss expects exactly 3 input column"),
    (lambda m: Matryoshka2dLoss(m, CoSENTLoss(m), [32, 8]), 2, None, r"CoSENTLoss expects .* labels=None"),
]


@pytest.mark.parametrize("case", BAD, ids=[f"{i}" for i in range(len(BAD))])
def test_wrong_inputs_raise(case):
    make, num_cols, labels, match = case
    model, _ = load_pair()
    loss = make(model)
    with pytest.raises(ValueError, match=match):
        loss(features(model, COLS[:num_cols]), labels)


@pytest.mark.parametrize(
    "make,kwargs,match",
    [
        (
            EmbedDistillLoss,
            {"distance_metric": "l1"},
            r"EmbedDistillLoss: distance_metric='l1' is not supported",
        ),
        (DistillKLDivLoss, {"temperature": 0.0}, r"DistillKLDivLoss: temperature=0.0 is not allowed"),
        (GlobalOrthogonalRegularizationLoss, {"mean_weight": 0, "second_moment_weight": None}, r"no term"),
        (GlobalOrthogonalRegularizationLoss, {"aggregation": "max"}, r"aggregation='max' is not supported"),
        (ContrastiveLoss, {"distance_metric": "chebyshev"}, r"distance_metric='chebyshev' is not supported"),
        (TripletLoss, {"distance_metric": "hamming"}, r"distance_metric='hamming' is not supported"),
        (lambda m, **kw: SoftmaxLoss(m, 32, 2, False, False, False), {}, r"SoftmaxLoss: all of"),
        (
            lambda m, **kw: AdaptiveLayerLoss(m, CoSENTLoss(m), **kw),
            {"layer_weighting": "cubic"},
            r"AdaptiveLayerLoss: layer_weighting='cubic' is not supported",
        ),
    ],
)
def test_bad_constructor_arguments(make, kwargs, match):
    model, _ = load_pair()
    with pytest.raises(ValueError, match=match):
        make(model, **kwargs)


def test_distance_metric_names_resolve():
    model, _ = load_pair()
    from raypipe.losses.dense.contrastive import SiameseDistanceMetric
    from raypipe.losses.dense.triplet import TripletDistanceMetric

    assert (
        ContrastiveLoss(model, distance_metric="EUCLIDEAN").distance_metric is SiameseDistanceMetric.EUCLIDEAN
    )
    assert TripletLoss(model, distance_metric="TripletDistanceMetric.COSINE").distance_metric is (
        TripletDistanceMetric.COSINE
    )


EXPECTED_REQUIREMENTS = {
    # loss: (min_inputs, max_inputs, label)
    "ContrastiveLoss": (2, 2, LABEL_REQUIRED),
    "OnlineContrastiveLoss": (2, 2, LABEL_REQUIRED),
    "CoSENTLoss": (2, 2, LABEL_REQUIRED),
    "AnglELoss": (2, None, LABEL_OPTIONAL),
    "CosineSimilarityLoss": (2, 2, LABEL_REQUIRED),
    "TripletLoss": (3, 3, LABEL_NONE),
    "BatchHardTripletLoss": (1, 1, LABEL_REQUIRED),
    "BatchHardSoftMarginTripletLoss": (1, 1, LABEL_REQUIRED),
    "BatchSemiHardTripletLoss": (1, 1, LABEL_REQUIRED),
    "BatchAllTripletLoss": (1, 1, LABEL_REQUIRED),
    "MSELoss": (1, None, LABEL_REQUIRED),
    "EmbedDistillLoss": (1, None, LABEL_REQUIRED),
    "MarginMSELoss": (3, None, LABEL_REQUIRED),
    "DistillKLDivLoss": (3, None, LABEL_REQUIRED),
    "GlobalOrthogonalRegularizationLoss": (1, None, LABEL_OPTIONAL),
    "ContrastiveTensionLoss": (2, 2, LABEL_OPTIONAL),
    "ContrastiveTensionLossInBatchNegatives": (1, 1, LABEL_NONE),
    "SoftmaxLoss": (2, 2, LABEL_REQUIRED),
    "DenoisingAutoEncoderLoss": (2, 2, LABEL_NONE),
}


def test_input_requirements():
    model, _ = load_pair()
    losses = [
        ContrastiveLoss(model),
        OnlineContrastiveLoss(model),
        CoSENTLoss(model),
        AnglELoss(model),
        CosineSimilarityLoss(model),
        TripletLoss(model),
        BatchHardTripletLoss(model),
        BatchHardSoftMarginTripletLoss(model),
        BatchSemiHardTripletLoss(model),
        BatchAllTripletLoss(model),
        MSELoss(model),
        EmbedDistillLoss(model),
        MarginMSELoss(model),
        DistillKLDivLoss(model),
        GlobalOrthogonalRegularizationLoss(model),
        ContrastiveTensionLoss(model),
        ContrastiveTensionLossInBatchNegatives(model),
        SoftmaxLoss(model, 32, 3),
        DenoisingAutoEncoderLoss(model),
    ]
    assert {type(x).__name__ for x in losses} == set(EXPECTED_REQUIREMENTS)
    for loss in losses:
        req = loss.input_requirements()
        assert isinstance(req, LossRequirements) and req.loss_name == type(loss).__name__
        assert (req.min_inputs, req.max_inputs, req.label) == EXPECTED_REQUIREMENTS[req.loss_name]
        assert "dense" in req.model_kinds
        assert isinstance(loss.get_config_dict(), dict)
    # wrappers report the inner loss's requirements under a combined name
    req = MatryoshkaLoss(model, CoSENTLoss(model), [32, 16]).input_requirements()
    assert (
        req.loss_name == "MatryoshkaLoss(CoSENTLoss)" and req.label == LABEL_REQUIRED and req.max_inputs == 2
    )
    req = Matryoshka2dLoss(model, TripletLoss(model), [32, 16]).input_requirements()
    assert req.loss_name == "Matryoshka2dLoss(MatryoshkaLoss(TripletLoss))" and req.min_inputs == 3
    with pytest.raises(ValueError, match="TripletLoss expects exactly 3 input column"):
        TripletLoss(model).input_requirements().check(num_inputs=2, has_label=False)


@pytest.mark.parametrize("make", [ContrastiveLoss, OnlineContrastiveLoss])
def test_non_binary_labels_warn_once(make):
    model, _ = load_pair()
    loss = make(model)
    feats = features(model, COLS[:2])
    with pytest.warns(UserWarning, match=f"{make.__name__} expects binary labels"):
        loss(feats, torch.tensor([0.5, 1, 0, 1, 0, 1]))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(feats, torch.tensor([0.5, 1, 0, 1, 0, 1]))
