"""Cross-customer access: every panel URL and API endpoint, as anonymous, as each role of customer
A (by session and by API key) against customer B's objects. See tests/tenancy.py."""

import json
import types

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import path, reverse
from drf_spectacular.generators import SchemaGenerator

import infra.urls
from accounts.models import Role
from tests.conftest import login
from tests.tenancy import (
    API,
    CUSTOMER,
    FOREIGN_MARKERS,
    PANEL,
    PUBLIC,
    STAFF,
    World,
    panel_url_names,
)

pytestmark = pytest.mark.django_db


def schema_operations() -> dict[str, list[str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        route: [m for m in ops if m in {"get", "post", "put", "patch", "delete"}]
        for route, ops in schema["paths"].items()
    }


def assert_no_foreign_rows(response, where):
    body = response.content.decode(errors="replace")
    for marker in FOREIGN_MARKERS:
        assert marker not in body, f"{where} shows customer B's {marker!r}"


def ordered_panel():
    # Logging out ends the session the remaining requests need, so it goes last.
    return sorted(PANEL.items(), key=lambda item: item[0] == "accounts:logout")


# --- Coverage -------------------------------------------------------------------------------------


def test_every_panel_url_has_an_entry():
    names = panel_url_names()
    assert names - PANEL.keys() == set(), "add these URLs to tests/tenancy.py PANEL"
    assert PANEL.keys() - names == set(), "these PANEL entries name no URL any more"


def test_every_api_endpoint_has_an_entry():
    routes = set(schema_operations())
    assert routes - API.keys() == set(), "add these endpoints to tests/tenancy.py API"
    assert API.keys() - routes == set(), "these API entries name no endpoint any more"


def test_a_new_url_without_an_entry_is_caught():
    urlconf = types.ModuleType("urlconf_with_a_new_page")
    urlconf.urlpatterns = [
        *infra.urls.urlpatterns,
        path("new-page/", lambda request: HttpResponse("hi"), name="new_page"),
    ]
    assert panel_url_names(urlconf) - PANEL.keys() == {"new_page"}


# --- The panel ------------------------------------------------------------------------------------


def test_panel_as_anonymous():
    world = World.build()
    before = world.snapshot_b()
    client = Client()
    for name, entry in ordered_panel():
        url = reverse(name, kwargs=entry.kwargs(world, world.b))
        for method in entry.methods:
            response = getattr(client, method)(url, entry.post_data)
            assert response.status_code < 500, f"{method} {url}"
            if entry.kind != PUBLIC:
                assert response.status_code == 302 and "/login/" in response["Location"], (
                    f"anonymous {method} {url} answered {response.status_code}"
                )
            assert_no_foreign_rows(response, f"anonymous {method} {url}")
    assert world.snapshot_b() == before


@pytest.mark.parametrize("role", Role.values)
def test_panel_as_each_role_of_another_customer(role):
    world = World.build()
    before = world.snapshot_b()
    client = login(Client(), world.a_members[role])
    for name, entry in ordered_panel():
        targets = [world.b, world.a] if entry.kind == CUSTOMER else [world.a]
        for target in targets:
            url = reverse(name, kwargs=entry.kwargs(world, target))
            for method in entry.methods:
                response = getattr(client, method)(url, entry.post_data)
                where = f"{role} of A: {method} {url}"
                assert response.status_code < 500, where
                if target == world.b:
                    assert response.status_code in (403, 404), where
                if entry.kind == STAFF:
                    assert response.status_code == 403, where
                assert_no_foreign_rows(response, where)
    assert world.snapshot_b() == before


# --- The API --------------------------------------------------------------------------------------


def api_call(client, method, url, body, multipart=False, **headers):
    if method == "post" and multipart:
        return client.post(url, body, **headers)  # the test client's default: multipart
    if method in {"post", "put", "patch"}:
        return getattr(client, method)(
            url, json.dumps(body), content_type="application/json", **headers
        )
    return getattr(client, method)(url, **headers)


def check_api(client, world, who, headers=None):
    for route, methods in schema_operations().items():
        entry = API[route]
        url = route.format(**entry.params(world))
        for method in methods:
            response = api_call(
                client, method, url, entry.body(world), entry.multipart, **(headers or {})
            )
            where = f"{who}: {method.upper()} {url}"
            assert response.status_code < 500, where
            if entry.catalog and method == "get":
                assert response.status_code == 200, where
            elif entry.params(world):
                assert response.status_code in (403, 404), where
                assert response["Content-Type"] == "application/problem+json", where
            elif method == "post":
                assert response.status_code in (403, 404), where
            assert_no_foreign_rows(response, where)


def test_api_as_anonymous():
    world = World.build()
    client = Client()
    for route, methods in schema_operations().items():
        entry = API[route]
        url = route.format(**entry.params(world))
        for method in methods:
            response = api_call(client, method, url, entry.body(world), entry.multipart)
            if entry.public:
                assert response.status_code == 200, f"anonymous {method} {url}"
                continue
            assert response.status_code in (401, 403), f"anonymous {method} {url}"
            assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("role", Role.values)
def test_api_as_each_role_of_another_customer(role):
    world = World.build()
    before = world.snapshot_b()
    check_api(login(Client(), world.a_members[role]), world, f"{role} of A (session)")
    assert world.snapshot_b() == before


def test_api_with_another_customers_key():
    world = World.build()
    before = world.snapshot_b()
    check_api(Client(), world, "A's API key", {"HTTP_AUTHORIZATION": f"Bearer {world.a_token}"})
    assert world.snapshot_b() == before
