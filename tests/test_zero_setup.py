"""README command 1: the zero-setup run serves the panel with working demo logins, and its
embedded worker (file-system broker, no servers) carries out operations on the local sandbox."""

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """A tiny cookie-keeping HTTP client for a server in another process."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.read().decode()

    def post(self, path: str, data: dict) -> str:
        page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + path, body, headers={"Referer": self.base})
        with self.opener.open(request, timeout=10) as response:
            return response.read().decode()


@pytest.fixture
def embedded(tmp_path):
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_", "HAVN_"))
    }
    environment.update(HAVN_ENV="dev", HAVN_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    log = (tmp_path / "run.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_embedded", "--addr", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/login/", timeout=2).close()
            break
        except OSError:
            assert process.poll() is None, Path(log.name).read_text()
            time.sleep(0.5)
    else:
        pytest.fail("the zero-setup run did not serve the panel:\n" + Path(log.name).read_text())
    yield base, Path(log.name), environment
    os.killpg(process.pid, 15)
    process.wait(timeout=30)


def test_make_run_serves_the_panel_with_working_demo_logins(embedded):
    base, log, _environment = embedded
    output = log.read_text()
    owner = re.search(r"owner\s+(\S+@\S+)\s+(\S+)", output)
    assert owner, output
    browser = Browser(base)
    page = browser.post("/login/", {"email": owner.group(1), "password": owner.group(2)})
    assert "Bageriet ApS" in page and 'lang="da"' in page


def test_the_embedded_worker_sets_up_a_webhotel_that_the_backup_command_then_backs_up(embedded):
    base, log, environment = embedded
    owner = re.search(r"owner\s+(\S+@\S+)\s+(\S+)", log.read_text())
    browser = Browser(base)
    dashboard = browser.post("/login/", {"email": owner.group(1), "password": owner.group(2)})
    customer_id = re.search(r'href="/customers/(\d+)/"', dashboard).group(1)
    page = browser.get(f"/customers/{customer_id}/webhotels/")
    plan = re.search(r'<option value="(\d+)"[^>]*>Basis', page).group(1)
    browser.post(
        f"/customers/{customer_id}/webhotels/",
        {"primary_domain": "demo-bageri.dk", "plan": plan, "php_version": "8.3"},
    )
    sandbox = Path(environment["HAVN_VAR_DIR"]) / "sandbox" / "webhotels"
    deadline = time.monotonic() + 60  # the embedded worker picks the operation up
    while not any(sandbox.glob("*/public_html/index.html")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert any(sandbox.glob("*/public_html/index.html")), log.read_text()[-3000:]

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    # Until the worker has marked the webhotel set up (its other start-up tasks may come first).
    deadline = time.monotonic() + 120
    while (
        "demo-bageri.dk" not in (run := manage("backup", "run", "--customer", customer_id)).stdout
    ):
        assert time.monotonic() < deadline, run.stdout + run.stderr
        time.sleep(1)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "demo-bageri.dk" in run.stdout and "done" in run.stdout
    listing = manage("backup", "ls", "--customer", customer_id)
    assert "demo-bageri.dk" in listing.stdout
    assert manage("backup", "check", "--read-data", "100").returncode == 0
