# SPDX-License-Identifier: Apache-2.0
"""Who may call what: every route walked with no token, a bad token, a revoked token and
a token of each role. The expected matrix is written out below (it is what users read in
docs/openapi.yaml's x-roles); a separate test checks that it is still what the route
tables in src/api/*.c say, so that neither drifts from the other unnoticed.

Each route is called with a request that does nothing lasting when allowed (a missing id,
an invalid body, an idempotent change), so the calls can run in any order against one
server, and the status an allowed role gets is checked exactly too."""
import subprocess

import pytest

from conftest import ROLES, assert_error, router_routes

A, N, S, I, G = "admin", "analyst", "scanner", "intake", "ingest"
PUBLIC = "public"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"

# (method, route pattern, concrete request path, request kwargs, status when allowed,
#  roles allowed). Admin may call everything; "public" needs no token at all.
MATRIX = [
    ("GET", "/healthz", "/healthz", {}, 200, {PUBLIC}),
    ("GET", "/readyz", "/readyz", {}, 200, {PUBLIC}),
    ("GET", "/metrics", "/metrics", {}, 200, {A}),
    ("POST", "/v1/hash", "/v1/hash", {"data": "IMAGE"}, 200, {A, N, S}),
    ("POST", "/v1/match", "/v1/match", {"json": {"md5": MD5}}, 200, {A, N, S}),
    ("POST", "/v1/scan", "/v1/scan?url=https://m.example/x.jpg", {"data": "IMAGE"}, 200, {A, S}),
    ("GET", "/v1/decision", "/v1/decision?url=https://m.example/x.jpg", {}, 200, {A, N, S}),
    ("GET", "/v1/blocks", "/v1/blocks", {}, 200, {A, N}),
    ("DELETE", "/v1/blocks/{id}", "/v1/blocks/999", {}, 404, {A, N}),
    ("GET", "/v1/cases", "/v1/cases", {}, 200, {A, N}),
    ("GET", "/v1/cases/{id}", "/v1/cases/999", {}, 404, {A, N}),
    ("POST", "/v1/cases/{id}/decision", "/v1/cases/999/decision",
     {"json": {"decision": "dismiss"}}, 404, {A, N}),
    ("POST", "/v1/cases/{id}/assign", "/v1/cases/999/assign", {"json": {}}, 422, {A, N}),
    ("GET", "/v1/cases/{id}/authority-report", "/v1/cases/999/authority-report", {}, 404, {A, N}),
    ("GET", "/v1/banks", "/v1/banks", {}, 200, {A, N}),
    ("POST", "/v1/banks", "/v1/banks", {"json": {"name": "Not A Slug"}}, 422, {A}),
    ("GET", "/v1/banks/{name}", "/v1/banks/matrix", {}, 200, {A, N}),
    ("PATCH", "/v1/banks/{name}", "/v1/banks/matrix", {"json": {"description": "m"}}, 200, {A}),
    ("DELETE", "/v1/banks/{name}", "/v1/banks/ghost", {}, 404, {A}),
    ("POST", "/v1/banks/{name}/signals", "/v1/banks/matrix/signals",
     {"json": {"signals": [{"type": "md5", "value": MD5}]}}, 200, {A, N}),
    ("GET", "/v1/banks/{name}/signals", "/v1/banks/matrix/signals", {}, 200, {A, N}),
    ("DELETE", "/v1/banks/{name}/signals/{id}", "/v1/banks/matrix/signals/999", {}, 404, {A, N}),
    ("GET", "/v1/banks/{name}/export", "/v1/banks/matrix/export", {}, 200, {A, N}),
    ("GET", "/v1/outbox", "/v1/outbox", {}, 200, {A, N}),
    ("GET", "/v1/audit", "/v1/audit", {}, 200, {A, N}),
    ("GET", "/status", "/status", {}, 200, {PUBLIC}),
    ("POST", "/h/hash", "/h/hash", {"files": "PHOTO"}, 200, {A, N, S}),
    ("GET", "/m/lookup", f"/m/lookup?signal_type=md5&signal={MD5}", {}, 200, {A, N, S}),
    ("GET", "/m/raw_lookup", f"/m/raw_lookup?signal_type=pdq&signal={PDQ}", {}, 200, {A, N, S}),
    ("POST", "/m/compare", "/m/compare", {"json": {"pdq": [PDQ, PDQ]}}, 200, {A, N, S}),
    ("GET", "/c/banks", "/c/banks", {}, 200, {A, N}),
    ("POST", "/c/banks", "/c/banks", {"json": {"name": "not a name!"}}, 400, {A}),
    ("GET", "/c/bank/{name}", "/c/bank/matrix", {}, 200, {A, N}),
    ("PUT", "/c/bank/{name}", "/c/bank/matrix", {"json": {}}, 200, {A}),
    ("DELETE", "/c/bank/{name}", "/c/bank/ghost", {}, 200, {A}),  # HMA: "Done" when missing
    ("POST", "/c/bank/{name}/signal", "/c/bank/matrix/signal", {"json": {"md5": MD5}}, 200, {A, N}),
    # Event rules: this server runs without --rules, so an allowed caller gets 409.
    ("POST", "/v1/events", "/v1/events",
     {"data": b'{"type": "x"}\n', "headers": {"Content-Type": "application/x-ndjson"}}, 409, {G}),
    ("GET", "/v1/rules", "/v1/rules", {}, 409, {A, N}),
    ("PUT", "/v1/rules/{name}", "/v1/rules/ghost", {"data": b""}, 409, {A}),
    ("DELETE", "/v1/rules/{name}", "/v1/rules/ghost", {}, 409, {A}),
    ("GET", "/v1/labels", "/v1/labels?kind=user", {}, 200, {A, N}),
    ("GET", "/v1/rules/{name}/verdicts", "/v1/rules/ghost/verdicts", {}, 409, {A, N}),
    ("PUT", "/v1/labels/{kind}/{entity}/{name}", "/v1/labels/user/role-test/x", {}, 200, {A, N}),
    ("DELETE", "/v1/labels/{kind}/{entity}/{name}", "/v1/labels/user/ghost/x", {}, 404, {A, N}),
    # Abuse reports and zones.
    ("POST", "/v1/reports", "/v1/reports", {"json": {}}, 422, {PUBLIC}),
    ("GET", "/v1/reports/{id}/status", "/v1/reports/999/status?token=x", {}, 404, {PUBLIC}),
    ("POST", "/v1/reports/email", "/v1/reports/email", {"data": b"not a message"}, 422, {A, I}),
    ("GET", "/v1/transparency", "/v1/transparency", {}, 200, {A, N}),
    # Without VIGIL_TEST_CLOCK=1 a `now` is refused, so the call changes nothing.
    ("POST", "/v1/admin/retention/run", "/v1/admin/retention/run?now=2001-01-01T00:00:00Z",
     {}, 422, {A}),
    ("GET", "/v1/zones", "/v1/zones", {}, 200, {A}),
    ("POST", "/v1/zones", "/v1/zones", {"json": {"name": "NOT VALID"}}, 422, {A}),
    ("GET", "/v1/zones/{id}", "/v1/zones/999", {}, 404, {A}),
    ("PATCH", "/v1/zones/{id}", "/v1/zones/999", {"json": {}}, 404, {A}),
    ("DELETE", "/v1/zones/{id}", "/v1/zones/999", {}, 404, {A}),
]

CALLERS = ["none", "bad", "revoked", *ROLES]


@pytest.fixture(scope="module")
def srv(server, bridge):
    r = server.post("/v1/banks", json={"name": "matrix"})
    assert r.status_code == 201, r.text
    server.image = (bridge / "square-128x128.jpg").read_bytes()
    # A revoked token, never used before it was revoked (so no cached lookup hides it).
    secret = server.add_token("scanner", "e2e-revoked")
    server.revoked = secret
    subprocess.run([str(server.binary), "token", "revoke", "e2e-revoked", "--db",
                    str(server.db)], check=True, capture_output=True, timeout=30)
    return server


def call(srv, method, path, kwargs, caller):
    kw = dict(kwargs)
    if kw.get("data") == "IMAGE":
        kw["data"] = srv.image
        kw["headers"] = {"Content-Type": "image/jpeg"}
    if kw.get("files") == "PHOTO":
        kw["files"] = {"photo": ("x.jpg", srv.image, "image/jpeg")}
    if caller == "none":
        return srv.request(method, path, role=None, **kw)
    if caller == "bad":
        return srv.request(method, path, token="vg_" + "0" * 64, **kw)
    if caller == "revoked":
        return srv.request(method, path, token=srv.revoked, **kw)
    return srv.request(method, path, role=caller, **kw)


def expected_status(allowed, ok, caller):
    public = PUBLIC in allowed
    if caller == "none":
        return ok if public else 401
    if caller in ("bad", "revoked"):
        return 401  # a bad token is refused even where none is needed
    if public or caller == "admin" or caller in allowed:
        return ok
    return 403


@pytest.mark.parametrize("method,pattern,path,kwargs,ok,allowed", MATRIX,
                         ids=[f"{m} {p}" for m, p, *_ in MATRIX])
def test_route_answers_each_caller(srv, method, pattern, path, kwargs, ok, allowed):
    for caller in CALLERS:
        r = call(srv, method, path, kwargs, caller)
        want = expected_status(allowed, ok, caller)
        assert r.status_code == want, (caller, r.status_code, r.text[:200])
        if want == 401:
            err = assert_error(r, 401, "unauthorized")
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert "vg_" not in err["message"]
        elif want == 403:
            assert_error(r, 403, "forbidden")
        elif want >= 400:
            assert_error(r, want)


def test_matrix_is_what_the_route_tables_say():
    def norm(roles):  # admin may call every route that needs a token
        return set(roles) if PUBLIC in roles else set(roles) | {A}
    table = {(m, p): norm(roles) for m, p, roles in router_routes()}
    written = {(m, p): norm(allowed) for m, p, _, _, _, allowed in MATRIX}
    assert sorted(set(table) - set(written)) == [], "new routes: add them to MATRIX"
    assert sorted(set(written) - set(table)) == [], "routes gone: remove them from MATRIX"
    assert table == written


def test_malformed_authorization_headers_are_401(srv):
    for value in ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", srv.tokens["admin"],
                  "Bearer " + srv.tokens["admin"][:-1], "Bearer " + srv.tokens["admin"] + "x",
                  "Token " + srv.tokens["admin"]]:
        r = srv.request("GET", "/v1/banks", role=None, headers={"Authorization": value})
        assert_error(r, 401, "unauthorized")
    # The scheme is case-insensitive (RFC 7235).
    r = srv.request("GET", "/v1/banks", role=None,
                    headers={"Authorization": "bearer " + srv.tokens["analyst"]})
    assert r.status_code == 200
