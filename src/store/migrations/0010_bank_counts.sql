-- SPDX-License-Identifier: Apache-2.0
--
-- Migration bank_counts: each bank keeps its count of live and of removed signals.
-- Every read of a bank counted its signals (two COUNT(*) over the bank's rows), so
-- resolving a bank's name, which a bank-filtered match, a one-signal add and each page
-- of a signal list do, cost seconds on a bank of a million signals. The store now moves
-- these counts in the transaction that adds, revives or removes a signal (one UPDATE per
-- bank touched, at commit), so reading them is one row. Same SQL dialect rules as the
-- migrations before it.
ALTER TABLE banks ADD COLUMN live_signals BIGINT NOT NULL DEFAULT 0;
ALTER TABLE banks ADD COLUMN removed_signals BIGINT NOT NULL DEFAULT 0;
UPDATE banks SET
	live_signals = (SELECT COUNT(*) FROM signals s
		WHERE s.bank_id = banks.id AND s.removed_at IS NULL),
	removed_signals = (SELECT COUNT(*) FROM signals s
		WHERE s.bank_id = banks.id AND s.removed_at IS NOT NULL);
