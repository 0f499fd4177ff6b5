"""What the backups app holds about a customer (the data inventory, docs/privacy.md): the
encrypted repository in the object store with its keys and catalogue, and restore orders.

Erasure is crypto-shredding first: the repository key is wiped from the database and its copy
under ``keys/`` deleted, so every pack, index and snapshot of the customer becomes unreadable at
once, wherever a copy of it lies. The objects themselves are then deleted as soon as their
object-lock retention allows; a locked object stays, and the purge retries it when the lock ends.
"""

from datetime import timedelta

from django.db import transaction
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer
from accounts.privacy.closure import account_closing
from accounts.privacy.purge import Deferred
from accounts.privacy.registry import Category, register
from backups.models import (
    BackupPolicy,
    BackupRun,
    ContentExport,
    RepositoryKey,
    RestoreClaim,
    RestoreItem,
    RestoreOrder,
    Snapshot,
)
from backups.services import restores
from backups.services.repositories import prefix_for
from infra import objectstore

CONTRACT = _("GDPR art. 6(1)(b): the contract")
# When the store does not say how long a locked object is kept, try again after this.
RETRY_UNKNOWN_LOCK = timedelta(days=1)


@receiver(account_closing, dispatch_uid="backups.cancel_on_closure")
def cancel_on_closure(sender, actor, customer, **kwargs):
    """Restore orders that have not run are cancelled (an invoiced one credited), so a closed
    account is not charged for work it will not get."""
    cancelled = []
    for order in RestoreOrder.objects.filter(customer=customer, status__in=restores.OPEN):
        restores.cancel(actor, order)
        cancelled.append(order.pk)
    return "backups", {"cancelled_orders": cancelled}


# --- the repository -------------------------------------------------------------------------------


def key_object(customer: Customer) -> str:
    return f"keys/{prefix_for(customer).replace('/', '-')}.key"


def export_backups(customer: Customer) -> dict:
    policy = BackupPolicy.objects.filter(customer=customer).first()
    return {
        "repository": prefix_for(customer),
        "policy": None
        if policy is None
        else {
            "keep_daily": policy.keep_daily,
            "keep_weekly": policy.keep_weekly,
            "keep_monthly": policy.keep_monthly,
        },
        "snapshots": list(
            Snapshot.objects.filter(customer=customer).values(
                "snapshot_id", "kind", "item_name", "server_name", "taken_at", "files", "size"
            )
        ),
        "runs": list(
            BackupRun.objects.filter(customer=customer).values(
                "night", "kind", "item_name", "status", "files", "bytes_read", "finished_at"
            )
        ),
    }


def erase_backup_keys(customer: Customer, purge) -> None:
    """Crypto-shredding: wipe the wrapped key and mark it destroyed (the row stays, so the
    repository reports "erased" instead of starting afresh), delete the key's copy in the store,
    and drop the catalogue."""
    with transaction.atomic():
        row, _created = RepositoryKey.objects.get_or_create(
            customer=customer, defaults={"wrapped": "", "destroyed_at": purge.now}
        )
        RepositoryKey.objects.filter(pk=row.pk, destroyed_at__isnull=True).update(
            destroyed_at=purge.now
        )
        RepositoryKey.objects.filter(pk=row.pk).update(wrapped="")
        Snapshot.objects.filter(customer=customer).delete()
        BackupRun.objects.filter(customer=customer).delete()
        BackupPolicy.objects.filter(customer=customer).delete()
    objectstore.default_store().delete(key_object(customer))


def collect_objects(customer: Customer, purge) -> None:
    """Delete the customer's objects (repository and restore archives); those still under object
    lock stay and the step is deferred until the latest lock ends."""
    store = objectstore.default_store()
    keys = [
        info.key
        for prefix in (f"{prefix_for(customer)}/", f"downloads/{customer.uuid}/")
        for info in store.list(prefix)
    ]
    locked = store.delete_many(keys)
    if locked:
        dates = [exc.until for exc in locked if exc.until is not None]
        until = max(dates) if len(dates) == len(locked) else purge.now + RETRY_UNKNOWN_LOCK
        raise Deferred(max(until, purge.now), f"{len(locked)} objects under object lock")


# --- restore orders -------------------------------------------------------------------------------


def export_restores(customer: Customer) -> list[dict]:
    orders = RestoreOrder.objects.filter(customer=customer).prefetch_related("items")
    return [
        {
            "uuid": order.uuid,
            "scope": order.scope,
            "destination": order.destination,
            "status": order.status,
            "created_at": order.created_at,
            "finished_at": order.finished_at,
            "gross": order.gross,
            "invoice": order.invoice.number if order.invoice_id else None,
            "items": [
                {
                    "kind": item.kind,
                    "item_name": item.item_name,
                    "taken_at": item.taken_at,
                    "paths": item.paths,
                    "status": item.status,
                }
                for item in order.items.all()
            ],
        }
        for order in orders
    ]


def erase_restores(customer: Customer, purge) -> None:
    """The orders go; their invoices are kept on their own (accounts.invoices)."""
    RestoreOrder.objects.filter(customer=customer).delete()


register(
    Category(
        key="backups.keys",
        label=_("Backups: keys and catalogue"),
        purpose=_("Back up the customer's data every night and restore it on request."),
        legal_basis=CONTRACT,
        retention=_(
            "Snapshots by the backup policy; at the purge the keys are destroyed, which makes "
            "every copy unreadable at once."
        ),
        retention_rule="personal_data",
        models=(RepositoryKey, Snapshot, BackupRun, BackupPolicy),
        export=export_backups,
        erase=erase_backup_keys,
        erase_order=30,
    )
)
register(
    Category(
        key="backups.objects",
        label=_("Backups: encrypted objects in the store"),
        purpose=_("Back up the customer's data every night and restore it on request."),
        legal_basis=CONTRACT,
        retention=_(
            "Deleted right after the keys, or when the object lock "
            "(HAVN_BACKUP_RETENTION_LOCK_DAYS) ends."
        ),
        stores=("object-store",),
        erase=collect_objects,
        erase_order=35,
    )
)
register(
    Category(
        key="backups.restores",
        label=_("Restore orders"),
        purpose=_("Carry out and bill the restores the customer orders."),
        legal_basis=CONTRACT,
        retention=_("Until the purge; their invoices are kept as bookkeeping records."),
        models=(RestoreOrder, RestoreItem, RestoreClaim),
        export=export_restores,
        erase=erase_restores,
        erase_order=32,
    )
)


# --- content exports ------------------------------------------------------------------------------


def export_content_exports(customer: Customer) -> list[dict]:
    """What was downloaded and when; the archives themselves are the customer's content."""
    return list(
        ContentExport.objects.filter(customer=customer).values(
            "uuid", "status", "created_at", "ready_at", "expires_at", "size", "sha256", "items"
        )
    )


def erase_content_exports(customer: Customer, purge) -> None:
    store = objectstore.default_store()
    for info in list(store.list(f"exports/{customer.uuid}/content-")):
        store.delete(info.key)
    ContentExport.objects.filter(customer=customer).delete()


register(
    Category(
        key="backups.content_exports",
        label=_("Content exports"),
        purpose=_(
            "Let the customer download their website files, mailboxes and databases before leaving."
        ),
        legal_basis=CONTRACT,
        retention=_("The archive for 7 days; the record until the purge."),
        models=(ContentExport,),
        stores=("object-store",),
        export=export_content_exports,
        erase=erase_content_exports,
        erase_order=44,
    )
)
