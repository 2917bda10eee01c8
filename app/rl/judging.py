"""What an RL version is judged by, apart from the code that judges it (app/rl/evaluation.py),
so that readers of its metrics (the dashboard, in every API worker) load no torch."""

GATE_METRIC = "simulated_reward"
BASELINES = ("Random", "Popularity")  # what an RL version must beat beyond the interval to be activated
