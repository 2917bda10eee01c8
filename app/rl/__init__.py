"""Reinforcement learning for panels: rewards from journeys, SARS, a TD3 agent, a simulator, off-policy
evaluation. Pure code: no web framework, database or task queue; the service layer does the I/O."""
