"""docker-compose.yml and development.yml refer only to things that exist here."""
from pathlib import Path

import yaml

import app as app_package

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"mongo", "redis", "history-cache", "api", "worker", "trainer", "beat"}


def load(name):
    return yaml.safe_load((ROOT / name).read_text())


def check_command(command):
    """Every program a compose command runs must be something this repo provides."""
    program, *args = command
    if program == "gunicorn":
        module, _, factory = args[0].partition(":")
        assert module == "app" and factory == "create_app()"
        assert callable(app_package.create_app)
        assert (ROOT / "gunicorn.conf.py").exists() if "gunicorn.conf.py" in args else True
    elif program == "celery":
        assert args[:2] == ["-A", "worker"] and (ROOT / "worker.py").exists()
        assert "celery_app" in (ROOT / "worker.py").read_text()
        if "-Q" in args:
            assert set(args[args.index("-Q") + 1].split(",")) <= {"default", "training"}
    elif program == "flask":
        assert args[:2] == ["--app", "app"]
    elif program == "jupyter":
        assert (ROOT / args[args.index("--notebook-dir") + 1]).is_dir()
    elif program not in ("redis-server", "mongod"):
        raise AssertionError(f"unknown program in a compose command: {program}")


def test_compose_has_every_service_with_real_mongo():
    compose = load("docker-compose.yml")
    assert SERVICES <= set(compose["services"])
    assert compose["services"]["mongo"]["image"].startswith("mongo:")
    for service in compose["services"].values():
        if "command" in service:
            check_command(service["command"])
        if "build" in service:
            assert (ROOT / "Dockerfile").exists()


def test_compose_runs_mongodb_as_a_replica_set_the_app_names():
    compose = load("docker-compose.yml")
    mongo = compose["services"]["mongo"]
    replica_set = mongo["command"][mongo["command"].index("--replSet") + 1]
    health = " ".join(mongo["healthcheck"]["test"])
    assert f"_id: '{replica_set}'" in health and "isWritablePrimary" in health
    for name in ("api", "worker", "trainer", "beat"):
        uri = compose["services"][name]["environment"]["MONGODB_URI"]
        options = dict(pair.split("=") for pair in uri.split("?", 1)[1].split("&"))
        # Acknowledged writes survive a failover; reads see only what a majority holds (docs/scaling.md).
        assert options == {"replicaSet": replica_set, "w": "majority", "readConcernLevel": "majority"}, (name, uri)


def test_development_override_mounts_the_source_and_adds_a_notebook():
    compose, override = load("docker-compose.yml"), load("development.yml")
    assert set(override["services"]) - {"notebook"} <= set(compose["services"])
    assert "--debug" in override["services"]["api"]["command"]
    assert ".:/srv/marketrec" in override["services"]["api"]["volumes"]
    for service in override["services"].values():
        if "command" in service:
            check_command(service["command"])
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("."):
                assert (ROOT / host).exists(), volume


def test_the_image_runs_the_api_like_make_run():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["gunicorn", "app:create_app()", "-c", "gunicorn.conf.py"]' in dockerfile
    assert "Pipfile.lock" in dockerfile


def test_the_history_cache_is_bounded_and_the_broker_never_evicts():
    compose = load("docker-compose.yml")
    cache, broker = compose["services"]["history-cache"]["command"], compose["services"]["redis"]["command"]
    assert cache[cache.index("--maxmemory-policy") + 1] == "allkeys-lru" and "--maxmemory" in cache
    assert broker[broker.index("--maxmemory-policy") + 1] == "noeviction"
    for name in ("api", "worker", "trainer", "beat"):
        environment = compose["services"][name]["environment"]
        assert environment["HISTORY_CACHE_REDIS_URL"] == "redis://history-cache:6379/0"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
