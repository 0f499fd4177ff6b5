from celery import shared_task

from hosting import provisioning
from hosting.models import Operation
from hosting.services import domains, operations


@shared_task(bind=True, max_retries=6)
def run_operation(self, operation_id: int) -> str:
    """Idempotent: a finished operation is skipped; the agent's actions ensure a state."""
    status = provisioning.execute(operation_id)
    if status == Operation.Status.PENDING:  # the server could not be reached
        if self.request.retries >= self.max_retries:
            operations.give_up(operation_id)
            return Operation.Status.FAILED
        raise self.retry(countdown=min(2**self.request.retries * 5, 300))
    return status


@shared_task
def resume_stale_operations() -> int:
    return operations.resume_stale()


@shared_task
def renew_certificates() -> int:
    """Daily: certificates within 30 days of expiry are issued anew."""
    return provisioning.renew_due_certificates()


@shared_task
def renew_or_expire_domains() -> list[int]:
    return list(domains.renew_or_expire_domains())
