"""Graph neural networks (extra ``graph``)."""

from sciml.models.gnn.gin import GIN

__all__ = ["GIN"]
