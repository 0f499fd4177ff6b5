"""The example client in docs/api.md, run as written against a live Havn: a live server, a real
Celery worker and the sshd fixture's sandbox server carry the operations out."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.actor import Actor
from accounts.models import ApiKey
from accounts.services import create_api_key
from hosting.models import Mailbox, Operation, Webhotel
from tests.factories import PlanFactory

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def example_script() -> str:
    """The one Python block of docs/api.md that is the provisioning script."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    [script] = [block for block in blocks if block.startswith("# provision.py")]
    return script


@pytest.fixture
def worker_reaches_the_sandbox(sshd, monkeypatch):
    """The worker process reads its SSH key from the environment it is started with."""
    monkeypatch.setenv("HAVN_SSH_KEY_FILE", str(sshd.client_key_path))


@pytest.mark.worker
def test_the_documented_example_provisions_a_webhotel_and_a_mailbox(
    worker_reaches_the_sandbox,
    celery_worker_process,
    sandbox_server,
    live_server,
    customer_a,
    owner_a,
    tmp_path,
):
    plan = PlanFactory(max_mailboxes=5)
    _key, token = create_api_key(
        Actor(owner_a),
        customer_a,
        name="example",
        access=ApiKey.Access.READ_WRITE,
        scopes=["hosting"],
    )
    script = tmp_path / "provision.py"
    script.write_text(example_script())
    env = {**os.environ, "HAVN_URL": live_server.url, "HAVN_TOKEN": token}
    done = subprocess.run(
        [sys.executable, str(script), str(customer_a.pk), str(plan.pk), "example.dk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr + celery_worker_process.log()[-3000:]
    lines = done.stdout.splitlines()
    webhotel = Webhotel.objects.get(primary_domain="example.dk")
    assert (
        lines[0] == f"webhotel example.dk is ready: id {webhotel.pk}, user {webhotel.system_user}"
    )
    assert lines[1].startswith("mailbox info@example.dk is ready, password ")
    # The operations the script waited for ran on the server (a certificate may still follow).
    waited = {"webhotel.ensure", "maildomain.ensure", "mailbox.ensure"}
    ran = dict(Operation.objects.filter(action__in=waited).values_list("action", "status"))
    assert ran == dict.fromkeys(waited, "done")
    assert Mailbox.objects.get(mail_domain__name="example.dk").local_part == "info"
    root = Path(sandbox_server.root)
    assert (root / "webhotels" / webhotel.system_user).is_dir()
    assert (root / "mail" / "example.dk" / "info").is_dir()
    # The key's last use shows (the panel reads it from here).
    assert ApiKey.objects.get(name="example").last_used_at is not None
    assert token not in done.stdout + done.stderr
