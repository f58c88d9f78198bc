# SPDX-License-Identifier: Apache-2.0
"""Email notifications through an SMTP relay against a real `vigil serve`: a tiny local
SMTP sink (socketserver, speaking just enough SMTP) receives the owner's and host's
messages for a report; a recipient the relay refuses for good (5xx) is dead; a relay
refusing vigil's own credentials or sender is retried; without smtp_url email items stay
pending."""
import base64
import email
import email.policy
import queue
import socketserver
import threading
import time

import pytest

from conftest import serve_module
from test_reports import report


class Sink:
    """Accepts every message except for recipients starting with "refuse" and senders
    starting with "refused" (553). With a password, it offers AUTH PLAIN, answers a wrong
    one with 535 and MAIL FROM before AUTH with 530."""

    def __init__(self, password=None):
        self.got = queue.Queue()
        self.commands = []  # every command line received, in order
        outer = self

        class H(socketserver.StreamRequestHandler):
            def say(self, line):
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.say("220 sink ESMTP")
                sender, rcpts, authed = None, [], password is None
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode("latin-1").strip()
                    outer.commands.append(cmd)
                    up = cmd.upper()
                    if up.startswith(("EHLO", "HELO")):
                        if password is None:
                            self.say("250 sink")
                        else:
                            self.say("250-sink")
                            self.say("250 AUTH PLAIN")
                    elif up.startswith("AUTH PLAIN") and password is not None:
                        arg = cmd.split(" ", 2)[2] if cmd.count(" ") >= 2 else None
                        if arg is None:
                            self.say("334 ")
                            arg = self.rfile.readline().decode().strip()
                        authed = base64.b64decode(arg).split(b"\0")[-1].decode() == password
                        self.say("235 ok" if authed else "535 5.7.8 credentials invalid")
                    elif up.startswith("MAIL FROM:"):
                        if not authed:
                            self.say("530 5.7.0 authentication required")
                        elif cmd[10:].strip().strip("<>").startswith("refused"):
                            self.say("553 5.7.1 sender not allowed")
                        else:
                            sender, rcpts = cmd[10:].strip(), []
                            self.say("250 ok")
                    elif up.startswith("RCPT TO:"):
                        to = cmd[8:].strip()
                        if to.strip("<>").startswith("refuse"):
                            self.say("550 no such user")
                        else:
                            rcpts.append(to)
                            self.say("250 ok")
                    elif up == "DATA":
                        self.say("354 go on")
                        data = b""
                        while not data.endswith(b"\r\n.\r\n"):
                            chunk = self.rfile.readline()
                            if not chunk:
                                return
                            data += chunk
                        outer.got.put((sender, rcpts, data[:-5]))
                        self.say("250 queued")
                    elif up == "QUIT":
                        self.say("221 bye")
                        return
                    elif up in ("RSET", "NOOP"):
                        self.say("250 ok")
                    else:
                        self.say("502 not here")

        class S(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.srv = S(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"smtp://127.0.0.1:{self.srv.server_address[1]}"

    def messages(self, n, wait=5):
        out, end = [], time.time() + wait
        while len(out) < n and time.time() < end:
            try:
                out.append(self.got.get(timeout=0.1))
            except queue.Empty:
                pass
        return out


@pytest.fixture(scope="module")
def sink():
    s = Sink()
    yield s
    s.srv.shutdown()


@pytest.fixture(scope="module")
def srv(vigil_bin, tmp_path_factory, sink):
    yield from serve_module(vigil_bin, tmp_path_factory, "--smtp-url", sink.url,
                            "--smtp-from", "abuse@vigil.example", "--webhook-backoff", "100ms")


def outbox(srv, state):
    return srv.get("/v1/outbox", role="analyst", params={"state": state, "limit": 1000}).json()["items"]


def test_owner_and_host_get_an_email(srv, sink):
    assert srv.post("/v1/zones", json={
        "name": "mail.example", "owner_contact": {"email": "owner@mail.example"},
        "host_contact": {"email": "abuse@host.example"}}).status_code == 201
    r = report(srv, category="phishing", urls=["https://mail.example/login"],
               reporter={"name": "Mailer Person", "email": "mp@example.org"})
    assert r.status_code == 201, r.text
    assert sorted(n["type"] for n in r.json()["notifications"]) == ["email", "email"]
    got = sink.messages(2)
    assert len(got) == 2, got
    assert sorted(to for _, rcpts, _ in got for to in rcpts) == [
        "<abuse@host.example>", "<owner@mail.example>"]
    for sender, _, data in got:
        assert sender == "<abuse@vigil.example>"
        m = email.message_from_bytes(data, policy=email.policy.default)
        assert m["From"] == "abuse@vigil.example"
        assert m["Subject"] == "[vigil] abuse report: phishing on mail.example"
        text = m.get_content()
        assert "https://mail.example/login" in text and "Category: phishing" in text
        assert "Mailer Person" not in text and "mp@example.org" not in text
        assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    time.sleep(0.3)
    done = [o for o in outbox(srv, "done") if o["kind"] == "email"]
    assert len(done) == 2, done


def test_a_refused_recipient_is_dead(srv, sink):
    assert srv.post("/v1/zones", json={
        "name": "refused.example", "host_contact": {"email": "refuse@host.example"}}).status_code == 201
    assert report(srv, category="spam", urls=["https://refused.example/"]).status_code == 201
    end = time.time() + 5
    dead = []
    while time.time() < end and not dead:
        dead = [o for o in outbox(srv, "dead") if o["target"] == "refuse@host.example"]
        time.sleep(0.1)
    assert dead and "550" in dead[0]["last_error"], dead


def test_without_smtp_url_email_waits(serve):
    s = serve()
    s.post("/v1/zones", json={"name": "wait.example", "host_contact": {"email": "h@wait.example"}})
    assert report(s, category="spam", urls=["https://wait.example/"]).status_code == 201
    time.sleep(0.5)
    pending = [o for o in s.get("/v1/outbox", params={"state": "pending"}).json()["items"]
               if o["kind"] == "email"]
    assert len(pending) == 1 and pending[0]["attempts"] == 0


def test_a_relay_refusing_our_credentials_or_sender_retries(serve):
    # Found in review: every 5xx was dead, so a wrong smtp_password (535) or a sender the
    # relay will not take (553) lost every queued notification for good. They are the
    # operator's settings, not the item's: retried until fixed, then delivered.
    relay = Sink(password="right-pass")
    try:
        common = ["--smtp-url", relay.url, "--smtp-user", "vigil", "--webhook-backoff", "100ms",
                  "--webhook-backoff-max", "200ms", "--webhook-attempts", "100",
                  "--smtp-plaintext-auth"]  # the sink speaks no TLS
        s = serve(*common, "--smtp-password", "typo-pass", "--smtp-from", "abuse@vigil.example")
        s.post("/v1/zones", json={"name": "auth.example", "host_contact": {"email": "h@auth.example"}})
        assert report(s, category="spam", urls=["https://auth.example/"]).status_code == 201

        def waiting(code):
            end = time.time() + 5
            while time.time() < end:
                items = [o for o in outbox(s, "pending") if o["kind"] == "email"]
                if items and items[0]["attempts"] >= 2 and code in (items[0]["last_error"] or ""):
                    return items
                time.sleep(0.1)
            raise AssertionError((outbox(s, "pending"), outbox(s, "dead")))
        waiting("535")
        assert not outbox(s, "dead")
        s.stop()
        s.flags = [*common, "--smtp-password", "right-pass", "--smtp-from", "refused@vigil.example"]
        s.start()
        waiting("553")
        assert not outbox(s, "dead") and relay.got.empty()
        s.stop()
        s.flags = [*common, "--smtp-password", "right-pass", "--smtp-from", "abuse@vigil.example"]
        s.start()
        got = relay.messages(1)
        assert len(got) == 1 and got[0][1] == ["<h@auth.example>"], got
        end = time.time() + 5
        while time.time() < end and not [o for o in outbox(s, "done") if o["kind"] == "email"]:
            time.sleep(0.1)
        assert [o["target"] for o in outbox(s, "done") if o["kind"] == "email"] == ["h@auth.example"]
        assert not outbox(s, "dead")
    finally:
        relay.srv.shutdown()


def test_credentials_never_go_out_without_tls(serve):
    """Found in review: with smtp_user set, vigil used STARTTLS only when the relay
    offered it, so a relay without it (or an on-path attacker stripping the offer) got
    AUTH PLAIN with the password, and the messages, in clear. Now TLS is required when
    vigil logs in: nothing is sent, the item waits (retried) with the reason, until the
    operator allows plaintext logins with smtp_plaintext_auth."""
    relay = Sink(password="S3cretPassw0rd")
    try:
        common = ["--smtp-url", relay.url, "--smtp-user", "opuser", "--smtp-password",
                  "S3cretPassw0rd", "--smtp-from", "abuse@vigil.example",
                  "--webhook-backoff", "100ms", "--webhook-backoff-max", "200ms",
                  "--webhook-attempts", "100"]
        s = serve(*common)
        s.post("/v1/zones", json={"name": "tls.example", "host_contact": {"email": "h@tls.example"}})
        assert report(s, category="spam", urls=["https://tls.example/"]).status_code == 201
        end = time.time() + 5
        while time.time() < end:
            items = [o for o in outbox(s, "pending") if o["kind"] == "email"]
            if items and items[0]["attempts"] >= 2:
                break
            time.sleep(0.1)
        assert items and items[0]["attempts"] >= 2, outbox(s, "pending")
        assert "TLS" in (items[0]["last_error"] or "") or "SSL" in (items[0]["last_error"] or ""), items
        assert relay.commands, "vigil talked to the relay"
        assert not [c for c in relay.commands if c.upper().startswith(("AUTH", "MAIL"))], relay.commands
        assert relay.got.empty() and not outbox(s, "dead")
        s.stop()
        s.flags = [*common, "--smtp-plaintext-auth"]
        s.start()
        got = relay.messages(1)
        assert len(got) == 1 and got[0][1] == ["<h@tls.example>"], got
    finally:
        relay.srv.shutdown()
