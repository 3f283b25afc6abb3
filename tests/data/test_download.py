"""Reference files: SCIML_DATA_DIR lookup, sha256 checks, and clear errors offline."""

from __future__ import annotations

import hashlib
import io
import urllib.error
from pathlib import Path

import pytest

from sciml.data import download
from sciml.data.download import DataUnavailableError, fetch


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    monkeypatch.setenv("SCIML_DATA_DIR", str(data))
    monkeypatch.setenv("SCIML_CACHE_DIR", str(cache))
    return data, cache


def test_file_under_data_dir_is_used_after_checksum(dirs: tuple[Path, Path]) -> None:
    data, _ = dirs
    (data / "a").mkdir()
    (data / "a" / "f.csv").write_text("x\n1\n")
    digest = hashlib.sha256(b"x\n1\n").hexdigest()
    assert fetch("a/f.csv", "https://example.invalid/f.csv", digest) == data / "a" / "f.csv"
    with pytest.raises(ValueError, match="differs from the published one"):
        fetch("a/f.csv", "https://example.invalid/f.csv", "0" * 64)


def test_download_is_checked_and_cached(dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, cache = dirs
    body = b"t,X\n1,0.5\n"
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(body))
    path = fetch("b/g.csv", "https://example.invalid/g.csv", hashlib.sha256(body).hexdigest())
    assert path == cache / "b" / "g.csv" and path.read_bytes() == body
    with pytest.raises(ValueError, match="nothing was kept"):
        fetch("b/h.csv", "https://example.invalid/h.csv", "0" * 64)
    assert not (cache / "b" / "h.csv").exists()


def test_offline_error_says_how_to_get_the_file(dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, timeout: float) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(download.urllib.request, "urlopen", refuse)
    with pytest.raises(DataUnavailableError, match="set SCIML_DATA_DIR to the folder that holds c/i.csv"):
        fetch("c/i.csv", "https://example.invalid/i.csv", "0" * 64)
