"""Generate the forecasting corpus: many short runs of every built-in agent on the cheap MLE tasks.

    .venv/bin/python benchmarks/make_corpus.py                 # writes benchmarks/data/corpus/
    .venv/bin/python benchmarks/make_corpus.py --processes 2   # two worker processes

Every run is played in-process (``scale="ci"``, local sandbox), so grades of a configuration
already seen are served by the process's shared grade cache. The LLM agent
(``baselines/llm_agent.py``) is played against a scripted OpenAI-compatible server on
127.0.0.1 that this script starts: its HTTP client, prompts and action parsing are the real
ones, its "model" is a seeded script (see :class:`ScriptedChat`). Only each run's
``log.jsonl`` and ``env.json`` are kept, under ``runs/<name>/``, and packed into ``runs.tar.gz``
(what the repository holds: the logs compress about 15-fold); ``manifest.json`` lists every
run with its agent, tasks, budget, seed and split (train or held out, and why), and how long
generation took. Runs already in the output folder are skipped, so an interrupted generation
resumes.
"""
from __future__ import annotations

import argparse
import json
import tarfile
import multiprocessing
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gymnasium as gym

import rsigym  # noqa: F401  (registers the env ids)
from rsigym.agents import AGENTS, make_agent, run_episode
from rsigym.registry import load_suite

OUT = Path(__file__).resolve().parent / "data" / "corpus"
# house-prices is left out: its gradient-boosting configurations take tens of seconds each to grade.
TASK_SUBSETS: tuple[tuple[str, ...], ...] = (
    ("digits",), ("wine",), ("breast-cancer",), ("diabetes",),
    ("digits", "wine"), ("breast-cancer", "diabetes"), ("breast-cancer", "wine"),
    ("digits", "diabetes", "wine"), ("breast-cancer", "digits", "wine"), ("breast-cancer", "digits"),
)
# Held out: every run of these agents and every run touching these tasks (so the held-out score
# measures generalisation to an unseen agent and an unseen task, not memory of seen curves).
HELD_OUT_AGENTS = ("llm",)
HELD_OUT_TASKS = ("diabetes",)  # the one regression task left: the furthest from the others
# Budgets and seeds per agent: (budgets, seeds). The random agent gets the most seeds because its
# curves vary the most; greedy and search stop early when their menus are exhausted. The env (its
# data split) is reset with ``seed % ENV_SEEDS``: agents' seeds vary more than the data does, which
# keeps most grades in the cache.
PLAN: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "random": ((16, 32, 64), (0, 1, 2, 3)),
    "greedy": ((16, 32, 48), (0, 1)),
    "llm": ((24, 48), (0, 1)),
    "search": ((16, 48), (0, 1)),
}
ENV_SEEDS = 2


@dataclass(frozen=True)
class RunConfig:
    agent: str
    tasks: tuple[str, ...]
    budget: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.agent}__{'+'.join(self.tasks)}__n{self.budget}__s{self.seed}"

    @property
    def env_seed(self) -> int:
        return self.seed % ENV_SEEDS

    @property
    def held_out_reason(self) -> str | None:
        reasons = [f"agent {self.agent}"] if self.agent in HELD_OUT_AGENTS else []
        reasons += [f"task {task}" for task in self.tasks if task in HELD_OUT_TASKS]
        return ", ".join(reasons) or None


def plan(agents: list[str]) -> list[RunConfig]:
    """Every run of the corpus, in a fixed order."""
    return [RunConfig(agent, tasks, budget, seed)
            for agent in agents for tasks in TASK_SUBSETS
            for budget in PLAN[agent][0] for seed in PLAN[agent][1]]


class ScriptedChat:
    """The "model" behind the LLM agent's endpoint: a seeded script that edits task configs.

    Each reply is one fenced JSON action: mostly a config edit from the task's menu, applied on
    top of the config the script last wrote for that task (it sticks with a task for a few turns),
    and now and then a note in ``harness/memory.md`` or a ``revert`` to the starter. It sees the
    request's ``seed`` (the agent sends ``seed + turn``), so a run is reproducible.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.start({}, 0)

    def start(self, menus: dict[str, tuple[list[dict], dict]], seed: int) -> None:
        """Begin a new episode on tasks with ``menus`` (edit overrides, starter config)."""
        with self.lock:
            self.menus = menus
            self.configs = {task: dict(starter) for task, (_, starter) in menus.items()}
            self.rng = random.Random(seed)
            self.focus = None

    def reply(self, request: dict) -> str:
        with self.lock:
            draw = self.rng.random()
            if not self.menus:
                return "```json\n{\"op\": \"evaluate\"}\n```"
            if draw < 0.1:
                note = f"turn {request.get('seed')}: tried {sorted(self.configs)}"
                action = {"op": "write", "path": "harness/memory.md", "content": note}
            elif draw < 0.15:
                action = {"op": "revert", "iteration": 0}
                self.configs = {task: dict(starter) for task, (_, starter) in self.menus.items()}
            else:
                if self.focus is None or self.rng.random() < 0.4:
                    self.focus = self.rng.choice(sorted(self.menus))
                edits = self.menus[self.focus][0]
                self.configs[self.focus] = {**self.configs[self.focus], **self.rng.choice(edits)}
                action = {"op": "write", "path": f"tasks/{self.focus}/config.json",
                          "content": json.dumps(self.configs[self.focus], indent=2)}
            return f"I will try this next.\n```json\n{json.dumps(action)}\n```"


def serve(chat: ScriptedChat) -> ThreadingHTTPServer:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint on 127.0.0.1 answered by ``chat``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            content = chat.reply(request)
            prompt = sum(len(m.get("content", "")) for m in request.get("messages", [])) // 4
            body = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}],
                               "usage": {"prompt_tokens": prompt, "completion_tokens": len(content) // 4}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def play(config: RunConfig, out: Path, scratch: Path, chat: ScriptedChat, base_url: str) -> dict:
    """Run one episode and copy its log and settings into ``out/runs/<name>/``."""
    run_dir = scratch / config.name
    env = gym.make("RSI-MLE-v0", suite="toy", tasks=list(config.tasks), iterations=config.budget, scale="ci",
                   run_dir=run_dir, agent=config.agent, model="scripted" if config.agent == "llm" else "")
    started = time.monotonic()
    try:
        if config.agent == "llm":
            tasks = env.unwrapped.tasks
            chat.start({t.id: ([dict(e.set) for e in t.spec.edits], t.starter_config()) for t in tasks}, config.seed)
            agent = load_llm(env, config.seed, base_url)
        else:
            agent = make_agent(config.agent, env, seed=config.seed)
        info = run_episode(env, agent, config.env_seed)
    finally:
        env.close()
    target = out / "runs" / config.name
    target.mkdir(parents=True, exist_ok=True)
    for name in ("env.json", "log.jsonl"):
        shutil.copyfile(run_dir / name, target / name)
    shutil.rmtree(run_dir, ignore_errors=True)
    return {"iterations": int(info["iteration"]), "wall_s": round(time.monotonic() - started, 2)}


def load_llm(env: gym.Env, seed: int, base_url: str):
    from rsigym.baselines.llm_agent import LLMAgent

    return LLMAgent(env, seed=seed, base_url=base_url, model="scripted", api_key="")


def worker(args: tuple[list[RunConfig], Path, int]) -> list[dict]:
    configs, out, index = args
    chat = ScriptedChat()
    server = serve(chat)
    base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    done = []
    progress = out / f"progress-{index}.txt"
    with tempfile.TemporaryDirectory(prefix="rsigym-corpus-") as scratch:
        for number, config in enumerate(configs):
            if (out / "runs" / config.name / "log.jsonl").exists():
                continue
            try:
                result = play(config, out, Path(scratch), chat, base_url)
            except Exception as err:  # noqa: BLE001  (one failed run is reported, the rest go on)
                result = {"error": f"{type(err).__name__}: {err}"}
            done.append({"name": config.name, **result})
            with progress.open("a") as handle:
                handle.write(f"{time.strftime('%H:%M:%S')} {number + 1}/{len(configs)} {config.name} {result}\n")
    server.shutdown()
    return done


def write_manifest(out: Path, configs: list[RunConfig], seconds: float | None, processes: int) -> dict:
    """``manifest.json``: every run present with its tags and split, and the generation time."""
    previous = {}
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        previous = json.loads(manifest_path.read_text())
    runs = []
    for config in configs:
        log = out / "runs" / config.name / "log.jsonl"
        if not log.exists():
            continue
        reason = config.held_out_reason
        runs.append({"name": config.name, **asdict(config), "tasks": list(config.tasks), "env_seed": config.env_seed,
                     "split": "held_out" if reason else "train", "held_out_because": reason})
    total = (previous.get("generation_seconds") or 0.0) + (seconds or 0.0)
    manifest = {
        "description": "Run logs of built-in agents on the cheap MLE tasks (scale ci), for forecasting L(N).",
        "command": "python benchmarks/make_corpus.py",
        "generation_seconds": round(total, 1),
        "processes": processes,
        "held_out_agents": list(HELD_OUT_AGENTS),
        "held_out_tasks": list(HELD_OUT_TASKS),
        "n_runs": len(runs),
        "n_train": sum(run["split"] == "train" for run in runs),
        "n_held_out": sum(run["split"] == "held_out" for run in runs),
        "runs": runs,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def pack(out: Path) -> Path:
    """``out/runs.tar.gz``: every run folder under ``out/runs``, in name order."""
    archive = out / "runs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for run in sorted((out / "runs").iterdir()):
            for name in ("env.json", "log.jsonl"):
                tar.add(run / name, arcname=f"runs/{run.name}/{name}")
    return archive


def unpack(corpus: Path = OUT, into: Path | None = None) -> Path:
    """The folder holding ``runs/<name>/log.jsonl``: ``corpus`` itself once unpacked (the default), else ``into``."""
    target = into or corpus
    if not (target / "runs").is_dir():
        with tarfile.open(corpus / "runs.tar.gz") as tar:
            tar.extractall(target, filter="data")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--processes", type=int, default=1, help="worker processes (each has its own grade cache)")
    parser.add_argument("--agents", nargs="*", default=None, help="default: every built-in agent in the plan")
    args = parser.parse_args(argv)
    agents = args.agents or [agent for agent in PLAN if agent in AGENTS]
    missing = sorted(set(PLAN) - set(AGENTS))
    if missing:
        print(f"not built in (skipped): {missing}", file=sys.stderr)
    load_suite("toy")  # fail early on a broken suite
    configs = plan(agents)
    args.out.mkdir(parents=True, exist_ok=True)
    # Task subsets go to different workers (each worker's grade cache serves its own subsets'
    # repeats); within a worker the lowest seeds come first, so a cut-short generation is balanced.
    subset_index = {tasks: i for i, tasks in enumerate(TASK_SUBSETS)}
    shards = [sorted((c for c in configs if subset_index[c.tasks] % args.processes == i), key=lambda c: c.seed)
              for i in range(args.processes)]
    started = time.monotonic()
    if args.processes == 1:
        results = worker((shards[0], args.out, 0))
    else:
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            results = [r for part in pool.map(worker, [(s, args.out, i) for i, s in enumerate(shards)]) for r in part]
    seconds = time.monotonic() - started
    manifest = write_manifest(args.out, configs, seconds if results else 0.0, args.processes)
    pack(args.out)
    failed = [r for r in results if "error" in r]
    print(f"{len(results)} runs generated in {seconds:.0f} s ({len(failed)} failed); corpus: {manifest['n_runs']} "
          f"runs, {manifest['n_train']} train, {manifest['n_held_out']} held out -> {args.out}")
    for failure in failed[:10]:
        print(f"  failed: {failure['name']}: {failure['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
