"""Training: features, autoencoders, NCF, baselines and their offline evaluation.

Pure code: arrays and dicts in, fitted models and plain arrays out. Nothing here
reads the database or knows about HTTP or task queues; the pipeline task loads a
dump, calls `train_ncf` (app/training/ncf_training.py) and registers the result.
"""
