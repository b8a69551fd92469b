"""The observation text an LLM acts on: the brief at reset, concise feedback afterwards."""
import json

from rsigym.actions import OP_SPECS, OPS, parse_action, protocol_text
from rsigym.registry import load_suite
from rsigym.evaluation import SuiteResult
from rsigym.render import CHARSET, Header, excerpt, file_tree, metric_label, render, sanitize
from rsigym.tasks import Grade, TaskResult
from rsigym.workspace import DEFAULT_HARNESS

DEFAULT_MAX_TEXT_CHARS = 16_000


def test_reset_shows_tasks_files_and_protocol_and_later_steps_stay_short(make_env):
    env = make_env()
    obs, _ = env.reset(seed=0)
    text = obs["text"]
    assert env.observation_space["text"].contains(text)
    for task in env.unwrapped.tasks:
        assert task.spec.title in text and metric_label(task) in text
        assert f"baseline {task.spec.baseline:.4g}, reference {task.spec.reference:.4g}" in text
        assert f"tasks/{task.id}/: config.json description.md solution.py" in text  # the file tree
        assert sanitize(excerpt(task.description(), 300).removesuffix("[...]").strip()) in text
    assert protocol_text() in text
    assert "| task | category | metric | value | loss | change |" in text
    assert "| digits | mle | accuracy (higher is better) |" in text

    obs, *_ = env.step({"op": "read", "path": "tasks/digits/description.md"})
    assert "## Action protocol" not in obs["text"] and "## Tasks" not in obs["text"]
    assert "Digit Recognizer" in obs["text"]  # the read op's output: the full description
    assert 'Task descriptions: tasks/<id>/description.md, e.g. {"op": "read"' in obs["text"]
    assert len(obs["text"]) < len(text) / 2


def test_descriptions_are_in_the_workspace_and_editing_one_changes_no_loss(make_env):
    env = make_env()
    _, info = env.reset(seed=0)
    workspace = env.unwrapped.workspace_dir
    for task in env.unwrapped.tasks:
        assert (workspace / "tasks" / task.id / "description.md").read_text() == task.description()
    _, reward, *_, after = env.step({"op": "write", "path": "tasks/digits/description.md", "content": "# mine\n"})
    assert reward == 0.0 and after["losses"] == info["losses"]


def test_resume_shows_the_brief_again(make_env, tmp_path):
    env = make_env(run_dir=tmp_path / "run")
    env.reset(seed=0)
    env.step({"op": "evaluate"})
    env.close()
    obs, _ = make_env(run_dir=tmp_path / "run").reset(options={"resume": True})
    assert protocol_text() in obs["text"] and "## Tasks" in obs["text"]


def test_the_default_suite_brief_fits_the_text_space():
    tasks = load_suite("default")
    assert len(tasks) == 36  # kaggle 25, kernels 8, pretrain 2, posttrain 1
    result = SuiteResult({t.id: TaskResult(t.id, Grade(True, t.spec.baseline, t.spec.baseline), 1.0, 1.0, 0.0)
                          for t in tasks}, 1.0, 1.0, 0.0, 0.0)
    files = ["harness/memory.md", "harness/prompt.md", "lib/lmkit.py", "lib/modelkit.py", "weights/.keep"] + [
        f"tasks/{t.id}/{name}" for t in tasks for name in ("config.json", "description.md", "solution.py")]
    text = render(Header("RSI-MLE-v0", 0, 0, 20, 0.0, None), tasks, result, None, [], DEFAULT_HARNESS["memory.md"],
                  max_chars=DEFAULT_MAX_TEXT_CHARS, files=files)
    assert len(text) <= DEFAULT_MAX_TEXT_CHARS and set(text) <= set(CHARSET)
    assert text.rstrip().endswith(DEFAULT_HARNESS["memory.md"].strip())  # nothing cut at the end
    assert protocol_text() in text
    for task in tasks:
        assert f"### {task.id}: {task.spec.title}" in text and metric_label(task) in text
        assert f"full text: tasks/{task.id}/description.md" in text
        opening = task.description().strip().splitlines()[1:]
        first_line = next(line for line in opening if line.strip() and not line.startswith("#"))
        # each task gets an excerpt, not just a header (36 tasks share the brief: a line's head each)
        assert first_line[:30] in text


def test_excerpts_cut_at_paragraphs_and_close_code_blocks():
    description = "# Title\n\nFirst paragraph.\n\n## Code\n```python\nx = 1\ny = 2\nz = 3\n```\n\nLast."
    assert excerpt(description, 1000) == "First paragraph.\n\n#### Code\n```python\nx = 1\ny = 2\nz = 3\n```\n\nLast."
    cut = excerpt(description, 50)
    assert cut.startswith("First paragraph.") and cut.endswith("[...]") and len(cut) <= 50
    assert cut.count("```") % 2 == 0


def test_file_tree_groups_by_folder_and_stays_bounded():
    assert file_tree(["b.txt", "tasks/a/x.py", "tasks/a/y.py"]) == "./: b.txt\ntasks/a/: x.py y.py"
    many = [f"weights/run{i}/part{j}.bin" for i in range(100) for j in range(30)]
    tree = file_tree(many)
    assert len(tree) <= 3000 and tree.endswith("lists a folder]")


def test_protocol_names_every_op_field_and_default():
    text = protocol_text()
    for name, fields in OPS.items():
        assert f'{{"op": "{name}"' in text and OP_SPECS[name].doc in text
        for key, field in fields.items():
            assert f'"{key}{"" if field.required else "?"}"' in text
            if not field.required:
                assert f"`{key}`: {field.doc} (default: " in text
    assert "(default: 60)" in text and "(default: [])" in text  # run.timeout and run.keep


def test_a_fenced_action_with_prose_is_accepted():
    op = {"op": "write", "path": "notes.md", "content": "```python\nprint(1)\n```"}  # a fence inside a string
    for action in (f"I will write notes.\n```json\n{json.dumps(op)}\n```\nThen evaluate.",
                   f"```\n[{json.dumps(op)}]\n```",
                   f"```json\n{{broken\n```\nfixed:\n```json\n{json.dumps(op)}\n```"):
        parsed = parse_action(action)
        assert parsed.error == "" and [o.args for o in parsed.ops] == [{k: v for k, v in op.items() if k != "op"}]
    assert parse_action('{"op": "write", "path": "a", "content": "```json\\n{}\\n```"}').ops[0].args["path"] == "a"


def test_unfenced_prose_and_deep_nesting_give_an_error_not_an_exception():
    assert "not valid JSON" in parse_action("Let me think about it.").error
    assert "not valid JSON" in parse_action("```\n" + "[" * 100_000 + "\n```").error
    assert "not valid JSON" in parse_action("```json\n{\"op\": \"evaluate\"}\n").error  # an unclosed fence


def test_typography_is_spelt_in_the_charset():
    assert sanitize("a \u2013 b \u2026 \u2264 1 \u00e9") == "a - b ... <= 1 ?"
