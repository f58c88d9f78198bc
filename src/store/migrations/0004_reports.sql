-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 4: abuse reports (issue 5). Zones (whose site a URL is on and whom to tell),
-- reports with their URLs and evidence hashes, and the report-case lifecycle on the cases
-- table that scan matches already use. Same SQL dialect rules as 0001 to 0003.
--
-- Invariants:
-- - A report never holds content: URLs, a description, hashes of evidence, never a file.
-- - Reporter personal data (reporter_name, reporter_email, client_addr) is erasable: the
--   retention job sets the three to NULL and erased_at to when; the row stays, so the
--   report is still counted in the transparency figures.
-- - Only the SHA-256 of a report's status token is kept; the token is shown once.
-- - cases.status keeps its meaning (open | closed, with closed_at set exactly when
--   closed), which the one-open-case-per-(url, bank) rule of scan cases relies on.
--   cases.stage is the finer lifecycle: new, triaged, actioned (still open), rejected,
--   closed (both closed). Existing scan cases map open -> new and closed -> closed.

-- A site or domain vigil's operator serves. name is a lower-case hostname or registrable
-- domain; the most specific zone for a URL's host wins (src/api/api_zones.c).
CREATE TABLE zones (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	owner_email TEXT,
	owner_webhook_url TEXT,
	host_email TEXT,
	host_webhook_url TEXT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE reports (
	id INTEGER PRIMARY KEY,
	category TEXT NOT NULL,
	source TEXT NOT NULL CHECK (source IN ('rest', 'email')),
	kind TEXT NOT NULL DEFAULT 'api', -- api, arf, xarf, mail (vg_report_source_name)
	description TEXT,
	reporter_name TEXT,
	reporter_email TEXT,
	client_addr TEXT,
	share_owner TEXT NOT NULL CHECK (share_owner IN ('full', 'anonymous', 'none')),
	share_host TEXT NOT NULL CHECK (share_host IN ('full', 'anonymous', 'none')),
	jurisdiction TEXT NOT NULL DEFAULT '',
	source_ip TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL CHECK (status IN ('received', 'not_ours')),
	status_token_hash TEXT NOT NULL,
	message_id TEXT,
	created_at BIGINT NOT NULL,
	first_action_at BIGINT,
	closed_at BIGINT,
	erased_at BIGINT
);
CREATE INDEX reports_created ON reports (created_at);
CREATE INDEX reports_erase ON reports (erased_at, created_at);

-- Each canonical URL of a report, the zone it fell on (zone_id NULL once the zone is
-- deleted, or when on none; zone keeps the name) and the case it opened or joined.
CREATE TABLE report_urls (
	report_id INTEGER NOT NULL REFERENCES reports (id),
	url TEXT NOT NULL,
	zone_id INTEGER REFERENCES zones (id) ON DELETE SET NULL,
	zone TEXT NOT NULL DEFAULT '',
	case_id INTEGER REFERENCES cases (id),
	PRIMARY KEY (report_id, url)
);
CREATE INDEX report_urls_case ON report_urls (case_id);

CREATE TABLE report_evidence (
	report_id INTEGER NOT NULL REFERENCES reports (id),
	type TEXT NOT NULL CHECK (type IN ('pdq', 'md5', 'sha256')),
	hex TEXT NOT NULL,
	PRIMARY KEY (report_id, type, hex)
);

-- The report lifecycle on cases. kind tells a scan match's case from a report's;
-- dedup_key ("<category> <canonical url>") groups reports within the dedup window.
ALTER TABLE cases ADD COLUMN kind TEXT NOT NULL DEFAULT 'scan' CHECK (kind IN ('scan', 'report'));
ALTER TABLE cases ADD COLUMN stage TEXT NOT NULL DEFAULT 'new'
	CHECK (stage IN ('new', 'triaged', 'actioned', 'rejected', 'closed'));
ALTER TABLE cases ADD COLUMN category TEXT;
ALTER TABLE cases ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal'
	CHECK (priority IN ('low', 'normal', 'high'));
ALTER TABLE cases ADD COLUMN assignee TEXT;
ALTER TABLE cases ADD COLUMN dedup_key TEXT;
ALTER TABLE cases ADD COLUMN first_action_at BIGINT;
UPDATE cases SET stage = 'closed' WHERE status = 'closed';
CREATE INDEX cases_dedup ON cases (dedup_key, created_at);
CREATE INDEX cases_stage ON cases (stage, id);
