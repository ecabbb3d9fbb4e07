"""The app refuses a network too large for the machine with the engine's own reason (README,
"Limits"), before anything is trained: the widths line edit shows it and nothing changes."""

from __future__ import annotations

import pytest

from engine.experiment import ExperimentError, parse_experiment


def _engine_reason(data: dict) -> str:
    with pytest.raises(ExperimentError) as info:
        parse_experiment(data, source="this setting")
    return str(info.value).removeprefix("this setting: ")


@pytest.mark.parametrize("text", ["100000, 100000", "4096, 4096", ", ".join(["8"] * 17)])
def test_a_too_large_network_is_refused_in_the_panel_with_the_engines_message(panel, session, text):
    data = session.experiment.model_dump(mode="json")
    data["problem"] = {"kind": "mlp", "dataset": "moons", "hidden": [16]}
    session.set_experiment(parse_experiment(data), None, saved=True)
    before, revision = session.experiment.to_toml(), session.document.revision
    messages = []
    session.sig_message.connect(messages.append)
    edit = panel.controls["hidden"][0]
    edit.setText(text)
    edit.editingFinished.emit()
    data["problem"]["hidden"] = [int(w) for w in text.split(",")]
    reason = _engine_reason(data)
    assert reason.startswith("problem.hidden")
    assert session.experiment.to_toml() == before
    assert session.document.revision == revision
    assert panel.messages["hidden"].isVisible()
    assert panel.messages["hidden"].text() == f"Not applied — {reason}"
    assert messages[-1] == f"Not applied — {reason}"
    assert edit.text() == text
