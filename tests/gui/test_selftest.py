"""``python main.py --self-test`` passes on the shipped examples."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_self_test_returns_0(qapp, capsys):
    from gui.selftest import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert "self-test passed" in out
