"""Submit one value for every id (NaN, inf, a boolean, a number so large that the metric
overflows), hoping the grader turns it into a score it cannot order."""
from probe import PARAMS, finish, write_submission

write_submission(PARAMS["value"])
finish(graded=True)
