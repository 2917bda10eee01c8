"""Experiments on live traffic, the pure part: which variant a person sees, and what the
counts of their panels and clicks say (no database, no web framework)."""
