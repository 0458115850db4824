"""GIST / CachedGIST parity with sentence-transformers for a guide whose head differs from the model's, with
dropout on (issue: 1.805899 vs 1.776109 plain, 1.844821 vs 1.688862 cached).

Setup (as filed): model = tiny BERT (hidden 32, max_seq_length 64, dropout on) + mean pooling; guide = the same BERT
+ CLS pooling + Dense(32, 16) (same vocabulary and length: no re-tokenization); columns (anchor, positive,
negative), 8 rows; default arguments; model in train mode; torch.manual_seed(0) before building the loss and
again before its forward. The guide is tested as loaded (HF backbone in eval mode) and put in train mode (dropout
in the guide too).

Three differences made ours diverge: (1) sentence-transformers v6 embeds the positive and negative columns in one
merged forward, so the model's dropout masks differ from per-column forwards; (2) it runs the model before the guide
(per mini-batch in the cached loss), which matters when the guide draws dropout masks too; (3) a CLS-pooled random
guide gives nearly parallel embeddings (all guide similarities ~1.0), so the keep/drop threshold is decided by float
rounding, and normalize-then-matmul rounds differently from the broadcast cosine sentence-transformers uses.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from raypipe.losses.dense.cached_gist_embed import CachedGISTEmbedLoss
from raypipe.losses.dense.gist_embed import GISTEmbedLoss, guide_cos
from raypipe.models.similarity import cos_sim

ANCHORS = [
    "the cat plays",
    "a red car",
    "fast dog runs in the web",
    "python library for data",
    "kernel driver",
    "server",
    "a big man",
    "search query",
]
POSITIVES = [
    "cat playing",
    "the blue car is big",
    "the dog is fast",
    "data package in python",
    "driver for the kernel",
    "web",
    "the woman",
    "index search",
]
NEGATIVES = [
    "a slow man",
    "green image",
    "audio file of a man",
    "the font tool",
    "game network support",
    "test index",
    "small child",
    "sparse vector",
]
COLUMNS = [ANCHORS, POSITIVES, NEGATIVES]
LOSS_RTOL, GRAD_TOL = 1e-5, 1e-4


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def st_lib():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer import losses, modules

    return SentenceTransformer, modules, losses


@pytest.fixture(scope="module")
def model_and_guide_dirs(tmp_path_factory, st_lib):
    """(model dir, guide dir), both written by sentence-transformers from one dropout-0.1 tiny BERT."""
    from tests.fixtures.tiny_models import build_tiny_checkpoint

    st_model_cls, modules, _ = st_lib
    root = tmp_path_factory.mktemp("gist_head")
    hf = str(build_tiny_checkpoint(root / "hf", kind="encoder", dropout=0.1))
    st_model_cls(
        modules=[modules.Transformer(hf, max_seq_length=64), modules.Pooling(32, "mean")], device="cpu"
    ).save(str(root / "model"))
    torch.manual_seed(3)  # the Dense layer's random init
    head = [modules.Transformer(hf, max_seq_length=64), modules.Pooling(32, "cls"), modules.Dense(32, 16)]
    st_model_cls(modules=head, device="cpu").save(str(root / "guide"))
    return str(root / "model"), str(root / "guide")


def _load(st_lib, model_dir, guide_dir, guide_train):
    from raypipe import SentenceTransformer

    st_model_cls = st_lib[0]
    rp = (SentenceTransformer(model_dir, device="cpu"), SentenceTransformer(guide_dir, device="cpu"))
    st = (st_model_cls(model_dir, device="cpu"), st_model_cls(guide_dir, device="cpu"))
    for model, guide in (rp, st):
        model.train()
        if guide_train:
            guide.train()
    return rp, st


def _run(make_loss, model, guide, tokenize, seed=0):
    """Loss value and {hf parameter name: grad}, seeding before building the loss and before its forward."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = make_loss(model, guide)
    features = [tokenize(c) for c in COLUMNS]
    torch.manual_seed(seed)
    value = loss(features, None)
    value.backward()
    grads = {n.split(".", 2)[2]: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return value.item(), grads


def _assert_same(ours, ref):
    (la, ga), (lb, gb) = ours, ref
    assert la == pytest.approx(lb, rel=LOSS_RTOL), (la, lb)
    assert set(ga) == set(gb) and ga
    for name in gb:
        torch.testing.assert_close(ga[name], gb[name], atol=GRAD_TOL, rtol=GRAD_TOL, msg=name)


@pytest.mark.parametrize("guide_train", [False, True], ids=["guide-as-loaded", "guide-train-mode"])
@pytest.mark.parametrize("cached", [False, True], ids=["GISTEmbedLoss", "CachedGISTEmbedLoss-mbs3"])
def test_gist_guide_with_other_head_matches_st(st_lib, model_and_guide_dirs, cached, guide_train):
    (rp, rp_guide), (st, st_guide) = _load(st_lib, *model_and_guide_dirs, guide_train)
    kwargs = {"mini_batch_size": 3} if cached else {}
    ours_cls = CachedGISTEmbedLoss if cached else GISTEmbedLoss
    ref_cls = getattr(st_lib[2], ours_cls.__name__)
    ours = _run(lambda m, g: ours_cls(m, g, **kwargs), rp, rp_guide, rp.tokenize)
    ref = _run(lambda m, g: ref_cls(m, g, **kwargs), st, st_guide, st.preprocess)
    assert not ours_cls(rp, rp_guide).must_retokenize
    _assert_same(ours, ref)
    # dropout must really be on, or the test would not exercise the forward order
    other = _run(lambda m, g: ours_cls(m, g, **kwargs), rp, rp_guide, rp.tokenize, seed=1)
    assert other[0] != pytest.approx(ours[0], rel=1e-4)


def test_cls_guide_sits_on_the_threshold(st_lib, model_and_guide_dirs):
    """Why the cosine formula matters: the CLS+Dense guide's similarities are within float rounding of each other,
    so `guide_sim > guide_pos` flips with the rounding; guide_cos and cos_sim disagree on some decisions."""
    from raypipe import SentenceTransformer

    guide = SentenceTransformer(model_and_guide_dirs[1], device="cpu")
    with torch.no_grad():
        a, p, n = (guide(guide.tokenize(c))["sentence_embedding"] for c in COLUMNS)

    def decisions(sim):
        # drop masks of the (a, p), (a, a), (p, p), (a, n) blocks, each (8, 8), threshold = guide(a_i, p_i)
        pos = sim(a, p).diagonal().unsqueeze(1)
        return torch.cat([sim(x, y) > pos for x, y in ((a, p), (a, a), (p, p), (a, n))], dim=1)

    assert (guide_cos(a, p).min() > 0.999).item()
    assert (guide_cos(a, n) - cos_sim(a, n)).abs().max() < 1e-5
    assert not torch.equal(decisions(guide_cos), decisions(cos_sim))


def test_merge_column_features():
    """Candidate columns merge into one right-padded, column-major batch; anything unmergeable falls back."""
    from raypipe.losses.merged_columns import merge_column_features

    a = {
        "input_ids": torch.tensor([[1, 2, 3], [4, 5, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
    }
    b = {"input_ids": torch.tensor([[6, 7], [8, 0]]), "attention_mask": torch.tensor([[1, 1], [1, 0]])}
    merged = merge_column_features([a, b])
    assert merged["input_ids"].tolist() == [[1, 2, 3], [4, 5, 0], [6, 7, 0], [8, 0, 0]]
    assert merged["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0], [1, 1, 0], [1, 0, 0]]
    assert merge_column_features([a, {"input_ids": b["input_ids"]}]) is None  # different keys
    assert merge_column_features([{**a, "prompt_length": 2}, {**b, "prompt_length": 3}]) is None
    assert merge_column_features([{**a, "prompt_length": 2}, {**b, "prompt_length": 2}])["prompt_length"] == 2
    floats = {**b, "pixel": torch.zeros(2, 2)}
    assert (
        merge_column_features([{**a, "pixel": torch.zeros(2, 3)}, floats]) is None
    )  # floats cannot be padded
