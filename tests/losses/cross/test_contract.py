"""Wrong inputs, declared requirements and configs of the CrossEncoder losses."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.cross_encoder import losses as st_losses

from raypipe.losses import cross
from raypipe.losses.base import LossRequirements

POINTWISE = ["BinaryCrossEntropyLoss", "MSELoss"]
LISTWISE = ["LambdaLoss", "RankNetLoss", "ListNetLoss", "ListMLELoss", "PListMLELoss", "ADRMSELoss"]
ONE_LABEL = (
    POINTWISE
    + LISTWISE
    + [
        "MultipleNegativesRankingLoss",
        "CachedMultipleNegativesRankingLoss",
        "MarginMSELoss",
    ]
)
ALL = ONE_LABEL + ["CrossEntropyLoss"]


def test_exports():
    assert set(ALL) <= set(cross.__all__)
    for name in cross.__all__:
        assert hasattr(cross, name)


@pytest.mark.parametrize("name", LISTWISE)
def test_listwise_given_pairs_raises(ce_pair, name):
    loss = getattr(cross, name)(ce_pair[0])
    with pytest.raises(ValueError, match="listwise.*list of documents per query"):
        loss([["q1", "q2"], ["d1", "d2"]], torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="exactly 2 input columns"):
        loss([["q1"], [["d1"]], [["d2"]]], [[1.0]])
    with pytest.raises(ValueError, match=r"one list of per-document labels.*shape \(2,\)"):
        loss([["q1", "q2"], [["a"], ["b"]]], torch.tensor([1.0, 0.0]))
    with pytest.raises(
        ValueError, match=r"documents per query \[2, 1\] do not match labels per query \[2, 2\]"
    ):
        loss([["q1", "q2"], [["a", "b"], ["c"]]], [[1.0, 0.0], [1.0, 0.0]])


@pytest.mark.parametrize("name", POINTWISE + ["MarginMSELoss", "MultipleNegativesRankingLoss"])
def test_pointwise_given_lists_raises(ce_pair, name):
    loss = getattr(cross, name)(ce_pair[0])
    inputs = [["q1", "q2"], [["a", "b"], ["c"]], ["n1", "n2"]]
    if name in POINTWISE:
        inputs = inputs[:2]
    with pytest.raises(ValueError, match="pointwise.*listwise loss"):
        loss(inputs, torch.tensor([1.0, 0.0]))


def test_pointwise_column_and_label_counts(ce_pair):
    bce = cross.BinaryCrossEntropyLoss(ce_pair[0])
    with pytest.raises(ValueError, match="exactly 2 text columns"):
        bce([["q"], ["d"], ["n"]], torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"expects 2 labels \(one per row\), but got 3"):
        bce([["q", "r"], ["d", "e"]], torch.tensor([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="at least 3 text columns"):
        cross.MarginMSELoss(ce_pair[0])([["q"], ["d"]], torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"Expected \(2, 1\) margins"):
        cross.MarginMSELoss(ce_pair[0])([["q", "r"], ["d", "e"], ["n", "m"]], torch.ones(2, 3))


@pytest.mark.parametrize("name", ONE_LABEL)
def test_num_labels_mismatch_raises(ce3_pair, name):
    with pytest.raises(ValueError, match=r"num_labels == 1, but the model has num_labels == 3.*Fix"):
        getattr(cross, name)(ce3_pair[0])


def test_cross_entropy_label_checks(ce_pair, ce3_pair):
    with pytest.raises(ValueError, match="num_labels >= 2"):
        cross.CrossEntropyLoss(ce_pair[0])
    loss = cross.CrossEntropyLoss(ce3_pair[0])
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        loss.compute_loss_from_scores(torch.zeros(2, 3), torch.tensor([0, 3]))


@pytest.mark.parametrize("name", ALL)
def test_input_requirements(ce_pair, ce3_pair, name):
    model = ce3_pair[0] if name == "CrossEntropyLoss" else ce_pair[0]
    req = getattr(cross, name)(model).input_requirements()
    assert isinstance(req, LossRequirements) and req.loss_name == name
    assert req.model_kinds == ("cross",)
    assert req.listwise == (name in LISTWISE)
    assert req.num_labels == (None if name == "CrossEntropyLoss" else 1)
    if name in LISTWISE:
        assert (req.min_inputs, req.max_inputs, req.label, req.label_kind) == (2, 2, "required", "list")
        assert req.problems(2, True, num_labels=3)  # a 3-label model is reported
    elif "MultipleNegatives" in name:
        assert (req.min_inputs, req.max_inputs, req.label) == (2, None, "none")
    elif name == "MarginMSELoss":
        assert (req.min_inputs, req.max_inputs, req.label) == (3, None, "required")
    else:
        assert (req.min_inputs, req.max_inputs, req.label) == (2, 2, "required")
    assert req.problems(req.min_inputs, req.label != "none", num_labels=req.num_labels) == []


@pytest.mark.parametrize("name", ALL)
def test_config_matches_sentence_transformers(ce_pair, ce3_pair, name):
    pair = ce3_pair if name == "CrossEntropyLoss" else ce_pair
    ours = getattr(cross, name)(pair[0]).get_config_dict()
    theirs = getattr(st_losses, name)(pair[1])
    theirs = theirs.get_config_dict() if hasattr(theirs, "get_config_dict") else {}
    if name == "CrossEntropyLoss":  # sentence-transformers has no config for it
        theirs = {"activation_fn": "torch.nn.modules.linear.Identity"}
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, str) and value.startswith("sentence_transformers."):
            assert ours[key].rsplit(".", 1)[-1] == value.rsplit(".", 1)[-1]  # same class name, our module
        else:
            assert ours[key] == value, key


@pytest.mark.parametrize("name", ALL)
def test_citation_and_docstring(name):
    cls = getattr(cross, name)
    assert "| Inputs | Labels |" in cls.__doc__
    if name not in ("BinaryCrossEntropyLoss", "CrossEntropyLoss"):
        assert cls.citation and "@" in cls.citation
