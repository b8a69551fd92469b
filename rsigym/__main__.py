"""``python -m rsigym ...``: the same command line as ``rsigym``."""
import sys

from rsigym.cli import main

sys.exit(main())
