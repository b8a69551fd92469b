"""The suite registry (rsigym/registry.py): suites registered by entry-point string, loaded by name."""
from __future__ import annotations

import gymnasium as gym
import pytest

import rsigym  # noqa: F401  (registers the env ids)
from rsigym import registry
from rsigym.registry import default_suite, load_suite, register_suite, suite_entry, suite_names


def two_tabular_tasks():
    """A third party's suite (here two tasks of the tabular package)."""
    from rsigym.envs.toy import load_tasks

    by_id = {task.id: task for task in load_tasks()}
    return [by_id["wine"], by_id["digits"]]


@pytest.fixture
def own_registry(monkeypatch):
    """Registrations made in a test go with it."""
    monkeypatch.setattr(registry, "_SUITES", dict(registry._SUITES))


def test_the_built_in_suites_are_registered_and_the_default_holds_every_category():
    assert {"toy", "kaggle", "kernels", "pretrain", "posttrain", "kernelbench"} <= set(suite_names())
    tasks = load_suite()
    assert {task.spec.category for task in tasks} == {"mle", "kernel", "pretrain", "posttrain"}
    assert [task.id for task in load_suite("default")] == [task.id for task in load_suite(default_suite())]
    assert "kernelbench" not in default_suite()


def test_a_suite_registered_by_string_reaches_the_env(own_registry):
    register_suite("tabular-pair", "tests.test_registry:two_tabular_tasks")
    assert "tabular-pair" in suite_names() and "tabular-pair" not in default_suite()
    env = gym.make("RSI-MLE-v0", suite="tabular-pair")
    try:
        assert [task.id for task in env.unwrapped.tasks] == ["wine", "digits"]
    finally:
        env.close()


def test_the_default_is_every_suite_registered_with_default(monkeypatch):
    monkeypatch.setattr(registry, "_SUITES", {})
    register_suite("tabular-pair", "tests.test_registry:two_tabular_tasks", default=True)
    register_suite("pair-again", "tests.test_registry:two_tabular_tasks")
    assert default_suite() == ("tabular-pair",) and suite_names() == ["pair-again", "tabular-pair"]
    assert [task.id for task in load_suite()] == ["wine", "digits"]
    register_suite("pair-again", "tests.test_registry:two_tabular_tasks", default=True)  # registered again: replaced
    with pytest.raises(ValueError, match="duplicate task ids"):
        load_suite()


@pytest.mark.parametrize("name, message", [
    ("kernals", "unknown suite 'kernals'.*Did you mean 'kernels'"),
    ("kernelbench", "write it as 'kernelbench:ARGUMENT'"),
    ("toy:/somewhere", "write it as 'toy'"),
])
def test_bad_suite_names_say_what_to_write(name, message):
    with pytest.raises(ValueError, match=message):
        load_suite(name)


def test_unknown_tasks_have_a_close_match():
    with pytest.raises(ValueError, match="unknown task 'wnie'; did you mean 'wine'"):
        load_suite("toy", ["wnie"])


@pytest.mark.parametrize("name, entry_point", [("x", "no_colon"), ("x", ":load"), ("a:b", "m:f"), ("default", "m:f")])
def test_malformed_registrations_are_refused(own_registry, name, entry_point):
    with pytest.raises(ValueError):
        register_suite(name, entry_point)


def test_entries_say_where_the_loader_is():
    entry = suite_entry("kernelbench:/some/checkout")
    assert (entry.name, entry.entry_point, entry.takes_argument) == (
        "kernelbench", "rsigym.envs.kernels.kernelbench:load_kernelbench", True)


def test_a_task_asked_of_the_wrong_suite_names_the_suite_that_holds_it():
    with pytest.raises(ValueError, match="it is in suite 'toy': pass suite='toy'"):
        load_suite("kaggle", ["wine"])
