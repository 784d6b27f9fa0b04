"""Settings parsed from BATCHPREDICT_* variables, with named defaults."""

import pytest

from common.settings import DEFAULT_TRUSTED_ENDPOINTS, Settings, SettingsError
from common.tasks import refresh_delay_s, retry_delay_s


def test_defaults_without_environment():
    settings = Settings.from_env({})

    assert settings.max_batch_tasks == 100
    assert settings.trusted_endpoints == DEFAULT_TRUSTED_ENDPOINTS
    assert settings.provider_endpoint("openai") is None


def test_values_are_typed():
    settings = Settings.from_env(
        {
            "BATCHPREDICT_MAX_BATCH_TASKS": "7",
            "BATCHPREDICT_REFRESH_MIN_S": "0.5",
            "BATCHPREDICT_TRUSTED_ENDPOINTS": "^a$\n\n^b$\n",
            "BATCHPREDICT_OPENAI_BASE_URL": "http://127.0.0.1:8090/v1",
        }
    )

    assert settings.max_batch_tasks == 7
    assert settings.refresh_min_s == 0.5
    assert settings.trusted_endpoints == ("^a$", "^b$")
    assert settings.provider_endpoint("openai") == "http://127.0.0.1:8090/v1"


def test_a_bad_value_names_the_variable():
    with pytest.raises(SettingsError, match="BATCHPREDICT_MAX_BATCH_TASKS"):
        Settings.from_env({"BATCHPREDICT_MAX_BATCH_TASKS": "many"})


class _Fixed:
    def __init__(self, value):
        self.value = value

    def uniform(self, low, high):
        return low + (high - low) * self.value


def test_refresh_interval_grows_with_age_within_bounds():
    settings = Settings(refresh_min_s=10, refresh_max_s=300, refresh_age_factor=0.1)
    middle = _Fixed(0.5)

    assert refresh_delay_s(5, settings, middle) == pytest.approx(10)
    assert refresh_delay_s(1000, settings, middle) == pytest.approx(100)
    assert refresh_delay_s(10**6, settings, middle) == pytest.approx(300)
    assert refresh_delay_s(1000, settings, _Fixed(0)) == pytest.approx(80)
    assert refresh_delay_s(1000, settings, _Fixed(1)) == pytest.approx(120)


def test_retry_backoff_grows_and_honours_retry_after():
    settings = Settings(refresh_min_s=1, refresh_max_s=60)
    top = _Fixed(1)

    assert retry_delay_s(1, settings, None, top) == pytest.approx(2)
    assert retry_delay_s(4, settings, None, top) == pytest.approx(16)
    assert retry_delay_s(30, settings, None, top) == pytest.approx(60)
    assert retry_delay_s(1, settings, 45.0, _Fixed(0)) == pytest.approx(45)


def test_a_lease_shorter_than_a_provider_call_is_refused():
    with pytest.raises(SettingsError, match="BATCHPREDICT_LEASE_S"):
        Settings.from_env(
            {"BATCHPREDICT_LEASE_S": "20", "BATCHPREDICT_PROVIDER_TIMEOUT_S": "30"}
        )


def test_retry_after_is_capped_at_the_longest_refresh():
    settings = Settings(refresh_min_s=1, refresh_max_s=60)

    assert retry_delay_s(1, settings, 1_000_000.0, _Fixed(0)) == pytest.approx(60)
