"""Runs with and without batch norm in one experiment, in the app: the run editor's switch
edits the run, the plane says which network its slice is of, the interpolation refuses a
line between the two kinds, and the batch-norm curves say why a run without has none."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.experiment import parse_experiment, run_specs
from gui import network_view
from gui.widgets.run_editor import RunEditor
from gui.widgets.runs_panel import run_summary
from tests.gui.test_session_network import DIGITS, network_session, settle, wait_for
from tests.gui.waiting import PATIENCE_S

FIRST_RUN = "lr = 0.05\nbatch_size = 64\n"
MIXED = (
    DIGITS.replace(FIRST_RUN, FIRST_RUN + "batch_norm = false\n", 1)
    + """
[[runs]]
label = "sgd 2"
optimizer = "sgd"
lr = 0.1
batch_size = 64
"""
)


@pytest.fixture
def session(qtbot, tmp_path, monkeypatch):
    with network_session(tmp_path, monkeypatch, MIXED) as s:
        yield s


def test_the_file_reads_as_one_run_without_batch_norm(session):
    runs = session.experiment.runs
    assert [r.batch_norm for r in runs] == [False, None, None]
    assert [session.experiment.run_normalizes(i) for i in range(3)] == [False, True, True]
    summaries = [
        run_summary(run, session.experiment.run_without_batch_norm(i)) for i, run in enumerate(runs)
    ]
    assert summaries[0].endswith(" no BN")  # the runs table's second line
    assert "BN" not in summaries[1]


def test_the_plane_and_the_interpolation_know_each_runs_network(session):
    s = settle(session)
    assert s.error is None
    text = s.network.plane_text
    assert "the network without batch norm, as run" in text
    assert "sgd" in text
    assert np.isfinite(s.network.path_coords).all()
    # the default pair (0, 1) is one run of each kind: no line, and the reason why
    assert s.network.interpolation is None
    assert s.network.interpolation_note == network_view.MIXED_NETWORKS
    assert session.set_interpolation(1, 2) is None
    s = wait_for(session, lambda s: s.network.interpolation is not None)
    assert s.network.interpolation.runs == (1, 2)
    assert np.isfinite(s.network.interpolation.curves["train_loss"]).all()
    assert s.network.interpolation_note == ""
    # the trajectory plane's slice of a run with batch norm says so
    assert session.set_plane("trajectory", (2,)) is None
    s = wait_for(session, lambda s: "statistics of run" in s.network.plane_text)
    assert "trajectory plane of all runs" in s.network.plane_text
    assert "'sgd 2'" in s.network.plane_text
    assert session.set_plane("random", (1,)) is None
    s = wait_for(session, lambda s: s.network.plane_kind == "random")
    assert "batch norm in eval mode with the running statistics of run" in s.network.plane_text


def test_the_run_editor_switches_a_runs_batch_norm(qtbot, session):
    editor = RunEditor(session)
    qtbot.addWidget(editor)
    editor.show()
    session.select_run(0)
    assert editor.batch_norm.isVisible()
    assert not editor.batch_norm.isChecked()
    editor.batch_norm.setChecked(True)  # as a click does
    assert session.experiment.runs[0].batch_norm is None
    assert not session.experiment.batch_norm_per_run
    session.select_run(1)
    editor.batch_norm.setChecked(False)
    assert session.experiment.runs[1].batch_norm is False
    assert "batch_norm = false" in session.experiment.to_toml()
    # a network without batch norm has no switch to show, and run 1's says nothing there:
    # not "no BN" in the runs table, nor a run of its own to train again
    assert session.update_problem(batch_norm=False) is None
    assert not editor.batch_norm.isVisible()
    assert session.experiment.runs[1].batch_norm is False  # kept, for batch norm turned on
    assert not session.experiment.run_without_batch_norm(1)
    specs = run_specs(session.experiment)
    assert specs[1].path_key() == run_specs(parse_experiment(
        {**session.experiment.model_dump(), "runs": [
            {**r.model_dump(), "batch_norm": None} for r in session.experiment.runs
        ]}
    ))[1].path_key()  # fmt: skip


def test_with_batch_norm_the_trajectory_plane_names_whose_network_it_slices(qtbot):
    from gui.widgets.plane_chooser import PlaneChooser

    chooser = PlaneChooser()
    qtbot.addWidget(chooser)
    chooser.show()
    chooser.set_runs(("sgd", "sgd + BN"))
    chosen = []
    chooser.sig_chosen.connect(lambda kind, runs: chosen.append((kind, runs)))
    assert chooser.runs() == ()
    assert not chooser.run_boxes[0].isVisible()
    chooser.set_batch_norm(True)
    assert chooser.of_label.isVisible()
    assert chooser.run_boxes[0].isVisible()
    chooser.choose("trajectory", (1,))
    assert chosen == [("trajectory", (1,))]
    chooser.choose("three_point", (0, 1))
    assert not chooser.of_label.isVisible()
    assert chosen[-1] == ("three_point", (0, 1))


def test_an_edit_that_keeps_the_plane_keeps_saying_which_network_it_slices(session):
    """Editing one run copies the others and keeps their plane while it trains: the plane's
    text still says the slice is of the first run's network, without batch norm."""
    assert "without batch norm" in settle(session).network.plane_text
    assert session.update_run(2, lr=0.2) is None  # runs 0 and 1 are copied
    texts = []
    deadline = time.perf_counter() + PATIENCE_S
    while time.perf_counter() < deadline:
        session.wait_until_computed(0.05)
        s = session.snapshot
        if s is not None and s.network is not None and s.experiment.runs[2].lr == 0.2:
            texts.append(s.network.plane_text)
            if s.done and not session.busy:
                break
    assert texts
    assert all("the network without batch norm, as run 'sgd'" in t for t in texts), texts
