"""The README's Python example runs as written."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_readme_python_example_runs(capsys) -> None:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
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
