-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 6: the time the reporter says the abuse happened (ARF Arrival-Date, X-ARF
-- Date or timestamp), which the authority report gives as the incident time. Same SQL
-- dialect rules as 0001 to 0005.
--
-- Invariant: NULL when the report named no time; created_at stays when vigil received
-- it, which the transparency figures count by.
ALTER TABLE reports ADD COLUMN incident_at BIGINT;
