"""``report.md``: the headline table, the kind's sections and the figures."""

from __future__ import annotations

import json
import math
import shlex

import pandas as pd

from sciml.study.context import RunContext


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A GitHub-flavoured markdown table (no extra dependency)."""
    cols = [str(c) for c in df.columns]

    def fmt(v: object) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else format(v, floatfmt)  # NaN -> empty
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def write_report(ctx: RunContext, elapsed_s: float) -> None:
    """Write ``report.md`` into the run folder."""
    study = ctx.config["study"]
    parts = [f"# {ctx.name}", "", study.get("description", "").strip(), ""]
    if ctx.headline:
        parts += ["## Headline", "", ctx.headline, ""]
    for title, body in ctx.sections:
        parts += [f"## {title}", "", body.strip(), ""]
    if ctx.priors:
        parts += ["## Priors", "", ("Saved for calibrating new tasks (`sciml calibrate priors/<name> DATA.csv`, or "
                  "`sciml.load_prior` in Python):"), ""] + [f"- `priors/{p}`" for p in ctx.priors] + [""]
    if ctx.figures:
        parts += ["## Figures", ""] + [f + "\n" for f in ctx.figures]
    parts += [
        "## Reproduce",
        "",
        (f"`sciml run {'studies/' + ctx.study_dir.name}{''.join(' --set ' + shlex.quote(o) for o in ctx.overrides)}` (resolved config in "
        "`config.resolved.json`, inputs with sha256 in `data_manifest.json`, versions in `environment.json`)."),
        "",
        f"Wall time: {elapsed_s:.0f} s. Config: `{json.dumps(study, sort_keys=True)}`",
        "",
    ]
    (ctx.run_dir / "report.md").write_text("\n".join(parts))


def slug(label: str) -> str:
    """A learner label as a file or folder name: ``"ProtoNet-hybrid (supervised)"`` ->
    ``"protonet-hybrid-supervised"``."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
