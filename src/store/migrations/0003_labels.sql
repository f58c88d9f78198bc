-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 3: what the rules engine keeps across a restart, and the signal types it
-- matches beyond hashes. Same SQL dialect rules as 0001 and 0002.
--
-- Invariants: one row per (kind, entity id, name): setting a label again moves its expiry
-- (the last write wins); expires_at 0 means the label never expires; an expired row is a
-- dead label, never returned as live, and may be purged at any time.

-- Labels that rules put on entities (label(kind, id, name, ttl)). Counters are not kept:
-- they start empty after a restart, as docs/rules.md says.
CREATE TABLE labels (
	kind TEXT NOT NULL,
	entity TEXT NOT NULL,
	name TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (kind, entity, name)
);
CREATE INDEX labels_expires ON labels (expires_at);

-- The signal types banks gain for rules' match(bank, value); their validators are in
-- src/bank/bank_types.c.
INSERT INTO signal_types (name, description) VALUES
	('url', 'an http or https URL, stored canonicalised'),
	('domain', 'a domain name; matches it and every subdomain'),
	('ip', 'an IPv4 or IPv6 address or CIDR range'),
	('text', 'an exact string');
