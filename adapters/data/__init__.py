"""How examples reach the models: K-fold out-of-fold predictions (`folds`) and task media files (`media`)."""
