-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 9: the last id handed to a bank and to a zone. Banks and zones are the rows
-- that get deleted, and their ids were MAX(id) + 1: deleting the newest zone and making
-- another gave the new one the old id, so an audit entry or a webhook receiver's record
-- naming "zone 7" could mean either. Like last_signal_id, these only grow. Same SQL
-- dialect rules as 0001 to 0008.
ALTER TABLE store_state ADD COLUMN last_bank_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_state ADD COLUMN last_zone_id BIGINT NOT NULL DEFAULT 0;
UPDATE store_state SET last_bank_id = (SELECT COALESCE(MAX(id), 0) FROM banks),
	last_zone_id = (SELECT COALESCE(MAX(id), 0) FROM zones);
