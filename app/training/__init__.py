"""Training: features, autoencoders, NCF, baselines and their offline evaluation.

Pure code: arrays and dicts in, fitted models and plain arrays out. Nothing here
reads the database or knows about HTTP or task queues (tests/test_purity.py
checks it); the NCF pipeline (app/pipelines/ncf.py) loads a dump, calls `train_ncf`
(app/training/ncf_training.py) and registers the result.
"""
