"""The deployment profile: one variable picks the Dagster instance, and a profile that cannot run
says which variable to set."""

from pathlib import Path

import pytest

from lakehouse.settings import PROJECT_ROOT, SettingsError, get_settings

PG_URL = "postgresql+psycopg2://dagster:s3cret@db.internal:5432/dagster"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in (
        "LAKEHOUSE_PROFILE",
        "LAKEHOUSE_DAGSTER_PG_URL",
        "LAKEHOUSE_PII_KEY",
        "LAKEHOUSE_ERASURE_KEY",
    ):
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_the_embedded_profile_is_the_default_and_its_instance_is_the_project_root(
    environment: pytest.MonkeyPatch,
):
    settings = get_settings(Path("data"))
    assert (settings.profile, settings.dagster_home) == ("embedded", PROJECT_ROOT)
    assert settings.deployment_problems() == []


def test_the_production_profile_uses_its_own_instance_folder_and_hides_the_database_url(
    environment: pytest.MonkeyPatch,
):
    environment.setenv("LAKEHOUSE_PROFILE", "Production")
    environment.setenv("LAKEHOUSE_DAGSTER_PG_URL", PG_URL)
    environment.setenv("LAKEHOUSE_PII_KEY", "a-real-key")
    environment.setenv("LAKEHOUSE_ERASURE_KEY", "another-real-key")
    settings = get_settings(Path("data"))

    assert settings.dagster_home == PROJECT_ROOT / "deploy" / "production"
    assert (settings.dagster_home / "dagster.yaml").is_file()
    assert settings.deployment_problems() == []
    assert "s3cret" not in repr(settings)


def test_production_names_every_missing_variable(environment: pytest.MonkeyPatch):
    environment.setenv("LAKEHOUSE_PROFILE", "production")
    problems = get_settings(Path("data")).deployment_problems()
    assert [problem.split(" ", 1)[0] for problem in problems] == [
        "LAKEHOUSE_DAGSTER_PG_URL",
        "LAKEHOUSE_PII_KEY",
        "LAKEHOUSE_ERASURE_KEY",
    ]


def test_the_instance_url_must_name_the_psycopg2_driver(environment: pytest.MonkeyPatch):
    environment.setenv("LAKEHOUSE_PROFILE", "production")
    environment.setenv("LAKEHOUSE_DAGSTER_PG_URL", "postgresql://dagster:s3cret@db.internal/dagster")
    problem = get_settings(Path("data")).deployment_problems()[0]
    assert problem.startswith(
        "LAKEHOUSE_DAGSTER_PG_URL starts with postgresql://: write postgresql+psycopg2://... "
    )
    assert "s3cret" not in problem


def test_a_database_url_the_embedded_profile_would_ignore_is_refused(environment: pytest.MonkeyPatch):
    environment.setenv("LAKEHOUSE_DAGSTER_PG_URL", PG_URL)
    (problem,) = get_settings(Path("data")).deployment_problems()
    assert "set LAKEHOUSE_PROFILE=production" in problem
    assert "s3cret" not in problem


def test_an_unknown_profile_is_refused_with_the_choices(environment: pytest.MonkeyPatch):
    environment.setenv("LAKEHOUSE_PROFILE", "prod")
    with pytest.raises(SettingsError, match=r"LAKEHOUSE_PROFILE='prod': use one of embedded, production"):
        get_settings(Path("data"))
