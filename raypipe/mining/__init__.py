"""Hard-negative mining: read -> embed (actor pool) -> FAISS index per shard -> search + merge -> filter ->
rescore -> sample -> format -> write. Ray is imported only by `ray_stages` (executor="ray")."""

from raypipe.mining.hard_negatives import mine_hard_negatives
from raypipe.mining.index import IndexSpec, choose_index
from raypipe.mining.pipeline import MiningOptions, MiningResult, mine

__all__ = ["mine_hard_negatives", "mine", "MiningOptions", "MiningResult", "IndexSpec", "choose_index"]
