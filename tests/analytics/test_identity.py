from __future__ import annotations

import pytest

from analytics.identity import api_of, error_class, fhir_of, normalise_route, signature


@pytest.mark.parametrize(
    ("route", "method", "expected"),
    [
        ("/fhir/r4/Patient/{id}", "GET", ("read", "Patient")),
        ("/fhir/r4/Patient/{id}/_history/{vid}", "GET", ("vread", "Patient")),
        ("/fhir/r4/Patient/{id}/_history", "GET", ("history", "Patient")),
        ("/fhir/r4/Encounter", "GET", ("search", "Encounter")),
        ("/fhir/r4/Encounter/_search", "POST", ("search", "Encounter")),
        ("/fhir/r4/Observation", "POST", ("create", "Observation")),
        ("/fhir/r4/Observation/{id}", "PUT", ("update", "Observation")),
        ("/fhir/r4/Observation/{id}", "PATCH", ("patch", "Observation")),
        ("/fhir/r4/Observation/{id}", "DELETE", ("delete", "Observation")),
        ("/fhir/r4/metadata", "GET", ("capabilities", "")),
        ("/eligibility/270", "POST", ("", "")),
    ],
)
def test_fhir_interaction_from_the_route(route: str, method: str, expected: tuple[str, str]) -> None:
    assert fhir_of(route, method, {}) == expected


def test_fhir_attributes_win() -> None:
    assert fhir_of("/api/x", "GET", {"fhir.interaction": "search", "fhir.resource_type": "Coverage"}) == (
        "search",
        "Coverage",
    )


def test_routes_lose_their_identifiers() -> None:
    assert normalise_route("/fhir/r4/Patient/12345?name=smith") == "/fhir/r4/Patient/{id}"
    assert normalise_route("/orders/3f2a9c1e-8b7d-4e2f-9a1b-0c2d3e4f5a6b/items") == "/orders/{id}/items"
    assert normalise_route("/p/[REDACTED:mrn]") == "/p/{redacted}"
    assert normalise_route("/fhir/r4/Patient/{id}") == "/fhir/r4/Patient/{id}"


def test_api_of_server_and_client_spans() -> None:
    server = api_of(
        "fhir-server",
        "server",
        {"http.route": "/fhir/r4/Patient/{id}", "http.request.method": "get", "client.id": "portal"},
    )
    assert server is not None
    assert (server.side, server.method, server.interaction, server.resource_type, server.consumer) == (
        "server",
        "GET",
        "read",
        "Patient",
        "portal",
    )
    template = {"url.template": "/eligibility/270", "http.method": "POST"}
    client = api_of("billing", "SPAN_KIND_CLIENT", template)
    assert client is not None
    assert (client.side, client.route, client.consumer) == ("client", "/eligibility/270", "")
    # A client span with only a concrete URL is not an API call we can key safely.
    assert api_of("billing", "client", {"url.full": "https://x/p/123"}) is None
    assert api_of("engine", "internal", {"http.route": "/x"}) is None
    redacted = api_of("s", "server", {"http.route": "/x", "client.id": "[REDACTED:email]"})
    assert redacted is not None and redacted.consumer == "{redacted}"


def test_error_classes_and_signatures() -> None:
    assert error_class(503, True) == "5xx"
    assert error_class(404, False) == "4xx"
    assert error_class(None, True) == "other"
    assert error_class(200, False) is None
    text = "upstream 10.0.0.12 timed out after 3000 ms"
    assert signature(503, text) == "503 upstream #.#.#.# timed out after # ms"
