"""The API benchmark's data (bench/api_bench.py), made with bulk inserts in a few seconds.

Customers with an owner each; webhotels on ten servers, each with its primary domain, a hosted
zone and ten DNS records. One customer, a web agency, holds ``share`` of the webhotels (and so
of the domains and records), interleaved with everyone else's rows as years of sign-ups would
leave them; its first zone is large (``big_zone`` records), for the list filtered by domain. Its
owner has ``keys`` API keys, made by the real service, which the load generator takes in turn, and
so has a staff administrator (staff keys, which see every customer's rows).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import Customer, Membership, Role, User
from accounts.services import create_api_key
from hosting.models import DnsRecord, DnsZone, Domain, Plan, Server, Webhotel

BATCH = 5000


@dataclass(frozen=True)
class Scale:
    customers: int
    webhotels: int
    records_per_zone: int = 10
    share: float = 0.02
    big_zone: int = 200
    keys: int = 100


FULL = Scale(customers=1000, webhotels=10_000)
QUICK = Scale(customers=100, webhotels=1000, share=0.1)  # 100 webhotels: two pages


def _zone_records(zone: DnsZone, domain: str, n: int) -> list[DnsRecord]:
    """What a webhotel's zone usually holds, plus hosts up to ``n`` records."""
    ip = f"192.0.2.{zone.pk % 250 + 1}"
    rows = [
        ("@", "A", ip, None),
        ("@", "AAAA", f"2001:db8::{zone.pk % 65000:x}", None),
        ("www", "CNAME", f"{domain}.", None),
        ("mail", "A", ip, None),
        ("@", "MX", f"mail.{domain}.", 10),
        ("@", "TXT", '"v=spf1 mx -all"', None),
        ("_dmarc", "TXT", '"v=DMARC1; p=quarantine"', None),
        ("autodiscover", "CNAME", "mail.havn.example.", None),
        ("ftp", "CNAME", f"{domain}.", None),
        ("@", "CAA", '0 issue "letsencrypt.org"', None),
    ]
    rows += [(f"host{i}", "A", f"198.51.100.{i % 250 + 1}", None) for i in range(n - len(rows))]
    return [
        DnsRecord(zone=zone, name=name, type=kind, value=value, priority=priority)
        for name, kind, value, priority in rows[:n]
    ]


def seed(scale: Scale) -> dict:
    """Fill the (migrated, empty) database; returns what the load generator needs."""
    started = time.monotonic()
    rng = random.Random(7)
    now = timezone.now()
    password = make_password(None)  # unusable: nobody logs in with a password here
    plans = Plan.objects.bulk_create(
        Plan(name=name, disk_quota_mb=mb, max_databases=db, max_mailboxes=mb // 1000, price_dkk=p)
        for name, mb, db, p in [
            ("Lille", 5_000, 1, Decimal("29.00")),
            ("Mellem", 20_000, 5, Decimal("79.00")),
            ("Stor", 100_000, 25, Decimal("199.00")),
        ]
    )
    servers = Server.objects.bulk_create(
        Server(name=f"web{i:02d}", address=f"10.0.0.{i}", profile="debian", capacity=2000)
        for i in range(1, 11)
    )
    customers = Customer.objects.bulk_create(
        (
            Customer(
                kind="company",
                cvr=f"{10_000_000 + i}",
                name=f"Kunde {i} ApS",
                address=f"Vestergade {i % 200 + 1}",
                postal_code="8000",
                city="Aarhus C",
                email=f"kunde{i}@bench.example",
            )
            for i in range(scale.customers)
        ),
        batch_size=BATCH,
    )
    users = User.objects.bulk_create(
        (
            User(email=f"owner{i}@bench.example", full_name=f"Ejer {i}", password=password)
            for i in range(scale.customers)
        ),
        batch_size=BATCH,
    )
    Membership.objects.bulk_create(
        (
            Membership(user=u, customer=c, role=Role.OWNER)
            for u, c in zip(users, customers, strict=True)
        ),
        batch_size=BATCH,
    )
    agency = customers[0]

    # The agency's share first, the rest spread evenly; then shuffled, as sign-ups interleave.
    mine = int(scale.webhotels * scale.share)
    holders = [agency] * mine + [
        customers[1 + i % (scale.customers - 1)] for i in range(scale.webhotels - mine)
    ]
    rng.shuffle(holders)
    webhotels = Webhotel.objects.bulk_create(
        (
            Webhotel(
                customer=holder,
                server=servers[i % len(servers)],
                plan=plans[i % len(plans)],
                primary_domain=f"site{i}.dk",
                system_user=f"wh{i:05d}",
                status="active",
                disk_used_mb=rng.randrange(50, 5000),
            )
            for i, holder in enumerate(holders)
        ),
        batch_size=BATCH,
    )
    domains = Domain.objects.bulk_create(
        (
            Domain(
                customer_id=w.customer_id,
                name=w.primary_domain,
                status="active",
                expires_at=now + timedelta(days=rng.randrange(1, 365)),
                name_servers=["ns1.havn.example", "ns2.havn.example"],
            )
            for w in webhotels
        ),
        batch_size=BATCH,
    )
    zones = DnsZone.objects.bulk_create((DnsZone(domain=d) for d in domains), batch_size=BATCH)
    big = next(z for z in zones if z.domain.customer_id == agency.pk)
    records = 0
    for start in range(0, len(zones), 500):
        batch = []
        for zone in zones[start : start + 500]:
            n = scale.big_zone if zone is big else scale.records_per_zone
            batch += _zone_records(zone, zone.domain.name, n)
        records += len(DnsRecord.objects.bulk_create(batch, batch_size=BATCH))

    staff = User.objects.create(email="staff@bench.example", password=password, staff_role="admin")
    staff_tokens = [
        create_api_key(Actor(staff), None, name=f"staff {i}")[1] for i in range(scale.keys)
    ]
    owner = users[0]
    tokens = [create_api_key(Actor(owner), agency, name=f"bench {i}")[1] for i in range(scale.keys)]
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # the statistics a live database has
    agency_webhotels = [w.pk for w in webhotels if w.customer_id == agency.pk]
    agency_records = list(
        DnsRecord.objects.filter(zone__domain__customer=agency)
        .exclude(zone=big)
        .values_list("pk", flat=True)
    )
    return {
        "seconds": round(time.monotonic() - started, 1),
        "counts": {
            "customers": len(customers),
            "users": len(users),
            "webhotels": len(webhotels),
            "domains": len(domains),
            "dns_zones": len(zones),
            "dns_records": records,
            "api_keys": scale.keys,
        },
        "agency": {
            "customer_id": agency.pk,
            "webhotels": len(agency_webhotels),
            "domains": sum(1 for d in domains if d.customer_id == agency.pk),
            "dns_records": len(agency_records) + scale.big_zone,
            "big_zone_domain_id": big.domain_id,
            "big_zone_records": scale.big_zone,
        },
        "tokens": tokens,
        "staff_tokens": staff_tokens,
        "webhotel_ids": agency_webhotels,
        "record_ids": rng.sample(agency_records, min(500, len(agency_records))),
    }
