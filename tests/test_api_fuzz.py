"""Schemathesis against the live OpenAPI document (``/api/v1/schema/``), in process (through
the WSGI application) on the real PostgreSQL test database.

Every operation is called as two callers, over a customer with one of everything
(tests/api_world.py): the customer's owner through a ``read_write`` API key, and a staff
administrator through a staff key. ``test_fuzz`` sends, per operation, the document's examples
and then generated valid and invalid requests; ``test_stateful`` chains requests along the links
schemathesis infers between operations (an id that a POST or a list answers, used by the next
GET, PATCH, DELETE or action), as drf-spectacular writes no OpenAPI links itself. No answer may
be a server error, and each must match the document: status, content type, headers, body.

Settings, chosen to keep the file near two minutes on two cores (``-n 2``)
- ``MAX_EXAMPLES`` (10) valid and as many invalid requests per operation and caller;
  ``SCENARIOS`` (50) chains of up to ``STEPS`` (6) requests per caller. Derandomized (the same
  requests on every run, so a failure reproduces), no shrinking, no deadline, no example
  database. ``HAVN_FUZZ_EXAMPLES`` and ``HAVN_FUZZ_SCENARIOS`` dig deeper.
- One test per caller and resource family (api/scopes.py), so a failure names its family and
  the tests spread over the workers.
- Path ids and body or query references (``customer``, ``webhotel`` …) are the world's rows
  80% of the time (schemathesis dictionaries), so that requests reach real objects.
- The rate limit is raised for the run.

State
- Each test runs in pytest-django's ``db`` transaction, which is rolled back at its end. Each
  request of ``test_fuzz`` runs in a savepoint rolled back after it, so that every request sees
  the same world (a DELETE does not take the row from the requests after it) and a request that
  breaks its transaction cannot break the next. A chain of ``test_stateful`` keeps its requests
  until it ends, then rolls them all back. Nothing ever commits, so no ``transaction.on_commit``
  work runs: no Celery task, no SSH to a server, no webhook delivery. Servers are kept on the
  local transport and webhook URLs name an IP address, so that adding or moving a server does
  not contact it and checking a URL looks no host name up.
- Not fuzzed: ``GET /api/v1/schema/`` (the document itself, slow to build on every request;
  tests/test_api_schema.py checks it).
"""

import copy
import os
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.throttling import SimpleRateThrottle
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import scopes
from backups.models import ServerRecovery
from infra import objectstore
from infra.wsgi import application
from tests.api_world import PATH_ROWS, REFERENCES, World, build_world

MAX_EXAMPLES = int(os.environ.get("HAVN_FUZZ_EXAMPLES", "10"))
# How often a path id or a body reference is one of the world's rows (else: generated).
REAL_ROWS = 0.8
SCENARIOS = int(os.environ.get("HAVN_FUZZ_SCENARIOS", "50"))
STEPS = 6

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def world(db, settings, tmp_path):
    yield build_world(settings, tmp_path / "store")
    objectstore.default_store.cache_clear()


@pytest.fixture
def in_process(monkeypatch):
    """Requests through the WSGI handler inside the test's transaction: Django must not close
    the connection at the end of a request (as its test client does), and the rate limit is
    raised for the run."""
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon": "100000/min", "user": "100000/min"}
    )
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def fuzz_config(world: World) -> schemathesis.Config:
    """Path ids and body or query references are the world's rows, most of the time."""
    dictionaries = {name: {"values": [row.pk]} for name, row in world.rows.items()}
    dictionaries["transport"] = {"values": ["local"]}
    dictionaries["url"] = {"values": ["https://93.184.216.34/havn", "http://[2606:2800::1]:8080/"]}
    references = {
        f"{where}.{field}": {"dictionary": row, "probability": REAL_ROWS}
        for field, row in REFERENCES.items()
        for where in ("body", "query")
    }
    # Servers stay on the local transport, and webhook URLs name an address rather than a host
    # to look up: no request reaches the network.
    references["body.transport"] = {"dictionary": "transport", "probability": 1.0}
    references["body.url"] = {"dictionary": "url", "probability": 1.0}
    operations = [
        {
            "include-path-regex": f"^/api/v1/{segment}/",
            "parameters": {"path.id": {"dictionary": row, "probability": REAL_ROWS}},
        }
        for segment, row in PATH_ROWS.items()
    ]
    return schemathesis.Config.from_dict(
        {"dictionaries": dictionaries, "parameters": references, "operations": operations}
    )


@pytest.fixture(scope="module")
def document(django_db_setup, django_db_blocker) -> dict:
    """The live document, fetched once (nothing it does to the database is kept)."""
    with django_db_blocker.unblock(), transaction.atomic():
        response = Client().get("/api/v1/schema/?format=json")
        transaction.set_rollback(True)
    assert response.status_code == 200
    return response.json()


def load(document: dict, world: World):
    """The document without itself (see test_every_operation_is_fuzzed), calling the app in
    this process."""
    document = copy.deepcopy(document)
    del document["paths"]["/api/v1/schema/"]
    schema = schemathesis.openapi.from_dict(document, config=fuzz_config(world))
    schema.app = application
    return schema


def operations_of(document: dict, world: World, family: str) -> list:
    found = [result.ok() for result in load(document, world).get_all_operations()]
    return [op for op in found if scopes.family_of(op.path) == family]


def call(case, token: str, statuses: Counter) -> None:
    """One request in a savepoint that is rolled back after it (see the module docstring)."""
    headers = {"Authorization": f"Bearer {token}"}
    with transaction.atomic():
        response = case.call(headers=headers)
        transaction.set_rollback(True)
    statuses[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)


def fuzz_operation(operation, token: str, statuses: Counter) -> list[str]:
    """The document's examples, then generated valid and invalid requests; the first failure
    of each, if any."""
    strategies = [
        *operation.get_strategies_from_examples(),
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    failures = []
    for strategy in strategies:

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(case=strategy)
        def run(case):
            call(case, token, statuses)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # reported; the next strategy runs
            failures.append(f"{operation.label}: {exc}")
    return failures


FAMILIES = sorted(set(scopes.FAMILIES.values()))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("caller", ["owner", "staff"])
def test_fuzz(document, world, in_process, caller, family):
    token = world.owner_token if caller == "owner" else world.staff_token
    failures, statuses = [], {}
    for operation in operations_of(document, world, family):
        statuses[operation.label] = Counter()
        failures += fuzz_operation(operation, token, statuses[operation.label])
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
    # The requests got through: the key worked and the world's rows were found.
    assert any(200 <= code < 300 for counts in statuses.values() for code in counts), statuses
    assert all(set(counts) != {401} for counts in statuses.values()), statuses


def test_every_operation_is_fuzzed(document):
    """Each operation is in a family (api/scopes.py); the only one outside, the document
    itself, is checked by tests/test_api_schema.py (it is slow to build on every request)."""
    unfuzzed = {path for path in document["paths"] if scopes.family_of(path) is None}
    assert unfuzzed == {"/api/v1/schema/"}


def scenarios(schema, token: str):
    """Stateful: chains of requests along the links schemathesis infers between operations
    (an id a POST or GET answers, used by the next request). A scenario's requests build on
    each other; its end rolls them all back."""

    class Scenario(schema.as_state_machine()):
        def setup(self):
            self.transaction = transaction.atomic()
            self.transaction.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self.transaction.__exit__(None, None, None)

        def call(self, case, **kwargs):
            with transaction.atomic():  # a request that fails leaves the scenario's rows intact
                return case.call(**kwargs)

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {token}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, headers=kwargs["headers"])

    return Scenario


@pytest.mark.parametrize("caller", ["owner", "staff"])
def test_stateful(document, world, in_process, caller):
    token = world.owner_token if caller == "owner" else world.staff_token
    scenarios(load(document, world), token).run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )


# --- What the fuzzing found, pinned down ----------------------------------------------------------


def get(world, url, token=None):
    return Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token or world.owner_token}")


def test_the_zone_of_a_malformed_domain_id_is_a_404(world):
    answer = get(world, "/api/v1/domains/J%F0%96%A6%B2/zone")
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/problem+json"


def test_audit_events_since_takes_any_iso_offset(world):
    # ISO 8601 allows offsets PostgreSQL does not store; the filter compares in UTC.
    assert get(world, "/api/v1/audit-events?since=3896-10-14T01:05:24-20:05").status_code == 200
    refused = get(world, "/api/v1/audit-events?since=9999-12-31T23:59:59-15:00")
    assert refused.status_code == 400
    assert "since" in refused.json()["errors"]


def test_a_snapshot_folder_holding_a_nul_is_a_400(world):
    answer = get(world, f"/api/v1/snapshots/{world.rows['snapshot'].pk}/entries?path=a%00b")
    assert answer.status_code == 400
    assert "path" in answer.json()["errors"]


def test_a_recovery_to_before_any_backup_is_refused(world):
    body = {"server": world.rows["server"].pk, "at": "0640-05-17T09:27:53+00:50"}
    answer = Client().post(
        "/api/v1/server-recoveries",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.staff_token}",
    )
    assert answer.status_code == 400
    assert "at" in answer.json()["errors"]
    assert not ServerRecovery.objects.exclude(pk=world.rows["recovery"].pk).exists()


def test_a_deletion_answers_202_with_its_operation_as_documented(world, document):
    database = world.rows["database"]
    answer = Client().delete(
        f"/api/v1/databases/{database.pk}", HTTP_AUTHORIZATION=f"Bearer {world.owner_token}"
    )
    assert answer.status_code == 202
    assert answer.json()["id"] == database.pk and "id" in answer.json()["operation"]
    documented = document["paths"]["/api/v1/databases/{id}"]["delete"]["responses"]
    assert documented["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DeletionAccepted"
    }
    assert "204" not in documented
