"""Data: loaders of reference data and simulators of task families."""

from sciml.data.sinusoid import SinusoidTasks

__all__ = ["SinusoidTasks"]
