"""The README's Python example runs as written."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_readme_python_example_runs(capsys) -> None:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, "README has a Python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "kJ/mol" in out
    alloy = namespace["alloy"]
    n = float(alloy.physical_params()["n"].value)
    assert 0.3 < n < 10
    # the three points cross X = 0.5 between 6e4 and 2e5 s
    assert 6.0e4 < float(alloy.model.t50(1550.0, dict(alloy.params))) < 2.0e5


def _calibrate_blocks(text: str) -> dict[str, str]:
    """The first Python block under each '### Calibrate your own ...' heading."""
    out = {}
    for part in text.split("### Calibrate your own ")[1:]:
        title = part.splitlines()[0].strip()
        out[title] = re.search(r"```python\n(.*?)```", part, flags=re.DOTALL).group(1)
    return out


def test_readme_calibrate_your_own_workflows_run(tmp_path, monkeypatch, capsys) -> None:
    import pytest

    for module in ("rdkit", "pymatgen", "astropy", "torch_geometric"):
        pytest.importorskip(module)
    import matplotlib
    import pandas as pd

    from tests.prior import builders

    matplotlib.use("Agg")
    blocks = _calibrate_blocks((REPO / "README.md").read_text())
    assert set(blocks) == {"alloy", "creep tests", "assay", "material family", "star classes"}
    for title, code in blocks.items():
        assert len(code.strip().splitlines()) <= 10, f"'Calibrate your own {title}' is longer than 10 lines"
    priors = tmp_path / "priors"
    builders.law_prior().save(priors / "tungsten-jmak-arrhenius")
    builders.creep_prior().save(priors / "tungsten-creep-pooled-prior-map")
    builders.molecule_prior().save(priors / "tox21-maml-head")
    builders.crystal_prior().save(priors / "dielectric-maml")
    builders.light_curve_prior().save(priors / "asas-protonet-hybrid-supervised")
    (tmp_path / "new_member.cif").write_text(builders.structure(4.3, ("Mg", "O")).to(fmt="cif"))
    for i, period in enumerate([0.5, 0.5, 30.0, 30.0, 0.5, 30.0]):
        t, mag, err = builders.light_curve(period, seed=i)
        pd.DataFrame({"t": t, "mag": mag, "err": err}).to_csv(tmp_path / f"star_{i}.csv", index=False)
    monkeypatch.chdir(tmp_path)
    results = {}
    for title, code in blocks.items():
        namespace: dict = {}
        exec(compile(code, f"README.md (Calibrate your own {title})", "exec"), namespace)  # noqa: S102
        results[title] = (namespace, capsys.readouterr().out)
    assert "kJ/mol" in results["alloy"][1] and (tmp_path / "alloy.png").is_file()
    assert len(results["alloy"][0]["alloy"].suggest_next(box={"time [h]": (0.5, 48), "temperature [C]": (1200, 1300)}, q=2)) == 2
    assert "rupture time upper [h]" in results["creep tests"][1] and "LMP_ref" in results["creep tests"][1]
    assert "probability" in results["assay"][1]
    assert "upper" in results["material family"][1]
    assert results["star classes"][0]["stars"].predict(results["star classes"][0]["curves"][4:]).predicted.tolist() == ["fast", "slow"]
