"""One module per task type, each the adapter of one kind of labeling config (see adapters/__init__.py)."""
