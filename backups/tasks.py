from celery import shared_task

from backups.models import BackupRun
from backups.services import content_export, restores, runs

UNREACHABLE_RETRY_SECONDS = 60  # a run whose server did not answer tries again


@shared_task(bind=True, max_retries=30)
def run_backup(self, run_id: int) -> str:
    """Idempotent: the run is claimed once; a retried or duplicate task finds it taken. A run
    with no free slot ends the task (``waiting``): the next dispatch sends it again."""
    status = runs.execute(run_id)
    if status not in (runs.WAITING, "skipped"):
        runs.dispatch()  # this run's slots are free: the next may start
    if status == BackupRun.Status.QUEUED:  # unreachable server: later, a bounded number of times
        if self.request.retries >= self.max_retries:
            runs.give_up(run_id)
            return BackupRun.Status.FAILED
        raise self.retry(countdown=UNREACHABLE_RETRY_SECONDS)
    return status


@shared_task
def plan_backups() -> int:
    """Every few minutes: resume runs whose worker died, create the runs of items whose backup
    window is open, and send queued runs as the caps have room (``runs.dispatch``) — also the
    safety net for a message lost on the way."""
    runs.resume_stale()
    return len(runs.plan_night())


@shared_task
def report_backups() -> int:
    """Hourly: tell staff about failed runs and missed windows."""
    return runs.report_problems()


@shared_task
def run_restore_item(item_id: int) -> str:
    """Exactly once per item: the claim row turns a second delivery into a no-op."""
    return restores.execute_item(item_id)


@shared_task
def sweep_restores() -> int:
    """Hourly: fail restore items and content exports whose worker died, and delete archives
    (restores and content exports) whose time is up."""
    return restores.fail_stale() + restores.expire_archives() + content_export.sweep()


@shared_task
def build_content_export(export_id: int) -> str:
    """Once per export: the export is claimed, so a second delivery is a no-op."""
    return content_export.build_content_export(export_id)
