"""Each customer's repository in the object store, and its keys.

A customer's repository lives under ``customers/<customer uuid>/``; the provider's (server
configuration) under ``provider/``. Its keys are random, wrapped by the platform key, kept in the
database and, so that the store alone can be read back after losing the database, under
``keys/<repository>.key`` — a prefix that is never object-locked.
"""

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts import audit
from accounts.models import Customer
from accounts.permissions import require
from backups.engine.crypto import RepoKeys
from backups.engine.errors import RepositoryNotFound
from backups.engine.repository import Repository
from backups.models import RepositoryKey
from infra import keywrap, objectstore


class KeysDestroyed(Exception):
    """The repository's keys were destroyed (the customer's data was erased)."""


def prefix_for(customer: Customer | None) -> str:
    return f"customers/{customer.uuid}" if customer else "provider"


def _key_row(customer: Customer | None) -> RepositoryKey:
    rows = (
        RepositoryKey.objects.filter(customer=customer)
        if customer
        else (RepositoryKey.objects.filter(customer__isnull=True))
    )
    row = rows.first()
    if row is None:
        try:
            with transaction.atomic():
                row = RepositoryKey.objects.create(
                    customer=customer, wrapped=keywrap.wrap(RepoKeys.generate().to_bytes())
                )
        except IntegrityError:  # a concurrent first backup created it
            row = rows.get()
        store = objectstore.default_store()
        store.put(f"keys/{prefix_for(customer).replace('/', '-')}.key", row.wrapped.encode())
    return row


def open_repository(customer: Customer | None, store=None) -> Repository:
    """The customer's repository, created on first use."""
    row = _key_row(customer)
    if row.destroyed_at is not None:
        raise KeysDestroyed(f"The backup keys of {customer or 'the provider'} were destroyed.")
    keys = RepoKeys.from_bytes(keywrap.unwrap(row.wrapped))
    repo = Repository(store or objectstore.default_store(), prefix_for(customer), keys)
    try:
        return repo.open()
    except RepositoryNotFound:
        return repo.init()


def rewrap_keys(actor) -> int:
    """Re-wrap every repository key with the current platform key (after a rotation)."""
    if actor.is_authenticated:  # the management command acts as the system
        require(actor, "users.manage")
    changed = 0
    store = objectstore.default_store()
    for row in RepositoryKey.objects.filter(destroyed_at__isnull=True).select_related("customer"):
        wrapped = keywrap.rewrap(row.wrapped)
        if wrapped != row.wrapped:
            RepositoryKey.objects.filter(pk=row.pk).update(wrapped=wrapped)
            store.put(f"keys/{prefix_for(row.customer).replace('/', '-')}.key", wrapped.encode())
            changed += 1
    audit.record(
        actor, "backup.keys_rewrapped", target=settings.HAVN_PLATFORM_KEY_ID, repositories=changed
    )
    return changed
