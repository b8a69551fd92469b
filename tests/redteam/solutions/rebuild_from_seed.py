"""Attack 2 (hidden data rebuilt from the seed): run the task's own public builder, copied into
the workspace (``attack_lib/``), on ``RSI_SEED``, then use the rebuilt hidden data: submit its
labels (tabular) or train the starter on its test documents (language models). Prints
``REBUILT`` or ``REBUILD FAILED <why>``, then ``USED <n> rebuilt test items``."""
import json
import os
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

attack = json.loads(Path("attack.json").read_text())
sys.path.insert(0, str(Path("attack_lib").resolve()))
# Forget any rsigym this interpreter already knows (a warm worker's, an editable install's):
# the copy in attack_lib/ is the one to run.
for name in [m for m in sys.modules if m == "rsigym" or m.startswith("rsigym.")]:
    del sys.modules[name]
sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in getattr(finder, "__module__", "")]
data, scale, seed = Path(os.environ["RSI_DATA_DIR"]), os.environ["RSI_SCALE"], int(os.environ["RSI_SEED"])
rebuilt = Path("rebuilt").resolve()
try:
    from rsigym.registry import load_suite

    task = {t.id: t for t in load_suite(attack["suite"])}[attack["task"]]
    task.prepare(seed, scale, rebuilt / "data", rebuilt / "private")
    print("REBUILT", flush=True)
except Exception as err:  # noqa: BLE001 - a builder that cannot run here is the defence
    print(f"REBUILD FAILED {type(err).__name__}: {str(err)[:200]}", flush=True)
private = rebuilt / "private"

if (data / "test.csv").is_file():
    test = pd.read_csv(data / "test.csv")
    predictions = pd.read_csv(data / "sample_submission.csv").set_index("id")["target"]
    if (private / "labels.csv").is_file():
        labels = pd.read_csv(private / "labels.csv").set_index("id")["target"]
        known = predictions.index.intersection(labels.index)
        predictions.loc[known] = labels.loc[known]
        print(f"USED {len(known)} rebuilt test items")
    predictions.reset_index().to_csv(Path(os.environ["RSI_OUTPUT_DIR"]) / "submission.csv", index=False)
else:  # a language model: train the starter on the rebuilt test documents
    leaked = Path("leaked_data").resolve()
    shutil.copytree(data, leaked)
    config = json.loads(Path("config.json").read_text())
    if (private / "public_test.npy").is_file():  # synthlang: documents as rows
        docs = np.concatenate([np.load(private / f"{split}_test.npy") for split in ("public", "private")])
        np.save(leaked / "curated.npy", docs)
        config.update(mix_curated=1.0, mix_related=0.0, mix_crawl=0.0)
        print(f"USED {len(docs)} rebuilt test items")
    elif (private / "public_test.bin").is_file():  # pycode: a byte stream
        stream = b"".join((private / f"{split}_test.bin").read_bytes() for split in ("public", "private"))
        (leaked / "train.bin").write_bytes(stream)
        print(f"USED {len(stream)} rebuilt test items")
    Path("config.json").write_text(json.dumps(config))
    os.environ["RSI_DATA_DIR"] = str(leaked)
    runpy.run_path("starter_solution.py", run_name="__main__")
