"""A masked-LM head made usable for SPLADE: reset it to fresh weights, fit it with plain MLM on a model whose
encoder is frozen, and calibrate its output bias so a text starts with a chosen number of active terms. Used by
`raypipe.models.init.splade_from_checkpoint`; works on any Hugging Face masked-LM model, not only BERT."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling

from raypipe.models.transformer import Transformer

__all__ = ["reset_mlm_head", "warm_up_mlm_head", "calibrate_logit_offset"]


def reset_mlm_head(model) -> None:
    """Give `model` a fresh MLM head: the head weights of a newly initialized model of the same config (drawn
    from the current, seeded generator); the decoder stays tied to (or is copied from) the word embeddings."""
    fresh = dict(AutoModelForMaskedLM.from_config(model.config).named_parameters())
    prefix = model.base_model_prefix + "."
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith(prefix):
                p.copy_(fresh[name])
        out, emb = model.get_output_embeddings(), model.get_input_embeddings()
        if out.weight is not emb.weight:
            out.weight.copy_(emb.weight)


def _head_module(model):
    """The one top-level module that maps hidden states (n, H) to vocabulary logits (n, V), or None when the
    head is spread over several modules (then the full forward is used)."""
    heads = [m for m in model.children() if m is not model.base_model and any(True for _ in m.parameters())]
    return heads[0] if len(heads) == 1 else None


def warm_up_mlm_head(transformer: Transformer, texts: list[str], *, steps: int = 200, lr: float = 1e-3,
                     batch_size: int = 32, seed: int = 0, show_progress_bar: bool = True) -> dict:
    """Fit the MLM head of a fill-mask `transformer` on `texts` with plain masked-LM (15% of tokens), everything
    else frozen (encoder and the tied word embeddings). Vocabulary logits are computed only at masked positions,
    so a step costs about one no-grad encoder forward, O(batch_size·T·H²·layers) + O(0.15·batch_size·T·H·V)
    (MiniLM, 200 steps of 32 Debian descriptions: ~1 minute on 2 cores with AMX, 3-4 without; a bar shows it).
    Returns {"mlm_steps", "mlm_loss_first", "mlm_loss_last"} (means over the first / last 10 steps)."""
    model, tok = transformer.auto_model, transformer.tokenizer
    prefix, head = model.base_model_prefix + ".", _head_module(model)
    params = [p for n, p in model.named_parameters() if not n.startswith(prefix)]
    grads = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():  # only the head learns; restored in `finally`
        p.requires_grad_(any(p is q for q in params))
    opt = torch.optim.AdamW(params, lr=lr)
    collate = DataCollatorForLanguageModeling(tok, mlm_probability=0.15, return_tensors="pt", seed=seed)
    device, was_training, losses = next(model.parameters()).device, model.training, []
    model.eval()  # no dropout: the frozen encoder gives the same hidden states every time
    try:
        for step in tqdm(range(steps), desc="MLM head warm-up", unit="step", disable=not show_progress_bar):
            chunk = [texts[(step * batch_size + i) % len(texts)] for i in range(batch_size)]
            batch = collate([tok(t, truncation=True, max_length=transformer.max_seq_length) for t in chunk])
            batch = {k: v.to(device) for k, v in batch.items()}
            labels = batch.pop("labels")
            at = labels != -100  # (B, T) masked positions
            if not at.any():
                continue
            if head is not None:
                with torch.no_grad():
                    hidden = model.base_model(**batch).last_hidden_state  # (B, T, H)
                logits = head(hidden[at])  # (n_masked, V)
            else:
                logits = model(**batch).logits[at]  # (n_masked, V)
            loss = torch.nn.functional.cross_entropy(logits, labels[at])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach().item())
    finally:
        for p, flag in grads.items():
            p.requires_grad_(flag)
        model.train(was_training)
    first, last = losses[:10] or [float("nan")], losses[-10:] or [float("nan")]
    return {"mlm_steps": steps, "mlm_loss_first": sum(first) / len(first), "mlm_loss_last": sum(last) / len(last)}


@torch.no_grad()
def calibrate_logit_offset(transformer: Transformer, texts: list[str], *, init_active_dims: int = 128,
                           batch_size: int = 32) -> dict:
    """Lower the MLM head's output bias by one constant c so an average text of `texts` has ~`init_active_dims`
    SPLADE terms (logits above 0). MLM training cannot set c (softmax ignores a common shift); SPLADE's
    log(1 + relu(.)) depends on it. c = mean over texts of the (1 - init_active_dims / V) quantile of the text's
    max-pooled logits. Cost: one forward over `texts`; memory O(batch_size·T·V) + O(len(texts)·V).
    Returns {"logit_offset": c, "calibration_active_dims": mean active terms after the shift}."""
    model = transformer.auto_model
    bias = model.get_output_embeddings().bias
    if bias is None:
        raise ValueError(f"{type(model).__name__} has no output bias, so its logit offset cannot be calibrated. "
                         f"Fix: pass warmup_texts=None, or use a checkpoint whose MLM decoder has a bias.")
    device, pooled = bias.device, []
    for start in range(0, len(texts), batch_size):
        feats = {k: v.to(device) for k, v in transformer.tokenize(texts[start : start + batch_size]).items()}
        logits = model(**feats).logits  # (B, T, V)
        pad = ~feats["attention_mask"].bool()[..., None]  # (B, T, 1)
        pooled.append(logits.masked_fill(pad, float("-inf")).amax(dim=1).float().cpu())  # (B, V)
    pooled = torch.cat(pooled)  # (N, V)
    q = 1.0 - init_active_dims / pooled.shape[1]
    c = float(torch.quantile(pooled, q, dim=1).mean())
    bias -= c
    return {"logit_offset": c, "calibration_active_dims": float((pooled > c).sum(dim=1).float().mean())}
