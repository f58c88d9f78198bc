-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 2: what `vigil serve` keeps. API tokens (only their SHA-256), the hash-chained
-- audit log, what each bank's matches do (actions, webhook), one record per scan, the
-- block list, review cases with their history, and the outbox of actions still to be
-- delivered. Written in the SQL both SQLite and PostgreSQL accept, like 0001: ids are
-- assigned by the store under the write lock, times are BIGINT vg_usec, booleans 0/1.
--
-- Invariants:
-- - Nothing here holds content: scans keep hashes, a URL and a verdict, never the image.
-- - Rows are never deleted: tokens are revoked, blocks lifted, cases closed, outbox rows
--   end done or dead. So MAX(id) + 1 never hands out an id twice.
-- - At most one live token per name, one active block per URL, one open case per
--   (non-empty URL, bank): partial unique indexes, so even a writer that skipped the
--   store's own check cannot break the rule.
-- - The audit log is append-only and chained: each entry's hash covers the previous
--   entry's hash and its own fields (src/store/store.c, vg_store_audit_hash), and
--   audit_head remembers the last entry, so an edit, a deletion, a reordering or a
--   truncated tail shows up in `vigil audit verify`.

-- What a match in this bank does: a JSON array of action names (["block", "case",
-- "webhook", "report"]; their meaning is the action layer's), and where its webhook goes.
ALTER TABLE banks ADD COLUMN actions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE banks ADD COLUMN webhook_url TEXT;
ALTER TABLE banks ADD COLUMN webhook_secret TEXT;

-- Bearer tokens. hash is the lower-case hex SHA-256 of the secret; the secret itself is
-- shown once and never stored. A revoked name can be issued again (a new row).
CREATE TABLE tokens (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'scanner', 'intake', 'ingest')),
	hash TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT
);
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE audit (
	id INTEGER PRIMARY KEY,
	at BIGINT NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	object_type TEXT NOT NULL,
	object_id TEXT NOT NULL,
	detail TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL
);

-- One row: the chain's last entry (0 and 64 zeros while empty). Appending reads it and
-- moves it in the same write transaction.
CREATE TABLE audit_head (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	last_id BIGINT NOT NULL,
	last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, last_id, last_hash) VALUES
	(1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- One row per scan. url is the canonical URL the content was served from, or NULL;
-- matches is a JSON array describing what matched (the API's shape).
CREATE TABLE scans (
	id INTEGER PRIMARY KEY,
	at BIGINT NOT NULL,
	actor TEXT NOT NULL,
	url TEXT,
	pdq TEXT,
	md5 TEXT,
	sha256 TEXT,
	quality INTEGER NOT NULL DEFAULT 0,
	verdict TEXT NOT NULL CHECK (verdict IN ('block', 'allow')),
	matches TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX scans_at ON scans (at);

-- A case outlives its bank: bank keeps the name it had, bank_id becomes NULL.
CREATE TABLE cases (
	id INTEGER PRIMARY KEY,
	url TEXT NOT NULL,
	bank_id INTEGER REFERENCES banks (id) ON DELETE SET NULL,
	bank TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	decision TEXT,
	note TEXT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	closed_at BIGINT,
	CHECK ((status = 'open') = (closed_at IS NULL))
);
-- A match without a URL has nothing to group by: it always opens a case of its own.
CREATE UNIQUE INDEX cases_open_url_bank ON cases (url, bank_id)
	WHERE status = 'open' AND url <> '';
CREATE INDEX cases_status ON cases (status, id);
CREATE INDEX cases_bank ON cases (bank_id);

-- A case's history: opened, match_attached (with the scan), decided.
CREATE TABLE case_events (
	id INTEGER PRIMARY KEY,
	case_id INTEGER NOT NULL REFERENCES cases (id),
	at BIGINT NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	note TEXT,
	scan_id INTEGER REFERENCES scans (id)
);
CREATE INDEX case_events_case ON case_events (case_id, id);

CREATE TABLE blocks (
	id INTEGER PRIMARY KEY,
	url TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	bank_id INTEGER REFERENCES banks (id) ON DELETE SET NULL,
	case_id INTEGER REFERENCES cases (id),
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL,
	lifted_at BIGINT,
	lifted_by TEXT,
	CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
);
CREATE UNIQUE INDEX blocks_active_url ON blocks (url) WHERE lifted_at IS NULL;
CREATE INDEX blocks_case ON blocks (case_id);
CREATE INDEX blocks_bank ON blocks (bank_id);

-- Durable actions, written in the transaction that caused them and delivered after it
-- commits. pending -> pending (a retry: attempts + 1, a later next_at) -> done | dead.
-- idempotency_key travels with the delivery so a receiver can drop a repeat.
CREATE TABLE outbox (
	id INTEGER PRIMARY KEY,
	kind TEXT NOT NULL,
	target TEXT NOT NULL,
	payload TEXT NOT NULL,
	secret TEXT,
	idempotency_key TEXT NOT NULL UNIQUE,
	state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error TEXT,
	next_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_at, id);
