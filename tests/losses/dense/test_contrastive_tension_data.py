"""ContrastiveTensionDataLoader sampling (the loss itself is compared with sentence-transformers elsewhere)."""

from __future__ import annotations

import random

import pytest

from raypipe.losses.dense.contrastive_tension import ContrastiveTensionDataLoader

SENTENCES = [f"sentence {i}" for i in range(100)]


def test_batches_ratio_and_disjoint_sentences():
    loader = ContrastiveTensionDataLoader(SENTENCES, batch_size=8, pos_neg_ratio=4)
    # each batch uses 2·8 − 8/4 = 14 sentences
    assert len(loader) == 100 // 14
    random.seed(0)
    batches = list(loader)
    assert len(batches) == len(loader)
    used = []
    for batch in batches:
        assert len(batch) == 8
        for k, ex in enumerate(batch):
            assert ex.label == int(k % 4 == 0)
            assert (ex.texts[0] == ex.texts[1]) == bool(ex.label)
            used += ex.texts[:1] if ex.label else ex.texts
    assert len(used) == len(set(used)) == len(loader) * 14  # every sentence at most once per epoch


def test_shuffle_is_seeded_and_matches_sentence_transformers():
    from sentence_transformers.sentence_transformer.losses import ContrastiveTensionDataLoader as STLoader

    ours = ContrastiveTensionDataLoader(SENTENCES, batch_size=16, pos_neg_ratio=8)
    ref = STLoader(list(SENTENCES), batch_size=16, pos_neg_ratio=8)
    random.seed(123)
    a = [[(ex.texts, ex.label) for ex in b] for b in ours]
    random.seed(123)
    b = [[(ex.texts, ex.label) for ex in b] for b in ref]
    assert a == b
    random.seed(124)
    assert [[(ex.texts, ex.label) for ex in b] for b in ours] != a  # another seed, another order
    assert ours.sentences == SENTENCES  # the caller's list is not shuffled in place


def test_collate_fn_and_columns():
    loader = ContrastiveTensionDataLoader(SENTENCES[:30], batch_size=4, pos_neg_ratio=2)
    loader.collate_fn = lambda batch: [ex.label for ex in batch]
    assert list(loader)[0] == [1, 0, 1, 0]
    loader.collate_fn = None
    cols = loader.as_columns()
    assert set(cols) == {"sentence1", "sentence2", "label"}
    assert len(cols["label"]) == len(loader) * 4


@pytest.mark.parametrize("batch_size,ratio", [(10, 8), (0, 8), (8, 0)])
def test_bad_ratio(batch_size, ratio):
    with pytest.raises(ValueError, match="ContrastiveTensionDataLoader.*divisible"):
        ContrastiveTensionDataLoader(SENTENCES, batch_size=batch_size, pos_neg_ratio=ratio)
