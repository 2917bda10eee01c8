import pytest

from app import create_app
from app.config import check_settings, load_settings
from app.errors import ConfigurationError

PRODUCTION = {
    "APP_ENV": "production",
    "API_TOKENS": "token-a, token-b",
    "MONGODB_URI": "mongodb://db.internal:27017/marketrec",
    "REDIS_URL": "redis://cache.internal:6379/0",
}


def test_development_defaults_need_no_environment():
    settings = load_settings({})
    assert settings["APP_ENV"] == "development"
    assert settings["MONGODB_URI"].startswith("mongodb://127.0.0.1")
    assert settings["CELERY_BROKER_URL"] == settings["REDIS_URL"]
    assert settings["API_TOKENS"] == []
    check_settings(settings)


def test_lists_and_numbers_are_parsed():
    settings = load_settings({"API_TOKENS": "a, b,,c", "MAX_REQUEST_BYTES": "2048", "SENTRY_SAMPLE_RATE": "0.25"})
    assert settings["API_TOKENS"] == ["a", "b", "c"]
    assert settings["MAX_REQUEST_BYTES"] == 2048
    assert settings["SENTRY_SAMPLE_RATE"] == 0.25


def test_production_starts_with_its_secrets():
    check_settings(load_settings(PRODUCTION))


@pytest.mark.parametrize("missing", ["API_TOKENS", "MONGODB_URI", "REDIS_URL"])
def test_production_refuses_to_start_without_a_secret(missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigurationError, match=missing):
        check_settings(load_settings(environ))


def test_create_app_refuses_production_without_secrets(monkeypatch, tmp_path):
    for name in PRODUCTION:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env there
    with pytest.raises(ConfigurationError, match="API_TOKENS"):
        create_app({"APP_ENV": "production"})


def test_unknown_environment_is_rejected():
    with pytest.raises(ConfigurationError, match="APP_ENV"):
        check_settings(load_settings({"APP_ENV": "staging"}))


@pytest.mark.parametrize("rate", ["-0.1", "1.5"])
def test_an_exploration_rate_outside_zero_to_one_is_rejected(rate):
    with pytest.raises(ConfigurationError, match="RL_EXPLORATION_EPSILON"):
        check_settings(load_settings({"RL_EXPLORATION_EPSILON": rate}))


def test_a_negative_score_cache_is_rejected():
    with pytest.raises(ConfigurationError, match="NCF_SCORE_CACHE_MB"):
        check_settings(load_settings({"NCF_SCORE_CACHE_MB": "-1"}))


def test_the_default_engine_is_measured_unless_an_engine_is_named():
    assert load_settings({})["DEFAULT_RECOMMENDATION_ENGINE"] == "auto"
    assert load_settings({"DEFAULT_RECOMMENDATION_ENGINE": ""})["DEFAULT_RECOMMENDATION_ENGINE"] == "auto"
    check_settings(load_settings({"DEFAULT_RECOMMENDATION_ENGINE": "NCF"}))
    with pytest.raises(ConfigurationError, match="DEFAULT_RECOMMENDATION_ENGINE.*'ncf'"):
        check_settings(load_settings({"DEFAULT_RECOMMENDATION_ENGINE": "ncf"}))


def test_dotenv_file_is_read_and_the_real_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("DEFAULT_RECOMMENDATION_ENGINE=Popularity\nLOG_LEVEL=DEBUG\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEFAULT_RECOMMENDATION_ENGINE", "")  # so that undo removes what .env sets
    monkeypatch.delenv("DEFAULT_RECOMMENDATION_ENGINE")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    settings = load_settings()
    assert settings["DEFAULT_RECOMMENDATION_ENGINE"] == "Popularity"
    assert settings["LOG_LEVEL"] == "ERROR"


@pytest.mark.parametrize(("name", "value"), [("NCF_RETRIEVAL_MIN_CANDIDATES", "-1"), ("NCF_RETRIEVAL_POOL", "0"),
                                             ("NCF_RETRIEVAL_INDEX", "lsh")])
def test_retrieval_settings_that_cannot_work_are_refused(name, value):
    with pytest.raises(ConfigurationError, match=name):
        check_settings(load_settings({name: value}))
