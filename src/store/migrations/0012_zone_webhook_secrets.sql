-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 12: a webhook secret for each zone contact, as banks have. Notifications to a
-- zone's owner or host went out unsigned, so a receiver that checks X-Vigil-Signature (as
-- docs/webhooks.md shows) refused every one and vigil marked them dead, and anyone who
-- learnt the URL could forge a takedown notice. Write-only: the API says whether one is
-- set, never what it is. Same SQL dialect rules as 0001 to 0011.
ALTER TABLE zones ADD COLUMN owner_webhook_secret TEXT;
ALTER TABLE zones ADD COLUMN host_webhook_secret TEXT;
