"""The task suites, each a package whose ``load_tasks()`` returns its tasks, registered by name in
``rsigym/registry.py``; ``lm`` holds what the pre- and post-training suites share, and
``factory`` the multi-role env built on the core env."""
