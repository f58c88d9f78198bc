# SPDX-License-Identifier: Apache-2.0
"""docs/openapi.yaml and the router agree: the same (method, path) pairs as the route
tables in src/api/*.c, the same roles (x-roles), every path parameter declared, every
reference resolvable, every error response in the error shape, and the error codes the
ones util's error table defines. A route added on one side only fails here."""
import re

import pytest

from conftest import ROLES, ROOT, router_routes

yaml = pytest.importorskip("yaml", reason="python3-yaml (scripts/install-deps) is missing")

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def doc():
    return yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        assert part in node, f"unresolvable {ref}"
        node = node[part]
    return node


def test_router_and_document_list_the_same_routes(doc):
    router = {(m, p) for m, p, _ in router_routes()}
    documented = {(m, p) for m, p, _ in operations(doc)}
    assert len(router) >= 30
    assert sorted(router - documented) == [], \
        "routes missing from docs/openapi.yaml (add them, with x-roles)"
    assert sorted(documented - router) == [], "documented routes the router does not have"


def test_roles_are_the_router_roles(doc):
    def norm(roles):
        return set(roles) if "public" in roles else set(roles) | {"admin"}
    router = {(m, p): norm(r) for m, p, r in router_routes()}
    for method, path, op in operations(doc):
        roles = op.get("x-roles")
        assert roles and set(roles) <= set(ROLES) | {"public"}, (method, path, roles)
        assert norm(roles) == router[(method, path)], (method, path)
        public = "public" in roles
        # Public routes say so in `security`; the others use the document's bearer default.
        if public:
            assert {} in op["security"], (method, path)
        else:
            assert "security" not in op or op["security"] == [{"bearer": []}], (method, path)
            assert "401" in op["responses"] and "403" in op["responses"], (method, path)


def test_the_document_is_well_formed(doc):
    assert doc["openapi"].startswith("3.0.")
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["components"]["securitySchemes"]["bearer"] == \
        {**doc["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    assert doc["security"] == [{"bearer": []}]
    op_ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(op_ids) == len(set(op_ids))

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(doc, node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)

    for method, path, op in operations(doc):
        params = [resolve(doc, p["$ref"]) if "$ref" in p else p
                  for p in op.get("parameters", [])]
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{(\w+)\}", path)), (method, path)
        assert all(p["required"] for p in params if p["in"] == "path")
        assert op["responses"], (method, path)
        for status, resp in op["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", str(status)), (method, path, status)
            resp = resolve(doc, resp["$ref"]) if "$ref" in resp else resp
            assert resp.get("description"), (method, path, status)
            # Errors have the error shape; 451 is a decision and 503 a readiness answer.
            if int(status) >= 400 and status not in ("451", "503"):
                schema = resp["content"]["application/json"]["schema"]
                refs = str(schema)
                assert "#/components/schemas/Error" in refs, (method, path, status)
        if method in ("POST", "PUT", "PATCH") and op.get("requestBody"):
            assert op["requestBody"]["content"], (method, path)


def test_error_codes_are_util_error_table(doc):
    header = (ROOT / "src" / "util" / "util.h").read_text()
    names = set(re.findall(r'X\(E[A-Z]+,\s*"([a-z_]+)"', header))
    assert names
    documented = set(doc["components"]["schemas"]["Error"]["properties"]["error"]
                     ["properties"]["code"]["enum"])
    assert documented == names


# ---- the documented shapes are the real ones -----------------------------------------
# A small checker for the part of OpenAPI 3.0's schema language the document uses ($ref,
# allOf, oneOf, type, nullable, enum, required, properties, additionalProperties, items,
# pattern, bounds). It is strict where OpenAPI is lax: a field the server sends that the
# document does not list is an error, so new fields get documented.

def deref(doc, s):
    while "$ref" in s:
        s = resolve(doc, s["$ref"])
    return s


def known_props(doc, s):
    """The fields an object schema lists (through allOf), or None when it is open."""
    s = deref(doc, s)
    if s.get("additionalProperties", False) is not False:
        return None
    props = set(s.get("properties", {}))
    for part in s.get("allOf", []):
        k = known_props(doc, part)
        if k is None:
            return None
        props |= k
    return props


def validate(doc, s, v, where="$", strict=True):
    s = deref(doc, s)
    errs = []
    if v is None:
        return [] if s.get("nullable") else [f"{where}: null is not allowed"]
    for part in s.get("allOf", []):
        errs += validate(doc, part, v, where, strict=False)
    if "oneOf" in s:
        fits = [alt for alt in s["oneOf"] if not validate(doc, alt, v, where)]
        if len(fits) != 1:
            errs.append(f"{where}: fits {len(fits)} of the oneOf alternatives")
    t = s.get("type")
    checks = {"object": lambda x: isinstance(x, dict), "array": lambda x: isinstance(x, list),
              "string": lambda x: isinstance(x, str), "boolean": lambda x: isinstance(x, bool),
              "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
              "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)}
    if t and not checks[t](v):
        return errs + [f"{where}: {v!r:.60} is not {t}"]
    if "enum" in s and v not in s["enum"]:
        errs.append(f"{where}: {v!r} not in {s['enum']}")
    if "pattern" in s and isinstance(v, str) and not re.search(s["pattern"], v):
        errs.append(f"{where}: {v!r} does not match {s['pattern']}")
    if "minimum" in s and v < s["minimum"] or "maximum" in s and v > s["maximum"]:
        errs.append(f"{where}: {v} out of bounds")
    if isinstance(v, dict):
        errs += [f"{where}: {r} missing" for r in s.get("required", []) if r not in v]
        props, extra = s.get("properties", {}), s.get("additionalProperties")
        for k, x in v.items():
            if k in props:
                errs += validate(doc, props[k], x, f"{where}.{k}")
            elif isinstance(extra, dict):
                errs += validate(doc, extra, x, f"{where}.{k}")
        known = known_props(doc, s)
        if strict and known is not None and (props or s.get("allOf")):
            unknown = set(v) - known
            if unknown:
                errs.append(f"{where}: fields the document does not list: {sorted(unknown)}")
    if isinstance(v, list):
        if "minItems" in s and len(v) < s["minItems"] or "maxItems" in s and len(v) > s["maxItems"]:
            errs.append(f"{where}: {len(v)} items out of bounds")
        if "items" in s:
            for i, x in enumerate(v):
                errs += validate(doc, s["items"], x, f"{where}[{i}]")
    return errs


def documented_response(doc, method, pattern, status, ctype):
    op = doc["paths"][pattern][method.lower()]
    assert str(status) in op["responses"], f"{method} {pattern} answered undocumented {status}"
    resp = deref(doc, op["responses"][str(status)])
    media = [m for m in resp.get("content", {}) if ctype.startswith(m.split("*")[0])]
    assert media, f"{method} {pattern} {status}: {ctype} is not documented"
    return resp["content"][media[0]].get("schema", {})


def test_real_answers_have_the_documented_shapes(doc, serve, bridge):
    srv = serve("--max-json-bytes", "4KB", "--webhook-backoff", "1h")
    img = (bridge / "aaa-orig.jpg").read_bytes()
    small = (bridge / "square-128x128.jpg").read_bytes()
    pdq = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    seen = set()

    def call(method, pattern, path=None, role="admin", status=200, **kw):
        r = srv.request(method, path or pattern, role=role, **kw)
        assert r.status_code == status, (method, path or pattern, r.status_code, r.text[:300])
        ctype = r.headers.get("Content-Type", "")
        schema = documented_response(doc, method, pattern, status, ctype)
        if ctype.startswith("application/json"):
            errs = validate(doc, schema, r.json())
            assert not errs, (method, pattern, status, errs[:5])
        if status < 400:
            seen.add((method, pattern))
        return r

    call("GET", "/healthz", role=None)
    call("GET", "/readyz", role=None)
    call("GET", "/status", role=None)
    call("POST", "/v1/banks", status=201,
         json={"name": "doc", "actions": ["block_url", "open_case", "webhook", "authority_report"],
               "webhook_url": "http://127.0.0.1:9/x", "webhook_secret": "s"})
    call("GET", "/v1/banks", role="analyst")
    call("GET", "/v1/banks/{name}", "/v1/banks/doc", role="analyst")
    call("PATCH", "/v1/banks/{name}", "/v1/banks/doc", json={"description": "d"})
    call("POST", "/v1/banks/{name}/signals", "/v1/banks/doc/signals", role="analyst",
         json={"signals": [{"type": "pdq", "value": pdq, "metadata": {"a": 1}},
                           {"type": "md5", "value": md5}, {"type": "md5", "value": "x"}]})
    call("POST", "/v1/banks/{name}/signals", "/v1/banks/doc/signals", role="analyst", status=422,
         json={"signals": [{"type": "md5", "value": "x"}]})
    sigs = call("GET", "/v1/banks/{name}/signals", "/v1/banks/doc/signals", role="analyst").json()
    call("GET", "/v1/banks/{name}/export", "/v1/banks/doc/export?format=csv", role="analyst")
    call("GET", "/v1/banks/{name}/export", "/v1/banks/doc/export", role="analyst")
    call("POST", "/v1/hash", role="scanner", data=small)
    call("POST", "/v1/match", role="scanner", json={"pdq": pdq})
    call("POST", "/v1/match", role="scanner", data=img, headers={"Content-Type": "image/jpeg"})
    scan = call("POST", "/v1/scan", "/v1/scan?url=https://doc.example/a.jpg", role="scanner",
                data=img).json()
    call("POST", "/v1/scan", "/v1/scan?url=https://doc.example/b.png", role="scanner",
         data=(bridge.parent / "misc-images" / "c.png").read_bytes())
    call("GET", "/v1/decision", "/v1/decision?url=https://doc.example/a.jpg", role="scanner",
         status=451)
    call("GET", "/v1/decision", "/v1/decision?url=https://doc.example/b.png", role="scanner")
    call("GET", "/v1/blocks", role="analyst")
    call("GET", "/v1/cases", "/v1/cases?status=open", role="analyst")
    case_id = [a for a in scan["actions"] if a["type"] == "open_case"][0]["case_id"]
    call("GET", "/v1/cases/{id}", f"/v1/cases/{case_id}", role="analyst")
    call("POST", "/v1/cases/{id}/assign", f"/v1/cases/{case_id}/assign", role="analyst",
         json={"assignee": "e2e-analyst"})
    call("POST", "/v1/cases/{id}/assign", f"/v1/cases/{case_id}/assign", role="analyst",
         json={"assignee": "nobody"}, status=422)
    call("POST", "/v1/cases/{id}/decision", f"/v1/cases/{case_id}/decision", role="analyst",
         json={"decision": "confirm", "note": "n"})
    call("POST", "/v1/cases/{id}/decision", f"/v1/cases/{case_id}/decision", role="analyst",
         json={"decision": "confirm"}, status=409)
    # A reviewed csam report case has an authority report; a scan case has none.
    call("POST", "/v1/zones", status=201, json={"name": "doc-report.example",
                                                "host_contact": {"email": "abuse@h.example"}})
    rep = srv.post("/v1/reports", role=None, json={
        "category": "csam", "urls": ["https://doc-report.example/x"]}).json()
    rcase = rep["cases"][0]["case_id"]
    call("POST", "/v1/cases/{id}/decision", f"/v1/cases/{rcase}/decision", role="analyst",
         json={"decision": "block_url", "note": "seen"})
    call("GET", "/v1/cases/{id}/authority-report", f"/v1/cases/{rcase}/authority-report",
         role="analyst")
    call("GET", "/v1/cases/{id}/authority-report", f"/v1/cases/{case_id}/authority-report",
         role="analyst", status=409)
    call("GET", "/v1/outbox", role="analyst")
    call("GET", "/v1/audit", "/v1/audit?limit=5", role="analyst")
    scan2 = call("POST", "/v1/scan", "/v1/scan?url=https://doc.example/c.jpg", role="scanner",
                 data=img).json()
    block_id = [a for a in scan2["actions"] if a["type"] == "block_url"][0]["block_id"]
    call("DELETE", "/v1/blocks/{id}", f"/v1/blocks/{block_id}", role="analyst")
    call("GET", "/v1/blocks", "/v1/blocks?active=false", role="analyst")
    md5_id = sigs["items"][1]["id"]
    call("DELETE", "/v1/banks/{name}/signals/{id}", f"/v1/banks/doc/signals/{md5_id}",
         role="analyst")
    call("GET", "/metrics")

    call("POST", "/h/hash", role="scanner", files={"photo": ("a.jpg", small)})
    call("POST", "/c/banks", json={"name": "Doc_HMA", "enabled": True}, status=201)
    call("GET", "/c/banks", role="analyst")
    call("GET", "/c/bank/{name}", "/c/bank/doc_hma", role="analyst")
    call("PUT", "/c/bank/{name}", "/c/bank/doc_hma", json={"enabled_ratio": 1.0})
    call("POST", "/c/bank/{name}/signal", "/c/bank/doc_hma/signal", role="analyst",
         json={"pdq": pdq, "note": "x"})
    call("GET", "/m/lookup", f"/m/lookup?signal_type=pdq&signal={pdq}", role="scanner")
    call("GET", "/m/raw_lookup", f"/m/raw_lookup?signal_type=pdq&signal={pdq}", role="scanner")
    call("GET", "/m/raw_lookup",
         f"/m/raw_lookup?signal_type=pdq&signal={pdq}&include_distance=true", role="scanner")
    call("POST", "/m/compare", role="scanner", json={"pdq": [pdq, pdq], "md5": [md5, md5]})
    call("DELETE", "/c/bank/{name}", "/c/bank/doc_hma")
    call("DELETE", "/v1/banks/{name}", "/v1/banks/doc")

    # The error answers, each as documented for its route.
    call("GET", "/v1/banks", role=None, status=401)
    call("GET", "/v1/banks", role="scanner", status=403)
    call("GET", "/v1/banks/{name}", "/v1/banks/doc", role="analyst", status=404)
    call("POST", "/v1/banks", data=b"{", headers={"Content-Type": "application/json"}, status=400)
    call("POST", "/v1/banks", json={"name": 1}, status=422)
    call("POST", "/v1/banks", json={"name": "x", "description": "d" * 5000}, status=413)
    call("POST", "/v1/banks", data=b"x", headers={"Content-Type": "text/plain"}, status=415)
    call("POST", "/c/banks", json={"name": "dup"}, status=201)
    call("POST", "/c/banks", json={"name": "dup"}, status=409)
    call("POST", "/v1/hash", role="scanner", data=b"not an image", status=415)
    call("POST", "/v1/hash", role="scanner", data=small[:300], status=422)
    call("GET", "/v1/decision", "/v1/decision?url=ftp://x", role="scanner", status=422)
    call("GET", "/m/lookup", "/m/lookup?signal_type=x&signal=y", role="scanner", status=400)

    # Every route of the scanning service's resources was called; routes of other
    # resources are checked for their shapes by their own tests' calls, if they add any.
    scanning = ["api_health", "api_hash", "api_scan", "api_cases", "api_banks", "api_log",
                "api_hma"]
    routes = {(m, p) for m, p, _ in router_routes(scanning)}
    assert len(routes) == 36
    assert sorted(routes - seen) == [], "routes this test did not call successfully"
