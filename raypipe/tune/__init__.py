"""Ray Tune sweeps of loss and training hyperparameters: every trial is a `raypipe train` run on Ray Train V2,
reported to Tune at every evaluation so ASHA stops bad trials early; resumable; the best model exported with
trials.csv and plots. The pure parts (results, plan, plots, outputs, storage) import without Ray; `driver` and
`trial` are the Ray-facing modules.

    from raypipe.tune import sweep
    result = sweep("pipelines/configs/tune-splade-tiny-cpu.yaml")
    print(result.summary())
"""


def sweep(config):
    """Run a sweep as `raypipe tune` does: `config` is a TuneConfig, a dict or a YAML path. Returns the
    SweepResult (trials best first, the best model's folder, the output folder)."""
    import importlib

    from raypipe.config.base import load_config
    from raypipe.config.tune import TuneConfig

    if not isinstance(config, TuneConfig):
        config = load_config(TuneConfig, config) if isinstance(config, str) else load_config(TuneConfig, raw=config)
    # the job sits above this package (it uses the registry); resolved at call time, not imported at load time
    return importlib.import_module("raypipe.jobs.tune").run(config)


__all__ = ["sweep"]
