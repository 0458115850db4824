"""A README.md model card with sentence-transformers' YAML front matter (library_name, tags, pipeline_tag)."""

from __future__ import annotations

import os

import yaml

_TAGS = {
    "SentenceTransformer": ["sentence-transformers", "sentence-similarity", "feature-extraction", "dense", "raypipe"],
    "CrossEncoder": ["sentence-transformers", "cross-encoder", "reranker", "raypipe"],
    "SparseEncoder": ["sentence-transformers", "sparse-encoder", "sparse", "raypipe"],
}
_PIPELINE = {
    "SentenceTransformer": "sentence-similarity",
    "CrossEncoder": "text-ranking",
    "SparseEncoder": "feature-extraction",
}


def write_model_card(model, path: str, model_name: str | None = None, train_datasets=None) -> None:
    kind = model.model_type
    card = getattr(model, "model_card_data", None) or {}
    front = {
        "library_name": "sentence-transformers",
        "tags": _TAGS[kind] + list(card.get("tags", [])),
        "pipeline_tag": _PIPELINE[kind],
    }
    if train_datasets:
        front["datasets"] = list(train_datasets)
    for key in ("base_model", "language", "license", "model-index", "metrics"):
        if key in card:
            front[key] = card[key]
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {model_name or kind + ' model'}",
        "",
        f"A {kind} saved by raypipe in sentence-transformers' format.",
        "",
        "## Architecture",
        "",
        "```",
        repr(model),
        "```",
        "",
        "## Usage",
        "",
        "```python",
        f"from sentence_transformers import {kind}  # or: from raypipe import {kind}",
        "",
        f'model = {kind}("path/to/this/folder")',
        "```",
    ]
    for section in card.get("sections", []):
        lines += ["", section]
    with open(os.path.join(path, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


__all__ = ["write_model_card"]
