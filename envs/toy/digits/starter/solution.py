"""Starter solution: fit the model described in config.json and write submission.csv.

Edit config.json to try other models, or replace this file with your own code. Whatever you
do, write $RSI_OUTPUT_DIR/submission.csv with columns id,target: one row per id in test.csv.
The shared helpers live in lib/tabular.py (importable as `tabular`).
"""
import json
from pathlib import Path

import tabular

tabular.solve(json.loads(Path("config.json").read_text()))
