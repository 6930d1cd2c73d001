"""The examples in the modules' docstrings still hold."""

import doctest
import importlib

import pytest

MODULES = ["lab.sockops", "lab.calls", "lab.packets", "lab.verdict", "lab.scenario.model",
           "lab.scenario.load", "lab.backends.base", "lab.faults.base", "lab.wire", "lab.stability",
           "lab.record", "lab.timeline", "lab.reports.page",
           "lab.owner", "lab.runtimes", "lab.cell", "lab.socket_table", "lab.progress"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    failed, attempted = doctest.testmod(importlib.import_module(name))
    assert attempted > 0 and failed == 0
