"""Serving: choose an engine, filter candidates, answer, explain and log."""
