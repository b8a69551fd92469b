"""PettingZoo's own conformance checks on the factory, in both its Parallel and AEC forms.

Sampled ``Text`` actions are random printable strings, so these episodes exercise the error
path of every op (each costs its step, nothing raises); the behaviour of real edits is tested
in test_factory_env.py. One fast task keeps the repeated resets (each new seed grades it
afresh) cheap. The default info leaves out timings and paths, which differ between the two envs the
seed tests compare.
"""
import contextlib
import itertools
import warnings

import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

from rsigym.envs import factory

CONFORMANCE = {"suite": "toy", "tasks": ["wine"], "iterations": 2}
_runs = itertools.count()


# PettingZoo's advice for Box/Discrete spaces and numbered agent names; anything else it warns
# about (an agent missing from a dict, a dead agent given a reward, ...) fails the test.
ADVICE = ("probably should be", "recommend agents to be named", "Observation is not a NumPy array")


@contextlib.contextmanager
def no_pettingzoo_complaints():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    complaints = [str(w.message) for w in caught
                  if issubclass(w.category, UserWarning) and not any(a in str(w.message) for a in ADVICE)]
    assert not complaints, complaints


@pytest.fixture
def settings(tmp_path):
    """Factory kwargs; each call gets its own run directory (the seed tests build two envs)."""
    def make() -> dict:
        return {**CONFORMANCE, "run_dir": tmp_path / f"run{next(_runs)}"}
    return make


def test_parallel_api(settings):
    env = factory.parallel_env(**settings())
    try:
        with no_pettingzoo_complaints():
            parallel_api_test(env, num_cycles=10)
    finally:
        env.close()


def test_aec_api(settings):
    env = factory.env(**settings())
    try:
        with no_pettingzoo_complaints():
            api_test(env, num_cycles=10)
    finally:
        env.close()


def test_parallel_seed(settings):
    parallel_seed_test(lambda: factory.parallel_env(**settings()), num_cycles=10)


def test_aec_seed(settings):
    seed_test(lambda: factory.env(**settings()), num_cycles=10)


def test_aec_form_unwraps_to_the_parallel_env(settings):
    env = factory.env(**settings())
    try:
        assert isinstance(env.unwrapped, factory.FactoryEnv)
        assert env.possible_agents == ["mle_engineer", "harness_keeper"]
    finally:
        env.close()
