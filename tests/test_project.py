"""Project-wide rules: production settings, layering, migrations, languages."""

import ast
import base64
import logging
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from infra import env
from infra.logging import formatter, scrub

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["infra", "accounts", "hosting", "backups", "api"]  # each may import only leftwards


def production_env(**extra):
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HAVN_", "DATABASE_URL", "REDIS_URL", "DJANGO_"))
    }
    environment.update(
        HAVN_ENV="production",
        HAVN_SECRET_KEY=secrets.token_urlsafe(50),
        HAVN_ALLOWED_HOSTS="panel.havn.example",
        DATABASE_URL="postgres://havn@127.0.0.1/havn",
        REDIS_URL="redis://127.0.0.1:6379/0",
        HAVN_DATA_KEYS=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        HAVN_PLATFORM_KEYS="k1:" + base64.b64encode(os.urandom(32)).decode(),
        HAVN_OBJECTSTORE_URL="s3://havn-backups",
    )
    environment.update(extra)
    return environment


def manage(*args, environment):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    environment = production_env()
    del environment["HAVN_SECRET_KEY"]
    result = manage("check", environment=environment)
    assert result.returncode != 0
    assert "HAVN_SECRET_KEY must be set" in result.stderr


def test_env_readers_fail_loudly(monkeypatch, tmp_path):
    monkeypatch.setenv("X_FLAG", "perhaps")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be a boolean"):
        env.env_bool("X_FLAG", False)
    monkeypatch.setenv("X_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_NUMBER must be an integer"):
        env.env_int("X_NUMBER", 1)
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.env_str("X_SECRET") == "from-a-file"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_layers_import_only_downwards():
    offenders = []
    for index, layer in enumerate(LAYERS):
        upper = set(LAYERS[index + 1 :])
        for path in (ROOT / layer).rglob("*.py"):
            wrong = imports_of(path) & upper
            if layer == "infra" and path.name in {"urls.py", "settings.py"}:
                continue  # the project's wiring names every app by design
            offenders += [f"{path.relative_to(ROOT)} imports {name}" for name in wrong]
    assert offenders == []


def test_migrations_are_complete():
    environment = production_env(HAVN_ENV="dev", HAVN_VAR_DIR="/tmp/havn-migrations-check")
    result = manage("makemigrations", "--check", "--dry-run", environment=environment)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_message_has_a_danish_translation(tmp_path):
    """The catalogue is current with the code (makemessages on a copy changes nothing that
    matters) and every message in it is translated and not fuzzy."""
    for name in (
        "manage.py",
        "infra",
        "accounts",
        "hosting",
        "backups",
        "api",
        "templates",
        "locale",
    ):
        source = ROOT / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / name)
    environment = production_env(HAVN_ENV="dev", HAVN_VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "da", "--no-obsolete"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    po = tmp_path / "locale/da/LC_MESSAGES/django.po"
    for flag in ("--untranslated", "--only-fuzzy"):
        found = subprocess.run(
            ["msgattrib", flag, "--no-obsolete", str(po)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert found.strip() == "", f"run `make messages` and translate:\n{found[:3000]}"


def test_logs_scrub_secrets_and_cpr_numbers():
    record = logging.LogRecord("havn", logging.INFO, __file__, 1, "%s", ("x",), None)
    record.msg = "verified 010203-1234 for %s"
    line = formatter(json=True).format(record)
    assert "010203-1234" not in line and "[cpr]" in line
    event = {"event": "login", "password": "hunter2", "api_key": "havn_x_y", "user": "a@b.dk"}
    assert scrub(None, None, event) == {
        "event": "login",
        "password": "[redacted]",
        "api_key": "[redacted]",
        "user": "a@b.dk",
    }
