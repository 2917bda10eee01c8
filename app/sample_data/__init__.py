"""Public and generated data sets the service, the benchmarks and the notebooks load: MovieLens 100K,
the Open Bandit Dataset sample, synthetic marketplaces. Pure code besides finding the files on disk
or through pip: no web framework, database or task queue."""
