"""TSDAE: decoder built offline from the encoder's own config, tied weights, parity with sentence-transformers
(which loads the decoder from the same local directory; its new weights are copied into ours)."""

from __future__ import annotations

import pytest
import torch

from raypipe.losses.dense.denoising_auto_encoder import DenoisingAutoEncoderLoss
from tests.losses.dense._st_parity import ANCHORS, features, load_pair, run_parity, st_losses

DAMAGED = ["cat plays", "dog fast", "search index", "red", "man woman", "web"]


def test_decoder_is_built_offline_and_tied():
    rp_model, _ = load_pair()
    loss = DenoisingAutoEncoderLoss(rp_model)
    encoder = rp_model[0].auto_model
    base = loss.decoder.bert
    assert base.embeddings.word_embeddings.weight is encoder.embeddings.word_embeddings.weight
    assert (
        base.encoder.layer[1].attention.self.query.weight
        is encoder.encoder.layer[1].attention.self.query.weight
    )
    assert loss.decoder.get_output_embeddings().weight is encoder.embeddings.word_embeddings.weight
    assert loss.decoder.config.is_decoder and loss.decoder.config.add_cross_attention
    assert not loss.need_retokenization
    # only cross-attention and the LM-head transform are new parameters
    encoder_ids = {id(p) for p in rp_model.parameters()}
    new = [n for n, p in loss.decoder.named_parameters() if id(p) not in encoder_ids]
    assert new and all("crossattention" in n or n.startswith("cls.") for n in new)


def test_parity_with_st():
    rp_model, st_model = load_pair()
    st_loss = st_losses().DenoisingAutoEncoderLoss(st_model, tie_encoder_decoder=True)
    rp_loss = DenoisingAutoEncoderLoss(rp_model)
    rp_loss.decoder.load_state_dict(st_loss.decoder.state_dict())  # same random cross-attention / head init

    def decoder_params(a, b):
        return dict(a.decoder.named_parameters()), dict(b.decoder.named_parameters())

    run_parity(rp_model, st_model, rp_loss, st_loss, [DAMAGED, ANCHORS], None, extra=decoder_params)


def test_training_step_lowers_loss():
    rp_model, _ = load_pair()
    loss = DenoisingAutoEncoderLoss(rp_model)
    params = {id(p): p for p in list(rp_model.parameters()) + list(loss.parameters())}
    opt = torch.optim.Adam(params.values(), lr=1e-2)
    feats = features(rp_model, [DAMAGED, ANCHORS])
    first = None
    for _ in range(5):
        opt.zero_grad()
        value = loss(feats, None)
        value.backward()
        opt.step()
        first = value.item() if first is None else first
    assert loss(feats, None).item() < first


def test_untied_needs_a_decoder_path():
    rp_model, _ = load_pair()
    with pytest.raises(ValueError, match="DenoisingAutoEncoderLoss.*decoder_name_or_path"):
        DenoisingAutoEncoderLoss(rp_model, tie_encoder_decoder=False)


def test_untied_decoder_from_local_dir(tiny_bert_dir):
    rp_model, _ = load_pair()
    loss = DenoisingAutoEncoderLoss(rp_model, decoder_name_or_path=tiny_bert_dir, tie_encoder_decoder=False)
    assert (
        loss.decoder.bert.embeddings.word_embeddings.weight
        is not rp_model[0].auto_model.embeddings.word_embeddings.weight
    )
    assert loss.get_config_dict()["decoder_name_or_path"] == tiny_bert_dir
    value = loss(features(rp_model, [DAMAGED, ANCHORS]), None)
    assert torch.isfinite(value)
