"""MNRL family (MNRL, cached, symmetric, GIST, cached GIST, MegaBatchMargin): parity with sentence-transformers,
cached == non-cached, gather_across_devices on 2 gloo processes, input validation.

Parity: one tiny checkpoint (dropout 0) loaded once by raypipe and once by sentence-transformers; same batch; loss
within 1e-5 relative, parameter gradients within 1e-4. sentence-transformers is only the oracle (imported lazily).
"""

from __future__ import annotations

import os
import warnings

import pytest
import torch
import torch.multiprocessing as mp

from raypipe.losses.dense.cached_gist_embed import CachedGISTEmbedLoss
from raypipe.losses.dense.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from raypipe.losses.dense.cached_multiple_negatives_symmetric_ranking import (
    CachedMultipleNegativesSymmetricRankingLoss,
)
from raypipe.losses.dense.gist_embed import GISTEmbedLoss
from raypipe.losses.dense.mega_batch_margin import MegaBatchMarginLoss
from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
from raypipe.losses.dense.multiple_negatives_symmetric_ranking import MultipleNegativesSymmetricRankingLoss

# 6 rows x 4 columns (anchor, positive, negative_1, negative_2); all texts distinct, different lengths.
COLUMNS = [
    [
        "the cat plays",
        "a red car",
        "fast dog runs in the web",
        "python library for data",
        "kernel driver",
        "server",
    ],
    [
        "cat playing",
        "the blue car is big",
        "the dog is fast",
        "data package in python",
        "driver for the kernel",
        "web",
    ],
    [
        "a slow man",
        "green image",
        "audio file of a man",
        "the font tool",
        "game network support",
        "test index",
    ],
    ["big woman", "small child plays", "video text", "search query", "model train and eval", "sparse vector"],
]
ALL_DIRECTIONS = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
LOSS_RTOL, GRAD_TOL, CACHED_TOL = 1e-5, 1e-4, 1e-5


# ----------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Tiny models: intra-op threading only adds overhead, and on the shared 2-core machine OpenMP spinning under
    # oversubscription made these tests ~30x slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def guide_dir(tmp_path_factory):
    from tests.fixtures.tiny_models import build_tiny_checkpoint

    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_guide"), kind="encoder", seed=1))


@pytest.fixture(scope="module")
def rp(tiny_bert_dir):
    from raypipe import SentenceTransformer

    return SentenceTransformer(tiny_bert_dir)


@pytest.fixture(scope="module")
def rp_guide(guide_dir):
    from raypipe import SentenceTransformer

    return SentenceTransformer(guide_dir)


@pytest.fixture(scope="module")
def st_mod():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sentence_transformers
        from sentence_transformers import losses

    return sentence_transformers, losses


@pytest.fixture(scope="module")
def st(tiny_bert_dir, st_mod):
    return st_mod[0].SentenceTransformer(tiny_bert_dir)


@pytest.fixture(scope="module")
def st_guide(guide_dir, st_mod):
    return st_mod[0].SentenceTransformer(guide_dir)


# ------------------------------------------------------------------------------------------------------ helpers
def _tokenize(model, texts):
    # sentence-transformers v6 renamed tokenize -> preprocess (tokenize still works but warns)
    fn = getattr(model, "preprocess", None) or model.tokenize
    return fn(texts)


def _hf_name(name: str) -> str:
    # "0.auto_model.encoder..." (raypipe) / "0.model.encoder..." (sentence-transformers v6) -> "encoder..."
    return name.split(".", 2)[2]


def run_loss(loss, model, columns, train=True):
    """Loss value and {hf parameter name: grad} after one backward."""
    model.zero_grad(set_to_none=True)
    features = [_tokenize(model, c) for c in columns]
    if not train:
        with torch.no_grad():
            return loss(features, None).item(), {}
    value = loss(features, None)
    value.backward()
    grads = {_hf_name(n): p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return value.item(), grads


def assert_same(a, b, loss_rtol=LOSS_RTOL, grad_tol=GRAD_TOL):
    (la, ga), (lb, gb) = a, b
    assert la == pytest.approx(lb, rel=loss_rtol, abs=1e-7), (la, lb)
    assert set(ga) == set(gb) and ga, "different parameter sets received gradients"
    for name in ga:
        torch.testing.assert_close(ga[name], gb[name], atol=grad_tol, rtol=grad_tol, msg=name)


def _st_sim(st_mod, name):
    return getattr(st_mod[0].util, name)


def _rp_sim(name):
    from raypipe.models import similarity

    return getattr(similarity, name)


# --------------------------------------------------------------------------------------------- MNRL parity
MNRL_VARIANTS = [
    {},
    {"scale": 10.0, "sim": "dot_score"},
    {"directions": ALL_DIRECTIONS},
    {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"},
    {"directions": ("query_to_doc", "doc_to_query")},
    {"directions": ("query_to_doc", "query_to_query", "doc_to_doc")},
    {"hardness_mode": "in_batch_negatives", "hardness_strength": 9.0},
    {"hardness_mode": "hard_negatives", "hardness_strength": 5.0},
    {"hardness_mode": "all_negatives", "hardness_strength": 3.0, "directions": ALL_DIRECTIONS},
]


def _mnrl_kwargs(variant, sim_module):
    kwargs = dict(variant)
    sim = kwargs.pop("sim", "cos_sim")
    kwargs["similarity_fct"] = sim_module(sim)
    return kwargs


@pytest.mark.parametrize("num_columns", [2, 3, 4])
@pytest.mark.parametrize(
    "variant", MNRL_VARIANTS, ids=lambda v: "-".join(f"{k}={v[k]}" for k in v) or "default"
)
def test_mnrl_parity(rp, st, st_mod, variant, num_columns):
    ours = MultipleNegativesRankingLoss(rp, **_mnrl_kwargs(variant, _rp_sim))
    ref = st_mod[1].MultipleNegativesRankingLoss(st, **_mnrl_kwargs(variant, lambda n: _st_sim(st_mod, n)))
    cols = COLUMNS[:num_columns]
    assert_same(run_loss(ours, rp, cols), run_loss(ref, st, cols))


@pytest.mark.parametrize(
    "variant",
    [
        {"mini_batch_size": 2},
        {"mini_batch_size": 4, "mini_batch_num_tokens": 12},
        {
            "mini_batch_size": 3,
            "directions": ALL_DIRECTIONS,
            "hardness_mode": "all_negatives",
            "hardness_strength": 5.0,
        },
        {
            "mini_batch_size": 5,
            "directions": ("query_to_doc", "doc_to_query"),
            "partition_mode": "per_direction",
        },
    ],
    ids=["mbs2", "tokens12", "all-directions-hardness", "per-direction"],
)
def test_cached_mnrl_parity(rp, st, st_mod, variant):
    kwargs = {"similarity_fct": _rp_sim("cos_sim"), **variant}
    ours = CachedMultipleNegativesRankingLoss(rp, **kwargs)
    ref = st_mod[1].CachedMultipleNegativesRankingLoss(
        st, **{**kwargs, "similarity_fct": _st_sim(st_mod, "cos_sim")}
    )
    assert_same(run_loss(ours, rp, COLUMNS), run_loss(ref, st, COLUMNS))


@pytest.mark.parametrize("num_columns", [2, 3])
def test_symmetric_parity(rp, st, st_mod, num_columns):
    cols = COLUMNS[:num_columns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = [
            (MultipleNegativesSymmetricRankingLoss(rp), st_mod[1].MultipleNegativesSymmetricRankingLoss(st)),
            (
                CachedMultipleNegativesSymmetricRankingLoss(rp, mini_batch_size=4),
                st_mod[1].CachedMultipleNegativesSymmetricRankingLoss(st, mini_batch_size=4),
            ),
        ]
    for ours, ref in pairs:
        assert_same(run_loss(ours, rp, cols), run_loss(ref, st, cols))


# --------------------------------------------------------------------------------------------- GIST parity
GIST_VARIANTS = [
    {},
    {"margin_strategy": "absolute", "margin": 0.05},
    {"margin_strategy": "relative", "margin": 0.1, "temperature": 0.05},
    {"contrast_anchors": False, "contrast_positives": False},
]


@pytest.mark.parametrize("num_columns", [2, 3])
@pytest.mark.parametrize("variant", GIST_VARIANTS, ids=["default", "abs-margin", "relative", "no-contrast"])
def test_gist_parity(rp, st, rp_guide, st_guide, st_mod, variant, num_columns):
    ours = GISTEmbedLoss(rp, rp_guide, **variant)
    ref = st_mod[1].GISTEmbedLoss(st, st_guide, **variant)
    cols = COLUMNS[:num_columns]
    assert_same(run_loss(ours, rp, cols), run_loss(ref, st, cols))


def test_gist_parity_retokenized_guide(rp, st, guide_dir, st_mod):
    """A guide with a shorter max_seq_length gets the decoded text re-tokenized (same in both libraries)."""
    from raypipe import SentenceTransformer

    rp_g, st_g = SentenceTransformer(guide_dir), st_mod[0].SentenceTransformer(guide_dir)
    rp_g.max_seq_length = st_g.max_seq_length = 6
    ours, ref = GISTEmbedLoss(rp, rp_g), st_mod[1].GISTEmbedLoss(st, st_g)
    assert ours.must_retokenize and ref.must_retokenize
    assert_same(run_loss(ours, rp, COLUMNS[:3]), run_loss(ref, st, COLUMNS[:3]))


@pytest.mark.parametrize(
    ("num_columns", "variant"),
    [
        (2, {"mini_batch_size": 2}),
        (3, {"mini_batch_size": 4, "margin": 0.05}),
        (4, {"mini_batch_num_tokens": 10}),
    ],
)
def test_cached_gist_parity(rp, st, rp_guide, st_guide, st_mod, num_columns, variant):
    ours = CachedGISTEmbedLoss(rp, rp_guide, **variant)
    ref = st_mod[1].CachedGISTEmbedLoss(st, st_guide, **variant)
    cols = COLUMNS[:num_columns]
    assert_same(run_loss(ours, rp, cols), run_loss(ref, st, cols))


# --------------------------------------------------------------------------------------- MegaBatch parity
@pytest.mark.parametrize(
    "variant",
    [
        {"use_mini_batched_version": False},
        {"mini_batch_size": 4},
        {"mini_batch_num_tokens": 9, "positive_margin": 0.9},
    ],
    ids=["plain", "mini-batched", "tokens"],
)
def test_mega_batch_margin_parity(rp, st, st_mod, variant):
    ours, ref = MegaBatchMarginLoss(rp, **variant), st_mod[1].MegaBatchMarginLoss(st, **variant)
    assert_same(run_loss(ours, rp, COLUMNS[:2]), run_loss(ref, st, COLUMNS[:2]))


# ------------------------------------------------------------------------------------ cached == non-cached
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"directions": ALL_DIRECTIONS, "hardness_mode": "in_batch_negatives", "hardness_strength": 4.0},
        {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"},
    ],
    ids=["default", "all-directions", "per-direction"],
)
@pytest.mark.parametrize(
    "mini", [{"mini_batch_size": 4}, {"mini_batch_size": 64, "mini_batch_num_tokens": 11}]
)
def test_cached_mnrl_equals_mnrl(rp, kwargs, mini):
    plain = run_loss(MultipleNegativesRankingLoss(rp, **kwargs), rp, COLUMNS)
    cached = run_loss(CachedMultipleNegativesRankingLoss(rp, **kwargs, **mini), rp, COLUMNS)
    assert_same(cached, plain, loss_rtol=CACHED_TOL, grad_tol=CACHED_TOL)


def test_cached_variants_equal_non_cached(rp, rp_guide):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sym = run_loss(MultipleNegativesSymmetricRankingLoss(rp), rp, COLUMNS[:2])
        sym_cached = run_loss(
            CachedMultipleNegativesSymmetricRankingLoss(rp, mini_batch_size=4), rp, COLUMNS[:2]
        )
    assert_same(sym_cached, sym, loss_rtol=CACHED_TOL, grad_tol=CACHED_TOL)
    for mini in ({"mini_batch_size": 4}, {"mini_batch_num_tokens": 10}):
        gist = run_loss(GISTEmbedLoss(rp, rp_guide, margin=0.02), rp, COLUMNS[:3])
        gist_cached = run_loss(CachedGISTEmbedLoss(rp, rp_guide, margin=0.02, **mini), rp, COLUMNS[:3])
        assert_same(gist_cached, gist, loss_rtol=CACHED_TOL, grad_tol=CACHED_TOL)
        mega = run_loss(MegaBatchMarginLoss(rp, use_mini_batched_version=False), rp, COLUMNS[:2])
        mega_cached = run_loss(MegaBatchMarginLoss(rp, **mini), rp, COLUMNS[:2])
        assert_same(mega_cached, mega, loss_rtol=CACHED_TOL, grad_tol=CACHED_TOL)


def test_cached_eval_mode_and_value(rp, rp_guide):
    """Under no_grad the cached losses return the same value and register no backward machinery."""
    value, _ = run_loss(MultipleNegativesRankingLoss(rp), rp, COLUMNS)
    assert run_loss(CachedMultipleNegativesRankingLoss(rp, mini_batch_size=2), rp, COLUMNS, train=False)[
        0
    ] == (pytest.approx(value, rel=CACHED_TOL))
    gist, _ = run_loss(GISTEmbedLoss(rp, rp_guide), rp, COLUMNS[:3])
    cached = run_loss(CachedGISTEmbedLoss(rp, rp_guide, mini_batch_size=2), rp, COLUMNS[:3], train=False)[0]
    assert cached == pytest.approx(gist, rel=CACHED_TOL)


def test_cached_replays_dropout_masks(tmp_path):
    """With dropout on, the replayed forward must reuse the first forward's RNG state: with one mini-batch per
    column the cached loss consumes randomness exactly like the plain loss, so values and gradients match."""
    from raypipe import SentenceTransformer
    from tests.fixtures.tiny_models import build_tiny_checkpoint

    model = SentenceTransformer(str(build_tiny_checkpoint(tmp_path / "drop", kind="encoder", dropout=0.3)))
    model.train()
    torch.manual_seed(7)
    plain = run_loss(MultipleNegativesRankingLoss(model), model, COLUMNS)
    torch.manual_seed(7)
    cached = run_loss(CachedMultipleNegativesRankingLoss(model, mini_batch_size=64), model, COLUMNS)
    assert_same(cached, plain, loss_rtol=CACHED_TOL, grad_tol=CACHED_TOL)
    torch.manual_seed(8)
    other = run_loss(MultipleNegativesRankingLoss(model), model, COLUMNS)
    assert other[0] != pytest.approx(plain[0], rel=1e-4), (
        "dropout seems inactive, the test would prove nothing"
    )


def test_gradient_scaling_flows_into_replay(rp):
    """loss * 0.5 (e.g. gradient accumulation) must scale the replayed gradients too."""
    features = [_tokenize(rp, c) for c in COLUMNS]
    rp.zero_grad(set_to_none=True)
    CachedMultipleNegativesRankingLoss(rp, mini_batch_size=3)(features).backward()
    full = {n: p.grad.clone() for n, p in rp.named_parameters() if p.grad is not None}
    rp.zero_grad(set_to_none=True)
    (CachedMultipleNegativesRankingLoss(rp, mini_batch_size=3)(features) * 0.5).backward()
    for n, p in rp.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(p.grad * 2, full[n], atol=1e-6, rtol=1e-5)
    rp.zero_grad(set_to_none=True)


# ------------------------------------------------------------------------------------------------ validation
def test_wrong_number_of_columns_raises(rp, rp_guide):
    one = [COLUMNS[0]]
    cases = [
        (MultipleNegativesRankingLoss(rp), one, "at least 2 input column(s)", "got 1"),
        (CachedMultipleNegativesRankingLoss(rp), one, "at least 2 input column(s)", "got 1"),
        (GISTEmbedLoss(rp, rp_guide), COLUMNS, "2 to 3 input columns", "got 4"),
        (CachedGISTEmbedLoss(rp, rp_guide), one, "at least 2 input column(s)", "got 1"),
        (MegaBatchMarginLoss(rp), COLUMNS[:3], "exactly 2 input column(s)", "got 3"),
    ]
    for loss, cols, expects, got in cases:
        features = [_tokenize(rp, c) for c in cols]
        with pytest.raises(ValueError) as info:
            loss(features, None)
        message = str(info.value)
        assert type(loss).__name__ in message and expects in message and got in message, message


@pytest.mark.parametrize(
    ("factory", "needle"),
    [
        (lambda m: MultipleNegativesRankingLoss(m, scale=0.0), "scale"),
        (lambda m: MultipleNegativesRankingLoss(m, directions=("doc_to_query",)), "directions"),
        (lambda m: MultipleNegativesRankingLoss(m, directions=("query_to_doc", "sideways")), "directions"),
        (lambda m: MultipleNegativesRankingLoss(m, partition_mode="both"), "partition_mode"),
        (
            lambda m: MultipleNegativesRankingLoss(
                m, directions=ALL_DIRECTIONS, partition_mode="per_direction"
            ),
            "per_direction",
        ),
        (lambda m: MultipleNegativesRankingLoss(m, hardness_mode="hardest"), "hardness_mode"),
        (lambda m: MultipleNegativesRankingLoss(m, hardness_strength=-1.0), "hardness_strength"),
        (lambda m: CachedMultipleNegativesRankingLoss(m, mini_batch_size=0), "mini_batch_size"),
        (lambda m: CachedMultipleNegativesRankingLoss(m, mini_batch_num_tokens=0), "mini_batch_num_tokens"),
        (lambda m: GISTEmbedLoss(m, m, margin_strategy="fuzzy"), "margin_strategy"),
        (lambda m: MegaBatchMarginLoss(m, mini_batch_size=-2), "mini_batch_size"),
    ],
)
def test_bad_arguments_raise(rp, factory, needle):
    with pytest.raises(ValueError, match=needle):
        factory(rp)


def test_config_and_requirements(rp, rp_guide):
    cfg = CachedMultipleNegativesRankingLoss(rp, mini_batch_num_tokens=128).get_config_dict()
    assert (
        cfg["similarity_fct"] == "cos_sim"
        and cfg["mini_batch_size"] == 32
        and cfg["mini_batch_num_tokens"] == 128
    )
    assert cfg["directions"] == ("query_to_doc",) and cfg["hardness_mode"] is None
    assert MultipleNegativesRankingLoss(rp).input_requirements().min_inputs == 2
    assert GISTEmbedLoss(rp, rp_guide).input_requirements().max_inputs == 3
    assert CachedGISTEmbedLoss(rp, rp_guide).input_requirements().max_inputs is None
    assert MegaBatchMarginLoss(rp).get_config_dict()["mini_batch_size"] == 50
    for loss in (MultipleNegativesRankingLoss(rp), GISTEmbedLoss(rp, rp_guide), MegaBatchMarginLoss(rp)):
        assert "@" in loss.citation


# ---------------------------------------------------------------------------------- gather across 2 processes
def _dist_losses(model, guide):
    return {
        "mnrl": (MultipleNegativesRankingLoss(model, gather_across_devices=True), 4),
        "cmnrl": (
            CachedMultipleNegativesRankingLoss(model, mini_batch_size=2, gather_across_devices=True),
            4,
        ),
        "gist": (GISTEmbedLoss(model, guide, gather_across_devices=True), 3),
        "cgist": (CachedGISTEmbedLoss(model, guide, mini_batch_size=2, gather_across_devices=True), 4),
    }


def _dist_worker(rank, world_size, model_dir, guide_dir, init_file, out_dir):
    import torch.distributed as dist

    from raypipe import SentenceTransformer

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        model, guide = SentenceTransformer(model_dir), SentenceTransformer(guide_dir)
        half = len(COLUMNS[0]) // world_size
        results = {}
        for name, (loss, ncols) in _dist_losses(model, guide).items():
            cols = [c[rank * half : (rank + 1) * half] for c in COLUMNS[:ncols]]
            results[name] = run_loss(loss, model, cols)
        # uneven split (an uneven last batch): rank 0 holds rows 0..1, rank 1 rows 2..5
        rows = slice(0, 2) if rank == 0 else slice(2, 6)
        uneven = CachedMultipleNegativesRankingLoss(model, mini_batch_size=2, gather_across_devices=True)
        results["uneven"] = run_loss(uneven, model, [c[rows] for c in COLUMNS])
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_gather_across_devices_two_gloo_processes(tiny_bert_dir, guide_dir, rp, rp_guide, tmp_path):
    """Each of 2 processes holds half the batch (with hard negatives). The mean of the per-process losses (and of
    their gradients, as DDP averages them) equals the single-process loss on the concatenated batch."""
    mp.spawn(
        _dist_worker,
        args=(2, tiny_bert_dir, guide_dir, str(tmp_path / "init"), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for name, (loss, ncols) in _dist_losses(rp, rp_guide).items():
        single_loss, single_grads = run_loss(loss, rp, COLUMNS[:ncols])  # not initialised -> no gather
        mean_loss = sum(r[name][0] for r in ranks) / 2
        mean_grads = {k: (ranks[0][name][1][k] + ranks[1][name][1][k]) / 2 for k in single_grads}
        assert_same((mean_loss, mean_grads), (single_loss, single_grads))
    # uneven rows: the row-weighted mean of the per-process losses is the single-process loss
    weighted = (2 * ranks[0]["uneven"][0] + 4 * ranks[1]["uneven"][0]) / 6
    assert weighted == pytest.approx(
        run_loss(MultipleNegativesRankingLoss(rp), rp, COLUMNS)[0], rel=LOSS_RTOL
    )
