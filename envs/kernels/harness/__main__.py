"""Entry point: ``python -m rsigym_kernel_harness`` in the solution folder (see :mod:`.runner`)."""
import sys

from .runner import main

sys.exit(main())
