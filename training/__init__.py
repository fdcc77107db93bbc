"""Training loop, dataset frame cache, in-loop evaluation and logging."""
