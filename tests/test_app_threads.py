"""The app runs NumPy's BLAS on one thread unless the user's environment says otherwise (its
parallelism is its own threads'; see main.APP_BLAS_THREADS). The headless runner is left
to the environment."""

from __future__ import annotations

import os

import pytest

import main


@pytest.fixture
def clean_threads(monkeypatch):
    for name in main.APP_BLAS_THREADS:
        monkeypatch.delenv(name, raising=False)  # restored as it was after the test
    return monkeypatch


def environment_seen_by(module, attribute, monkeypatch, argv):
    seen = {}

    def stub(args, **kwargs):
        seen.update({name: os.environ.get(name) for name in main.APP_BLAS_THREADS})
        return 0

    monkeypatch.setattr(module, attribute, stub)
    assert main.main(argv) == 0
    return seen


def test_the_app_starts_with_one_blas_thread(clean_threads):
    import gui.app

    seen = environment_seen_by(gui.app, "main", clean_threads, [])
    assert seen == dict.fromkeys(main.APP_BLAS_THREADS, "1")


def test_a_users_own_thread_setting_wins(clean_threads):
    import gui.app

    clean_threads.setenv("OPENBLAS_NUM_THREADS", "2")
    seen = environment_seen_by(gui.app, "main", clean_threads, [])
    assert seen == {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": None, "MKL_NUM_THREADS": None}


def test_a_users_omp_setting_is_not_overridden(clean_threads):
    """OpenBLAS reads OPENBLAS_NUM_THREADS before OMP_NUM_THREADS: setting it would undo a
    user's OMP_NUM_THREADS (review)."""
    import gui.app

    clean_threads.setenv("OMP_NUM_THREADS", "2")
    seen = environment_seen_by(gui.app, "main", clean_threads, [])
    assert seen == {"OPENBLAS_NUM_THREADS": None, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": None}


def test_the_headless_runner_is_left_to_the_environment(clean_threads):
    import engine.runner

    seen = environment_seen_by(engine.runner, "main", clean_threads, ["run", "x.toml"])
    assert seen == dict.fromkeys(main.APP_BLAS_THREADS)
