"""The experiment being edited, with the rules an edit must follow. No Qt here.

A ``Document`` holds one ``Experiment`` (immutable: every edit makes a new one, validated by
the engine's own ``parse_experiment``), where it came from, whether it is saved, and two
things the views need to stay consistent while the worker catches up:

- a **revision** that grows with every accepted edit: a cache key that, unlike
  ``id(experiment)``, is never reused by a later object;
- a **stable id per run**: run k of the document and column k of a snapshot computed before
  a run was removed or inserted are different runs; the ids say which column is which.

Edits return a ``Change`` (what the edit touched) or a one-line reason for refusing it.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from engine.experiment import (
    Experiment,
    ExperimentError,
    parse_experiment,
    read_experiment,
    save_experiment,
    validate,
)
from engine.parameters import (
    BATCH_PARAMETERS,
    OPTIMIZER_PARAMETERS,
    REGISTRY,
    optimizer_parameters,
)

COSMETIC_RUN_KEYS = ("label", "color", "visible")
MAX_RECORDED_ROWS = 200_000  # per run; longer experiments record every k-th step
_ALL_HYPERPARAMETERS = {p.key for p in OPTIMIZER_PARAMETERS} - {"lr"}
#: Why a network's start (the ✛ on its slice) can't be dragged, and what to do instead: the
#: initial weights come from the seed (the Problem panel has it) or the file's ``init``, and
#: the plane is the plane chooser's. Shown on the plot and in the status bar (one line there).
NETWORK_START_REFUSAL = (
    "A network starts from its initial weights: change the seed (Problem), the file's init, "
    "or the Plane"
)


def default_experiment_data() -> dict:
    """Used when the shipped default example can't be read: momentum vs Adam on Rosenbrock."""
    return {
        "title": "Momentum vs Adam on Rosenbrock",
        "steps": 300,
        "problem": {"kind": "function", "name": "rosenbrock", "start": [-1.5, 2.0]},
        "runs": [
            {"label": "momentum", "optimizer": "momentum", "lr": 0.001, "momentum": 0.9},
            {"label": "adam", "optimizer": "adam", "lr": 0.05},
        ],
    }


def simulation_key(experiment: Experiment) -> str:
    """Everything that changes what the engine computes (not names, colours, visibility)."""
    data = experiment.model_dump(mode="json", exclude={"title", "description"})
    for run in data["runs"]:
        for key in COSMETIC_RUN_KEYS:
            run.pop(key, None)
    return json.dumps(data, sort_keys=True)


@dataclass(frozen=True)
class Change:
    """An accepted edit: ``structural`` when runs were added, removed or reordered or the
    problem's kind changed; ``simulation`` when the engine must compute again."""

    structural: bool
    simulation: bool
    message: str = ""  # a note for the status bar ('' when there is nothing to say)


class Document:
    def __init__(self, experiment: Experiment | None = None):
        self._simulation_key: str | None = None
        self.experiment = experiment or parse_experiment(default_experiment_data())
        self._notes_of(self.experiment)
        self.path: Path | None = None
        self._base_dir: Path | None = None
        self._mark_saved()
        self._raised_record_every = False
        self.file_warnings: list[str] = []
        self.revision = 0
        self._next_id = 0
        self.run_ids: tuple[int, ...] = self._new_ids(len(self.experiment.runs))

    def _new_ids(self, n: int) -> tuple[int, ...]:
        ids = tuple(range(self._next_id, self._next_id + n))
        self._next_id += n
        return ids

    @property
    def experiment(self) -> Experiment:
        return self._experiment

    @experiment.setter
    def experiment(self, experiment: Experiment) -> None:
        self._experiment = experiment
        self._simulation_key = None  # of another experiment

    @property
    def simulation_key(self) -> str:
        """The experiment's ``simulation_key``, computed once per experiment: an edit
        compares it with the new one's, the session with what it last submitted."""
        if self._simulation_key is None:
            self._simulation_key = simulation_key(self._experiment)
        return self._simulation_key

    def _notes_of(self, experiment: Experiment) -> None:
        """The experiment its notes were written for: the one opened (an edit, or a save
        of it, leaves them describing that one)."""
        self._notes_experiment = experiment
        self._notes_key: str | None = None

    @property
    def notes_describe_it(self) -> bool:
        """Whether the experiment computes what the one its notes were written for did (an
        example's notes quote its numbers: after an edit of a rate they are another run's;
        names and colours don't count, an edit back to the values does)."""
        if self.experiment is self._notes_experiment:
            return True
        if self._notes_key is None:
            self._notes_key = simulation_key(self._notes_experiment)
        return self.simulation_key == self._notes_key

    # ---- where it lives ----------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """The experiment would not save as the file it was opened from or last saved to
        (an edit back to the saved value is clean again). Asked after every edit (the
        window's title) and before a file is closed: each experiment is serialized once,
        and the saved one not at all until an edit needs it."""
        experiment = self.experiment
        if experiment is self._saved:
            return False
        if self._dirty_checked is not experiment:
            if self._saved_toml is None:
                self._saved_toml = self._saved.to_toml()
            self._dirty = experiment.to_toml() != self._saved_toml
            self._dirty_checked = experiment
        return self._dirty

    def _mark_saved(self) -> None:
        """The experiment is what the file holds."""
        self._saved = self.experiment
        self._saved_toml: str | None = None  # its TOML, once an edit asks
        self._dirty_checked: Experiment | None = None  # the experiment ``_dirty`` is of
        self._dirty = False

    @property
    def base_dir(self) -> Path:
        """Where a data file named relative to the experiment is found."""
        if self._base_dir is not None:
            return self._base_dir
        return self.path.parent if self.path else Path.cwd()

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "<new experiment>"

    def replace(
        self,
        experiment: Experiment,
        path: Path | None,
        *,
        saved: bool,
        base_dir: Path | None = None,
    ) -> None:
        """Another experiment altogether (New, Open, an example): every run gets a new id."""
        self.experiment = experiment
        self._notes_of(experiment)
        self.path = Path(path) if path else None
        self._base_dir = Path(base_dir) if base_dir else None
        self._raised_record_every = False
        # what the file read says to no effect (engine.experiment.read_experiment): shown
        # until the first edit or a save (the editors hide such settings; saving prunes them)
        self.file_warnings = []
        if saved:
            self._mark_saved()
        self.run_ids = self._new_ids(len(experiment.runs))
        self.revision += 1

    def load(self, path: str | Path, *, as_copy: bool = False) -> None:
        """Read ``path``; on an ``ExperimentError`` the document is unchanged. ``as_copy``
        (the shipped examples): unnamed, so that Save asks where, never overwriting the
        original; its data files are still found beside it."""
        path = Path(path).resolve()
        experiment, without_effect = read_experiment(path)
        # a missing data file or a batch larger than the data is a broken file too: say so
        # now (an ExperimentError naming the key), not later in a banner
        validate(experiment, path.parent, source=str(path))
        self.replace(experiment, None if as_copy else path, saved=True, base_dir=path.parent)
        self.file_warnings = without_effect

    def save(self, path: str | Path | None = None) -> Path:
        target = Path(path).resolve() if path else self.path
        if target is None:
            raise ValueError("no file name: use save(path)")
        self._keep_data_reachable(target.parent)
        save_experiment(self.experiment, target)
        self.path = target
        self._base_dir = target.parent
        self._mark_saved()
        self.file_warnings = []  # the file now says what the document holds (pruned)
        return self.path

    def _keep_data_reachable(self, folder: Path) -> None:
        """Files named relative to the old folder (a regression's data, a network's CSV data
        set and initial weights), renamed relative to the new one."""
        if folder == self.base_dir.resolve():
            return
        problem = self.experiment.problem
        moved = {}
        for key in ("data", "dataset", "init"):
            name = getattr(problem, key, None)
            if key == "dataset" and name and not name.lower().endswith(".csv"):
                continue  # a shipped or generated set ("digits", "moons"), not a file
            if not name or Path(name).is_absolute():
                continue
            source = (self.base_dir / name).resolve()
            try:
                moved[key] = Path(os.path.relpath(source, folder)).as_posix()
            except ValueError:  # another drive (Windows): keep it absolute
                moved[key] = str(source)
        if moved:
            problem = problem.model_copy(update=moved)
            self.experiment = self.experiment.model_copy(update={"problem": problem})
            self.revision += 1

    # ---- edits -------------------------------------------------------------------------------
    def _apply(
        self,
        data: dict,
        *,
        structural: bool = False,
        run_ids: tuple[int, ...] | None = None,
        message: str = "",
    ) -> Change | str:
        """Validate ``data`` as the new experiment: the ``Change``, or why it was refused."""
        try:
            experiment = parse_experiment(data, source="this setting")
        except ExperimentError as exc:
            return str(exc).removeprefix("this setting: ")
        key = simulation_key(experiment)
        simulation = key != self.simulation_key
        self.experiment = experiment
        self._simulation_key = key
        if run_ids is not None:
            self.run_ids = run_ids
        self.revision += 1
        return Change(structural, simulation, message)

    def _data(self) -> dict:
        """The experiment as plain data, a copy for an edit to change: the experiment itself
        is never changed in place (its simulation key and dirty state are cached by identity)."""
        return self.experiment.model_dump(mode="json")

    def update_experiment(self, **changes) -> Change | str:
        """Settings of the whole experiment (title, seed, steps, ...)."""
        data = self._data()
        data.update(changes)
        message = ""
        raised = self._raised_record_every
        if "steps" in changes and "record_every" not in changes:
            # a history the size of memory helps nobody: record every k-th step instead
            # (and back to every step when the app raised it and it is no longer needed)
            steps = int(changes["steps"])
            every = max(1, math.ceil(steps / MAX_RECORDED_ROWS))
            current = data.get("record_every", 1)
            if every > current or (raised and every < current):
                data["record_every"] = every
                raised = every > 1
                if every > 1:
                    message = (
                        f"{steps:,} steps: every {every}th step is recorded and drawn "
                        "(record_every), to keep the history in memory"
                    )
        change = self._apply(data, message=message)
        if isinstance(change, Change):
            self._raised_record_every = raised
        return change

    def update_problem(self, **changes) -> Change | str:
        data = self._data()
        problem = data["problem"]
        structural = "kind" in changes and changes["kind"] != problem["kind"]
        if structural:
            problem = {"kind": changes["kind"]}
            for run in data["runs"]:  # batches belong to data; a function has none
                for p in BATCH_PARAMETERS:
                    if not p.applies(problem=changes["kind"]):
                        run[p.key] = p.default_for()
        problem.update(changes)
        data["problem"] = problem
        return self._apply(data, structural=structural)

    def set_start(self, w1: float, w2: float) -> Change | str:
        """Where every run without a start of its own begins."""
        if self.experiment.problem.kind == "mlp":
            return NETWORK_START_REFUSAL
        return self.update_problem(start=[float(w1), float(w2)])

    def update_run(self, index: int, **changes) -> Change | str:
        data = self._data()
        run = data["runs"][index]
        optimizer = changes.get("optimizer", run["optimizer"])
        convention = changes.get("convention", run["convention"])
        if (optimizer, convention) != (run["optimizer"], run["convention"]):
            # keep only what the new rule takes (the registry says which): the lecture's
            # Adagrad has no lr_decay, Adam no momentum
            takes = {p.key for p in optimizer_parameters(optimizer, convention)}
            for key in _ALL_HYPERPARAMETERS - takes:
                run[key] = None
        if "schedule" in changes:
            changes = {**changes, "schedule": {**run["schedule"], **changes["schedule"]}}
        run.update(changes)
        return self._apply(data)

    def add_run(self, optimizer: str = "sgd") -> Change | str:
        """A new run at the end, with the optimizer's default learning rate."""
        data = self._data()
        lr = REGISTRY["lr"].default_for(optimizer)
        data["runs"].append({"label": self.free_label(optimizer), "optimizer": optimizer, "lr": lr})
        return self._apply(data, structural=True, run_ids=(*self.run_ids, *self._new_ids(1)))

    def duplicate_run(self, index: int) -> Change | str:
        """A copy of run ``index`` just after it, with a label of its own and the next colour."""
        data = self._data()
        run = copy.deepcopy(data["runs"][index])
        run["label"] = self.free_label(run.get("label") or run["optimizer"])
        run["color"] = None
        data["runs"].insert(index + 1, run)
        ids = list(self.run_ids)
        ids.insert(index + 1, self._new_ids(1)[0])
        return self._apply(data, structural=True, run_ids=tuple(ids))

    def remove_run(self, index: int) -> Change | str:
        if len(self.experiment.runs) <= 1:
            return "An experiment needs at least one run"
        data = self._data()
        del data["runs"][index]
        ids = self.run_ids[:index] + self.run_ids[index + 1 :]
        return self._apply(data, structural=True, run_ids=ids)

    def free_label(self, base: str) -> str:
        """``base``, or ``base 2``, ``base 3``... whichever no run has yet."""
        taken = {r.display_label for r in self.experiment.runs}
        if base not in taken:
            return base
        n = 2
        while f"{base} {n}" in taken:
            n += 1
        return f"{base} {n}"
