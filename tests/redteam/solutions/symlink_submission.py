"""Point the artefact at the private labels, so the trusted grader reads them (and echoes
their ids or values in its error messages), plus a link to the host's root."""
import os

from probe import PARAMS, finish, output_path, report

for source, link in ((PARAMS["private_labels"], output_path()), ("/", output_path("root"))):
    os.symlink(source, link)
    report(f"linked {link}", source)
finish(graded=True)
