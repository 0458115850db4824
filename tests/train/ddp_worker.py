"""Worker for test_ddp.py (run under torchrun, 2 CPU processes, gloo): trains a tiny model with NO_DUPLICATES
batches and an evaluator, then writes per-rank results as JSON and the final state dict."""

from __future__ import annotations

import json
import os
import sys

import torch


def main(model_dir: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    from datasets import Dataset

    import raypipe
    from raypipe.eval import EmbeddingSimilarityEvaluator
    from raypipe.losses.dense.multiple_negatives_ranking import MultipleNegativesRankingLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    words = "the cat dog car red blue green fast slow good bad big small man woman child".split()
    anchors = [" ".join(words[(i * k) % len(words)] for k in range(1, 4)) for i in range(41)]
    positives = [" ".join(words[(i + k) % len(words)] for k in range(3)) for i in range(41)]
    ds = Dataset.from_dict({"anchor": anchors, "positive": positives})
    model = raypipe.SentenceTransformer(model_dir, device="cpu")
    calls = []

    class CountingEvaluator(EmbeddingSimilarityEvaluator):
        def __call__(self, *a, **k):
            calls.append(1)
            return super().__call__(*a, **k)

    ev = CountingEvaluator(anchors[:6], positives[:6], [i / 6 for i in range(6)], name="dev")
    args = SentenceTransformerTrainingArguments(
        output_dir=out_dir, per_device_train_batch_size=4, num_train_epochs=1, logging_steps=1, report_to="none",
        eval_strategy="steps", eval_steps=2, save_strategy="no", batch_sampler="no_duplicates",
        disable_tqdm=True, use_cpu=True, ddp_backend="gloo", dataloader_drop_last=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                         loss=MultipleNegativesRankingLoss(model), evaluator=ev)
    trainer.train()
    rank = int(os.environ.get("RANK", 0))
    evals = [h for h in trainer.state.log_history if "eval_dev_spearman_cosine" in h]
    result = {"rank": rank, "steps": trainer.state.global_step, "evaluator_calls": len(calls),
              "evals": len(evals), "world": trainer.accelerator.num_processes}
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, os.path.join(out_dir, f"rank{rank}.pt"))
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
