"""The ASAS protocol on a user's own light curves (a long CSV), and that table's errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_study

pytest.importorskip("astropy", reason="needs astropy: pip install 'sciml[astro]'")


def test_asas_protocol_runs_on_a_users_light_curves(tmp_path: Path) -> None:
    from sciml.astro.benchmark import LEARNERS
    from tests.prior.builders import light_curve

    rows = []
    for c, period in enumerate((0.3, 0.7, 2.5, 9.0, 30.0)):
        for i in range(8):
            t, mag, err = light_curve(period, seed=10 * c + i, amplitude=0.3 + 0.1 * c)
            rows += [{"name": f"star{c}{i}", "label": f"class {c}", "t": a, "mag": b, "err": e} for a, b, e in zip(t, mag, err)]
    pd.DataFrame(rows).to_csv(tmp_path / "my_curves.csv", index=False)
    run_dir = run_study("asas-fewshot", tmp_path / "runs", [
        f'data.curves="{tmp_path / "my_curves.csv"}"', "episodes.min_members=8", "episodes.train_classes=3", "episodes.n_way=2",
        "episodes.queries=2", "episodes.iterations=2", "episodes.test_episodes=5", "episodes.splits=[0]", "episodes.shots=[1]", 'episodes.prior="ProtoNet-MLP"',
        *(f'learners."{label}".enabled=false' for label in LEARNERS if label not in ("nearest-centroid", "ProtoNet-MLP"))])
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.dataset) == {"my_curves:split0"} and set(results.learner) == {"nearest-centroid", "ProtoNet-MLP"}
    assert (run_dir / "priors" / "my_curves-protonet-mlp" / "prior.json").is_file()
    doubling = pd.read_csv(run_dir / "tables" / "period_doubling.csv")  # sinusoids: no alternate cycles differ
    assert list(doubling.columns) == ["class", "curves", "doubled"] and doubling.curves.sum() == 40 and doubling.doubled.sum() == 0
    assert "light-curve table" in (run_dir / "data_manifest.json").read_text()


def test_light_curve_table_errors_name_the_line(tmp_path: Path) -> None:
    from sciml.astro.dataset import load_light_curve_table

    pd.DataFrame({"name": ["a", "a"], "label": ["x", "x"], "t": [1.0, "soon"], "mag": [10.0, 10.1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"column t .* line\(s\) \[3\]"):
        load_light_curve_table(tmp_path / "bad.csv")
    pd.DataFrame({"name": ["a", "a"], "label": ["x", "y"], "t": [1.0, 2.0], "mag": [10.0, 10.1]}).to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(ValueError, match="more than one label"):
        load_light_curve_table(tmp_path / "two.csv")
