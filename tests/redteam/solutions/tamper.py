"""Change files outside the sandbox's working directory: each target of attack.json is
``[path, how]`` with ``how`` one of ``append`` (add bytes), ``replace`` (new content),
``same`` (rewrite the first byte unchanged: proves write access without changing a thing)
and ``create`` (a new file). With ``submit`` set, a constant submission is written (a perfect
score if the attack replaced the labels with that constant); with ``graded`` set, the run
ends with code 0 so that the grader looks at what it left."""

from probe import PARAMS, finish, peek, report, try_write, write_submission

for path, how in PARAMS["targets"]:
    if how == "same":
        first = peek(path, 1)
        if first:
            try_write(path, first, "r+b")
        else:
            report(f"read {path}", "denied")
    elif how == "append":
        try_write(path, PARAMS.get("content", "\n").encode(), "ab")
    else:
        try_write(path, PARAMS.get("content", "").encode(), "wb")
if PARAMS.get("submit") is not None:
    write_submission(str(PARAMS["submit"]))
finish(graded=PARAMS.get("graded", False))
