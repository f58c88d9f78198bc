# SPDX-License-Identifier: Apache-2.0
"""GET /v1/labels and PUT/DELETE /v1/labels/{kind}/{entity}/{name} against a real
`vigil serve`: labels rules set are listed at once and page by (entity, name); a label
taken back or set by hand reaches every lane's has_label before the answer, is audited,
and holds across a kill -9; roles and bad input get their errors."""
import time
import urllib.parse

from conftest import ROLES, assert_error
from test_events import metric, ndjson, post_events, serve_label_rules


def mark(srv, *users):
    r = post_events(srv, ndjson(*({"type": "bad", "user": u, "ip": "192.0.2.1"} for u in users)))
    assert r.status_code == 200 and r.json()["accepted"] == len(users), r.text


def reviewed(srv, *users):
    """The users whose login (each from an address of its own, so over both lanes) the
    label rules send to review."""
    got = []
    for i, u in enumerate(users):
        r = post_events(srv, ndjson({"type": "login", "user": u, "ip": f"10.2.0.{i}"}))
        assert r.status_code == 200, r.text
        if r.json()["verdicts"]["review"]:
            got.append(u)
    return got


def labels(srv, role="analyst", **params):
    r = srv.get("/v1/labels", role=role, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def path(kind, entity, name):
    q = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
    return f"/v1/labels/{q(kind)}/{q(entity)}/{q(name)}"


def audit_actions(srv):
    r = srv.get("/v1/audit", role="analyst", params={"limit": 1000})
    return [(e["action"], e["object_id"]) for e in r.json()["items"]]


def test_list_take_back_and_set_labels_by_hand(serve, tmp_path):
    srv = serve_label_rules(serve, tmp_path)
    users = [f"u{i}" for i in range(5)]
    mark(srv, *users)
    # Listed at once (the lanes' pending labels are written first), in entity order.
    page = labels(srv, kind="user", name="bad")
    assert [x["entity"] for x in page["items"]] == users and page["next_after"] is None
    first = page["items"][0]
    assert first["kind"] == "user" and first["name"] == "bad"
    assert first["expires_at"].endswith("Z")
    assert labels(srv, kind="user", entity="u3")["items"] == [page["items"][3]]
    assert labels(srv, kind="user", entity="nobody")["items"] == []
    assert labels(srv, kind="ip", name="bad")["items"] == []

    # Pages of two, by the opaque token, cover every label once.
    seen, after = [], None
    while True:
        p = labels(srv, kind="user", limit=2, **({"after": after} if after else {}))
        seen += [x["entity"] for x in p["items"]]
        if p["next_after"] is None:
            break
        after = p["next_after"]
    assert seen == users

    # Taken back: no lane sees it from the next event on.
    r = srv.delete(path("user", "u3", "bad"), role="analyst")
    assert r.status_code == 200 and r.json() == {"kind": "user", "entity": "u3", "name": "bad",
                                                 "deleted": True}, r.text
    assert reviewed(srv, *users) == ["u0", "u1", "u2", "u4"]
    assert_error(srv.delete(path("user", "u3", "bad"), role="analyst"), 404, "not_found")

    # Set by hand: every lane sees it; with a ttl it expires.
    r = srv.put(path("user", "hand", "bad"), role="analyst", json={"ttl": "1h"})
    assert r.status_code == 200, r.text
    assert r.json()["entity"] == "hand" and r.json()["expires_at"]
    r = srv.put(path("user", "forever", "bad"), role="analyst")
    assert r.status_code == 200 and r.json()["expires_at"] is None, r.text
    r = srv.put(path("user", "brief", "bad"), role="analyst", json={"ttl": 0.3})
    assert r.status_code == 200, r.text
    assert reviewed(srv, "hand", "forever", "brief", "other") == ["hand", "forever", "brief"]
    time.sleep(0.4)
    assert reviewed(srv, "brief") == []

    # An entity with a slash, percent-encoded in the path.
    url = "https://x.example/a?b=1"
    assert srv.put(path("url", url, "phish"), role="analyst").status_code == 200
    assert [x["entity"] for x in labels(srv, kind="url", entity=url)["items"]] == [url]

    actions = audit_actions(srv)
    assert ("label.delete", "u3") in actions and ("label.set", "hand") in actions
    assert ("label.set", url) in actions

    # Durable before the answer: a kill -9 keeps the removal and the hand-set labels.
    srv.kill()
    srv.start()
    assert reviewed(srv, *users, "hand", "forever") == ["u0", "u1", "u2", "u4", "hand", "forever"]
    # A label the lanes read from the store at start is taken back as well.
    assert srv.delete(path("user", "u0", "bad"), role="analyst").status_code == 200
    assert reviewed(srv, *users) == ["u1", "u2", "u4"]
    assert metric(srv.get("/metrics").text, "vigil_rules_labels_undelivered_total") == 0


def test_a_label_a_rule_just_set_can_be_taken_back_at_once(serve, tmp_path):
    # Regression: the lanes' pending writes (up to 2 s) were not flushed first, so the
    # delete found nothing, answered 404 and left the label live.
    srv = serve_label_rules(serve, tmp_path)
    users = [f"j{i}" for i in range(6)]
    mark(srv, *users)
    for u in users:
        r = srv.delete(path("user", u, "bad"), role="analyst")
        assert r.status_code == 200 and r.json()["deleted"] is True, (u, r.text)
    assert reviewed(srv, *users) == []
    assert labels(srv, kind="user", name="bad")["items"] == []


def test_labels_without_rules_are_the_store_s(serve):
    srv = serve()
    assert srv.put(path("user", "u1", "vip"), role="analyst", json={"ttl": "30d"}).status_code == 200
    assert [x["name"] for x in labels(srv, kind="user", entity="u1")["items"]] == ["vip"]
    assert srv.delete(path("user", "u1", "vip"), role="analyst").status_code == 200
    assert labels(srv, kind="user", entity="u1")["items"] == []


def test_roles_and_bad_input(serve):
    srv = serve()
    for role in ROLES:
        if role in ("admin", "analyst"):
            continue
        assert_error(srv.get("/v1/labels", role=role, params={"kind": "user"}), 403)
        assert_error(srv.put(path("user", "x", "y"), role=role), 403)
        assert_error(srv.delete(path("user", "x", "y"), role=role), 403)
    assert labels(srv, role="admin", kind="user")["items"] == []
    assert_error(srv.get("/v1/labels", role="analyst"), 422)
    for params in ({"kind": "user", "limit": "0"}, {"kind": "user", "limit": "1001"},
                   {"kind": "user", "limit": "x"}, {"kind": "user", "after": "zz-00"},
                   {"kind": "user", "after": "nodash"}, {"kind": "user", "after": "00-61"}):
        assert_error(srv.get("/v1/labels", role="analyst", params=params), 422)
    for body in ({"ttl": "5x"}, {"ttl": -1}, {"ttl": True}, {"ttl": "0s"}, {"other": 1},
                 {"ttl": 1e13}):
        assert_error(srv.put(path("user", "x", "y"), role="analyst", json=body), 422)
    assert_error(srv.put(path("user", "x", "y"), role="analyst", data="{",
                         headers={"Content-Type": "application/json"}), 400)
    assert_error(srv.put(path("user", "x" * 1100, "y"), role="analyst"), 422)
    # Nothing was set by any of them.
    assert labels(srv, kind="user")["items"] == []
