"""The OpenAPI document as clients fetch it (``/api/v1/schema/``): valid OpenAPI, generated without
a warning, and complete for every operation: security, a success response with a schema, the
problem+json errors, and examples that match their schemas. The fuzzing against it is in
tests/test_api_fuzz.py."""

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from openapi_spec_validator import validate

from accounts.actor import Actor
from accounts.models import AuditEvent
from accounts.services import create_api_key
from infra import objectstore
from tests.api_world import build_world

METHODS = ("get", "put", "post", "patch", "delete")
# Operations open to everyone, without credentials: the document itself.
ANONYMOUS = {("get", "/api/v1/schema/")}
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture(scope="module")
def spec(django_db_setup, django_db_blocker):
    """The live document, fetched once (nothing it does to the database is kept)."""
    with django_db_blocker.unblock(), transaction.atomic():
        response = Client().get("/api/v1/schema/?format=json")
        transaction.set_rollback(True)
    assert response.status_code == 200
    return response.json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", method, path, item[method]


def resolve(spec, node: dict) -> dict:
    """Follow a local ``$ref`` (responses, parameters, schemas) to what it names."""
    while "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def examples_of(spec, media: dict) -> list:
    """The examples of a media type: its own, or its schema component's."""
    found = [example["value"] for example in (media.get("examples") or {}).values()]
    if "example" in media:
        found.append(media["example"])
    schema = resolve(spec, media.get("schema", {}))
    if not found and "example" in schema:
        found.append(schema["example"])
    return found


def json_media(content: dict) -> dict | None:
    return content.get("application/json")


def carries_file(spec, schema: dict) -> bool:
    properties = resolve(spec, schema).get("properties", {}).values()
    return any(p.get("format") == "binary" for p in properties)


def schema_validator(spec, schema: dict, cls):
    """A validator of ``schema`` that resolves the document's ``#/components`` references."""
    return cls({**schema, "components": spec["components"]})


def test_the_document_is_valid_openapi(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)  # raises with the first violation


@pytest.mark.django_db
def test_generation_has_no_warnings_or_errors(tmp_path):
    """As ``manage.py spectacular --validate --fail-on-warn`` (CI runs this test)."""
    GENERATOR_STATS.reset()
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "s.yaml")
    assert (tmp_path / "s.yaml").read_text().startswith("openapi: 3.")


def test_every_operation_declares_security(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: havn_<prefix>_<secret>",
    }
    assert schemes["cookieAuth"]["in"] == "cookie"
    anonymous = set()
    for where, method, path, operation in operations(spec):
        security = operation.get("security")
        assert security, f"{where} declares no security"
        # The API takes a key or the panel's session, everywhere.
        assert {"apiKey": []} in security and {"cookieAuth": []} in security, where
        if {} in security:
            anonymous.add((method, path))
    assert anonymous == ANONYMOUS


def test_every_operation_documents_its_success(spec):
    for where, _method, _path, operation in operations(spec):
        successes = {code: r for code, r in operation["responses"].items() if code[0] == "2"}
        assert successes, f"{where} documents no success"
        for code, response in successes.items():
            if code == "204":
                assert "content" not in response, f"{where}: 204 is no content"
                continue
            content = response.get("content")
            assert content, f"{where}: {code} has no content"
            assert all(media.get("schema") for media in content.values()), where


def test_every_operation_documents_its_problems(spec):
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    for where, method, _path, operation in operations(spec):
        responses = operation["responses"]
        parameters = [resolve(spec, p) for p in operation.get("parameters", [])]
        expected = {"401", "403", "429"}
        if method != "get" or any(p["in"] == "query" for p in parameters):
            expected.add("400")
        if method != "get" or any(p["in"] == "path" for p in parameters):
            expected.add("404")
        if "requestBody" in operation:
            expected.add("415")
        if method != "get":
            expected |= {"409", "422"}
        assert expected <= responses.keys(), f"{where} lacks {expected - responses.keys()}"
        for code in responses.keys() - {"200", "201", "202", "204"}:
            response = resolve(spec, responses[code])
            assert list(response["content"]) == ["application/problem+json"], f"{where} {code}"
            assert response["content"]["application/problem+json"]["schema"] == {
                "$ref": PROBLEM_REF
            }
        if "429" in responses:
            assert "Retry-After" in resolve(spec, responses["429"])["headers"]


def test_real_problems_match_the_problem_schema(spec, owner_a, customer_a):
    _key, token = create_api_key(Actor(owner_a), customer_a, name="schema")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    answers = [
        Client().get("/api/v1/me"),  # 401
        Client().get("/api/v1/me", HTTP_AUTHORIZATION="Bearer havn_nope_nope"),  # 401
        Client().post("/api/v1/api-keys", {}, content_type="application/json", **auth),  # 403
        Client().get("/api/v1/webhotels/999999", **auth),  # 404
        Client().get("/api/v1/webhotels?page=99", **auth),  # 404
        Client().get("/api/v1/no-such-thing", **auth),  # 404 outside any view
        Client().get("/api/v1/webhotels?customer=x", **auth),  # 400 from a filter
    ]
    validator = schema_validator(spec, {"$ref": PROBLEM_REF}, OAS30ReadValidator)
    assert [a.status_code for a in answers] == [401, 401, 403, 404, 404, 404, 400]
    for answer in answers:
        assert answer["Content-Type"] == "application/problem+json"
        validator.validate(answer.json())


def test_serving_the_document_changes_nothing(spec, owner_a):
    """Building it must not run a view's checks (which audit a refusal) or write anything."""
    before = AuditEvent.objects.count()
    assert Client().get("/api/v1/schema/?format=json").status_code == 200
    member = Client()
    member.force_login(owner_a)
    assert member.get("/api/v1/schema/").status_code == 200
    assert AuditEvent.objects.count() == before


@pytest.fixture
def world(db, settings, tmp_path):
    yield build_world(settings, tmp_path / "store")
    objectstore.default_store.cache_clear()


def test_real_answers_match_their_schemas(spec, world):
    """Every GET of the world's rows, as the customer's owner and as staff: each 200 matches
    its schema (nulls included: a row whose user left has none)."""
    checked, errors = 0, []
    for token in (world.owner_token, world.staff_token):
        for where, method, path, operation in operations(spec):
            media = json_media(operation["responses"].get("200", {}).get("content", {}))
            if method != "get" or media is None or (method, path) in ANONYMOUS:
                continue
            answer = Client().get(world.path_of(path), HTTP_AUTHORIZATION=f"Bearer {token}")
            if answer.status_code != 200:
                continue
            validator = schema_validator(spec, media["schema"], OAS30ReadValidator)
            errors += [f"{where}: {e.message}" for e in validator.iter_errors(answer.json())]
            checked += 1
    assert errors == []
    assert checked > 80


def test_every_request_and_success_has_an_example(spec):
    missing = []
    for where, _method, _path, operation in operations(spec):
        if "requestBody" in operation:
            content = resolve(spec, operation["requestBody"])["content"]
            media = json_media(content)
            if media is None:
                # An upload (multipart only): a file is not an example worth writing down.
                assert all(carries_file(spec, m["schema"]) for m in content.values()), where
            elif not examples_of(spec, media):
                missing.append(f"{where} request")
        for code, response in operation["responses"].items():
            if code[0] != "2" or "content" not in response:
                continue
            media = json_media(response["content"])
            if media is None:
                # A file (PDF, zip): its bytes are not an example worth writing down.
                assert all(
                    m["schema"].get("format") == "binary" for m in response["content"].values()
                ), where
                continue
            if not examples_of(spec, media):
                missing.append(f"{where} {code}")
    assert not missing, "no example: " + ", ".join(missing)


def test_examples_match_their_schemas(spec):
    checked = 0
    for where, _method, _path, operation in operations(spec):
        bodies = []
        if "requestBody" in operation:
            bodies.append(("request", resolve(spec, operation["requestBody"]), OAS30WriteValidator))
        for code, response in operation["responses"].items():
            bodies.append((code, resolve(spec, response), OAS30ReadValidator))
        for label, body, cls in bodies:
            media = json_media(body.get("content", {})) or body.get("content", {}).get(
                "application/problem+json"
            )
            if media is None:
                continue
            validator = schema_validator(spec, media["schema"], cls)
            for example in examples_of(spec, media):
                errors = [e.message for e in validator.iter_errors(example)]
                assert errors == [], f"{where} {label}: {errors}"
                checked += 1
    assert checked > 200
