"""Local development stack: the services marketrec needs, started by its own tooling."""
