"""Repository-level files: cluster.yaml and every shipped YAML parse; the package imports lazily."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_cluster_yaml_validates_against_the_launchers_schema():
    import json

    import jsonschema
    import ray

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    cfg = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    jsonschema.validate(cfg, schema)
    assert any("GPU" in str(t["node_config"]) or t["node_config"]["InstanceType"].startswith(("g", "p"))
               for t in cfg["available_node_types"].values())
    assert any("pip install" in c and "/home/ray/raypipe" in c for c in cfg["setup_commands"])


def test_kuberay_rayjob_manifest():
    job = yaml.safe_load((ROOT / "pipelines" / "k8s" / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    entry = spec["entrypoint"].split("&&")[-1].split()  # pip install -e . (the working dir), then the job
    assert entry[:2] == ["raypipe", "run"] and (ROOT / entry[2]).exists()
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"] and ".git" in runtime_env["excludes"]
    cluster = spec["rayClusterSpec"]
    import ray

    assert cluster["rayVersion"].split(".")[:2] == ray.__version__.split(".")[:2]
    assert "ray-ml" not in cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    workers = cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert workers["resources"]["limits"]["nvidia.com/gpu"] == "1"


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
