"""`raypipe train` config and driver-side checks: every problem in one error, before Ray starts (or, for the
cluster's size, before any worker trains); the builders the workers use."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from raypipe.cli import main
from raypipe.config import ConfigError, load_config
from raypipe.config.train import TrainConfig
from raypipe.jobs.train import check_before_ray
from raypipe.registry import get_kind
from raypipe.train.build import build_args, build_loss, configure_gather

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "pipelines" / "configs" / "train-dense-tiny-cpu.yaml"


def test_unknown_keys_and_bad_values_listed_at_once():
    raw = {"model": {"kind": "dense", "path": "m", "colour": 1}, "data": {"train": "p"},
           "scaling": {"num_workers": 0, "placement_strategy": "ANYWHERE"}, "extra": 1}
    with pytest.raises(ConfigError) as e:
        load_config(TrainConfig, raw=raw, check=False)
    for part in ("4 config error(s)", "model.colour", "scaling.num_workers", "scaling.placement_strategy", "extra"):
        assert part in str(e.value), str(e.value)


def test_loss_data_and_args_problems_in_one_error_before_ray(monkeypatch, capsys):
    overrides = ["loss.name=NoSuchLoss", "args.save_steps=7", "args.eval_steps=5",
                 "data.train.columns=[query]", "run.storage_path=/etc/hostname/raypipe"]
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    assert main(["train", str(TINY), *overrides]) == 2
    err = capsys.readouterr().err
    assert "run.storage_path" in err and "cannot be written" in err  # the path check comes first, alone
    assert "ray" not in sys.modules
    assert main(["train", str(TINY), *overrides[:-1]]) == 2
    err = capsys.readouterr().err
    assert "loss.name" in err and "NoSuchLoss" in err and "MultipleNegativesRankingLoss" in err
    assert "save_steps=7 must be a multiple of args.eval_steps=5" in err
    assert "ray" not in sys.modules


def test_loss_that_does_not_fit_the_data(monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = load_config(TrainConfig, TINY, ["loss.name=CoSENTLoss", "loss.scale=20.0", "evaluator=null"])
    with pytest.raises(ConfigError) as e:
        check_before_ray(cfg, get_kind("dense"))
    assert "CoSENTLoss" in str(e.value) and "label" in str(e.value)


def test_nested_losses_and_parameter_checks(tiny_mlm_dir):
    spec = get_kind("sparse")
    model = spec.model_class(tiny_mlm_dir)
    cfg = TrainConfig.model_validate({"model": {"kind": "sparse", "path": tiny_mlm_dir}, "data": {"train": "p"},
                                      "loss": {"name": "SpladeLoss", "document_regularizer_weight": 1e-3,
                                               "loss": {"name": "SparseMultipleNegativesRankingLoss", "scale": 10}}})
    loss = build_loss(cfg.loss, model, spec, gather=True)
    assert type(loss.loss).__name__ == "SparseMultipleNegativesRankingLoss" and loss.loss.scale == 10
    assert loss.loss.gather_across_devices and loss.document_regularizer.gather_across_devices
    bad = cfg.loss.model_copy(update={"loss": {"name": "SparseMultipleNegativesRankingLoss", "temperatur": 1}})
    with pytest.raises(ConfigError, match="loss.loss.temperatur: not a parameter"):
        build_loss(bad, model, spec)
    missing = TrainConfig.model_validate({**cfg.model_dump(), "loss": {"name": "SpladeLoss"}}).loss
    with pytest.raises(ConfigError, match="needs loss, document_regularizer_weight"):
        build_loss(missing, model, spec)


def test_explicit_gather_setting_wins(tiny_bert_dir):
    spec = get_kind("dense")
    model = spec.model_class(tiny_bert_dir)
    raw = {"model": tiny_bert_dir, "data": {"train": "p"},
           "loss": {"name": "MatryoshkaLoss", "matryoshka_dims": [32, 16],
                    "loss": {"name": "MultipleNegativesRankingLoss", "gather_across_devices": False}}}
    loss = build_loss(TrainConfig.model_validate(raw).loss, model, spec, gather=True)
    assert loss.loss.gather_across_devices is False
    assert configure_gather(loss, True) == ["MultipleNegativesRankingLoss (loss)"]


def test_args_defaults_align_checkpoints_with_evaluations(tmp_path):
    args = build_args(get_kind("dense"), {"eval_steps": 25}, str(tmp_path), has_eval=True)
    assert args.save_steps == 25 and args.eval_strategy == "steps" and args.logging_steps == 1
    with pytest.raises(ConfigError, match="set by raypipe"):
        build_args(get_kind("dense"), {"output_dir": "x"}, str(tmp_path))


@pytest.mark.ray
def test_more_workers_than_the_cluster_fits_fails_before_training(ray_local, monkeypatch, tmp_path):
    from raypipe.train import fit

    monkeypatch.chdir(ROOT)
    raw = load_config(TrainConfig, TINY, ["scaling.num_workers=4", "scaling.resources_per_worker={CPU: 1}",
                                          "evaluator=null", f"output.dir={tmp_path / 'out'}",
                                          f"run.storage_path={tmp_path / 'st'}"])
    with pytest.raises(ConfigError, match="4 worker.s. x 1 CPU = 4 CPU, but the cluster has 2"):
        fit(raw)
    gpu = raw.model_copy(update={"scaling": raw.scaling.model_copy(update={"num_workers": 1, "use_gpu": True,
                                                                           "resources_per_worker": None})})
    with pytest.raises(ConfigError, match="GPU.*use_gpu=false"):
        fit(gpu)


@pytest.mark.parametrize("name", [f"train-{k}-{v}.yaml" for k in ("dense", "cross", "sparse")
                                  for v in ("tiny-cpu", "debian")])
def test_issue_overrides_validate_on_every_train_config(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    overrides = ["scaling.num_workers=2", "args.max_steps=40", "args.per_device_train_batch_size=4",
                 "run.max_failures=2"]
    cfg = load_config(TrainConfig, ROOT / "pipelines" / "configs" / name, overrides, check=False)
    assert cfg.scaling.num_workers == 2 and cfg.args["max_steps"] == 40 and cfg.run.max_failures == 2


def test_sigint_handler_is_ours_again_after_fit():
    """Ray Train's fit() leaves its "abort the run" SIGINT handler installed; fit_on_ray puts the previous one
    back, so Ctrl+C works in the stages after training (raypipe run's evaluations)."""
    import signal

    from raypipe.train.ray_driver import _restored_sigint

    def ours(signum, frame):
        pass

    before = signal.signal(signal.SIGINT, ours)
    try:
        with _restored_sigint():
            signal.signal(signal.SIGINT, lambda s, f: None)  # what TorchTrainer.fit() does
        assert signal.getsignal(signal.SIGINT) is ours
    finally:
        signal.signal(signal.SIGINT, before)


def test_rerun_loads_the_saved_initial_model_instead_of_building_it(monkeypatch, tmp_path):
    import raypipe.jobs.train as job

    monkeypatch.chdir(ROOT)
    cfg = load_config(TrainConfig, TINY, [f"run.storage_path={tmp_path}", "evaluator=null"])
    model, _ = check_before_ray(cfg, get_kind("dense"))
    job._initial_model(cfg, model)

    def no_build(*a, **k):
        raise AssertionError("built the model again")

    monkeypatch.setattr(job, "build_model", no_build)
    again, _ = check_before_ray(cfg, get_kind("dense"))
    assert type(again) is type(model) and again.max_seq_length == model.max_seq_length


@pytest.mark.parametrize("pays_off", [True, False])
def test_bf16_auto_follows_the_device(monkeypatch, tmp_path, pays_off):
    from raypipe.models import precision

    monkeypatch.setattr(precision, "cpu_bf16_pays_off", lambda: pays_off)
    args = build_args(get_kind("dense"), {"bf16": "auto"}, str(tmp_path))
    assert args.bf16 is pays_off
    assert build_args(get_kind("dense"), {"bf16": True}, str(tmp_path)).bf16 is True  # an explicit value stays


def test_a_run_name_another_config_started_is_refused_before_the_build(monkeypatch, tmp_path):
    import raypipe.jobs.train as job

    monkeypatch.chdir(ROOT)
    base = [f"run.storage_path={tmp_path}", "evaluator=null", f"output.dir={tmp_path}/out"]
    cfg = load_config(TrainConfig, TINY, base)
    job._claim(cfg, write=True)
    (tmp_path / cfg.run_name / "initial_model").mkdir()  # the run has started
    monkeypatch.setattr(job, "build_model", lambda *a, **k: pytest.fail("built a model for a refused run"))
    other = load_config(TrainConfig, TINY, [*base, "args.max_steps=7", "loss.scale=10"])
    with pytest.raises(ConfigError) as e:
        job.run(other)
    msg = str(e.value)
    assert "run.name='train-dense-tiny'" in msg and "args.max_steps: 20 -> 7" in msg and "loss.scale: 20" in msg
    assert "new run.name" in msg and "resume" in msg
    # where outputs go, Ray and scaling do not make another run: resuming with them changed is allowed
    job._claim(load_config(TrainConfig, TINY, [*base, f"output.dir={tmp_path}/elsewhere", "ray.num_cpus=1",
                                               "scaling.num_workers=2", "run.max_failures=0"]))
    # a folder that holds nothing but the record has not started: another config takes it over
    (tmp_path / cfg.run_name / "initial_model").rmdir()
    job._claim(other, write=True)
    assert json.loads((tmp_path / cfg.run_name / job.RUN_CONFIG).read_text())["args"]["max_steps"] == 7


def test_a_finished_output_dir_is_reused_only_by_its_own_config(monkeypatch, tmp_path):
    import raypipe.jobs.train as job

    monkeypatch.chdir(ROOT)
    base = [f"run.storage_path={tmp_path}", f"output.dir={tmp_path}/out"]
    cfg = load_config(TrainConfig, TINY, base)
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    marker = {"run_name": cfg.run_name, "finished": True, "fingerprint": job.fingerprint(cfg)}
    (out / "run.json").write_text(json.dumps(marker))
    assert job.run(cfg).already_finished and job.finished(cfg)
    other = load_config(TrainConfig, TINY, [*base, "args.learning_rate=5e-5"])
    assert not job.finished(other)  # so `raypipe run` does not skip its training stage: it runs and is refused
    with pytest.raises(ConfigError) as e:
        job.run(other)
    assert "args.learning_rate: 0.001 -> 5e-05" in str(e.value) and "new run.name and output.dir" in str(e.value)
    del marker["fingerprint"]  # a marker written before fingerprints: taken as is
    (out / "run.json").write_text(json.dumps(marker))
    assert job.run(load_config(TrainConfig, TINY, [*base, "args.learning_rate=5e-5"])).already_finished
