"""Sweep results without Ray: statuses, ranking with constraints, the Pareto front, trials.csv, plots, the
resource plan (a sweep that cannot fit one trial is refused)."""

from __future__ import annotations

import csv

from raypipe.config.train import ScalingSection
from raypipe.tune.plan import fit_problems, plan_trials
from raypipe.tune.plots import plot_metric_vs_dim, plot_metric_vs_step, plot_pareto
from raypipe.tune.results import (
    Objective,
    TrialRecord,
    pareto_front,
    rank_trials,
    trial_status,
    write_trials_csv,
)

M, DOC = "eval_dev_dot_ndcg@10", "eval_dev_corpus_active_dims"


def _rec(i, ndcg, doc, status="COMPLETED", steps=(10, 20)):
    history = [{"step": s, M: ndcg * s / steps[-1], DOC: doc, "training_iteration": k + 1}
               for k, s in enumerate(steps)]
    metrics = {M: ndcg, DOC: doc, "step": steps[-1], "training_iteration": len(steps),
               "eval_dev_dim64_cosine_ndcg@10": ndcg / 2, "checkpoint_path": f"/c/{i}"}
    return TrialRecord(f"abc_{i:05d}", {"loss.document_regularizer_weight": 10.0 ** -i, "loss.x": [64, 32]},
                       status, metrics, history)


def test_status_comes_from_what_the_trial_reported():
    assert trial_status({"final": 1.0, "step": 4}, False) == "COMPLETED"
    assert trial_status({"step": 2}, False) == "STOPPED"
    assert trial_status({}, False) == "PENDING"
    assert trial_status({"final": 1.0}, True) == "ERROR"


def test_ranking_puts_feasible_completed_trials_first():
    recs = [_rec(0, 0.70, 300), _rec(1, 0.65, 90), _rec(2, 0.80, 100, status="STOPPED", steps=(10,)),
            _rec(3, 0.60, 50), TrialRecord("abc_00004", {}, "ERROR")]
    obj = Objective(M, "max", {"max_active_dims_per_doc": 128}, "dev")
    ranked = [r.trial_id[-1] for r in rank_trials(recs, obj)]
    assert ranked == ["1", "3", "2", "0", "4"]  # within the bound and completed, then stopped, infeasible, none
    assert obj.violations(recs[0]) == ["active_dims_per_doc=300 > 128"]
    assert [r.trial_id[-1] for r in rank_trials(recs, Objective(M, "min"))][:2] == ["3", "1"]


def test_pareto_front():
    pts = [(300, 0.70), (90, 0.65), (100, 0.60), (50, 0.60), (50, 0.55), (400, 0.69)]
    assert pareto_front(pts) == [3, 1, 0]  # cheapest first; dominated and tied-but-worse points left out
    assert pareto_front([(1, 0.3), (2, 0.1)], maximize_y=False) == [0, 1]
    assert pareto_front([]) == []


def test_trials_csv_has_every_trial_best_first(tmp_path):
    recs = [_rec(0, 0.7, 300), _rec(1, 0.65, 90, status="STOPPED", steps=(10,))]
    obj = Objective(M, "max", {}, "dev")
    path = write_trials_csv(str(tmp_path / "trials.csv"), rank_trials(recs, obj), obj,
                            ["loss.document_regularizer_weight", "loss.x"], {"active_dims_per_doc": DOC})
    rows = list(csv.DictReader(open(path)))
    assert [(r["trial_id"], r["status"], r["iterations"]) for r in rows] == [("abc_00000", "COMPLETED", "2"),
                                                                            ("abc_00001", "STOPPED", "1")]
    assert rows[0]["loss.x"] == "[64,32]" and float(rows[0][M]) == 0.7 and rows[0]["feasible"] == "True"
    assert float(rows[1]["active_dims_per_doc"]) == 90 and rows[1]["checkpoint_path"] == "/c/1"
    assert "eval_dev_dim64_cosine_ndcg@10" in rows[0]


def test_plots_are_written_without_a_display(tmp_path):
    recs = [_rec(0, 0.7, 300), _rec(1, 0.65, 90, status="STOPPED", steps=(10,)), _rec(2, 0.2, 20)]
    a = plot_metric_vs_step(recs, M, "nDCG@10", str(tmp_path / "a.png"), baseline=0.3, best_id="abc_00000")
    b = plot_pareto(recs, DOC, M, str(tmp_path / "b.png"), x_label="active dims per document",
                    y_label="nDCG@10", baseline=(280.0, 0.3), x_max=128)
    c = plot_metric_vs_dim(recs, {64: "eval_dev_dim64_cosine_ndcg@10", 384: M}, "nDCG@10", str(tmp_path / "c.png"),
                           baseline={64: 0.2, 384: 0.3})
    for p in (a, b, c):
        assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_plan_fits_trials_side_by_side_or_says_why_not():
    cluster, nodes = {"CPU": 2.0}, [{"CPU": 2.0}]
    one = plan_trials(ScalingSection(num_workers=1), cluster, None, num_trials=4)
    assert one.resources_per_worker == {"CPU": 0.99} and one.fits == 2 and one.max_concurrent == 2
    assert one.threads == 1 and fit_problems(one, cluster, nodes) == []
    two = plan_trials(ScalingSection(num_workers=2), cluster, None, num_trials=4)
    assert two.resources_per_worker == {"CPU": 0.995} and two.fits == 1
    assert plan_trials(ScalingSection(), cluster, 5, num_trials=3).max_concurrent == 3  # no more than trials
    three = plan_trials(ScalingSection(num_workers=3), cluster, None, num_trials=4)
    (problem,) = fit_problems(three, cluster, nodes)
    assert "cannot fit even one trial" in problem and "3 worker(s)" in problem and "the cluster has 2 CPU" in problem
    gpu = plan_trials(ScalingSection(use_gpu=True), cluster, None, num_trials=2)
    assert "GPU" in fit_problems(gpu, cluster, nodes)[0]
    big = plan_trials(ScalingSection(num_workers=2, resources_per_worker={"CPU": 1.5}), {"CPU": 4.0}, None, 2)
    assert "largest node has 1" in fit_problems(big, {"CPU": 4.0}, [{"CPU": 1.0}] * 4)[0]
