"""The task contract: every task of every built-in suite passes ``rsigym.contract.check_task``, and
the check catches the tasks that break it.

The leak audit part of the contract runs on every task in tests/redteam/test_leak_audit.py
(it needs the sandbox's confinement to pass); here every other check runs, at scale "ci".
The pre- and post-training tasks train models, so their checks are marked slow, as are the
other tasks' reference runs (a tuned ensemble takes a while)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from rsigym.registry import load_suite, suite_entry, suite_names
from rsigym.loss import INVALID_LOSS
from rsigym.contract import TASK_CHECKS, TaskCheckError, check_task, malformed_solutions, score_solution

ALL_TASKS = load_suite(tuple(name for name in suite_names() if not suite_entry(name).takes_argument))
CHECKS = tuple(check for check in TASK_CHECKS if check != "leaks")
TRAINS_MODELS = ("pretrain", "posttrain")


LIGHT_TASKS = [task for task in ALL_TASKS if task.spec.category not in TRAINS_MODELS]
HEAVY_TASKS = [task for task in ALL_TASKS if task.spec.category in TRAINS_MODELS]


@pytest.mark.parametrize("task", LIGHT_TASKS, ids=[task.id for task in LIGHT_TASKS])
def test_every_light_task_passes_the_task_contract(task):
    """Everything but the reference run (the slow test below runs it)."""
    check_task(task, checks=[check for check in CHECKS if check != "reference"])


WITH_REFERENCE = [task for task in LIGHT_TASKS if (task.folder / "reference").is_dir()]  # kernels have none


@pytest.mark.slow
@pytest.mark.parametrize("task", WITH_REFERENCE, ids=[task.id for task in WITH_REFERENCE])
def test_every_light_task_has_a_reference_better_than_its_starter(task):
    report = check_task(task, checks=("reference",))
    assert report["reference_private_loss"] < report["starter_private_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("task", HEAVY_TASKS, ids=[task.id for task in HEAVY_TASKS])
def test_every_model_training_task_passes_the_task_contract(task):
    report = check_task(task, checks=CHECKS)
    assert report["reference_private_loss"] < report["starter_private_loss"]


def test_malformed_solutions_are_graded_invalid_with_a_reason():
    for name, files in malformed_solutions(WINE).items():
        result = score_solution(WINE, files)
        assert not result.grade.valid and result.private_loss == INVALID_LOSS, name
        assert "submission.csv" in result.grade.error, (name, result.grade.error)


def _copy_task(task, tmp_path: Path, task_class=None):
    """A copy of ``task`` in its own folder (with its suite's lib/), as ``task_class``, to break on purpose."""
    folder = tmp_path / task.folder.name
    shutil.copytree(task.folder, folder)
    if task.shared_lib_dir:
        shutil.copytree(task.shared_lib_dir, tmp_path / "lib")
    return (task_class or type(task))(folder)


WINE = next(task for task in ALL_TASKS if task.id == "wine")


class LenientGrader(type(WINE)):
    """A grader bug: junk output scores as well as the starter."""

    def grade(self, ctx, run):
        grade = super().grade(ctx, run)
        return grade if grade.valid else grade._replace(valid=True, public=self.spec.baseline,
                                                        private=self.spec.baseline, error="")


class FragileGrader(type(WINE)):
    """A grader bug: it assumes the submission exists."""

    def grade(self, ctx, run):
        if not (ctx.output_dir / "submission.csv").is_file():
            raise FileNotFoundError("submission.csv")
        return super().grade(ctx, run)


def test_a_grader_that_accepts_junk_fails_the_validation_check(tmp_path):
    with pytest.raises(TaskCheckError, match="with no artefacts was graded valid"):
        check_task(_copy_task(WINE, tmp_path, LenientGrader), checks=("validation",))


def test_a_grader_that_crashes_on_junk_fails_the_validation_check(tmp_path):
    with pytest.raises(TaskCheckError, match="the grader crashed on a solution with no artefacts"):
        check_task(_copy_task(WINE, tmp_path, FragileGrader), checks=("validation",))


def test_a_reference_worse_than_the_starter_fails_the_contract(tmp_path):
    task = _copy_task(WINE, tmp_path)
    shutil.rmtree(task.folder / "reference")
    (task.folder / "reference").mkdir()
    (task.folder / "reference" / task.entry).write_text("raise SystemExit('no submission')\n")
    with pytest.raises(TaskCheckError, match="does not beat the starter"):
        check_task(task, checks=("reference",))


def test_a_spec_that_does_not_validate_fails_the_contract(tmp_path):
    task = _copy_task(WINE, tmp_path)
    (task.folder / "description.md").write_text("  \n")
    task.spec = dataclasses.replace(task.spec, reference=task.spec.baseline)  # as a bad task.json would say
    with pytest.raises(TaskCheckError, match="baseline equals reference.*no description"):
        check_task(task, checks=("spec",))
