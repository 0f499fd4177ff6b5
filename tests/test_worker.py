"""Tasks through a real Celery worker process against the real Redis and PostgreSQL.

Nothing runs eagerly here: the test process publishes to Redis, a separate ``celery worker``
process (``tests/fixtures/worker.py``) consumes the message, reads the committed rows from the
test database and writes the e-mail with the file-based backend.
"""

import os
import re
import signal
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from accounts import services
from accounts.actor import Actor
from accounts.models import Membership, Role, User
from accounts.tasks import send_invitation
from infra.celery import app
from tests.factories import CustomerFactory, UserFactory
from tests.fixtures.worker import wait_for

pytestmark = pytest.mark.worker

LINK = re.compile(r"https?://\S+/password-reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)/")


def test_redelivery_settings_are_in_effect():
    """Late acks and reject-on-worker-lost: a task whose worker dies is delivered again."""
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert send_invitation.acks_late is True
    assert send_invitation.reject_on_worker_lost is True


def test_worker_process_runs_with_redelivery_settings(celery_worker_process):
    worker = celery_worker_process
    # The worker reports its configuration as set: Django settings in the CELERY_ namespace.
    conf = worker.inspect("conf", with_defaults=False)
    assert conf["SETTINGS_MODULE"] == "infra.settings_test"
    assert conf["CELERY_TASK_ACKS_LATE"] is True
    assert conf["CELERY_TASK_REJECT_ON_WORKER_LOST"] is True
    assert conf["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1
    assert "accounts.tasks.send_invitation" in worker.inspect("registered")


def test_invitation_is_sent_by_a_real_worker(celery_worker_process):
    worker = celery_worker_process
    customer = CustomerFactory()
    actor = Actor(user=UserFactory(staff_role="admin"))

    services.add_member(actor, customer, " New.Member@Example.dk ", Role.TECHNICAL)

    invited = User.objects.get(email="new.member@example.dk")
    assert Membership.objects.filter(user=invited, customer=customer).exists()
    [message] = wait_for(worker.sent_mail, 20, f"the invitation e-mail in {worker.mail_dir}")
    assert message["To"] == invited.email
    body = message.get_content()
    link = LINK.search(body)
    assert link, body
    assert force_str(urlsafe_base64_decode(link["uid"])) == str(invited.pk)
    succeeded = re.compile(r"accounts\.tasks\.send_invitation\[[\w-]+\] succeeded")
    wait_for(lambda: succeeded.search(worker.log()), 5, "the task's success in the worker log")
    assert "Traceback" not in worker.log(), worker.log()


def _parent_pid(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _lock_waiters() -> int:
    """Database sessions (the worker's) waiting for a lock in the test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("celery_worker_process", ["prefork"], indirect=True)
def test_task_is_redelivered_when_its_worker_process_dies(celery_worker_process):
    """SIGKILL the pool child mid-task: the message is requeued and runs to completion again.

    The task is held mid-run by an exclusive lock on the user table, taken in a separate
    database session, so ``send_invitation`` blocks on its first query until the test lets go.
    Without ``reject_on_worker_lost`` the message would be acknowledged (lost) instead.
    """
    worker = celery_worker_process
    user = UserFactory()
    db = connection.settings_dict
    params = {"dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"]}
    params |= {"host": db["HOST"], "port": db["PORT"]}
    lock = psycopg.connect(**{k: str(v) for k, v in params.items() if v})
    try:
        lock.execute(f"LOCK TABLE {User._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        task_id = send_invitation.delay(user.pk).id

        def running_in(exclude: int | None = None):
            """The pid of the pool process running the task (another than ``exclude``)."""
            worker.assert_alive()
            for request in worker.inspect("active") or []:
                pid = request.get("worker_pid")
                if request["id"] == task_id and pid and pid != exclude and _lock_waiters():
                    return pid
            return None

        first = wait_for(running_in, 20, "the task to block in a pool process", interval=0.2)
        assert _parent_pid(first) == worker.proc.pid  # our worker's child: safe to kill
        os.kill(first, signal.SIGKILL)

        second = wait_for(
            lambda: running_in(exclude=first), 20, "the redelivered task", interval=0.2
        )
        assert second != first
        assert worker.sent_mail() == []
        lock.rollback()  # let the redelivered task go on
    finally:
        lock.close()

    [message] = wait_for(worker.sent_mail, 20, f"the invitation e-mail in {worker.mail_dir}")
    assert message["To"] == user.email
    log = worker.log()
    assert "WorkerLostError" in log, log
    assert f"send_invitation[{task_id}] succeeded" in log, log
