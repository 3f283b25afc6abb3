"""Graph neural networks (extra ``graph``)."""

from sciml.models.gnn.gin import GIN
from sciml.models.gnn.pretrained import HuGNN, pretrained

__all__ = ["GIN", "HuGNN", "pretrained"]
