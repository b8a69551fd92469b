"""Solution: fit the model described in config.json and write submission.csv.

Edit config.json to try other models and features, or replace this file with your own code.
Whatever you do, write $RSI_OUTPUT_DIR/submission.csv with columns id,target: one row per id
in test.csv. The shared helpers live in lib/modelkit.py (importable as `modelkit`).
"""
import json
from pathlib import Path

import modelkit

modelkit.solve(json.loads(Path("config.json").read_text()))
