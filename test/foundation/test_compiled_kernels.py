"""Where compiled kernels are cached: next to the source when it is writable, else a user cache folder."""
from __future__ import annotations

import os
from pathlib import Path

from mars_core import compiled_kernels


def test_a_writable_package_keeps_numbas_default(monkeypatch) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(os, "access", lambda path, mode: True)
    assert compiled_kernels.cache_folder() == ""


def test_a_read_only_install_caches_in_the_user_cache(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    package = Path(compiled_kernels.__file__).resolve().parent
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != package)
    assert compiled_kernels.cache_folder() == str(tmp_path / "mars_counting" / "numba")
    assert (tmp_path / "mars_counting" / "numba").is_dir()


def test_nothing_writable_falls_back_to_a_temporary_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert "mars_counting_numba_" in compiled_kernels.cache_folder()


def test_the_users_setting_wins(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert compiled_kernels.cache_folder() == str(tmp_path)
