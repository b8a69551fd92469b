"""
# AI factory

The recursive self-improvement loop of ``RSI-MLE-v0`` with a team instead of one policy: each
role owns a region of the one shared workspace, all roles act at once, one shared evaluation
scores the agent system after every step, and each role is rewarded for its own tasks and
for the team.

| Import               | `from rsigym.envs import factory`                                      |
|----------------------|------------------------------------------------------------------------|
| Creation             | `factory.parallel_env(...)` (Parallel) or `factory.env(...)` (AEC)     |
| Actions              | Text (JSON ops, as in `RSI-MLE-v0`)                                    |
| Parallel API         | Yes                                                                    |
| Manual Control       | No                                                                     |
| Agents               | `agents= ['pretrainer', 'posttrainer', 'kernel_engineer', 'mle_engineer', 'harness_keeper']` (those with work in the suite) |
| Agents               | 2 to 5 (all 5 on the default suite, which holds every category)        |
| Action Shape         | `Text(max_length=200000)`                                              |
| Action Values        | printable characters: one JSON op or a list of ops                     |
| Observation Shape    | `Dict(text: Text(16000), losses: Box(n_tasks,), loss: Box(1,), budget: Box(2,))` |
| Observation Values   | `losses`, `loss` in [-1, 2]; `budget` in [0, 1]                         |
| State Shape          | none (`state()` is not implemented)                                    |

## Roles and regions

| role | owns (may write) | its own loss |
|---|---|---|
| `pretrainer` | `tasks/<id>/` of the `pretrain` tasks | those tasks |
| `posttrainer` | `tasks/<id>/` of the `posttrain` tasks | those tasks |
| `kernel_engineer` | `tasks/<id>/` of the `kernel` tasks | those tasks |
| `mle_engineer` | `tasks/<id>/` of the `mle` tasks | those tasks |
| `harness_keeper` | `harness/`, `lib/` | every task (the suite loss) |

`weights/` is shared: every role may write it. Every role may read the whole workspace. A
role with no task in the chosen suite is left out of `possible_agents` (the harness keeper
always plays). A write outside the role's region (`write`, `patch`, a `merge` output, a `run`
op's `keep` paths) is refused with an error that names the region and the owner; like any
refused op it costs nothing but the step. `revert` restores only the folders the role owns
(not `weights/`) to their state at that iteration. `evaluate` is a no-op (every step ends with
the shared evaluation); `submit` ends the role's part: it is terminated and leaves `agents`,
and the episode ends (terminated, private split scored) once every live role has submitted.

Simultaneous actions are applied in the fixed role order of the table (pretrainer first,
harness keeper last), each role's ops in its own order. When two roles write overlapping
paths in one step (only possible in `weights/`), both edits apply in that order, so the
later one stands (a later `patch` applies to the earlier write), and the conflict is reported
to both roles (observation text and `info["conflicts"]`) and in the run log.

## Observations

Each role gets the single-agent observation: `text` (Markdown: step and budget, the loss
table of every task, the role, its region and its loss, this role's op results and errors,
conflicts, the head of `harness/memory.md`), `losses` (every task, public split), `loss`
(the role's own loss: weighted mean over the tasks it is scored on) and `budget` (fractions
of iterations and compute seconds left). `info` is the single-agent info, with `loss` = the
role's own loss, plus `suite_loss`, `role`, `roles` (every role's tasks, region and scored
tasks), `ops`/`kinds` (this role's), `conflicts`, `reward_parts` {own, team},
`team_return` and `submitted`.

## Rewards

For role *a* at each step: `r_a = (L_a(before) - L_a(after)) + λ * (L(before) - L(after))`,
where `L_a` is the role's own loss and `L` the suite loss, both on the public split; λ is
`team_weight`, default 0.5: a role's own work dominates its signal, and half of every team
gain or loss (a broken `lib/`, a bad checkpoint in `weights/`) reaches every role. The
harness keeper's own loss is the suite loss, so its reward is `(1 + λ)` times the suite
decrease. The team reward (sum over the roles that acted) and the team return are logged.
Over the steps a role plays, its rewards sum to its own gain plus λ times the suite gain.

## Run log

`<run>/log.jsonl` holds one record per parallel step (plus one per reset) in the run-log
format of `rsigym/env.py` (documented in docs/environment.md) with `env_id = "RSI-Factory-v0"`, `reward` = the suite loss decrease, each op tagged
with `agent` and `wrote` (the paths it wrote), and `agent_rewards`, `team_reward`,
`team_return`, `role_losses`, `conflicts`, `submitted`; the reset record adds `roles` and
`team_weight`. :func:`gain_by_role` splits an episode's gain among the roles from it.

## Arguments

```python
from rsigym.envs import factory

factory.parallel_env(
    suite="default",          # suite name(s), as RSI-MLE-v0
    tasks=None,               # task ids to keep
    iterations=20,            # parallel steps = evaluations per episode
    team_weight=0.5,          # λ
    roles=factory.ROLES,      # Role(name, categories, folders, whole_suite) in application order
    shared=("weights",),      # folders every role may write
    render_mode=None,         # "ansi": render() returns the team's view of the last step
    agent="factory",          # run-log tag
    **core_kwargs,            # every other RSIEnv argument (compute_seconds, sandbox, scale, run_dir,
)                             # workers, model, step_cost, backend, ...), except auto_evaluate, max_steps
```

By default `info` leaves out what differs between otherwise identical runs, so PettingZoo's
seed tests pass; `info_stats=True` adds the run directory and `info["rsi"]` (episode counter,
timings, cache hits; see `RSIEnv.stats`). `reset(options=...)`
takes `files` (seed the workspace); resuming a run is not supported.

### Version History

* v0: initial release.
"""
from rsigym.analysis.role_attribution import OTHER, gain_by_role, is_factory_run
from rsigym.envs.factory.factory import DEFAULT_TEAM_WEIGHT, ENV_ID, FactoryEnv, env, parallel_env
from rsigym.envs.factory.roles import ROLES, SHARED_FOLDERS, Region, Role, build_regions
from rsigym.envs.factory.team import RoleView, make_team, play_team_episode

__all__ = [
    "DEFAULT_TEAM_WEIGHT", "ENV_ID", "OTHER", "ROLES", "SHARED_FOLDERS", "FactoryEnv", "Region", "Role", "RoleView",
    "build_regions", "env", "gain_by_role", "is_factory_run", "make_team", "parallel_env", "play_team_episode",
]
