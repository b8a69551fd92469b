"""Environment ids, registered as plain data when ``rsigym`` is imported."""
from gymnasium.envs.registration import register

register(  # the Kaggle-style competitions on real data (envs/kaggle)
    id="RSI-MLE-v0",
    entry_point="rsigym.env:RSIEnv",
    kwargs={"suite": "kaggle", "iterations": 20, "auto_evaluate": True},
)

register(  # every category: ML engineering, kernels, pre-training and post-training
    id="RSI-v0",
    entry_point="rsigym.env:RSIEnv",
    kwargs={"suite": ("kaggle", "kernels", "pretrain", "posttrain"), "iterations": 20, "auto_evaluate": True},
)

register(
    id="RSI-Kernel-v0",
    entry_point="rsigym.env:RSIEnv",
    kwargs={"suite": "kernels", "iterations": 20, "auto_evaluate": True},
)

register(
    id="RSI-Pretrain-v0",
    entry_point="rsigym.env:RSIEnv",
    kwargs={"suite": ("pretrain", "posttrain"), "iterations": 20, "auto_evaluate": True},
)

register(
    id="RSI-MLE-Menu-v0",
    entry_point="rsigym.wrappers.action_menu:make_menu_env",
    kwargs={"suite": "toy", "iterations": 20},
)
