"""Sweep loss and training hyperparameters with Ray Tune from a YAML config: every trial is a `raypipe train`
run (Ray Train V2), reported at every evaluation so ASHA stops bad trials early.

Run (from the repository root):

    python pipelines/tune.py pipelines/configs/tune-splade-tiny-cpu.yaml            # = raypipe tune ...
    python pipelines/tune.py pipelines/configs/tune-matryoshka-tiny-cpu.yaml tune.num_samples=2

The search space is checked before any trial (unknown keys, malformed distributions, values of the wrong type:
every problem at once), and a sweep that cannot fit one trial on the cluster says so before it starts. Outputs
under <output.dir>: trials.csv, best_model/ (sentence-transformers format) with best_config.yaml, plots/*.png.
The same command continues a sweep whose driver died (finished trials are not rerun).
"""

import sys

from raypipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
