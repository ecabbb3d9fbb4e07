"""The problem panel's network editors (kind = "mlp"): each writes its key to the document, a
bad entry says why and changes nothing, the data set's preview draws what the engine makes,
and the panel shows a file's values when another experiment comes in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QWidget

from engine import datasets
from engine.experiment import parse_experiment
from gui.palette import CLASS_COLORS
from gui.widgets.dataset_preview import preview_dataset

EXAMPLES = Path(__file__).parents[2] / "resources" / "experiments"


def _network(session, **problem) -> None:
    """The session's experiment becomes a network with ``problem``'s settings (as Open
    would make it: a new experiment replacing the document)."""
    data = session.experiment.model_dump(mode="json")
    data["problem"] = {"kind": "mlp", **problem}
    session.set_experiment(parse_experiment(data), None, saved=True)


def _choose(combo, value) -> None:
    """Pick ``value`` in a chooser as a user does (``activated``, not a programmatic set)."""
    index = combo.findData(value)
    assert index >= 0, value
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def _type(widget, text: str) -> None:
    """Type ``text`` into a line edit (or a slider's box) and press Enter."""
    edit = getattr(widget, "edit", widget)
    edit.setText(text)
    edit.editingFinished.emit()


def _problem_in_file(session) -> dict:
    """The problem as the saved file says it: what an editor must have written."""
    import tomllib

    return tomllib.loads(session.experiment.to_toml())["problem"]


def test_switching_to_a_network_and_back_keeps_the_experiment_valid(panel, session):
    kind = panel.kind
    kind.setCurrentIndex(kind.findData("mlp"))
    p = session.experiment.problem
    assert (p.kind, p.dataset, list(p.hidden), p.activation) == ("mlp", "digits", [64], "relu")
    assert not p.batch_norm
    # the experiment is one the engine reads back as it is
    again = parse_experiment(_problem_and_runs(session))
    assert again.problem == p
    # the network's rows are shown, the function's and the start are not
    assert panel.controls["dataset"][0].isVisible()
    assert panel.controls["hidden"][0].isVisible()
    assert panel.preview.isVisible()
    assert not panel.surface.isVisible()
    assert not panel.start.isVisible()
    assert not panel.controls["samples"][0].isVisible()  # the digits have their own size
    assert not panel.controls["bn_momentum"][0].isVisible()  # no batch norm
    # and back: a function again, with its surface, valid
    kind.setCurrentIndex(kind.findData("function"))
    assert session.experiment.problem.kind == "function"
    parse_experiment(_problem_and_runs(session))
    assert panel.surface.isVisible()
    assert not panel.controls["dataset"][0].isVisible()
    assert not panel.preview.isVisible()
    kind.setCurrentIndex(kind.findData("linear_regression"))
    assert session.experiment.problem.kind == "linear_regression"
    assert panel.controls["samples"][0].isVisible()
    kind.setCurrentIndex(kind.findData("mlp"))
    assert session.experiment.problem.dataset == "digits"


def _problem_and_runs(session) -> dict:
    return session.experiment.model_dump(mode="json")


@pytest.mark.parametrize(
    ("setup", "edit", "key", "expected"),
    [
        ({}, ("choose", "dataset", "moons"), "dataset", "moons"),
        ({"dataset": "moons"}, ("type", "samples", "321"), "samples", 321),
        ({"dataset": "moons"}, ("type", "noise", "0.25"), "noise", 0.25),
        ({"dataset": "spirals"}, ("type", "classes", "4"), "classes", 4),
        ({}, ("type", "hidden", "128, 32"), "hidden", [128, 32]),
        ({"hidden": [64]}, ("type", "hidden", ""), "hidden", []),
        ({}, ("choose", "activation", "tanh"), "activation", "tanh"),
        ({}, ("check", "batch_norm", True), "batch_norm", True),
        ({"batch_norm": True}, ("type", "bn_momentum", "0.05"), "bn_momentum", 0.05),
        ({}, ("type", "validation_fraction", "0.3"), "validation_fraction", 0.3),
        ({}, ("check", "normalize_features", False), "normalize_features", False),
    ],
)
def test_each_network_editor_writes_its_key(panel, session, setup, edit, key, expected):
    _network(session, **setup)
    how, name, value = edit
    widget = panel.controls[name][0]
    assert widget.isVisible(), name
    if how == "choose":
        _choose(widget, value)
    elif how == "check":
        widget.setChecked(value)
    else:
        _type(widget, value)
    assert _problem_in_file(session)[key] == expected
    assert getattr(session.experiment.problem, key) == expected


def test_a_csv_is_chosen_with_a_file_dialog_and_its_label_column_edited(
    panel, session, tmp_path, monkeypatch
):
    csv = tmp_path / "flowers.csv"
    rows = ["a,b,c,kind"] + [f"{i},{i % 3},{i * 0.5},{i % 2 + 1}" for i in range(12)]
    csv.write_text("\n".join(rows) + "\n")
    (tmp_path / "other.csv").write_text(csv.read_text().replace("kind", "species"))
    _network(session)
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(csv), ""))
    )
    chooser = panel.controls["dataset"][0]
    messages = []
    session.sig_message.connect(messages.append)
    _choose(chooser, chooser.itemData(chooser.count() - 1))  # "CSV file…"
    # the file has no column "label": its last column holds the classes, and the panel says so
    problem = _problem_in_file(session)
    assert (problem["dataset"], problem["label_column"]) == (str(csv), "kind")
    assert "'kind'" in messages[-1]
    assert panel.preview.caption.text() == "flowers: 12 examples, 3 features, 2 classes"
    assert chooser.currentText() == "flowers.csv"
    label = panel.controls["label_column"][0]
    assert label.isVisible()
    assert label.text() == "kind"
    # the label column edited: a column the file lacks is refused with the reader's reason
    before = session.experiment.to_toml()
    _type(label, "colour")
    assert session.experiment.to_toml() == before
    assert "has no label column 'colour'" in panel.messages["label_column"].text()
    assert label.text() == "colour"
    _type(label, "b")  # b = i % 3: three classes, "kind" now a feature
    assert _problem_in_file(session)["label_column"] == "b"
    assert not panel.messages["label_column"].isVisible()
    assert panel.preview.caption.text() == "flowers: 12 examples, 3 features, 3 classes"
    _type(label, "kind")
    # another CSV, its classes in "species": taken, with that column
    monkeypatch.setattr(
        QFileDialog,
        "getOpenFileName",
        staticmethod(lambda *a, **k: (str(tmp_path / "other.csv"), "")),
    )
    _choose(chooser, chooser.itemData(chooser.count() - 1))
    assert _problem_in_file(session)["label_column"] == "species"
    assert chooser.currentText() == "other.csv"
    # cancelling the dialog leaves the setting as it is
    before = session.experiment.to_toml()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: ("", "")))
    _choose(chooser, chooser.itemData(chooser.count() - 1))
    assert session.experiment.to_toml() == before
    assert chooser.currentText() == "other.csv"
    # and back to a shipped set
    _choose(chooser, "moons")
    assert _problem_in_file(session)["dataset"] == "moons"
    assert "label_column" not in _problem_in_file(session)


@pytest.mark.parametrize("text", ["64, x", "0", "64, -3", "6.5", "64,,x64"])
def test_a_bad_widths_entry_says_why_and_changes_nothing(panel, session, text):
    _network(session, hidden=[32, 16])
    before, revision = session.experiment.to_toml(), session.document.revision
    messages = []
    session.sig_message.connect(messages.append)
    edit = panel.controls["hidden"][0]
    _type(edit, text)
    assert session.experiment.to_toml() == before
    assert session.document.revision == revision
    message = panel.messages["hidden"]
    assert message.isVisible()
    assert "hidden widths" in message.text()
    assert "whole number ≥ 1" in message.text()
    assert messages
    assert "hidden widths" in messages[-1]
    assert edit.text() == text  # what was typed stays, to be corrected
    # a good entry clears the message
    _type(edit, "8, 8")
    assert list(session.experiment.problem.hidden) == [8, 8]
    assert not message.isVisible()


def test_too_few_samples_are_refused_with_the_engine_reason(panel, session):
    _network(session, dataset="moons")
    before = session.experiment.to_toml()
    _type(panel.controls["samples"][0], "3")  # moons needs two per class
    assert session.experiment.to_toml() == before
    assert "samples must be an integer ≥ 4" in panel.preview.caption.text()
    assert panel.preview.points_per_class() == (100, 100)  # the set as it is


def test_the_moons_preview_draws_every_point_in_its_class(panel, session, qtbot):
    _network(session, dataset="moons")
    _type(panel.controls["samples"][0], "201")
    _type(panel.controls["noise"][0], "0.2")
    seed = session.experiment.seed
    # the oracles: moons give the first class the odd point; and the engine's own set
    assert panel.preview.points_per_class() == (101, 100)
    y = datasets.generate("moons", seed, 201, 0.2).y
    assert panel.preview.points_per_class() == tuple(np.bincount(y))
    assert panel.preview.caption.text() == "moons: 201 points, 2 classes"
    # both classes are painted in their colours
    image = panel.preview.canvas.grab().toImage()
    found = {
        image.pixelColor(x, y).name()
        for x in range(image.width())
        for y in range(0, image.height(), 2)
    }
    # the decision boundary's class colours (the one palette of classes), not the runs'
    assert {CLASS_COLORS[0], CLASS_COLORS[1]} <= found
    # blobs with four classes: four groups of the sizes the engine makes
    _choose(panel.controls["dataset"][0], "blobs")
    _type(panel.controls["classes"][0], "4")
    y = datasets.generate("blobs", seed, None, None, 4).y
    assert panel.preview.points_per_class() == tuple(np.bincount(y)) == (75, 75, 75, 75)


def test_the_preview_is_cached_per_data_set_seed_and_settings(tmp_path):
    moons = {"kind": "mlp", "dataset": "moons", "samples": 50, "noise": 0.1}
    first = preview_dataset(moons, 0, tmp_path)
    assert preview_dataset(dict(moons), 0, tmp_path) is first  # made once
    other_seed = preview_dataset(moons, 1, tmp_path)
    assert other_seed is not first
    assert not np.array_equal(other_seed.x, first.x)
    noisier = preview_dataset({**moons, "noise": 0.3}, 0, tmp_path)
    assert not np.array_equal(noisier.x, first.x)


def test_the_digits_preview_shows_each_digit_in_turn(panel, session):
    _network(session)
    labels = panel.preview.thumbnail_labels()
    assert len(labels) >= 10
    assert labels[:10] == tuple(range(10))
    # thumbnail k is the first image of its digit in the shipped file
    with np.load(datasets.DIGITS_FILE) as archive:
        images, y = archive["images"], archive["labels"]
    canvas = panel.preview.canvas
    shown = canvas.images[3] * images.max()
    assert np.array_equal(shown, images[np.flatnonzero(y == 3)[0]])
    assert panel.preview.caption.text().startswith("digits: 1,797 images")


def test_the_panel_shows_another_files_values(panel, session):
    _network(
        session,
        dataset="blobs",
        classes=4,
        hidden=[32, 16],
        activation="tanh",
        batch_norm=True,
        bn_momentum=0.3,
        validation_fraction=0.25,
        normalize_features=False,
    )
    c = panel.controls
    assert c["dataset"][0].currentData() == "blobs"
    assert c["classes"][0].value() == 4
    assert c["samples"][0].value() == datasets.GENERATORS["blobs"].samples  # its own default
    assert c["noise"][0].value() == pytest.approx(datasets.GENERATORS["blobs"].noise)
    assert c["hidden"][0].text() == "32, 16"
    assert c["activation"][0].currentData() == "tanh"
    assert c["batch_norm"][0].isChecked()
    assert c["bn_momentum"][0].isVisible()
    assert c["bn_momentum"][0].value() == 0.3
    assert c["validation_fraction"][0].value() == 0.25
    assert not c["normalize_features"][0].isChecked()
    assert panel.preview.points_per_class() == (75, 75, 75, 75)
    # and another: every editor follows
    _network(session, dataset="xor", hidden=[], activation="sigmoid")
    assert c["dataset"][0].currentData() == "xor"
    assert not c["classes"][0].isVisible()
    assert c["hidden"][0].text() == ""
    assert c["activation"][0].currentData() == "sigmoid"
    assert not c["batch_norm"][0].isChecked()
    assert not c["bn_momentum"][0].isVisible()
    assert c["normalize_features"][0].isChecked()


def test_opening_network_files_shows_their_values(panel, session):
    """Open the shipped pair (with and without batch norm), then a function: every editor
    follows the file opened."""
    c = panel.controls
    session.open(EXAMPLES / "networks" / "digits_batch_norm.toml", as_copy=True)
    assert panel.kind.currentData() == "mlp"
    assert c["dataset"][0].currentData() == "digits"
    assert c["hidden"][0].text() == "64"
    assert c["batch_norm"][0].isChecked()
    assert c["bn_momentum"][0].isVisible()
    assert panel.preview.thumbnail_labels()[:10] == tuple(range(10))
    session.open(EXAMPLES / "networks" / "digits_plain.toml", as_copy=True)
    assert not c["batch_norm"][0].isChecked()
    assert not c["bn_momentum"][0].isVisible()
    session.open(EXAMPLES / "rosenbrock_momentum_vs_adam.toml", as_copy=True)
    assert panel.kind.currentData() == "function"
    assert panel.surface.isVisible()
    assert not c["dataset"][0].isVisible()
    assert not panel.preview.isVisible()


@pytest.mark.parametrize("runs", [5, 9])
def test_the_network_panel_fits_a_1366_by_768_screen(window, qtbot, runs):
    """The most rows a network shows (a set with classes, batch norm and its momentum) fit
    the Problem dock beside the other views without a scroll bar or a cut-off field, with
    the runs list above it holding as many runs as it keeps room for, or more (the list
    scrolls then: its two-line rows pushed the panel into scrolling from six runs)."""
    c = window.controller
    assert c.update_experiment(steps=20) is None
    assert c.update_problem(kind="mlp") is None
    assert c.update_problem(dataset="blobs", batch_norm=True) is None
    while len(c.experiment.runs) < runs:
        c.add_run("adam")
    assert len(c.experiment.runs) == runs
    window.resize(1366, 768)
    window.docks["problem"].raise_()
    qtbot.wait(50)
    panel = window.problem_panel
    viewport = panel.parentWidget()
    for key in ("dataset", "samples", "noise", "classes", "hidden", "bn_momentum"):
        assert panel.controls[key][0].isVisible(), key
    assert panel.minimumSizeHint().height() <= viewport.height()
    for child in panel.findChildren(QWidget):
        if child.isVisible():
            right = child.mapTo(viewport, child.rect().topRight()).x()
            assert right <= viewport.width(), type(child).__name__
