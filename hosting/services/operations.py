"""Operations: server-side work recorded as a row, carried out by a Celery task.

A service changes the database (the desired state) and enqueues an operation on commit; the task
runs the idempotent agent action that makes the server match, then completes the row's state. A
failed operation keeps its reason and can be retried; since every action ensures a state, a retry
reconciles the server with the database whatever the earlier attempt left behind.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit, webhooks
from accounts.actor import Actor
from accounts.permissions import require
from hosting.models import Operation, Server


def enqueue(
    actor: Actor, *, server: Server, customer, action: str, target: str, params: dict
) -> Operation:
    """Record an operation and start it when the surrounding transaction commits."""
    from hosting.tasks import run_operation

    operation = Operation.objects.create(
        server=server,
        customer=customer,
        action=action,
        target=target,
        params=params,
        created_by=actor.user if actor.is_authenticated else None,
    )
    transaction.on_commit(lambda: run_operation.delay(operation.pk))
    return operation


def retry_operation(actor: Actor, operation: Operation) -> Operation:
    """Run a failed operation again."""
    if operation.customer is not None:
        require(actor, "hosting.manage", operation.customer)
    else:
        require(actor, "servers.manage")
    with transaction.atomic():
        claimed = Operation.objects.filter(pk=operation.pk, status=Operation.Status.FAILED).update(
            status=Operation.Status.PENDING, error=""
        )
        if not claimed:
            raise ValidationError(_("Only a failed operation can be retried."))
        audit.record(
            actor,
            "operation.retried",
            customer=operation.customer,
            target=f"{operation.action} {operation.target}",
        )
        from hosting.tasks import run_operation

        transaction.on_commit(lambda: run_operation.delay(operation.pk))
    operation.refresh_from_db()
    return operation


# A running operation whose worker has said nothing for this long is taken to be lost.
STALE_AFTER = timedelta(minutes=10)


def claim(operation_id: int) -> Operation | None:
    """Mark a pending operation running; None when another worker has it or it is finished."""
    now = timezone.now()
    claimed = Operation.objects.filter(
        Q(status=Operation.Status.PENDING)
        | Q(status=Operation.Status.RUNNING, started_at__lt=now - STALE_AFTER),
        pk=operation_id,
    ).update(status=Operation.Status.RUNNING, started_at=now)
    if not claimed:
        return None
    operation = Operation.objects.select_related("server").get(pk=operation_id)
    Operation.objects.filter(pk=operation_id).update(attempts=operation.attempts + 1)
    return operation


def give_up(operation_id: int) -> None:
    """A transient error outlasted the retries: fail the operation with its last error."""
    if Operation.objects.filter(pk=operation_id, status=Operation.Status.PENDING).update(
        status=Operation.Status.FAILED, finished_at=timezone.now()
    ):
        operation = Operation.objects.get(pk=operation_id)
        _announce(operation, Operation.Status.FAILED, operation.error)


def resume_stale() -> int:
    """Enqueue again the operations whose task was lost (a dead worker, a lost message)."""
    from hosting.tasks import run_operation

    cutoff = timezone.now() - STALE_AFTER
    stale = list(
        Operation.objects.filter(
            Q(status=Operation.Status.PENDING, created_at__lt=cutoff)
            | Q(status=Operation.Status.RUNNING, started_at__lt=cutoff)
        ).values_list("pk", flat=True)
    )
    for pk in stale:
        run_operation.delay(pk)
    return len(stale)


def finish(operation: Operation, *, error: str = "", retry_later: bool = False) -> None:
    """Record the outcome; ``retry_later`` puts it back to pending (after a transient error)."""
    if retry_later:
        status = Operation.Status.PENDING
    else:
        status = Operation.Status.FAILED if error else Operation.Status.DONE
    Operation.objects.filter(pk=operation.pk).update(
        status=status, error=error[:2000], finished_at=None if retry_later else timezone.now()
    )
    if not retry_later:
        _announce(operation, status, error)


def _announce(operation: Operation, status: str, error: str) -> None:
    """The customer's webhooks hear that the operation finished (``operation.done``/``failed``)."""
    webhooks.emit(
        operation.customer_id,
        f"operation.{status}",
        {
            "operation": {
                "id": operation.pk,
                "action": operation.action,
                "target": operation.target,
                "status": status,
                "error": error[:2000],
            }
        },
    )
