"""GRPO on the text env (``RSI-MLE-v0``), CleanRL style: one file, one ``Args``.

    python -m rsigym.baselines.grpo --seed 1                  # small transformer, from scratch, CPU
    python -m rsigym.baselines.grpo --model PATH              # a local Hugging Face causal LM instead

Group Relative Policy Optimisation: for each task instance (seed) the policy plays ``G``
episodes; each episode's return is compared with its group's mean (divided by the group's
standard deviation), and every token the policy generated in that episode is pushed by that
advantage through a clipped probability-ratio objective, with a KL penalty (the k3 estimator)
to a frozen reference policy.

The default policy is a small transformer trained from scratch whose tokens are the env's
JSON action grammar specialised to the suite: ops (``write``; ``evaluate`` and ``submit`` with
``--ops``), task
paths and ``config.json`` settings (the key/value pairs the starter and the task's edits
name). Decoding is constrained by the grammar, so every action is valid JSON, rendered into
the same text a language model would send. Its prompt is, per task, the binned change of the
loss since the episode began. With ``--model PATH`` the policy is a Hugging Face causal LM that reads the Markdown
observation and writes free text; its first JSON object or list is the action.

Written under ``runs/<run_name>/``: TensorBoard scalars, ``training_curve.csv`` (update, mean
and std of the groups' returns), ``policy.pt`` and the held-out evaluation runs
(``eval/grpo/seed<s>/``, velocities read back from their logs) in ``summary.json``.
"""
from __future__ import annotations

import copy
import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from rsigym.baselines.common import cpu_seconds, parse_args, seed_everything, summarise, velocities
from rsigym.baselines.llm_agent import PROTOCOL, extract_action
from rsigym.tasks import Task


@dataclass
class Args:
    exp_name: str = "grpo"
    seed: int = 1
    torch_deterministic: bool = True
    out: str = "runs"
    env_id: str = "RSI-MLE-v0"
    tasks: tuple[str, ...] = ("digits", "wine")
    suite: str = "toy"  # the suite that holds ``tasks``
    scale: str = "ci"
    train_iterations: int = 2  # evaluations per training episode
    eval_iterations: int = 4  # evaluations per held-out episode (the velocity budget)
    train_seeds: tuple[int, ...] = (0, 1, 2, 3)
    eval_seeds: tuple[int, ...] = (100, 101, 102, 103)
    updates: int = 30
    seeds_per_update: int = 2  # groups per update
    group_size: int = 8  # G: episodes per task instance
    inner_epochs: int = 2  # optimisation passes over each batch (μ)
    learning_rate: float = 3e-3
    clip_coef: float = 0.2
    kl_coef: float = 0.02  # β
    max_grad_norm: float = 1.0
    temperature: float = 1.0
    # the grammar policy
    ops: tuple[str, ...] = ("write",)  # ops the policy may emit; no-op escapes (evaluate, submit) invite collapse
    max_ops: int = 1  # ops per action
    max_settings: int = 2  # config settings per write
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    # a Hugging Face causal LM instead (a local folder)
    model: str = ""
    max_new_tokens: int = 96
    prompt_chars: int = 1500


class Sample(NamedTuple):
    """One generated action: its prompt, its tokens, the grammar masks it was drawn under."""

    action: str
    prompt: list[int]
    tokens: list[int]
    masks: torch.Tensor | None  # [len(tokens), vocab] allowed tokens, None when unconstrained


# -- the grammar policy --------------------------------------------------------------------
def _flatten(config: dict, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    pairs = []
    for key, value in config.items():
        if isinstance(value, dict) and value:
            pairs += _flatten(value, (*prefix, key))
        else:
            pairs.append(((*prefix, key), value))
    return pairs


class Grammar:
    """Tokens and automaton of the env's JSON action grammar, specialised to a suite's tasks.

    ``action := op{1..max_ops} <end>``; ``op := evaluate | submit | write <task> <set>{0..max_settings} <done>``,
    restricted to the ops in ``ops``. A ``write`` renders ``tasks/<task>/config.json`` as the task's starter config with the
    chosen settings on top (a model switch drops the starter's model parameters)."""

    # Edges of the bins of a task's loss change since the episode began: the prompt says which
    # tasks got better or worse, which carries over between task instances (absolute losses do not).
    CHANGE_EDGES = (-0.5, -0.1, 0.1, 0.5)

    def __init__(self, tasks: Sequence[Task], ops: Sequence[str] = ("write",), max_ops: int = 1, max_settings: int = 2):
        unknown = set(ops) - {"write", "evaluate", "submit"}
        if unknown or not ops:
            raise ValueError(f"ops must be a non-empty subset of write, evaluate, submit; got {list(ops)}")
        self.ops, self.max_ops, self.max_settings = tuple(ops), max_ops, max_settings
        self.starters = {task.id: task.starter_config() for task in tasks if task.starter_config()}
        self.settings: dict[str, dict[int, tuple[tuple[str, ...], Any]]] = {}
        tokens = ["<pad>", "<bos>", "<end>", "<done>", "evaluate", "submit", "write"]
        tokens += [f"change:{b}" for b in range(len(self.CHANGE_EDGES) + 1)]
        for task in tasks:
            if task.id not in self.starters:
                continue
            tokens.append(f"task:{task.id}")
            self.settings[task.id] = {}
            for name, pair in self._task_settings(task).items():
                self.settings[task.id][len(tokens)] = pair
                tokens.append(name)
        self.tokens = tokens
        self.index = {token: i for i, token in enumerate(tokens)}
        self.max_len = 1 + len(tasks) + max_ops * (3 + max_settings) + 1

    def _task_settings(self, task: Task) -> dict[str, tuple[tuple[str, ...], Any]]:
        """Setting tokens of one task: every key/value its starter and edits name (booleans both
        ways), except keys whose only value is the starter's own, which could change nothing."""
        values: dict[tuple[str, ...], list[Any]] = {}
        for config in (self.starters[task.id], *(edit.set for edit in task.spec.edits)):
            for path, value in _flatten(config):
                choices = values.setdefault(path, [])
                for option in (value, not value) if isinstance(value, bool) else (value,):
                    if option not in choices:
                        choices.append(option)
        starter = dict(_flatten(self.starters[task.id]))
        return {
            f"set:{task.id}:{'.'.join(path)}={json.dumps(value, sort_keys=True)}": (path, value)
            for path, choices in values.items()
            if not (len(choices) == 1 and path in starter)
            for value in choices
        }

    def prompt(self, losses: Sequence[float], start: Sequence[float]) -> list[int]:
        """``<bos>`` and, per task, the bin of its loss change since the episode's first observation."""
        bins = [int(np.searchsorted(self.CHANGE_EDGES, now - first)) for now, first in zip(losses, start)]
        return [self.index["<bos>"]] + [self.index[f"change:{b}"] for b in bins]

    def allowed(self, tokens: Sequence[int]) -> list[int]:
        """The tokens that may follow ``tokens`` (the action generated so far)."""
        ops, task, used, submitted = self._state(tokens)
        if task is None:
            if submitted or ops >= self.max_ops:
                return [self.index["<end>"]]
            options = [self.index[op] for op in self.ops if op != "write" or self.settings]
            return options + ([self.index["<end>"]] if ops or not options else [])
        if task == "":
            return [self.index[f"task:{task_id}"] for task_id in self.settings]
        done = [self.index["<done>"]]
        if len(used) >= self.max_settings:
            return done
        return done + [i for i, (path, _) in self.settings[task].items() if path not in used]

    def _state(self, tokens: Sequence[int]) -> tuple[int, str | None, set, bool]:
        """(ops finished, task of the open write — '' before its task token — , keys set, submitted)."""
        ops, task, used, submitted = 0, None, set(), False
        for token in tokens:
            name = self.tokens[token]
            if name in ("evaluate", "submit"):
                ops += 1
                submitted = submitted or name == "submit"
            elif name == "write":
                task, used = "", set()
            elif name.startswith("task:"):
                task = name[len("task:"):]
            elif name.startswith("set:"):
                used.add(self.settings[task][token][0])
            elif name == "<done>":
                ops, task = ops + 1, None
        return ops, task, used, submitted

    def render(self, tokens: Sequence[int]) -> str:
        """The JSON action text of a complete token sequence."""
        ops: list[dict] = []
        task, chosen = None, []
        for token in tokens:
            name = self.tokens[token]
            if name in ("evaluate", "submit"):
                ops.append({"op": name})
            elif name.startswith("task:"):
                task, chosen = name[len("task:"):], []
            elif name.startswith("set:"):
                chosen.append(self.settings[task][token])
            elif name == "<done>":
                ops.append({"op": "write", "path": f"tasks/{task}/config.json",
                            "content": json.dumps(self.config(task, chosen), indent=2)})
        return json.dumps(ops)

    def config(self, task_id: str, chosen: Sequence[tuple[tuple[str, ...], Any]]) -> dict:
        config = copy.deepcopy(self.starters[task_id])
        model = next((value for path, value in chosen if path == ("model",)), None)
        if model is not None and model != config.get("model"):
            config.pop("params", None)  # the starter's parameters belong to the starter's model
        for path, value in chosen:
            target = config
            for key in path[:-1]:
                if not isinstance(target.get(key), dict):
                    target[key] = {}
                target = target[key]
            target[path[-1]] = value
        return config


class TinyTransformer(nn.Module):
    """A causal pre-norm transformer over grammar tokens."""

    def __init__(self, vocab: int, max_len: int, d_model: int = 64, n_layers: int = 2, n_heads: int = 4):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.position = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        causal = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)
        x = self.embed(ids) + self.position(torch.arange(length))
        return self.head(self.norm(self.blocks(x, mask=causal, is_causal=True)))


class GrammarPolicy:
    """Samples grammar-constrained actions from a :class:`TinyTransformer` trained from scratch."""

    def __init__(self, env: gym.Env, args: Args):
        self.grammar = Grammar(env.unwrapped.tasks, args.ops, args.max_ops, args.max_settings)
        self.model = TinyTransformer(len(self.grammar.tokens), self.grammar.max_len, args.d_model, args.n_layers,
                                     args.n_heads)
        self.temperature = args.temperature

    @torch.no_grad()
    def sample(self, obs: dict, start: dict, greedy: bool = False) -> Sample:
        prompt = self.grammar.prompt(obs["losses"].tolist(), start["losses"].tolist())
        tokens: list[int] = []
        masks = []
        end = self.grammar.index["<end>"]
        while not tokens or tokens[-1] != end:
            mask = torch.zeros(len(self.grammar.tokens), dtype=torch.bool)
            mask[self.grammar.allowed(tokens)] = True
            logits = self.model(torch.tensor([prompt + tokens]))[0, -1] / self.temperature
            logits = logits.masked_fill(~mask, float("-inf"))
            token = int(logits.argmax()) if greedy else int(torch.distributions.Categorical(logits=logits).sample())
            tokens.append(token)
            masks.append(mask)
        return Sample(self.grammar.render(tokens), prompt, tokens, torch.stack(masks))

    def logprobs(self, model: nn.Module, samples: Sequence[Sample]) -> list[torch.Tensor]:
        """Per-token log-probabilities of each sample's tokens under ``model``, within the grammar."""
        width = max(len(s.prompt) + len(s.tokens) for s in samples)
        ids = torch.zeros((len(samples), width), dtype=torch.long)
        for row, s in enumerate(samples):
            sequence = s.prompt + s.tokens
            ids[row, : len(sequence)] = torch.tensor(sequence)
        logits = model(ids) / self.temperature
        result = []
        for row, s in enumerate(samples):
            start = len(s.prompt) - 1  # the logits at position t predict token t + 1
            step_logits = logits[row, start : start + len(s.tokens)].masked_fill(~s.masks, float("-inf"))
            result.append(step_logits.log_softmax(-1).gather(1, torch.tensor(s.tokens)[:, None]).squeeze(1))
        return result


# -- a Hugging Face causal LM ----------------------------------------------------------------
class CausalLMPolicy:
    """A local Hugging Face causal LM that reads the Markdown observation and writes the action."""

    def __init__(self, env: gym.Env, args: Args):
        from transformers import AutoModelForCausalLM, AutoTokenizer  # optional dependency

        self.tokenizer = AutoTokenizer.from_pretrained(args.model)
        self.model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
        self.max_new_tokens = args.max_new_tokens
        self.prompt_chars = args.prompt_chars
        self.temperature = args.temperature

    def _prompt(self, obs: dict) -> list[int]:
        text = f"{PROTOCOL}\n\n{obs['text'][-self.prompt_chars:]}\n\nAction:\n"
        return self.tokenizer(text)["input_ids"]

    @torch.no_grad()
    def sample(self, obs: dict, start: dict, greedy: bool = False) -> Sample:
        prompt = self._prompt(obs)
        ids = torch.tensor([prompt])
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        out = self.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=not greedy,
                                  temperature=self.temperature if not greedy else None, top_k=0 if not greedy else None,
                                  top_p=1.0 if not greedy else None,
                                  max_new_tokens=self.max_new_tokens, pad_token_id=pad)
        tokens = out[0, len(prompt):].tolist()
        if self.tokenizer.eos_token_id in tokens:
            tokens = tokens[: tokens.index(self.tokenizer.eos_token_id) + 1]
        tokens = tokens or [pad]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return Sample(extract_action(text), prompt, tokens, None)

    def logprobs(self, model: nn.Module, samples: Sequence[Sample]) -> list[torch.Tensor]:
        result = []
        for s in samples:  # one at a time: prompts differ in length and CPU batches gain little
            ids = torch.tensor([s.prompt + s.tokens])
            logits = model(input_ids=ids).logits[0, len(s.prompt) - 1 : -1] / self.temperature
            result.append(logits.log_softmax(-1).gather(1, torch.tensor(s.tokens)[:, None]).squeeze(1))
        return result


# -- training ------------------------------------------------------------------------------------
def make_env(args: Args, iterations: int, run_dir: Path | None, agent: str = "grpo") -> gym.Env:
    return gym.make(args.env_id, suite=args.suite, tasks=list(args.tasks), iterations=iterations, scale=args.scale,
                    run_dir=run_dir, agent=agent, model=args.model or "grammar-transformer",
                    covariates={"agent_seed": args.seed, "train_updates": args.updates})


def sample_episode(env: gym.Env, policy, seed: int, greedy: bool = False) -> tuple[list[Sample], float]:
    """Roll out one episode with ``policy``; returns the samples (one per step) and the return."""
    obs, _ = env.reset(seed=seed)
    start = obs
    samples, total, done = [], 0.0, False
    while not done:
        sample = policy.sample(obs, start, greedy=greedy)
        obs, reward, terminated, truncated, _ = env.step(sample.action)
        samples.append(sample)
        total += reward
        done = terminated or truncated
    return samples, total


def group_advantages(returns: Sequence[float], eps: float = 1e-6) -> np.ndarray:
    """GRPO's group-relative advantages: (R - mean) / std over one group (zero when all are equal)."""
    values = np.asarray(returns, dtype=np.float64)
    spread = values.std()
    return np.zeros_like(values) if spread < eps else (values - values.mean()) / spread


def grpo_loss(new: Sequence[torch.Tensor], old: Sequence[torch.Tensor], ref: Sequence[torch.Tensor],
              advantages: Sequence[float], clip_coef: float, kl_coef: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped-ratio objective with a k3 KL penalty to the reference, averaged per sequence then over sequences."""
    losses, kls, clipped = [], [], []
    for new_lp, old_lp, ref_lp, advantage in zip(new, old, ref, advantages):
        ratio = (new_lp - old_lp).exp()
        objective = torch.min(ratio * advantage, ratio.clamp(1 - clip_coef, 1 + clip_coef) * advantage)
        log_ref_ratio = ref_lp - new_lp
        kl = log_ref_ratio.exp() - log_ref_ratio - 1
        losses.append(-(objective - kl_coef * kl).mean())
        kls.append(kl.mean().item())
        clipped.append(((ratio - 1).abs() > clip_coef).float().mean().item())
    return torch.stack(losses).mean(), {"kl": float(np.mean(kls)), "clipfrac": float(np.mean(clipped))}


def make_policy(env: gym.Env, args: Args):
    return CausalLMPolicy(env, args) if args.model else GrammarPolicy(env, args)


def train(args: Args) -> tuple[Any, Path, list[tuple[int, float, float]]]:
    """Train with GRPO; returns the policy, the run folder and the (update, mean, std of returns) curve."""
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    root = Path(args.out) / run_name
    writer = SummaryWriter(str(root))
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in asdict(args).items()))
    seed_everything(args.seed, args.torch_deterministic)
    rng = np.random.default_rng(args.seed)
    env = make_env(args, args.train_iterations, root / "train")
    policy = make_policy(env, args)
    reference = copy.deepcopy(policy.model).eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    optimizer = torch.optim.Adam(policy.model.parameters(), lr=args.learning_rate)
    curve: list[tuple[int, float, float]] = []
    start = time.time()
    for update in range(1, args.updates + 1):
        samples: list[Sample] = []
        advantages: list[float] = []
        returns: list[float] = []
        for seed in rng.choice(args.train_seeds, size=args.seeds_per_update):
            group = [sample_episode(env, policy, int(seed)) for _ in range(args.group_size)]
            group_returns = [total for _, total in group]
            for (episode, _), advantage in zip(group, group_advantages(group_returns)):
                samples += episode
                advantages += [float(advantage)] * len(episode)
            returns += group_returns
        with torch.no_grad():
            old = [lp.detach() for lp in policy.logprobs(policy.model, samples)]
            ref = policy.logprobs(reference, samples)
        for _ in range(args.inner_epochs):
            loss, stats = grpo_loss(policy.logprobs(policy.model, samples), old, ref, advantages,
                                    args.clip_coef, args.kl_coef)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.model.parameters(), args.max_grad_norm)
            optimizer.step()
        mean, std = float(np.mean(returns)), float(np.std(returns))
        curve.append((update, mean, std))
        writer.add_scalar("charts/mean_return", mean, update)
        writer.add_scalar("charts/return_std", std, update)
        writer.add_scalar("losses/loss", loss.item(), update)
        writer.add_scalar("losses/kl", stats["kl"], update)
        writer.add_scalar("losses/clipfrac", stats["clipfrac"], update)
        print(f"update {update}/{args.updates} mean return {mean:+.4f} (std {std:.4f}) kl {stats['kl']:.4f} "
              f"elapsed {time.time() - start:.0f}s", flush=True)
    env.close()
    writer.close()
    torch.save(policy.model.state_dict(), root / "policy.pt")
    with (root / "training_curve.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("update", "mean_return", "std_return"), *curve])
    return policy, root, curve


def evaluate(args: Args, policy, root: Path) -> list[Path]:
    """Held-out episodes of the greedy-decoded policy; returns their run directories."""
    run_dirs = []
    for seed in args.eval_seeds:
        run_dir = root / "eval" / "grpo" / f"seed{seed}"
        env = make_env(args, args.eval_iterations, run_dir)
        sample_episode(env, policy, seed, greedy=True)
        env.close()
        run_dirs.append(run_dir)
    return run_dirs


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(Args, argv, description=__doc__.splitlines()[0])
    started, cpu_started = time.time(), cpu_seconds()
    policy, root, curve = train(args)
    train_seconds, train_cpu = time.time() - started, cpu_seconds() - cpu_started
    summary = {"grpo": summarise(velocities(evaluate(args, policy, root)))}
    result = {"args": asdict(args), "run_dir": str(root), "train_seconds": round(train_seconds, 1),
              "train_cpu_seconds": round(train_cpu, 1), "curve": curve, "velocity": summary}
    (root / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    first, last = curve[0][1], curve[-1][1]
    print(f"mean return: first update {first:+.4f}, last update {last:+.4f}")
    stats = summary["grpo"]
    print(f"grpo velocity {stats['mean']:+.4f} [{stats['low']:+.4f}, {stats['high']:+.4f}] over held-out seeds "
          f"{list(args.eval_seeds)}; trained in {train_seconds:.0f} s ({train_cpu:.0f} CPU-s); run folder {root}")
    return result


if __name__ == "__main__":
    main()
