-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 7: the outbox's due items by kind. A worker asks only for the kinds it can
-- deliver (webhooks; email when an SMTP relay is set), while other pending items wait
-- without end: authority_report drafts until a person acts, email without a relay. Read
-- through (state, next_at) those would come first, oldest first, and a large enough pile
-- of them hid every webhook behind it. Read through (state, kind, next_at) each kind's
-- due items are one index range, whatever else is pending.
CREATE INDEX outbox_due_kind ON outbox (state, kind, next_at, id);
