"""Parity with sentence-transformers for the distillation losses, GOR, ContrastiveTension and TSDAE."""

from __future__ import annotations

import pytest
import torch

from raypipe.losses.dense import (
    contrastive_tension,
    contrastive_tension_in_batch_negatives,
    distill_kl_div,
    embed_distill,
    global_orthogonal_regularization,
    margin_mse,
    mse,
)
from raypipe.models import similarity
from tests.losses.dense._st_parity import (
    ANCHORS,
    NEGATIVES,
    NEGATIVES2,
    POSITIVES,
    assert_grads_close,
    assert_terms_close,
    features,
    load_pair,
    named_grads,
    run_parity,
    st_losses,
)

B = len(ANCHORS)
gen = torch.Generator().manual_seed(0)
TEACHER_32 = torch.randn(B, 32, generator=gen)
TEACHER_48 = torch.randn(B, 48, generator=gen)
TEACHER_3D = torch.randn(B, 2, 32, generator=gen)
SCORES_3 = torch.randn(B, 3, generator=gen) * 3
MARGINS_2 = torch.randn(B, 2, generator=gen)
MARGIN_1 = torch.randn(B, generator=gen)
QPN = [ANCHORS, POSITIVES, NEGATIVES]
QPNN = [ANCHORS, POSITIVES, NEGATIVES, NEGATIVES2]


def _cases():
    L = st_losses
    from sentence_transformers import util

    cases = [
        ("mse", mse.MSELoss, lambda m: L().MSELoss(m), [ANCHORS, POSITIVES], TEACHER_32),
        ("mse-3d", mse.MSELoss, lambda m: L().MSELoss(m), [ANCHORS, POSITIVES], TEACHER_3D),
        ("margin_mse-1neg-scalar", margin_mse.MarginMSELoss, lambda m: L().MarginMSELoss(m), QPN, MARGIN_1),
        (
            "margin_mse-2neg-margins",
            margin_mse.MarginMSELoss,
            lambda m: L().MarginMSELoss(m),
            QPNN,
            MARGINS_2,
        ),
        ("margin_mse-2neg-scores", margin_mse.MarginMSELoss, lambda m: L().MarginMSELoss(m), QPNN, SCORES_3),
        (
            "margin_mse-cos",
            lambda m: margin_mse.MarginMSELoss(m, similarity_fct=similarity.pairwise_cos_sim),
            lambda m: L().MarginMSELoss(m, similarity_fct=util.pairwise_cos_sim),
            QPNN,
            MARGINS_2,
        ),
        ("kl", distill_kl_div.DistillKLDivLoss, lambda m: L().DistillKLDivLoss(m), QPNN, SCORES_3),
        (
            "kl-temps",
            lambda m: distill_kl_div.DistillKLDivLoss(
                m, temperature=2.0, student_temperature=0.5, similarity_fct=similarity.pairwise_cos_sim
            ),
            lambda m: L().DistillKLDivLoss(
                m, temperature=2.0, student_temperature=0.5, similarity_fct=util.pairwise_cos_sim
            ),
            QPNN,
            SCORES_3,
        ),
        (
            "gor",
            global_orthogonal_regularization.GlobalOrthogonalRegularizationLoss,
            lambda m: L().GlobalOrthogonalRegularizationLoss(m),
            [ANCHORS, POSITIVES],
            None,
        ),
        (
            "gor-sum-dot",
            lambda m: global_orthogonal_regularization.GlobalOrthogonalRegularizationLoss(
                m,
                similarity_fct=similarity.dot_score,
                mean_weight=0.5,
                second_moment_weight=None,
                aggregation="sum",
            ),
            lambda m: L().GlobalOrthogonalRegularizationLoss(
                m,
                similarity_fct=util.dot_score,
                mean_weight=0.5,
                second_moment_weight=None,
                aggregation="sum",
            ),
            [ANCHORS, POSITIVES],
            None,
        ),
    ]
    for metric in ("mse", "l2", "cosine"):
        cases.append(
            (
                f"embed_distill-{metric}",
                lambda m, d=metric: embed_distill.EmbedDistillLoss(m, d),
                lambda m, d=metric: L().EmbedDistillLoss(m, d),
                [ANCHORS, POSITIVES],
                TEACHER_32,
            )
        )
    cases.append(
        (
            "embed_distill-3d",
            embed_distill.EmbedDistillLoss,
            lambda m: L().EmbedDistillLoss(m),
            [ANCHORS, POSITIVES],
            TEACHER_3D,
        )
    )
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_parity(case):
    _, make_rp, make_st, columns, labels = case
    rp_model, st_model = load_pair()
    run_parity(rp_model, st_model, make_rp(rp_model), make_st(st_model), columns, labels)


@pytest.mark.parametrize("cls_name", ["MSELoss", "EmbedDistillLoss"])
def test_projection_parity_and_roundtrip(cls_name, tmp_path):
    rp_model, st_model = load_pair()
    module = mse if cls_name == "MSELoss" else embed_distill
    rp_loss = getattr(module, cls_name)(rp_model, projection_dim=48)
    st_loss = getattr(st_losses(), cls_name)(st_model, projection_dim=48)
    rp_loss.projection.load_state_dict(st_loss.projection.state_dict())
    run_parity(
        rp_model,
        st_model,
        rp_loss,
        st_loss,
        [ANCHORS],
        TEACHER_48,
        extra=lambda a, b: (dict(a.projection.named_parameters()), dict(b.projection.named_parameters())),
    )
    assert rp_loss.get_config_dict() == st_loss.get_config_dict()
    # a projection saved by raypipe loads into sentence-transformers and back
    rp_loss.save_projection(tmp_path / "p.safetensors")
    st_loss.load_projection(tmp_path / "p.safetensors")
    fresh = getattr(module, cls_name)(rp_model)
    fresh.load_projection(tmp_path / "p.safetensors")
    assert torch.equal(fresh.projection.weight, st_loss.projection.weight)


def test_config_dicts_match_st():
    rp_model, st_model = load_pair()
    L = st_losses()
    pairs = [
        (margin_mse.MarginMSELoss(rp_model), L.MarginMSELoss(st_model)),
        (
            distill_kl_div.DistillKLDivLoss(rp_model, teacher_temperature=3.0),
            L.DistillKLDivLoss(st_model, teacher_temperature=3.0),
        ),
        (embed_distill.EmbedDistillLoss(rp_model, "l2"), L.EmbedDistillLoss(st_model, "l2")),
        (mse.MSELoss(rp_model), L.MSELoss(st_model)),
        (
            global_orthogonal_regularization.GlobalOrthogonalRegularizationLoss(rp_model),
            L.GlobalOrthogonalRegularizationLoss(st_model),
        ),
        (contrastive_tension.ContrastiveTensionLoss(rp_model), L.ContrastiveTensionLoss(st_model)),
    ]
    for ours, ref in pairs:
        assert ours.get_config_dict() == ref.get_config_dict(), type(ours).__name__


def _two_model_grads(loss):
    """Gradients of both CT towers (model1 = the copy owned by the loss, model2 = the model)."""
    return {
        **{f"m1.{k}": v for k, v in named_grads(loss.model1).items()},
        **{f"m2.{k}": v for k, v in named_grads(loss.model2).items()},
    }


@pytest.mark.parametrize("with_labels", [False, True])
def test_contrastive_tension_parity(with_labels):
    rp_model, st_model = load_pair()
    rp_loss = contrastive_tension.ContrastiveTensionLoss(rp_model)
    st_loss = st_losses().ContrastiveTensionLoss(st_model)
    # pairs 0 and 3 are identical texts (label 1 inferred from the token ids)
    col_b = [ANCHORS[0], POSITIVES[1], NEGATIVES[2], ANCHORS[3], NEGATIVES[4], POSITIVES[5]]
    labels = torch.tensor([1.0, 0, 0, 1, 0, 1]) if with_labels else None
    rp_out = rp_loss(features(rp_model, [ANCHORS, col_b]), labels)
    st_out = st_loss(features(st_model, [ANCHORS, col_b]), labels)
    assert_terms_close(rp_out, st_out)
    rp_out.backward()
    st_out.backward()
    assert_grads_close(_two_model_grads(rp_loss), _two_model_grads(st_loss))


def test_inferred_labels_ignore_padding():
    rp_model, _ = load_pair()
    a = features(rp_model, [["red car", "the cat plays", "blue"]])[0]
    b = features(rp_model, [["red car", "a cat", "blue font is big and bad"]])[0]
    assert contrastive_tension.identical_inputs(a, b).tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("scale", [20.0, 5.0])
def test_contrastive_tension_in_batch_parity(scale):
    rp_model, st_model = load_pair()
    rp_loss = contrastive_tension_in_batch_negatives.ContrastiveTensionLossInBatchNegatives(
        rp_model, scale=scale
    )
    st_loss = st_losses().ContrastiveTensionLossInBatchNegatives(st_model, scale=scale)
    # make the two towers differ, identically in both libraries
    with torch.no_grad():
        for p_rp, p_st in zip(
            rp_loss.model1[0].auto_model.parameters(), st_loss.model1[0].auto_model.parameters()
        ):
            noise = torch.randn(p_rp.shape, generator=torch.Generator().manual_seed(p_rp.numel())) * 0.02
            p_rp.add_(noise)
            p_st.add_(noise)
    rp_out = rp_loss(features(rp_model, [ANCHORS]), None)
    st_out = st_loss(features(st_model, [ANCHORS]), None)
    assert_terms_close(rp_out, st_out)
    rp_out.backward()
    st_out.backward()
    assert_grads_close(_two_model_grads(rp_loss), _two_model_grads(st_loss))
    assert abs(rp_loss.logit_scale.grad.item() - st_loss.logit_scale.grad.item()) <= 1e-4
    ours, ref = rp_loss.get_config_dict(), st_loss.get_config_dict()
    assert ours["similarity_fct"] == ref["similarity_fct"] and ours["scale"] == pytest.approx(ref["scale"])


def test_gor_returns_named_terms():
    rp_model, _ = load_pair()
    out = global_orthogonal_regularization.GlobalOrthogonalRegularizationLoss(rp_model)(
        features(rp_model, [ANCHORS]), None
    )
    assert set(out) == {"gor_mean", "gor_second_moment"}
