"""Interrupted study runs: SIGKILL mid-training, ``sciml run --resume``, identical results; the
same for a rank killed under ``torchrun --max-restarts``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sciml.cli import main
from tests.conftest import REPO, study_args

STUDY = "jmak-synthetic-alloys"
SMALL = ["data.n_alloys=24", "train.iterations=30", "train.eval_every=10", "evaluate.seeds=[0]", "evaluate.shots=[2, 3]"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}


def _wait_for(path_glob: str, root: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.time() + timeout
    while not list(root.glob(path_glob)):
        assert proc.poll() is None, f"the run ended (code {proc.returncode}) before {path_glob} appeared"
        assert time.time() < end, f"{path_glob} did not appear within {timeout} s"
        time.sleep(0.05)


def _outputs(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in ("results.csv", "metrics.csv")}


def test_a_killed_run_resumes_to_the_results_of_an_uninterrupted_one(tmp_path: Path) -> None:
    assert main(study_args(STUDY, tmp_path / "whole", SMALL)) == 0
    (whole,) = (tmp_path / "whole").iterdir()

    killed = tmp_path / "killed"
    args = [*study_args(STUDY, killed, SMALL), "--checkpoint-every", "5"]
    proc = subprocess.Popen([sys.executable, "-m", "sciml", *args], env=_env(), stderr=subprocess.DEVNULL)
    _wait_for("*/resume/fit-001/checkpoint.pt", killed, proc)  # the second meta-training is under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (run_dir,) = killed.iterdir()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "running"
    assert not (run_dir / "results.csv").exists()

    assert main(["run", "--resume", str(run_dir)]) == 0
    assert _outputs(run_dir) == _outputs(whole)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "done"
    assert not (run_dir / "resume").exists()  # checkpoints go once the run is done
    launch = json.loads((run_dir / "launch.json").read_text())
    assert launch["world_size"] == 1 and len(launch["resumed_at"]) == 1 and launch["overrides"] == SMALL
    assert "--set train.iterations=30" in (run_dir / "report.md").read_text().split("## Reproduce")[1]

    # a finished run is not resumed again, nor with a changed config or another world size
    assert main(["run", "--resume", str(run_dir)]) == 2
    (run_dir / "status.json").write_text(json.dumps({"status": "failed"}))
    assert main(["run", "--resume", str(run_dir), "--set", "train.iterations=31"]) == 2
    (run_dir / "launch.json").write_text(json.dumps({**launch, "world_size": 2}))
    assert main(["run", "--resume", str(run_dir)]) == 2
    assert main(["run", "--resume", str(tmp_path)]) == 2


def _rank_pid(root_pid: int, rank: int) -> int | None:
    """The pid of a torchrun worker of ``rank`` under ``root_pid`` (read from /proc)."""
    for status in Path("/proc").glob("[0-9]*/environ"):
        try:
            env = status.read_bytes().split(b"\0")
            stat = (status.parent / "stat").read_text().split()
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and b"TORCHELASTIC_RUN_ID" in b"".join(env) and int(stat[3]) != root_pid:
            ppid = int(stat[3])
            parents = {ppid}
            while ppid > 1:
                try:
                    ppid = int((Path("/proc") / str(ppid) / "stat").read_text().split()[3])
                except OSError:
                    break
                parents.add(ppid)
            if root_pid in parents:
                return int(status.parent.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker to kill through /proc (Linux)")
def test_a_killed_rank_under_torchrun_restarts_from_the_checkpoint(tmp_path: Path) -> None:
    def launch(runs: Path, restarts: int) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "sciml", *study_args(STUDY, runs, SMALL), "--nproc", "2", "--max-restarts",
               str(restarts), "--checkpoint-every", "5"]
        return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    whole = launch(tmp_path / "whole", 0)
    _, err = whole.communicate(timeout=900)
    assert whole.returncode == 0, err[-3000:]
    (whole_dir,) = (tmp_path / "whole").iterdir()
    assert json.loads((whole_dir / "launch.json").read_text())["world_size"] == 2

    proc = launch(tmp_path / "faulty", 1)
    _wait_for("*/resume/fit-001/checkpoint.pt", tmp_path / "faulty", proc, timeout=600)
    pid = _rank_pid(proc.pid, 1)
    assert pid is not None, "no rank-1 worker found"
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    # the survivor stops with an error naming what failed; torchrun names the dead worker
    assert "sciml: error: rank 0" in err and ("another worker failed" in err or "another rank died" in err), err[-3000:]
    assert "local_rank: 1" in err and "exitcode: -9" in err, err[-3000:]
    (run_dir,) = (tmp_path / "faulty").iterdir()
    assert json.loads((run_dir / "launch.json").read_text())["restarts"] == 1
    assert _outputs(run_dir) == _outputs(whole_dir)
