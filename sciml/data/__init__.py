"""Data: loaders of reference data (``SCIML_DATA_DIR`` or download with sha256) and
simulators of task families."""

from sciml.data.creep import load_creep_rupture
from sciml.data.download import DataUnavailableError, fetch
from sciml.data.matbench import load_matbench
from sciml.data.moleculenet import load_moleculenet
from sciml.data.paths import data_dir, reference_file
from sciml.data.recrystallization import load_recrystallization
from sciml.data.sinusoid import SinusoidTasks

__all__ = [
    "DataUnavailableError", "SinusoidTasks", "data_dir", "fetch", "load_creep_rupture", "load_matbench", "load_moleculenet", "load_recrystallization", "reference_file",
]
