"""The experiment document, without Qt: edits follow the engine's rules, every accepted edit
grows the revision, and runs keep their ids through removals and insertions."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.experiment import parse_experiment
from gui.document import MAX_RECORDED_ROWS, Change, Document, simulation_key

ROOT = Path(__file__).resolve().parents[2]


def three_runs() -> Document:
    return Document(
        parse_experiment(
            {
                "steps": 50,
                "problem": {"name": "rosenbrock"},
                "runs": [
                    {"label": "a", "optimizer": "momentum", "lr": 0.001, "momentum": 0.9},
                    {"label": "b", "optimizer": "adam", "lr": 0.05},
                    {"label": "c", "optimizer": "sgd", "lr": 0.001},
                ],
            }
        )
    )


def test_run_ids_follow_the_runs_through_removal_and_insertion():
    doc = three_runs()
    a, b, c = doc.run_ids
    assert len({a, b, c}) == 3
    assert isinstance(doc.remove_run(0), Change)
    assert [r.label for r in doc.experiment.runs] == ["b", "c"]
    assert doc.run_ids == (b, c)
    assert isinstance(doc.duplicate_run(0), Change)  # inserted at 1
    assert [r.label for r in doc.experiment.runs] == ["b", "b 2", "c"]
    new = doc.run_ids[1]
    assert doc.run_ids == (b, new, c)
    assert new not in (a, b, c)  # never reused, not even the removed run's
    doc.add_run("rmsprop")
    assert doc.run_ids[:3] == (b, new, c)
    assert len(set(doc.run_ids)) == 4
    assert a not in doc.run_ids


def test_every_accepted_edit_grows_the_revision_and_a_refused_one_does_not():
    doc = three_runs()
    seen = [doc.revision]
    change = doc.update_run(1, label="renamed")
    assert change == Change(structural=False, simulation=False)  # cosmetic
    seen.append(doc.revision)
    change = doc.update_run(1, lr=0.01)
    assert change.simulation
    assert not change.structural
    seen.append(doc.revision)
    assert seen == sorted(set(seen))  # strictly growing
    before = (doc.revision, doc.experiment)
    refused = doc.update_run(0, momentum=1.5)  # the engine wants [0, 1]
    assert isinstance(refused, str)
    assert "momentum" in refused
    assert (doc.revision, doc.experiment) == before
    # the same object content again still counts as a new revision (no id() reuse)
    doc.update_run(1, lr=0.05)
    doc.update_run(1, lr=0.01)
    assert doc.revision == seen[-1] + 2


def test_the_last_run_cannot_be_removed():
    doc = Document()
    while len(doc.experiment.runs) > 1:
        doc.remove_run(0)
    ids = doc.run_ids
    assert doc.remove_run(0) == "An experiment needs at least one run"
    assert doc.run_ids == ids


def test_free_labels_and_a_duplicate_gets_no_colour():
    doc = three_runs()
    doc.update_run(1, color="#123456")
    doc.duplicate_run(1)
    doc.duplicate_run(1)
    labels = [r.display_label for r in doc.experiment.runs]
    assert labels == ["a", "b", "b 3", "b 2", "c"]
    assert doc.experiment.runs[2].color is None
    doc.add_run("sgd")
    assert doc.experiment.runs[-1].display_label == "sgd"
    doc.add_run("sgd")
    assert doc.experiment.runs[-1].display_label == "sgd 2"


def test_switching_optimizer_drops_what_the_new_one_does_not_take():
    doc = three_runs()
    assert doc.experiment.runs[0].momentum == 0.9
    assert isinstance(doc.update_run(0, optimizer="adam"), Change)
    assert doc.experiment.runs[0].momentum is None
    assert doc.experiment.runs[0].optimizer == "adam"


def test_long_experiments_record_every_kth_step_and_back():
    doc = three_runs()
    change = doc.update_experiment(steps=10 * MAX_RECORDED_ROWS)
    assert doc.experiment.record_every == 10
    assert "every 10th step" in change.message
    doc.update_experiment(steps=100)
    assert doc.experiment.record_every == 1  # the app raised it, the app lowers it
    doc.update_experiment(record_every=5)
    doc.update_experiment(steps=200)
    assert doc.experiment.record_every == 5  # the user's own choice is kept


def test_problem_kind_change_is_structural_and_start_is_an_edit():
    doc = three_runs()
    change = doc.update_problem(kind="linear_regression", samples=64)
    assert change.structural
    assert change.simulation
    doc.update_problem(kind="function", name="rosenbrock")
    assert doc.set_start(0.5, 2.5).simulation
    assert doc.experiment.problem.start == pytest.approx((0.5, 2.5))


def test_dirty_save_and_replace(tmp_path):
    doc = three_runs()
    doc.replace(doc.experiment, None, saved=True)
    ids = doc.run_ids
    assert not doc.dirty
    doc.update_run(0, label="x")
    assert doc.dirty
    path = doc.save(tmp_path / "e.toml")
    assert path.is_file()
    assert not doc.dirty
    assert doc.base_dir == tmp_path.resolve()
    doc.load(path)
    assert doc.experiment.runs[0].label == "x"
    assert not set(doc.run_ids) & set(ids)  # another document: new ids


def test_a_network_file_opens_and_its_start_cannot_be_dragged(tmp_path):
    """Networks train in the app: an mlp file opens (it used to be refused as headless
    only); its start is the network's initial weights, so dragging it on the slice is
    refused with the reason, and the document keeps what it had."""
    path = tmp_path / "net.toml"
    path.write_text(
        '[problem]\nkind = "mlp"\ndataset = "moons"\n\n[[runs]]\noptimizer = "sgd"\n',
        encoding="utf-8",
    )
    doc = three_runs()
    doc.load(path)
    assert doc.experiment.problem.kind == "mlp"
    before, revision = doc.experiment, doc.revision
    reason = doc.set_start(1.0, 2.0)
    assert isinstance(reason, str)
    assert "initial weights" in reason
    assert doc.experiment is before
    assert doc.revision == revision


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (ROOT / "resources/experiments/networks").glob("*.toml"))
)
def test_the_shipped_network_examples_open(name):
    doc = Document()
    doc.load(ROOT / "resources/experiments/networks" / name, as_copy=True)
    assert doc.experiment.problem.kind == "mlp"


def test_save_as_elsewhere_keeps_a_networks_csv_and_weights_reachable(tmp_path):
    """A network's relative CSV data set and initial weights file are renamed relative to
    the folder it is saved to: the saved copy reads the same files and trains the same."""
    import numpy as np

    from engine.backend import select_backend
    from engine.experiment import build

    old = tmp_path / "old"
    (old / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [
        f"{x:.6f},{y:.6f},{k % 2}" for k, (x, y) in enumerate(rng.normal(size=(12, 2)))
    ]
    (old / "data" / "points.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    shapes = {"weight": [(4, 2), (2, 4)], "bias": [(4,), (2,)]}
    np.savez(
        old / "start.npz",
        **{
            f"linear{i}.{kind}": rng.normal(size=shape[i])
            for kind, shape in shapes.items()
            for i in range(2)
        },
    )
    (old / "net.toml").write_text(
        'steps = 5\n[problem]\nkind = "mlp"\ndataset = "data/points.csv"\nhidden = [4]\n'
        'init = "start.npz"\nvalidation_fraction = 0\n\n[[runs]]\noptimizer = "sgd"\nlr = 0.1\n',
        encoding="utf-8",
    )
    doc = Document()
    doc.load(old / "net.toml")
    target = tmp_path / "elsewhere" / "deeper" / "net.toml"
    target.parent.mkdir(parents=True)
    doc.save(target)

    saved = Document()
    saved.load(target)  # validates: reads the CSV and the weights from the new folder
    problem = saved.experiment.problem
    assert (target.parent / problem.dataset).resolve() == (old / "data" / "points.csv").resolve()
    assert (target.parent / problem.init).resolve() == (old / "start.npz").resolve()
    assert problem.dataset == "../../old/data/points.csv"
    numpy = select_backend("numpy", "float64")
    trained = build(saved.experiment, target.parent, backend=numpy).trainer.run()
    original = Document()
    original.load(old / "net.toml")
    oracle = build(original.experiment, old, backend=numpy).trainer.run()
    np.testing.assert_array_equal(trained.loss, oracle.loss)


def test_save_as_keeps_a_shipped_data_set_name(tmp_path):
    doc = Document(parse_experiment({"problem": {"kind": "mlp", "dataset": "moons"}}))
    (tmp_path / "x").mkdir()
    doc.save(tmp_path / "x" / "net.toml")
    assert doc.experiment.problem.dataset == "moons"


def spy(monkeypatch, name: str, *owners) -> list:
    """Replace the function ``name`` of every one of ``owners`` (the same function, imported
    into each) by one that records the experiment it is called with; the list of them."""
    calls = []
    original = getattr(owners[0], name)

    def recording(experiment):
        calls.append(experiment)
        return original(experiment)

    for owner in owners:
        monkeypatch.setattr(owner, name, recording)
    return calls


@pytest.fixture
def key_calls(monkeypatch):
    """Every ``simulation_key`` computed, by the document or the session."""
    from gui import document, session

    return spy(monkeypatch, "simulation_key", document, session)


def test_an_edit_computes_the_simulation_key_once(key_calls):
    doc = three_runs()
    doc.update_run(0, label="x")  # the first edit also computes the opened experiment's
    key_calls.clear()
    assert doc.update_run(0, lr=0.002).simulation
    assert not doc.update_run(0, label="y").simulation
    assert len(key_calls) == 2  # one per edit: the new experiment's
    assert key_calls[-1] is doc.experiment
    assert doc.simulation_key == simulation_key(doc.experiment)
    assert len(key_calls) == 2  # kept, not computed again


def test_an_edit_through_the_session_computes_the_simulation_key_once(session, key_calls):
    session.update_run(0, label="x")
    jobs = session._job_id
    key_calls.clear()
    assert session.update_run(0, lr=0.002) is None
    assert session._job_id == jobs + 1  # submitted: the key changed
    assert len(key_calls) == 1
    assert session.update_run(0, label="y") is None
    assert session._job_id == jobs + 1  # a name only: nothing to compute
    assert len(key_calls) == 2


@pytest.fixture
def serialized(monkeypatch):
    """Every experiment serialized to TOML (by ``dirty``, or by a save's write)."""
    from engine.experiment import Experiment

    return spy(monkeypatch, "to_toml", Experiment)


def test_dirty_means_the_file_would_change(tmp_path):
    path = tmp_path / "e.toml"
    three_runs().save(path)
    doc = Document()
    doc.load(path)
    assert not doc.dirty
    doc.update_run(0, lr=0.002)
    assert doc.dirty
    doc.update_run(0, lr=0.001)
    assert not doc.dirty  # back to what the file holds
    doc.update_run(0, schedule={"step_size": 7})  # a constant rate saves no step_size
    assert not doc.dirty
    assert doc.experiment.to_toml() == path.read_text(encoding="utf-8")
    doc.update_experiment(title="renamed")
    assert doc.dirty
    doc.save()
    assert not doc.dirty
    doc.replace(parse_experiment({"title": "unsaved"}), None, saved=False)
    assert doc.dirty  # against the file last saved


def test_save_as_elsewhere_is_clean_with_its_data_renamed(tmp_path):
    """Save As moves a relative data file's name to the new folder: the document is clean
    against what was written there, and an edit back to it is clean again."""
    folder = tmp_path / "course"
    folder.mkdir()
    rows = "\n".join(f"{i / 10},{i % 3},{i / 5 + 1}" for i in range(30))
    (folder / "points.csv").write_text("x1,x2,y\n" + rows + "\n", encoding="utf-8")
    (folder / "fit.toml").write_text(
        '[problem]\nkind = "linear_regression"\ndata = "points.csv"\n'
        '[[runs]]\noptimizer = "sgd"\nlr = 0.01\n',
        encoding="utf-8",
    )
    doc = Document()
    doc.load(folder / "fit.toml")
    doc.update_run(0, lr=0.02)
    target = tmp_path / "elsewhere" / "copy.toml"
    target.parent.mkdir()
    doc.save(target)
    assert doc.experiment.problem.data == "../course/points.csv"
    assert not doc.dirty
    doc.update_run(0, lr=0.03)
    assert doc.dirty
    doc.update_run(0, lr=0.02)
    assert not doc.dirty
    assert doc.experiment.to_toml() == target.read_text(encoding="utf-8")


def test_dirty_serializes_each_experiment_once_and_the_saved_one_only_when_asked(
    tmp_path, serialized
):
    path = tmp_path / "e.toml"
    three_runs().save(path)
    doc = Document()
    serialized.clear()
    doc.load(path)
    assert [doc.dirty for _ in range(3)] == [False] * 3
    assert serialized == []  # what was just opened is clean: nothing to compare
    doc.update_run(0, lr=0.002)
    assert [doc.dirty for _ in range(3)] == [True] * 3  # the title, a menu, a close
    assert len(serialized) == 2  # the edited experiment, and the saved one once
    doc.update_run(0, lr=0.003)
    assert [doc.dirty for _ in range(2)] == [True] * 2
    assert len(serialized) == 3
    serialized.clear()
    doc.save()
    assert not doc.dirty
    assert serialized == [doc.experiment]  # the file's text, written once
