-- SPDX-License-Identifier: Apache-2.0
--
-- Migration 8: outbox claims. A worker that starts an attempt at an item first claims it
-- here, under the write lock, until claimed_until (a lease a little longer than one
-- attempt can take); no other claim returns it meanwhile, whichever process or server
-- asks. So two servers on one database never send one item at the same time. Every
-- transition out of pending, and a worker giving an item back, clears the claim; one
-- left by a worker that died ends with its lease, and the item is sent again (with the
-- same Idempotency-Key, as after any crash). NULL: nobody holds it.
ALTER TABLE outbox ADD COLUMN claimed_until BIGINT;
