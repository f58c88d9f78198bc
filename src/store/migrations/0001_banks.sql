-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 1: banks of known-bad signals. Written in the SQL both SQLite and PostgreSQL
-- accept: ids are assigned by the store (never by AUTOINCREMENT or SERIAL), times are
-- BIGINT vg_usec (microseconds since the Unix epoch, UTC), booleans are 0/1 integers.
--
-- Invariants: a bank's name is unique; a (bank, value, type) triple is one row whatever
-- its history (a re-add of a removed signal revives that row, so ids are stable); removal
-- is soft (removed_at set) so the audit trail keeps every signal a bank ever held;
-- store_state.change_seq moves on every committed write, which is how index snapshots
-- know they are stale.

-- The signal types a bank may hold. A new type (url, domain, ip) is one INSERT in a later
-- migration plus its validator in src/bank/.
CREATE TABLE signal_types (
	name TEXT PRIMARY KEY,
	description TEXT NOT NULL
);
INSERT INTO signal_types (name, description) VALUES
	('pdq', 'PDQ perceptual hash of an image, 64 hex digits'),
	('md5', 'MD5 of the file bytes, 32 hex digits'),
	('sha256', 'SHA-256 of the file bytes, 64 hex digits');

CREATE TABLE banks (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- INTEGER PRIMARY KEY is SQLite's rowid (no second index for the key, which halves the
-- cost of a million-row import); PostgreSQL reads it as a 32-bit integer, ample here.
CREATE TABLE signals (
	id INTEGER PRIMARY KEY,
	bank_id INTEGER NOT NULL REFERENCES banks (id) ON DELETE CASCADE,
	type TEXT NOT NULL REFERENCES signal_types (name),
	value TEXT NOT NULL,
	metadata TEXT,
	added_at BIGINT NOT NULL,
	removed_at BIGINT,
	-- value before type: `bank remove NAME VALUE` finds every type of a value with it.
	UNIQUE (bank_id, value, type)
);

-- One row: the store's birth time (so a database recreated at the same path never
-- passes for the old one), its change counter, and the last signal id handed out (ids
-- are never reused, even after a bank with the highest ones is deleted).
CREATE TABLE store_state (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	created_at BIGINT NOT NULL,
	change_seq BIGINT NOT NULL,
	last_signal_id BIGINT NOT NULL
);
