"""The whole pipeline as one job: mine hard negatives -> train on them (Ray Train) -> evaluate the base and the
trained model with one evaluator, and print the before/after table.

Run (from the repository root):

    python pipelines/mine_train_eval.py pipelines/configs/mine-train-eval-debian.yaml     # = raypipe run ...
    python pipelines/mine_train_eval.py pipelines/configs/mine-train-eval-tiny-cpu.yaml output.dir=/tmp/run

On a cluster, unchanged:  ray job submit --address http://HEAD:8265 --working-dir . -- raypipe run CONFIG
Every stage writes under <output.dir> (mined/, model/, eval.json, eval-base.json); a rerun skips finished stages
and resumes an interrupted training from its last checkpoint.
"""

import sys

from raypipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
