"""Tasks: support + query data, task sets with group-wise splits, and samplers."""

from sciml.tasks.data import TensorData
from sciml.tasks.embedding_cache import EmbeddingCache
from sciml.tasks.graph_data import GraphData
from sciml.tasks.sampling import EpisodeSampler, k_shot_indices, sample_episode
from sciml.tasks.task import Task
from sciml.tasks.taskset import TaskSet

__all__ = ["EmbeddingCache", "EpisodeSampler", "GraphData", "Task", "TaskSet", "TensorData", "k_shot_indices", "sample_episode"]
