"""The README's "Serve priors" curl example works as written against the service."""

from __future__ import annotations

import json
import re
import shlex

from tests.conftest import REPO


def _curl_calls(text: str) -> list[tuple[dict, str, str]]:
    """``(body, path, bearer)`` of every curl call in the first bash block under "## Serve priors"."""
    part = text.split("## Serve priors", 1)[1]
    block = re.search(r"```bash\n(.*?)```", part, flags=re.DOTALL).group(1)
    calls = []
    for command in block.replace("\\\n", " ").splitlines():
        if not command.strip().startswith("curl"):
            continue
        words = shlex.split(command.split("#")[0].replace("$(cat token.txt)", "TOKEN"))
        body = json.loads(words[words.index("-d") + 1])
        url = next(w for w in words if w.startswith("http://"))
        auth = next(w for w in words if w.startswith("Authorization"))
        calls.append((body, re.sub(r"^http://127\.0\.0\.1:8000", "", url), auth.split()[-1]))
    return calls


def test_readme_curl_example_runs(priors):
    from fastapi.testclient import TestClient

    from sciml.serve import create_app

    calls = _curl_calls((REPO / "README.md").read_text())
    assert len(calls) == 2
    with TestClient(create_app({"tungsten-jmak-arrhenius": priors["tungsten"]}, token="TOKEN")) as client:
        (cal_body, cal_path, token), (pred_body, pred_path, _) = calls
        headers = {"Authorization": f"Bearer {token}"}
        reply = client.post(cal_path, json=cal_body, headers=headers)
        assert reply.status_code == 200, reply.text
        names = {p["parameter"] for p in reply.json()["parameters"]}
        assert {"k_ref", "Q", "n", "t50_ref"} <= names
        reply = client.post(pred_path.replace("<id>", reply.json()["id"]), json=pred_body, headers=headers)
        assert reply.status_code == 200, reply.text
        row = reply.json()["predictions"][0]
        assert 0.0 <= row["lower"] <= row["mean"] <= row["upper"] <= 1.0
