"""Settings come from the environment and stop start-up naming the variable at fault."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from o2o_runtime.settings import ServiceSettings, SettingsError, load_settings, service_config
from pydantic import Field, SecretStr


class DemoSettings(ServiceSettings):
    """Shaped like a service's settings: a required secret under the service's own prefix."""

    model_config = service_config("IDENTITY")

    secret_key: SecretStr = Field(min_length=32)
    token_ttl_s: int = Field(default=900, ge=60)


GOOD_SECRET = "s" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's shell or another test may have exported platform variables.
    for name in list(os.environ):
        if name.startswith(("IDENTITY_", "O2O_")):
            monkeypatch.delenv(name)


def problem(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings(DemoSettings)
    return str(error.value)


def test_defaults_and_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("IDENTITY_GRPC_PORT", "50099")
    monkeypatch.setenv("O2O_NATS_URL", "nats://broker:4222")
    settings = load_settings(DemoSettings)
    assert settings.secret_key.get_secret_value() == GOOD_SECRET
    assert settings.grpc_port == 50099
    assert settings.nats_url == "nats://broker:4222"
    assert settings.token_ttl_s == 900
    assert settings.events_enabled is True


def test_platform_variables_are_not_read_under_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("IDENTITY_NATS_URL", "nats://wrong:1")
    assert load_settings(DemoSettings).nats_url == "nats://127.0.0.1:4222"


def test_missing_required_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    message = problem(monkeypatch)
    assert "IDENTITY_SECRET_KEY" in message
    assert "required" in message.lower()


def test_short_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "IDENTITY_SECRET_KEY" in problem(monkeypatch, IDENTITY_SECRET_KEY="short")


def test_non_integer_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    message = problem(monkeypatch, IDENTITY_SECRET_KEY=GOOD_SECRET, IDENTITY_GRPC_PORT="fifty")
    assert "IDENTITY_GRPC_PORT" in message
    assert "integer" in message


def test_out_of_range_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "IDENTITY_GRPC_PORT" in problem(monkeypatch, IDENTITY_SECRET_KEY=GOOD_SECRET, IDENTITY_GRPC_PORT="70000")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("O2O_SHUTDOWN_GRACE_S", "-1"), ("O2O_EVENTS_ENABLED", "maybe"), ("O2O_OUTBOX_POLL_S", "0")],
)
def test_bad_platform_variable_is_named_as_set(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    message = problem(monkeypatch, IDENTITY_SECRET_KEY=GOOD_SECRET, **{variable: value})
    # The operator set O2O_..., so that is the name to report (not IDENTITY_O2O_...).
    assert f"{variable}:" in message
    assert f"IDENTITY_{variable}" not in message


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    message = problem(monkeypatch, IDENTITY_GRPC_PORT="x", IDENTITY_TOKEN_TTL_S="5")
    for variable in ("IDENTITY_SECRET_KEY", "IDENTITY_GRPC_PORT", "IDENTITY_TOKEN_TTL_S"):
        assert variable in message


def test_default_database_is_a_sqlite_file_per_service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDENTITY_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("O2O_DATA_DIR", str(tmp_path))
    settings = load_settings(DemoSettings)
    assert settings.database_url_or_default("identity") == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'identity.db'}"
    monkeypatch.setenv("IDENTITY_DATABASE_URL", "postgresql://db/identity")
    assert load_settings(DemoSettings).database_url_or_default("identity") == "postgresql://db/identity"
