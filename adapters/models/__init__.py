"""The models the task adapters train. The heavy libraries (torch, transformers, ultralytics) are
imported inside their methods, so reading a labeling config or scoring flags never loads them."""
