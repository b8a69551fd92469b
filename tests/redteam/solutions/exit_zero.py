"""Exit with success and write nothing."""
from probe import finish

finish(graded=True)
