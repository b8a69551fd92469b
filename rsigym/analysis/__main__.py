"""``python -m rsigym.analysis leaderboard|report ...``."""
import sys

from rsigym.analysis.cli import main

sys.exit(main())
