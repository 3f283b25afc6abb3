"""A study run: its folder, and what the study writes into it."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from sciml._version import __version__
from sciml.data.download import sha256_of as sha256_file
from sciml.evaluation.protocol import RESULT_COLUMNS

METRIC_COLUMNS = ["learner", "iteration", "metric", "value"]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment_info(repo: Path | None = None) -> dict[str, Any]:
    """Versions of Python and the scientific stack, and the git revision (if any)."""
    import torch

    revision = None
    if repo is not None:
        try:
            revision = subprocess.run(
                ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            revision += "+dirty" if dirty else ""
        except (OSError, subprocess.SubprocessError):
            revision = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_geometric": _version("torch-geometric") or _version("torch_geometric"),
        "rdkit": _version("rdkit"),
        "pymatgen": _version("pymatgen"),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "pandas": _version("pandas"),
        "sciml": __version__,
        "git_revision": revision,
    }


@dataclass
class RunContext:
    """Everything a study kind needs: the resolved config and the run folder.

    Study kinds call :meth:`add_input` for every file they read, :meth:`add_results` for
    result tables, :meth:`add_history` for training curves, :meth:`save_figure` for plots and
    :meth:`add_section` for report text.

    In a data-parallel run (``torchrun``) every rank runs the study; only the writer (rank 0)
    logs and writes files.
    """

    config: dict[str, Any]
    run_dir: Path
    study_dir: Path
    inputs: list[dict[str, Any]] = field(default_factory=list)
    results: list[pd.DataFrame] = field(default_factory=list)
    histories: list[pd.DataFrame] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    priors: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    headline: str = ""
    writer: bool = True
    resumed: bool = False

    @property
    def name(self) -> str:
        """Study name."""
        return str(self.config["study"].get("name", self.study_dir.name))

    def log(self, message: str) -> None:
        """Progress message on stderr (writer only)."""
        if not self.writer:
            return
        print(f"[{datetime.now(timezone.utc).strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def add_input(self, path: Path, role: str = "input") -> None:
        """Record an input file (path, bytes, sha256) in the data manifest."""
        path = Path(path)
        self.inputs.append({"path": str(path), "role": role, "bytes": path.stat().st_size, "sha256": sha256_file(path)})

    def add_generated_input(self, name: str, description: dict[str, Any]) -> None:
        """Record data generated in the run (e.g. a synthetic family) with its settings."""
        blob = json.dumps(description, sort_keys=True, default=str).encode()
        self.inputs.append({"path": f"generated:{name}", "role": "generated", "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(), "settings": description})

    def add_results(self, df: pd.DataFrame) -> None:
        """Append rows in the results format (columns :data:`RESULT_COLUMNS`)."""
        missing = [c for c in RESULT_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"Results lack columns {missing}.")
        self.results.append(df[RESULT_COLUMNS].copy())

    def add_history(self, learner: str, history: list[dict[str, float]]) -> None:
        """Append a learner's training curve (``Learner.history_``)."""
        rows = [(learner, int(r["iteration"]), k, float(v)) for r in history for k, v in r.items() if k != "iteration"]
        self.histories.append(pd.DataFrame(rows, columns=METRIC_COLUMNS))

    def add_benchmark(self, benchmark: Any) -> None:
        """Record a :class:`~sciml.evaluation.benchmark.BenchmarkResult`: its result rows and
        every training curve."""
        self.add_results(benchmark.results)
        for label, history in benchmark.histories.items():
            if history:
                self.add_history(label, history)

    def save_figure(self, fig: Any, name: str, caption: str = "") -> None:
        """Save a matplotlib figure as ``figures/<name>.png`` and list it in the report."""
        import matplotlib.pyplot as plt

        path = self.run_dir / "figures" / f"{name}.png"
        if self.writer:
            path.parent.mkdir(exist_ok=True)
            fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(f"![{caption or name}](figures/{name}.png)" + (f"\n\n*{caption}*" if caption else ""))

    def save_table(self, name: str, df: pd.DataFrame) -> Path:
        """Write a table beside the results as ``tables/<name>.csv`` (writer only)."""
        path = self.run_dir / "tables" / f"{name}.csv"
        if self.writer:
            path.parent.mkdir(exist_ok=True)
            df.to_csv(path, index=False)
        return path

    def add_section(self, title: str, markdown: str) -> None:
        """A report section."""
        self.sections.append((title, markdown))

    def save_prior(self, name: str, prior: Any) -> Path:
        """Write ``prior`` (a :class:`sciml.prior.Prior`) to ``priors/<name>/`` in the run
        folder, with this run's data manifest and provenance unless the prior has its own."""
        import hashlib

        if not prior.training_data:
            prior.training_data = [dict(i) for i in self.inputs]
        blob = json.dumps(self.config, sort_keys=True, default=str).encode()
        prior.provenance = {"study": self.name, "kind": self.config["study"]["kind"], "run": self.run_dir.name,
                            "config_sha256": hashlib.sha256(blob).hexdigest(), **prior.provenance}
        prior.name = prior.name or name
        path = self.run_dir / "priors" / name
        if self.writer:
            prior.save(path, overwrite=self.resumed)
            self.log(f"prior saved: {path}")
        self.priors.append(name)
        return path

    def save_learner(self, name: str, learner: Any) -> Path:
        """Write a trained learner to ``learners/<name>/`` in the run folder (writer only)."""
        path = self.run_dir / "learners" / name
        if self.writer:
            learner.save(path)
        return path

    def all_results(self) -> pd.DataFrame:
        """All result rows so far."""
        return pd.concat(self.results, ignore_index=True) if self.results else pd.DataFrame(columns=RESULT_COLUMNS)
