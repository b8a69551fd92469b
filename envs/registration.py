"""Environment ids, registered as plain data when ``rsigym`` is imported."""
from gymnasium.envs.registration import register

register(
    id="RSI-MLE-v0",
    entry_point="rsigym.env:RSIEnv",
    kwargs={"suite": "default", "iterations": 20, "auto_evaluate": True},
)
