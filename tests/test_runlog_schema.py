"""The run log's schema: versioned, typed records written by RunLog and read back by the one
reader, rsigym.runlog.read_log, for current logs and older unversioned ones alike."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rsigym.analysis.runlog import read_runs
from rsigym.runlog import FIELD_NAMES, SCHEMA_VERSION, LogRecord, RunLog, RunLogError, read_log

UNVERSIONED = Path(__file__).parent / "data" / "runlog-unversioned.jsonl"


def test_the_env_writes_versioned_typed_records_with_annotations_apart(make_env):
    env = make_env(tasks=["digits"], iterations=2)
    env.reset(seed=0)
    env.unwrapped.annotate_next_record(usage={"prompt_tokens": 5, "completion_tokens": 2})
    env.step({"op": "evaluate"})
    path = env.unwrapped.log.path
    reset, step = read_log(path)
    assert all(isinstance(record, LogRecord) for record in (reset, step))
    assert reset.schema_version == step.schema_version == SCHEMA_VERSION
    assert reset.step == 0 and reset.tasks["digits"]["category"] == "mle" and reset.integrity
    assert step.tasks is None and step.integrity is None  # reset-only fields
    assert step.extra == {"usage": {"prompt_tokens": 5, "completion_tokens": 2}}
    assert step.loss == env.unwrapped.result.loss and step.seed == 0
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    # On disk a record stays one flat object: annotations beside the fields, tasks only at reset.
    assert lines[1]["usage"] == step.extra["usage"] and "extra" not in lines[1] and "tasks" not in lines[1]
    assert lines[1]["schema_version"] == SCHEMA_VERSION
    assert [record.to_json() for record in (reset, step)] == lines  # the reader loses nothing


def test_an_unversioned_log_reads_with_its_annotations_and_without_its_cut_last_line(tmp_path):
    records = read_log(UNVERSIONED)
    assert [r.step for r in records] == [0, 1, 2]  # the line a crash cut short is dropped
    assert {r.schema_version for r in records} == {0}
    reset, edit, submit = records
    assert reset.tasks["digits"]["human_minutes"] == 10 and reset.integrity is None
    assert reset.exceptions == []  # a field the old format lacked takes its default
    assert edit.extra == {"usage": {"prompt_tokens": 120, "completion_tokens": 30}}
    assert edit["usage"] == edit.extra["usage"] and "usage" in edit and "usage" not in submit
    assert submit.terminated and submit.private_losses == {"digits": 0.55}
    (run,) = read_runs(UNVERSIONED)  # the analysis groups the same records
    assert run.records == records and run.complete and run.token_usage() == (120, 30)
    # Appending to an old log keeps its lines and adds a versioned one.
    copy = tmp_path / "log.jsonl"
    shutil.copyfile(UNVERSIONED, copy)
    RunLog(copy).append(LogRecord(run_id="old-run", env_id="RSI-MLE-v0", episode=1))
    assert [r.schema_version for r in read_log(copy)] == [0, 0, 0, SCHEMA_VERSION]


def test_a_mapping_appended_is_written_as_a_current_record(tmp_path):
    log = RunLog(tmp_path / "log.jsonl")
    log.append({"run_id": "r", "env_id": "E", "step": 3, "loss": float("nan"), "role": "coder"})
    (record,) = read_log(log.path)
    assert (record.step, record.loss, record.extra, record.schema_version) == (3, None, {"role": "coder"}, SCHEMA_VERSION)
    assert {**record} == record.to_json()


def test_annotations_never_shadow_a_field():
    record = LogRecord(run_id="r", env_id="E", loss=0.5, extra={"loss": 0.0, "note": "x"})
    assert record.to_json()["loss"] == 0.5 and record["note"] == "x"
    assert {"loss", "tasks", "integrity", "schema_version"} <= FIELD_NAMES and "extra" not in FIELD_NAMES


def test_a_corrupt_line_before_the_end_is_an_error(tmp_path):
    lines = UNVERSIONED.read_text().splitlines()
    (tmp_path / "log.jsonl").write_text("\n".join([lines[0], "[1, 2]", lines[1]]) + "\n")
    with pytest.raises(RunLogError, match=":2: expected a JSON object"):
        read_log(tmp_path / "log.jsonl")
