"""Mine hard negatives with raypipe on Ray Data + FAISS.

Run (from the repository root):

    python pipelines/mine.py pipelines/configs/mine-debian.yaml            # = raypipe mine ...
    python pipelines/mine.py pipelines/configs/mine-tiny-cpu.yaml mining.num_negatives=5 output.dir=/tmp/mined

The config is validated up front (unknown keys rejected, every error listed at once); `key.path=value` overrides
are applied before validation. The statistics table and the output folder are printed at the end.
"""

import sys

from raypipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["mine", *sys.argv[1:]]))
