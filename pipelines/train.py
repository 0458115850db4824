"""Train a dense, cross or sparse encoder on Ray Train (DDP, fault tolerant) from a YAML config.

Run (from the repository root):

    python pipelines/train.py pipelines/configs/train-dense-tiny-cpu.yaml            # = raypipe train ...
    python pipelines/train.py pipelines/configs/train-sparse-tiny-cpu.yaml scaling.num_workers=2 args.max_steps=40

The config is checked before Ray starts (unknown keys, loss name and parameters, data against the loss, training
arguments, files; every problem at once). The final model is written to <output.dir>/model in
sentence-transformers format, with log_history.json and metrics.json beside it; the same command resumes an
interrupted run (same run.name) and says so when the run has finished.
"""

import sys

from raypipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
