"""What the broker carries: the queue names and the task names.

Kept apart from the tasks (app/tasks.py) so that the code which enqueues a job,
reports on jobs or checks the workers names a task without importing it."""

DEFAULT_QUEUE = "default"
TRAINING_QUEUE = "training"  # one task at a time, on a worker that may live on a GPU host
QUEUES = (DEFAULT_QUEUE, TRAINING_QUEUE)

TRAINING_PREFIX = "marketrec.training."  # routed to TRAINING_QUEUE, with the training time limits

SELFCHECK = "marketrec.selfcheck"
PRUNE_JOBS = "marketrec.jobs.prune"
RECOVER_JOBS = "marketrec.jobs.recover"
INGEST_DUMP = "marketrec.dumps.ingest"
PRUNE_DUMPS = "marketrec.dumps.prune"
TRAIN_INTERACTION_MODELS = TRAINING_PREFIX + "interaction_models"
TRAIN_NCF = TRAINING_PREFIX + "ncf"
CHECK_RETRAINING = TRAINING_PREFIX + "check"
TRAIN_RL = TRAINING_PREFIX + "rl"
FOLD_SERVED_OUTCOMES = "marketrec.served.fold"
