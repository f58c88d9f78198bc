-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 11: reports found by their Message-ID. Mail is delivered at least once (an
-- MTA that timed out a slow pipe, a message sent to two abuse aliases), and the same
-- message came in as a second report, attached to its cases and counted again; intake
-- now looks the Message-ID up first (vg_store_report_find_message_id). Same SQL dialect
-- rules as 0001 to 0010.
CREATE INDEX reports_message_id ON reports (message_id, created_at);
