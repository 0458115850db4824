"""Repository-level files: cluster.yaml and every shipped YAML parse; the package imports lazily."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_cluster_yaml_has_launcher_keys():
    cfg = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    for key in ("cluster_name", "provider", "available_node_types", "head_node_type", "docker"):
        assert key in cfg, key
    assert cfg["head_node_type"] in cfg["available_node_types"]
    assert "ray-ml" not in cfg["docker"]["image"], "rayproject/ray-ml is deprecated"


def test_public_import_paths():
    import raypipe

    assert raypipe.SentenceTransformer.__name__ == "SentenceTransformer"
    assert raypipe.CrossEncoder.__name__ == "CrossEncoder"
    assert raypipe.SparseEncoder.__name__ == "SparseEncoder"
