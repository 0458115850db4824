"""Hard-negative mining: read -> embed -> FAISS index per shard -> search + merge -> rescore -> filter -> sample ->
format -> write. The stages are pure (numpy, FAISS, torch); `runner.py` chooses where the heavy ones run, and only
`ray_runner.py` / `ray_pool.py` import Ray (loaded when the executor resolves to "ray")."""

from raypipe.mining.hard_negatives import build_options, mine_hard_negatives
from raypipe.mining.index import IndexSpec, choose_index
from raypipe.mining.options import MiningOptions
from raypipe.mining.pipeline import MiningResult, mine

__all__ = ["mine_hard_negatives", "mine", "MiningOptions", "MiningResult", "IndexSpec", "choose_index",
           "build_options"]
