-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 5: a random tag that every committed change sets, beside change_seq. A
-- database restored from a backup goes back to the backup's change_seq and, after as
-- many writes as were lost, reaches the old number again with other content: the
-- (created_at, change_seq) watermark then took a stale index snapshot for current, and
-- matches went missing. The tag of that later commit differs from the snapshot's (a
-- fresh 63-bit random number each commit), so the snapshot is rebuilt. Same SQL
-- dialect rules as 0001 to 0004.
ALTER TABLE store_state ADD COLUMN change_tag BIGINT NOT NULL DEFAULT 0;
