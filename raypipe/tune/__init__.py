"""Ray Tune sweeps of loss hyperparameters (planned: see the README's feature status)."""

__all__: list[str] = []
