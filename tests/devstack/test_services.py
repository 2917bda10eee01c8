"""The database devstack starts: SecantusDB with a bounded cache and two malloc arenas."""
import psutil

from devstack import services
from tests.conftest import LOGS


def test_secantusdb_runs_with_two_malloc_arenas_and_its_cache_bound():
    LOGS.mkdir(parents=True, exist_ok=True)
    port = services.free_port()
    proc = services.start_mongo(port, ":memory:", LOGS / "mongo-arenas.log")
    try:
        server = psutil.Process(proc.pid)
        assert server.environ().get("MALLOC_ARENA_MAX") == "2"
        line = server.cmdline()
        assert line[line.index("--cache-size") + 1] == "256M"
        assert services.mongo_answers(f"mongodb://127.0.0.1:{port}/")
    finally:
        services.stop(proc)
