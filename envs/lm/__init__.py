"""Code the language-model suites share (pre- and post-training): checkpoint grading, the
solutions' ``lib/lmkit.py`` and calibration. No suite of its own: ``rsigym.envs.pretrain`` and
``rsigym.envs.posttrain`` both import it, and neither imports the other."""
