"""A customer with one of everything, for calling every API operation on real rows: the schema
checks (tests/test_api_schema.py) and the fuzzing (tests/test_api_fuzz.py).

The rows come from the tenancy harness (tests/tenancy.py ``_hosting_of``), made consistent enough
that the happy paths answer: the data export's archive and the snapshot are in the object store
(a local folder), the closure was reopened (the customer is active). Some rows are left the way
a user who left the customer leaves them (no ``recorded_by``, ``accepted_by`` …), so that the
nulls a schema must allow show up in the answers.
"""

import io
import zipfile
from dataclasses import dataclass

from django.utils import timezone

from accounts.actor import Actor
from accounts.models import (
    AccountClosure,
    ApiKey,
    AuditEvent,
    ConsentRecord,
    DpaAcceptance,
    DpaVersion,
    Membership,
    Role,
)
from accounts.services import create_api_key
from backups.engine.snapshot import Entry
from backups.services.repositories import open_repository
from infra import objectstore
from tests.factories import CustomerFactory, MembershipFactory, UserFactory
from tests.tenancy import _hosting_of

# The first path segment after /api/v1/ -> the row its {id} names.
PATH_ROWS = {
    "customers": "customer",
    "memberships": "membership",
    "api-keys": "key",
    "audit-events": "auditevent",
    "webhotels": "webhotel",
    "databases": "database",
    "mail-domains": "maildomain",
    "mailboxes": "mailbox",
    "aliases": "alias",
    "operations": "operation",
    "domains": "domain",
    "dns-records": "record",
    "certificates": "certificate",
    "identity-verifications": "verification",
    "plans": "plan",
    "servers": "server",
    "snapshots": "snapshot",
    "backup-runs": "backuprun",
    "invoices": "invoice",
    "restore-orders": "restoreorder",
    "server-recoveries": "recovery",
    "exports": "dataexport",
    "content-exports": "contentexport",
    "closures": "closure",
    "erasure-receipts": "receipt",
    "webhooks": "webhook",
    "support-grants": "supportgrant",
    "processing-restrictions": "customer",
    "data-requests": "datarequest",
    "dpa-versions": "dpaversion",
}

# Body and query fields that name a row -> the row.
REFERENCES = {
    "customer": "customer",
    "webhotel": "webhotel",
    "target_webhotel": "webhotel",
    "mail_domain": "maildomain",
    "domain": "domain",
    "plan": "plan",
    "server": "server",
    "replacement": "server",
    "item_id": "webhotel",
    "closure": "closure",
}


@dataclass
class World:
    rows: dict[str, object]  # name -> row
    owner_token: str  # the customer's owner, read_write
    staff_token: str  # a staff administrator's staff key, read_write

    def path_of(self, route: str) -> str:
        """``route`` with its ``{id}`` filled in with the world's row."""
        segment = route.removeprefix("/api/v1/").split("/", 1)[0]
        if "{id}" not in route:
            return route
        return route.replace("{id}", str(self.rows[PATH_ROWS[segment]].pk))


def build_world(settings, folder) -> World:
    """The world, with the object store in ``folder`` (pytest-django's ``settings`` changed;
    call ``objectstore.default_store.cache_clear()`` when done)."""
    settings.HAVN_OBJECTSTORE_URL = f"file://{folder}"
    objectstore.default_store.cache_clear()
    customer = CustomerFactory(name="Alfa ApS", kind="company", cvr="10150817")
    owner = MembershipFactory(customer=customer, role=Role.OWNER).user
    rows = _hosting_of(customer)
    key, owner_token = create_api_key(
        Actor(owner), customer, name="owner's", access=ApiKey.Access.READ_WRITE
    )
    staff = UserFactory(staff_role="admin")
    _staff_key, staff_token = create_api_key(
        Actor(staff), None, name="staff's", access=ApiKey.Access.READ_WRITE
    )
    now = timezone.now()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("data.json", "{}")
    objectstore.default_store().put(rows["dataexport"].object_key, archive.getvalue())
    rows["snapshot"].snapshot_id = snapshot_of(customer, rows["webhotel"])
    rows["snapshot"].save(update_fields=["snapshot_id"])
    AccountClosure.objects.filter(pk=rows["closure"].pk).update(status="reopened", reopened_at=now)
    dpa = DpaVersion.objects.create(version="9.9", text="The agreement.", published_at=now)
    DpaAcceptance.objects.create(customer=customer, version=dpa, accepted_by=None)
    ConsentRecord.objects.create(customer=customer, purpose="marketing", given=True)
    rows.update(
        customer=customer,
        membership=Membership.objects.get(user=owner),
        key=key,
        plan=rows["webhotel"].plan,
        server=rows["webhotel"].server,
        dpaversion=dpa,
        auditevent=AuditEvent.objects.filter(customer=customer).first(),
    )
    return World(rows, owner_token, staff_token)


def snapshot_of(customer, webhotel) -> str:
    """A real snapshot of a small webhotel in the customer's repository; its id."""
    source = {"kind": "webhotel", "id": webhotel.pk, "name": webhotel.primary_domain, "host": "x"}
    content = b"<?php echo 'hej';"
    with open_repository(customer).backup(source) as session:
        session.add_dir(Entry(path="public_html", type="dir", mode=0o755))
        session.add_file(
            Entry(path="public_html/index.php", type="file", size=len(content), mode=0o644),
            io.BytesIO(content),
        )
    return session.snapshot.id
