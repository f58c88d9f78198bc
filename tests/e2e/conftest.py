# SPDX-License-Identifier: Apache-2.0
"""Fixtures for black-box tests of the vigil binary (build/vigil)."""
import hashlib
import os
import pathlib
import queue
import signal
import subprocess
import threading
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def vigil():
    path = pathlib.Path(os.environ.get("VIGIL_BIN", ROOT / "build" / "vigil"))
    assert path.exists(), f"{path} is missing: run make first"

    def run(*args, input=None, check=None):
        proc = subprocess.run([str(path), *map(str, args)], input=input,
                              capture_output=True, timeout=300)
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.stderr.decode(errors="replace"))
        return proc
    return run


@pytest.fixture(scope="session")
def pdq_dir():
    shared = pathlib.Path(os.environ.get("VIGIL_SHARED", ROOT.parent / "shared"))
    d = shared / "conformance" / "pdq"
    assert (d / "expected.txt").exists(), f"{d} is missing: set VIGIL_SHARED"
    return d


# ---- a real `vigil serve` ------------------------------------------------------------------
# Every test_serve_*.py file talks HTTP to a server started here: a fresh database in a
# temporary folder, `--listen 127.0.0.1:0` (the port is read back from the "listening on"
# line, so no two tests race for a port), the first admin token read from stdout's first
# line, a token of every other role, and SIGTERM at the end with exit status 0 checked.
# The server's stderr is kept in a file so tests can grep the logs.
ROLES = ("admin", "analyst", "scanner", "intake", "ingest")


def mint_token(binary, db, role, name):
    """A new token of role in db, from `vigil token create` (its first stdout line)."""
    proc = subprocess.run([str(binary), "token", "create", "--role", role, "--name", name,
                           "--db", str(db)], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode().splitlines()[0].strip()


class Server:
    """One `vigil serve` process. start() may be called again after stop() or kill() to
    restart on the same database; the tokens carry over."""

    def __init__(self, binary, workdir, flags=(), env=None, db=None):
        self.binary = pathlib.Path(binary)
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db = pathlib.Path(db) if db else self.workdir / "vigil.db"
        self.flags = [str(f) for f in flags]
        # The caller's own VIGIL_* settings would change what is tested: only env's count.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.env.update(env or {})
        self.tokens = {}
        self.secrets = []        # every token secret this server has seen, for log greps
        self.proc = None
        self.port = None
        self.http = requests.Session()
        self.logs = []           # stderr files, one per start
        self.starts = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=15):
        assert self.proc is None
        self.starts += 1
        log = self.workdir / f"stderr-{self.starts}.log"
        self.logs.append(log)
        self._err = open(log, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--listen", "127.0.0.1:0", "--db", str(self.db),
             *self.flags],
            stdout=subprocess.PIPE, stderr=self._err, env=self.env, cwd=str(self.workdir))
        lines = queue.Queue()

        def read():
            for raw in self.proc.stdout:
                lines.put(raw.decode(errors="replace").rstrip("\n"))
            lines.put(None)
        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        first = []
        while True:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
                raise AssertionError(f"vigil serve did not start: {first} "
                                     f"{log.read_text(errors='replace')}")
            if line.startswith("listening on "):
                self.port = int(line.rsplit("port ", 1)[1].rstrip(")"))
                break
            first.append(line)
        if first:  # the first start prints the admin token alone on the first line
            assert len(first) == 1 and first[0].startswith("vg_"), first
            self.tokens["admin"] = first[0]
            self.secrets.append(first[0])
        while True:
            try:
                if self.http.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "vigil serve never became ready"
            time.sleep(0.02)
        return self

    def mint_roles(self):
        for role in ROLES:
            if role not in self.tokens:
                self.add_token(role, f"e2e-{role}")
        return self

    def add_token(self, role, name):
        secret = mint_token(self.binary, self.db, role, name)
        self.secrets.append(secret)
        if role not in self.tokens:
            self.tokens[role] = secret
        return secret

    def stop(self, timeout=15):
        """SIGTERM; returns the exit status."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._err.close()
            self.proc = None
            self.http.close()
            self.http = requests.Session()
        return rc

    def kill(self):
        """kill -9: no chance to flush anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=15)
        self._err.close()
        self.proc = None
        self.http.close()
        self.http = requests.Session()

    def log_text(self):
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def request(self, method, path, role="admin", token=None, **kw):
        """An HTTP request as role (None: no Authorization header), or with token."""
        headers = dict(kw.pop("headers", None) or {})
        if token is None and role is not None:
            token = self.tokens[role]
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kw.setdefault("timeout", 30)
        return self.http.request(method, self.url + path, headers=headers, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def _finish(servers):
    for srv in servers:
        if srv.proc is not None:
            rc = srv.stop()
            assert rc == 0, f"vigil serve exited {rc} on SIGTERM: {srv.log_text()[-2000:]}"
        text = srv.log_text()
        for secret in srv.secrets:
            assert secret not in text, "a token secret reached the logs"
            assert hashlib.sha256(secret.encode()).hexdigest() not in text


@pytest.fixture(scope="session")
def vigil_bin():
    path = pathlib.Path(os.environ.get("VIGIL_BIN", ROOT / "build" / "vigil"))
    assert path.exists(), f"{path} is missing: run make first"
    return path


@pytest.fixture
def serve(vigil_bin, tmp_path):
    """Starts servers: serve(*flags, env={...}, db=PATH) -> a running Server with a token
    of every role. Each is stopped with SIGTERM at the end (exit status 0 checked) and
    its logs are checked for token secrets."""
    servers = []

    def start(*flags, env=None, db=None, roles=True):
        srv = Server(vigil_bin, tmp_path / f"serve-{len(servers)}", flags, env, db)
        servers.append(srv)
        srv.start()
        if roles:
            srv.mint_roles()
        return srv
    yield start
    _finish(servers)


@pytest.fixture(scope="module")
def server(vigil_bin, tmp_path_factory):
    """One server shared by a test file's tests (defaults, a token of every role)."""
    srv = Server(vigil_bin, tmp_path_factory.mktemp("serve"))
    srv.start().mint_roles()
    yield srv
    _finish([srv])


def assert_error(resp, status, code=None):
    """resp is the API's error: the status, and {"error": {"code", "message"}} as JSON."""
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert body["error"]["code"].replace("_", "").isalpha() and body["error"]["code"].islower()
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def serve_module(binary, tmp_path_factory, *flags, env=None):
    """For a test file's own module-scoped server with flags: `yield from` this."""
    srv = Server(binary, tmp_path_factory.mktemp("serve"), flags, env)
    srv.start().mint_roles()
    yield srv
    _finish([srv])


@pytest.fixture(scope="session")
def bridge(pdq_dir):
    """The conformance set's bridge photo and its edits (all within PDQ distance 31)."""
    return pdq_dir / "images" / "bridge-mods"


# bridge-mods/aaa-orig.jpg's PDQ hash (expected.txt); blur-a-lot.jpg has the same one.
BRIDGE_PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"


def router_routes(files=None):
    """The route tables of src/api/*.c (or of the files named, as "api_banks"), parsed:
    [(method, pattern, roles)], where roles is the set of role names the table allows
    ("public" for no token); admin is implied."""
    import re
    entry = re.compile(r'\{\s*"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)"\s*,\s*"(/[^"]*)"\s*,'
                       r'\s*([A-Z_|\s]+?)\s*,\s*(?:true|false)\s*,\s*\w+\s*\}')
    names = {"ADMIN": "admin", "ANALYST": "analyst", "SCANNER": "scanner", "INTAKE": "intake",
             "INGEST": "ingest", "PUBLIC": "public"}
    out = []
    for src in sorted((ROOT / "src" / "api").glob("*.c")):
        if files is not None and src.stem not in files:
            continue
        for method, pattern, roles in entry.findall(src.read_text()):
            if roles.strip() == "VG__ROLES_ALL":
                got = set(ROLES)
            else:
                got = {names[r.strip().replace("VG__ROLE_", "")] for r in roles.split("|")}
            out.append((method, pattern, frozenset(got)))
    return out
