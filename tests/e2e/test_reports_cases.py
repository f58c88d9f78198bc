# SPDX-License-Identifier: Apache-2.0
"""The review side of abuse reports against a real `vigil serve`: assigning a case to a
person, the report decisions (block_url, notify, reject, escalate, close) with their
stages, history and times, and the authority report of a confirmed csam case."""
import json

import pytest

from conftest import assert_error, serve_module
from test_reports import Receiver, report, zone


@pytest.fixture(scope="module")
def hook():
    r = Receiver()
    yield r
    r.httpd.shutdown()


@pytest.fixture(scope="module")
def srv(vigil_bin, tmp_path_factory):
    yield from serve_module(vigil_bin, tmp_path_factory, "--report-burst", "1000")


def new_case(srv, hook, name, category="phishing", **extra):
    zone(srv, name, hook, name.split(".")[0])
    r = report(srv, category=category, urls=[f"https://{name}/x"], **extra)
    assert r.status_code == 201, r.text
    hook.drain(0.3)
    return r.json()["cases"][0]["case_id"], r.json()


def test_assign_to_a_token_name(srv, hook):
    cid, _ = new_case(srv, hook, "assign.example")
    r = srv.post(f"/v1/cases/{cid}/assign", role="analyst", json={"assignee": "e2e-analyst"})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["assignee"] == "e2e-analyst" and c["stage"] == "triaged"
    assert c["history"][-1]["action"] == "assigned" and c["history"][-1]["note"] == "e2e-analyst"
    listed = srv.get("/v1/cases", role="analyst", params={"assignee": "e2e-analyst"}).json()
    assert cid in [x["id"] for x in listed["items"]]
    # Reassigning keeps the stage; a name no live token has, or none, is refused.
    srv.add_token("analyst", "e2e-analyst-two")
    again = srv.post(f"/v1/cases/{cid}/assign", json={"assignee": "e2e-analyst-two"}).json()
    assert again["assignee"] == "e2e-analyst-two" and again["stage"] == "triaged"
    assert_error(srv.post(f"/v1/cases/{cid}/assign", json={"assignee": "nobody-here"}), 422)
    assert_error(srv.post(f"/v1/cases/{cid}/assign", json={}), 422)
    assert_error(srv.post("/v1/cases/99999/assign", json={"assignee": "e2e-analyst"}), 404)
    assert_error(srv.post(f"/v1/cases/{cid}/assign", role="scanner",
                          json={"assignee": "e2e-scanner"}), 403)
    audit = srv.get("/v1/audit", params={"limit": 1000}).text
    assert "case.assign" in audit


def test_block_url_then_close(srv, hook):
    cid, _ = new_case(srv, hook, "blk.example", category="phishing")
    r = srv.post(f"/v1/cases/{cid}/decision", role="analyst",
                 json={"decision": "block_url", "note": "confirmed phishing kit"})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["stage"] == "actioned" and c["status"] == "open" and c["block_id"]
    assert c["first_action_at"] and c["decision"] == "block_url"
    d = srv.get("/v1/decision", role="scanner", params={"url": "https://BLK.example/x"})
    assert d.status_code == 451 and d.json()["action"] == "block", d.text
    blocks = srv.get("/v1/blocks", role="analyst").json()["items"]
    assert any(b["case_id"] == cid and b["url"] == "https://blk.example/x" for b in blocks)
    # Actioned: it can be closed, not rejected; once closed nothing more.
    assert_error(srv.post(f"/v1/cases/{cid}/decision", json={"decision": "reject"}), 409)
    closed = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "close"}).json()
    assert closed["stage"] == "closed" and closed["status"] == "closed" and closed["closed_at"]
    hist = [e for e in closed["history"] if e["action"] != "notified"]  # told at intake
    assert [e["action"] for e in hist] == ["opened", "block_url", "close"]
    assert hist[1]["note"] == "confirmed phishing kit"
    assert_error(srv.post(f"/v1/cases/{cid}/decision", json={"decision": "notify"}), 409)


def test_reject_lifts_and_closes(srv, hook):
    cid, rep = new_case(srv, hook, "rej.example", category="spam")
    assert_error(srv.post(f"/v1/cases/{cid}/decision", json={"decision": "close"}), 409)
    c = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "reject", "note": "not spam"})
    assert c.status_code == 200, c.text
    assert c.json()["stage"] == "rejected" and c.json()["status"] == "closed"
    st = srv.get(f"/v1/reports/{rep['id']}/status", role=None,
                 params={"token": rep["status_token"]}).json()
    assert st["status"] == "rejected" and st["closed_at"]


def test_escalate_raises_priority(srv, hook):
    cid, _ = new_case(srv, hook, "esc.example", category="copyright")
    before = srv.get(f"/v1/cases/{cid}").json()
    assert before["priority"] == "low" and before["stage"] == "new"
    c = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "escalate"}).json()
    assert c["priority"] == "normal" and c["stage"] == "triaged" and c["status"] == "open"
    c = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "escalate"}).json()
    assert c["priority"] == "high" and c["stage"] == "triaged"
    # High is the top: a further escalate changes nothing (409).
    assert_error(srv.post(f"/v1/cases/{cid}/decision", json={"decision": "escalate"}), 409)
    assert_error(srv.post(f"/v1/cases/{cid}/decision", json={"decision": "confirm"}), 422)
    assert_error(srv.post(f"/v1/cases/{cid}/decision", json={"decision": "nope"}), 422)


def test_csam_notify_after_review_goes_to_host_only_without_reporter(srv, hook):
    cid, _ = new_case(srv, hook, "held.example", category="csam",
                      reporter={"name": "Hidden Person", "email": "hidden@example.org"},
                      share={"owner": "full", "host": "full"})
    assert hook.drain(0.5) == {}  # held for review
    r = srv.post(f"/v1/cases/{cid}/decision", role="analyst",
                 json={"decision": "notify", "note": "reviewed"})
    assert r.status_code == 200, r.text
    assert [n["party"] for n in r.json()["notifications"]] == ["host"]
    assert r.json()["stage"] == "actioned"
    got = hook.drain()
    assert list(got) == ["/held/host"], got
    (p,) = got["/held/host"]
    assert p["case_id"] == cid and p["category"] == "csam" and p["urls"] == ["https://held.example/x"]
    assert "Hidden" not in json.dumps(p) and "hidden@" not in json.dumps(p)
    assert "reporter" not in p and "description" not in p


def test_scan_decisions_refused_on_report_cases_and_back(srv, hook):
    cid, _ = new_case(srv, hook, "kinds.example")
    assert_error(srv.post(f"/v1/cases/{cid}/decision", json={"decision": "dismiss"}), 422)
    assert_error(srv.post("/v1/cases/99999/decision", json={"decision": "block_url"}), 404)
    assert_error(srv.post(f"/v1/cases/{cid}/decision", role="scanner",
                          json={"decision": "block_url"}), 403)
    assert srv.post(f"/v1/cases/{cid}/decision", json={"decision": "reject"}).status_code == 200
    audit = srv.get("/v1/audit", params={"limit": 1000}).json()["items"]
    mine = [a for a in audit if a["action"] == "case.decide" and a["object_id"] == str(cid)]
    assert len(mine) == 1 and "reject" in json.dumps(mine[0]), mine


def test_authority_report_of_a_reviewed_csam_case(srv, hook):
    import xml.etree.ElementTree as ET
    md5 = "00112233445566778899aabbccddeeff"
    cid, _ = new_case(srv, hook, "tip.example", category="csam",
                      description="SECRET-DESCRIPTION of the content",
                      reporter={"name": "Tip Reporter", "email": "tip@example.org"},
                      evidence=[{"md5": md5}])
    # Not before a person acted on it.
    assert_error(srv.get(f"/v1/cases/{cid}/authority-report", role="analyst"), 409)
    assert srv.post(f"/v1/cases/{cid}/decision", role="analyst",
                    json={"decision": "block_url", "note": "reviewed by two"}).status_code == 200
    r = srv.get(f"/v1/cases/{cid}/authority-report", role="analyst")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/xml")
    ET.fromstring(r.content)  # well-formed
    text = r.text
    assert "https://tip.example/x" in text and md5 in text and "reviewed by two" in text
    assert str(cid) in text
    for secret in ("SECRET-DESCRIPTION", "Tip Reporter", "tip@example.org"):
        assert secret not in text
    assert_error(srv.get(f"/v1/cases/{cid}/authority-report", role="scanner"), 403)
    assert "case.authority_report" in srv.get("/v1/audit", params={"limit": 1000}).text


def test_no_authority_report_for_other_cases(srv, hook):
    phish, _ = new_case(srv, hook, "notip.example", category="phishing")
    assert srv.post(f"/v1/cases/{phish}/decision", json={"decision": "block_url"}).status_code == 200
    assert_error(srv.get(f"/v1/cases/{phish}/authority-report"), 409)
    rej, _ = new_case(srv, hook, "rejtip.example", category="csam")
    assert srv.post(f"/v1/cases/{rej}/decision", json={"decision": "reject"}).status_code == 200
    assert_error(srv.get(f"/v1/cases/{rej}/authority-report"), 409)
    assert_error(srv.get("/v1/cases/99999/authority-report"), 404)


def test_dedup_never_joins_a_closed_case(srv, hook):
    # Found in review: a report within the window joined a rejected (or closed) case, so it
    # reached nobody and no open case held it.
    cid, _ = new_case(srv, hook, "reopen.example", category="phishing")
    assert srv.post(f"/v1/cases/{cid}/decision", json={"decision": "reject"}).status_code == 200
    r = report(srv, category="phishing", urls=["https://reopen.example/x"])
    assert r.status_code == 201, r.text
    (c,) = r.json()["cases"]
    assert c["case_id"] != cid, c
    fresh = srv.get(f"/v1/cases/{c['case_id']}").json()
    assert fresh["status"] == "open" and fresh["stage"] == "new"
    assert srv.get(f"/v1/cases/{cid}").json()["stage"] == "rejected"
    got = hook.drain()
    assert "/reopen/owner" in got and "/reopen/host" in got  # a new case is news again
    # The open case is joined, as before; once closed after an action, not any more.
    again = report(srv, category="phishing", urls=["https://reopen.example/x"]).json()
    assert again["cases"][0] == c
    for d in ("block_url", "close"):
        assert srv.post(f"/v1/cases/{c['case_id']}/decision", json={"decision": d}).status_code == 200
    third = report(srv, category="phishing", urls=["https://reopen.example/x"]).json()
    assert third["cases"][0]["case_id"] not in (cid, c["case_id"])


def test_concurrent_reject_and_block_url_cannot_both_succeed(srv, hook):
    # Found in review: the lifecycle was checked on a copy of the case read before the
    # decision's transaction, so a reject racing a block_url could both answer 200 and
    # leave a rejected case whose URL stayed blocked.
    import threading
    for i in range(12):
        cid, _ = new_case(srv, hook, f"race{i}.example", category="phishing")
        go = threading.Barrier(2)
        got = {}

        def decide(d):
            go.wait()
            got[d] = srv.post(f"/v1/cases/{cid}/decision", json={"decision": d})

        ts = [threading.Thread(target=decide, args=(d,)) for d in ("reject", "block_url")]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        codes = sorted(r.status_code for r in got.values())
        assert codes == [200, 409], {d: (r.status_code, r.text) for d, r in got.items()}
        c = srv.get(f"/v1/cases/{cid}").json()
        blocked = srv.get("/v1/decision", role="scanner",
                          params={"url": f"https://race{i}.example/x"}).status_code == 451
        if got["reject"].status_code == 200:
            assert c["stage"] == "rejected" and not blocked, c
        else:
            assert c["stage"] == "actioned" and blocked, c


def test_assign_refuses_a_token_that_cannot_review(srv, hook):
    # Found in review: a case could be assigned to a scanner or intake token, which cannot
    # even open the case it was given.
    cid, _ = new_case(srv, hook, "assignrole.example")
    for name in ("e2e-scanner", "e2e-intake"):
        r = srv.post(f"/v1/cases/{cid}/assign", json={"assignee": name})
        assert_error(r, 422)
        assert "analyst or admin" in r.json()["error"]["message"]
    c = srv.get(f"/v1/cases/{cid}").json()
    assert c["assignee"] is None and c["stage"] == "new"
    assert [e["action"] for e in c["history"] if e["action"] != "notified"] == ["opened"]


def test_assigning_a_scan_case_keeps_it_new(srv, hook, bridge):
    # Found in review: assigning a scan case moved it to triaged, although scan cases stay
    # new while open, so ?status=new no longer listed it.
    import hashlib
    data = (bridge / "aaa-orig.jpg").read_bytes()
    assert srv.post("/v1/banks", json={"name": "assignscan", "actions": ["open_case"]}).status_code == 201
    assert srv.post("/v1/banks/assignscan/signals", json={"signals": [
        {"type": "md5", "value": hashlib.md5(data).hexdigest()}]}).status_code in (200, 201)
    out = srv.post("/v1/scan", role="scanner", params={"url": "https://scanassign.example/i.jpg"},
                   data=data, headers={"Content-Type": "image/jpeg"}).json()
    (cid,) = [a["case_id"] for a in out["actions"]
              if a["type"] == "open_case" and a["bank"] == "assignscan"]
    r = srv.post(f"/v1/cases/{cid}/assign", json={"assignee": "e2e-analyst"})
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "scan" and r.json()["stage"] == "new"
    assert r.json()["assignee"] == "e2e-analyst"
    listed = srv.get("/v1/cases", params={"status": "new", "limit": 1000}).json()["items"]
    assert cid in [c["id"] for c in listed]


def test_authority_report_holds_only_reviewed_evidence(srv, hook):
    # Found in review: the authority report took the hashes of every report on the case,
    # also those that arrived after the reviewer's decision and that nobody saw.
    seen, unseen = "aa" * 16, "bb" * 16
    cid, _ = new_case(srv, hook, "seen.example", category="csam", evidence=[{"md5": seen}])
    assert srv.post(f"/v1/cases/{cid}/decision",
                    json={"decision": "block_url", "note": "seen"}).status_code == 200
    late = report(srv, category="csam", urls=["https://seen.example/x"],
                  evidence=[{"md5": unseen}])
    assert late.status_code == 201 and late.json()["cases"][0]["case_id"] == cid
    text = srv.get(f"/v1/cases/{cid}/authority-report").text
    assert seen in text and unseen not in text
    # Once a reviewer acts again, the case as it then stood was reviewed.
    assert srv.post(f"/v1/cases/{cid}/decision", json={"decision": "notify"}).status_code == 200
    text = srv.get(f"/v1/cases/{cid}/authority-report").text
    assert seen in text and unseen in text


def test_a_repeated_decision_that_changes_nothing_is_not_an_action(srv, hook):
    # Found in review: notify twice counted two notifications (one outbox item each party),
    # block_url twice counted two blocks (one placed).
    cid, _ = new_case(srv, hook, "again.example", category="phishing")
    for d in ("notify", "block_url"):
        assert srv.post(f"/v1/cases/{cid}/decision", json={"decision": d}).status_code == 200
        r = srv.post(f"/v1/cases/{cid}/decision", json={"decision": d, "note": "again"})
        assert_error(r, 409)
        assert "nothing to do" in r.json()["error"]["message"]
    c = srv.get(f"/v1/cases/{cid}").json()
    assert [e["action"] for e in c["history"] if e["action"] != "notified"] == \
        ["opened", "notify", "block_url"]
    audit = srv.get("/v1/audit", params={"limit": 1000}).json()["items"]
    assert len([a for a in audit if a["action"] == "case.decide"
                and a["object_id"] == str(cid)]) == 2
    # A block lifted by hand may be placed again: that is an action.
    (b,) = [b for b in srv.get("/v1/blocks", params={"limit": 1000}).json()["items"]
            if b["case_id"] == cid and not b.get("lifted_at")]
    assert srv.delete(f"/v1/blocks/{b['id']}").status_code in (200, 204)
    r = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "block_url"})
    assert r.status_code == 200 and r.json()["block_id"], r.text


def test_rejecting_another_case_keeps_a_reviewers_block(srv, hook, bridge):
    # Found in review: block_url on a URL another case had blocked placed nothing of its
    # own; rejecting (or dismissing) that other case lifted the only block and the URL was
    # served again while this case stayed actioned.
    import hashlib
    md5 = "fedcba9876543210fedcba9876543210"
    assert srv.post("/v1/banks", json={"name": "handover", "actions": ["block_url"]}).status_code == 201
    assert srv.post("/v1/banks/handover/signals", json={"signals": [
        {"type": "md5", "value": md5}]}).status_code in (200, 201)
    zone(srv, "handover.example", hook, "ho")
    url = "https://handover.example/x"
    csam = report(srv, category="csam", urls=[url], evidence=[{"md5": md5}]).json()
    assert srv.get("/v1/decision", role="scanner", params={"url": url}).status_code == 451
    phish = report(srv, category="phishing", urls=[url]).json()["cases"][0]["case_id"]
    assert srv.post(f"/v1/cases/{phish}/decision", json={"decision": "block_url"}).status_code == 200
    r = srv.post(f"/v1/cases/{csam['cases'][0]['case_id']}/decision", json={"decision": "reject"})
    assert r.status_code == 200 and r.json()["blocks_lifted"] == 0, r.text
    assert r.json()["blocks_handed_over"] == 1
    d = srv.get("/v1/decision", role="scanner", params={"url": url})
    assert d.status_code == 451 and "csam" not in d.text, d.text
    (b,) = [b for b in srv.get("/v1/blocks", params={"limit": 1000}).json()["items"]
            if b["url"] == url and not b.get("lifted_at")]
    assert b["case_id"] == phish
    audit = srv.get("/v1/audit", params={"limit": 1000}).json()["items"]
    assert any(a["action"] == "block.hand_over" and a["object_id"] == str(b["id"]) for a in audit)

    # And with a report case that joined the block at intake (its evidence matched the
    # same bank) and was never reviewed: found in review of the merge, it lost the block.
    url2 = "https://handover.example/intake"
    first = report(srv, category="ncii", urls=[url2], evidence=[{"md5": md5}]).json()
    joined = report(srv, category="csam", urls=[url2], evidence=[{"md5": md5}]).json()
    first_case, joined_case = first["cases"][0]["case_id"], joined["cases"][0]["case_id"]
    assert first_case != joined_case
    r = srv.post(f"/v1/cases/{first_case}/decision", json={"decision": "reject"})
    assert r.status_code == 200 and r.json()["blocks_handed_over"] == 1, r.text
    assert srv.get("/v1/decision", role="scanner", params={"url": url2}).status_code == 451
    # Rejected in turn, it lifts the block: nobody relies on it any more.
    r = srv.post(f"/v1/cases/{joined_case}/decision", json={"decision": "reject"})
    assert r.status_code == 200 and r.json()["blocks_lifted"] == 1, r.text
    assert srv.get("/v1/decision", role="scanner", params={"url": url2}).status_code == 200

    # The same with a scan case owning the block and dismissed as a false match.
    data = (bridge / "aaa-orig.jpg").read_bytes()
    assert srv.post("/v1/banks", json={"name": "handscan",
                                       "actions": ["block_url", "open_case"]}).status_code == 201
    assert srv.post("/v1/banks/handscan/signals", json={"signals": [
        {"type": "md5", "value": hashlib.md5(data).hexdigest()}]}).status_code in (200, 201)
    img = "https://handover.example/img.jpg"
    out = srv.post("/v1/scan", role="scanner", params={"url": img}, data=data,
                   headers={"Content-Type": "image/jpeg"}).json()
    (scan_case,) = [a["case_id"] for a in out["actions"]
                    if a["type"] == "open_case" and a["bank"] == "handscan"]
    rc = report(srv, category="phishing", urls=[img]).json()["cases"][0]["case_id"]
    assert srv.post(f"/v1/cases/{rc}/decision", json={"decision": "block_url"}).status_code == 200
    r = srv.post(f"/v1/cases/{scan_case}/decision", json={"decision": "dismiss"})
    assert r.status_code == 200 and r.json()["blocks_lifted"] == 0, r.text
    assert srv.get("/v1/decision", role="scanner", params={"url": img}).status_code == 451
    # Nobody else relying: rejecting lifts, as before.
    lone, _ = new_case(srv, hook, "lone.example", category="csam",
                       evidence=[{"md5": md5}])
    r = srv.post(f"/v1/cases/{lone}/decision", json={"decision": "reject"}).json()
    assert r["blocks_lifted"] == 1 and r["blocks_handed_over"] == 0
    assert srv.get("/v1/decision", role="scanner",
                   params={"url": "https://lone.example/x"}).status_code != 451


def test_a_reviewer_reads_the_reports_of_a_case(srv, hook):
    # Found in review: no route returned a report's description, evidence, source IP or
    # incident time, so a reviewer decided blind (a harassment report is its description).
    md5 = "0123456789abcdef0123456789abcdee"
    cid, first = new_case(srv, hook, "readme.example", category="harassment",
                          description="they post my address", jurisdiction="DE",
                          evidence=[{"md5": md5.upper()}],
                          reporter={"name": "Ann", "email": "ann@people.example"})
    again = report(srv, category="harassment", urls=["https://readme.example/x"],
                   description="me too").json()
    assert again["cases"][0]["case_id"] == cid
    c = srv.get(f"/v1/cases/{cid}", role="analyst").json()
    assert [r["id"] for r in c["reports"]] == [first["id"], again["id"]] and not c["reports_truncated"]
    r0, r1 = c["reports"]
    assert r0["description"] == "they post my address" and r0["jurisdiction"] == "DE"
    assert r0["evidence"] == [{"type": "md5", "value": md5}]
    assert r0["category"] == "harassment" and r0["source"] == "rest" and r0["received_at"]
    assert r0["reporter"] == {"name": "Ann", "email": "ann@people.example"}
    assert r0["share"] == {"owner": "anonymous", "host": "anonymous"}
    assert r1["description"] == "me too" and r1["reporter"] is None and r1["evidence"] == []
    assert "client_addr" not in json.dumps(c) and "status_token" not in json.dumps(c)
    # A scan case has no reports member.
    scan_cases = srv.get("/v1/cases", role="analyst").json()["items"]
    for sc in scan_cases:
        if sc["kind"] == "scan":
            assert "reports" not in srv.get(f"/v1/cases/{sc['id']}", role="analyst").json()
            break


def test_an_escalation_or_assignment_that_changes_nothing_is_not_an_action(srv, hook):
    # Found in review: escalating a high case, or assigning a case to its assignee, was
    # a 200 with a history event, an audit entry and +1 in the transparency figures.
    cid, _ = new_case(srv, hook, "noop.example", category="csam")
    c = srv.get(f"/v1/cases/{cid}").json()
    assert c["priority"] == "high", c
    before = srv.get("/v1/transparency", role="analyst").json()["actions"]
    r = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "escalate"})
    assert "nothing to do" in assert_error(r, 409)["message"]
    assert srv.post(f"/v1/cases/{cid}/assign", json={"assignee": "e2e-analyst"}).status_code == 200
    r = srv.post(f"/v1/cases/{cid}/assign", json={"assignee": "e2e-analyst"})
    assert "nothing to do" in assert_error(r, 409)["message"]
    after = srv.get("/v1/transparency", role="analyst").json()["actions"]
    assert after.get("escalate", 0) == before.get("escalate", 0)
    assert after.get("assigned", 0) == before.get("assigned", 0) + 1
    hist = [e["action"] for e in srv.get(f"/v1/cases/{cid}").json()["history"]]
    assert hist.count("assigned") == 1 and "escalate" not in hist, hist
    # A lower case still escalates, up to high, and no further.
    low, _ = new_case(srv, hook, "noop2.example", category="spam")
    prio = srv.get(f"/v1/cases/{low}").json()["priority"]
    assert prio != "high"
    while prio != "high":
        r = srv.post(f"/v1/cases/{low}/decision", json={"decision": "escalate"})
        assert r.status_code == 200, r.text
        prio = r.json()["priority"]
    assert_error(srv.post(f"/v1/cases/{low}/decision", json={"decision": "escalate"}), 409)


def test_notify_again_reaches_a_contact_added_or_changed_since(srv, hook):
    # Found in review: any earlier notify made the next one a 409, even when the zone got
    # the owner's webhook (or a fixed host address) since: nobody could tell that party.
    z = srv.post("/v1/zones", json={"name": "late.example",
                                    "host_contact": {"email": "abuse@host.example"}}).json()
    r = report(srv, category="phishing", urls=["https://late.example/x"])
    cid = r.json()["cases"][0]["case_id"]
    hook.drain(0.3)
    first = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "notify"})
    assert first.status_code == 200, first.text
    assert [(n["party"], n["type"]) for n in first.json()["notifications"]] == [("host", "email")]
    again = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "notify"})
    assert "nothing to do" in assert_error(again, 409)["message"]
    assert srv.patch(f"/v1/zones/{z['id']}", json={
        "owner_contact": {"webhook_url": f"{hook.url}/late/owner"}}).status_code == 200
    second = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "notify"})
    assert second.status_code == 200, second.text
    assert [(n["party"], n["type"]) for n in second.json()["notifications"]] == [("owner", "webhook")]
    assert "/late/owner" in hook.drain()
    assert_error(srv.post(f"/v1/cases/{cid}/decision", json={"decision": "notify"}), 409)
    # A corrected host address is a new contact.
    assert srv.patch(f"/v1/zones/{z['id']}", json={
        "host_contact": {"email": "abuse-fixed@host.example"}}).status_code == 200
    third = srv.post(f"/v1/cases/{cid}/decision", json={"decision": "notify"})
    assert [n["party"] for n in third.json()["notifications"]] == ["host"], third.text
    hist = [e["action"] for e in srv.get(f"/v1/cases/{cid}").json()["history"]]
    assert hist.count("notify") == 3, hist
