"""The text of `creditbook_charge(...)` as migration 0005 installs it, frozen.

Migration 0005 ran `storage/fast.py`'s CHARGE_FUNCTION and DROP_CHARGE_FUNCTION as they were when
it shipped; these are those texts, moved here verbatim so that storage/fast.py can carry the
function's current body (migration 0006) while 0005 — and 0006's downgrade, which reinstalls this
body — keep doing exactly what they did. Never edit this file: a new body is a new migration.
"""

from __future__ import annotations

from typing import Final

CHARGE_FUNCTION: Final = """
CREATE OR REPLACE FUNCTION creditbook_charge(
    p_clinic text, p_key text, p_hash text, p_claimed_at timestamptz,
    p_wallet bigint, p_version bigint, p_pricebook text, p_in_force integer, p_pinned integer,
    p_at timestamptz, p_approve boolean, p_credits bigint, p_balance bigint,
    p_lots bigint[], p_parts bigint[], p_counter bigint,
    p_product text, p_units bigint, p_priced_version integer, p_priced_hash text, p_rule_ids text,
    p_quote text, p_reason text, p_patient_ref text, p_unfunded bigint,
    p_term bigint, p_term_units bigint, p_day date, p_head text, p_tail text,
    OUT o_status text, OUT o_transaction bigint, OUT o_balance bigint, OUT o_stored text
) LANGUAGE plpgsql AS $fn$
DECLARE
    v_claim bigint;
    v_version bigint;
    v_balance bigint;
    v_limit bigint;
    v_key record;
    v_count integer;
BEGIN
    -- 1. the idempotency key
    INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at)
    VALUES (p_clinic, p_key, 'charge', p_hash, p_claimed_at)
    ON CONFLICT (scope, key) DO NOTHING
    RETURNING id INTO v_claim;
    IF v_claim IS NULL THEN
        SELECT k.operation, k.request_hash, k.outcome INTO v_key
          FROM idempotency_keys k WHERE k.scope = p_clinic AND k.key = p_key;
        IF v_key.operation <> 'charge' OR v_key.request_hash <> p_hash THEN
            o_status := 'conflict';
        ELSIF v_key.outcome IS NULL THEN
            o_status := 'slow';
        ELSE
            o_status := 'replay';
            o_stored := v_key.outcome;
        END IF;
        RETURN;
    END IF;

    -- 2. the wallet, locked, still in the state the charge was priced from
    SELECT a.version, a.balance, a.overdraft_limit INTO v_version, v_balance, v_limit
      FROM accounts a WHERE a.id = p_wallet AND a.kind = 'wallet' AND a.clinic_id = p_clinic FOR UPDATE;
    IF v_version IS DISTINCT FROM p_version
       OR (SELECT v.version FROM pricebook_versions v
            WHERE v.pricebook_id = p_pricebook AND v.effective_from <= p_at
            ORDER BY v.effective_from DESC LIMIT 1) IS DISTINCT FROM p_in_force
       OR (SELECT p.version FROM clinic_pins p
            WHERE p.clinic_id = p_clinic AND p.pinned_from <= p_at
              AND (p.pinned_until IS NULL OR p.pinned_until > p_at)
            ORDER BY p.pinned_from DESC, p.id DESC LIMIT 1) IS DISTINCT FROM p_pinned
    THEN
        DELETE FROM idempotency_keys WHERE id = v_claim;
        o_status := 'stale';
        RETURN;
    END IF;

    -- 3. the spend, or the decline
    IF p_approve THEN
        IF p_credits > 0 THEN
            UPDATE accounts a SET balance = a.balance - p_credits, version = a.version + 1, last_at = p_at
             WHERE a.id = p_wallet AND a.kind = 'wallet' AND a.balance - p_credits >= -a.overdraft_limit
            RETURNING a.balance INTO o_balance;
            IF o_balance IS DISTINCT FROM p_balance THEN
                RAISE EXCEPTION 'creditbook_charge: wallet % took % credits to %, not the predicted %',
                    p_wallet, p_credits, o_balance, p_balance USING ERRCODE = 'XX000';
            END IF;
            UPDATE lots l SET remaining = l.remaining - t.part
              FROM unnest(p_lots, p_parts) AS t(id, part)
             WHERE l.id = t.id AND l.wallet_id = p_wallet AND l.remaining >= t.part;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            IF v_count <> coalesce(cardinality(p_lots), 0) THEN
                RAISE EXCEPTION 'creditbook_charge: the lots of wallet % changed under the prediction', p_wallet
                    USING ERRCODE = 'XX000';
            END IF;
        ELSE
            UPDATE accounts a SET last_at = p_at, version = a.version + 1 WHERE a.id = p_wallet
            RETURNING a.balance INTO o_balance;
        END IF;
        o_status := 'posted';
    ELSE
        IF v_balance - p_credits >= -v_limit THEN
            RAISE EXCEPTION 'creditbook_charge: wallet % can take % credits: the prediction declined them',
                p_wallet, p_credits USING ERRCODE = 'XX000';
        END IF;
        o_balance := v_balance;
        o_status := 'declined';
    END IF;
    INSERT INTO transactions (clinic_id, kind, status, credits, at, product, units, pricebook_id,
        pricebook_version, pricebook_hash, rule_ids, quote, reason, actor, note, related_id, payment_id,
        patient_ref, unfunded, refunded)
    VALUES (p_clinic, 'charge', o_status, p_credits, p_at, p_product, p_units, p_pricebook,
        p_priced_version, p_priced_hash, p_rule_ids, p_quote, p_reason, NULL, NULL, NULL, NULL,
        p_patient_ref, p_unfunded, 0)
    RETURNING id INTO o_transaction;
    IF p_approve THEN
        IF p_credits > 0 THEN
            INSERT INTO allocations (lot_id, transaction_id, kind, amount)
            SELECT t.id, o_transaction, 'charge', t.part
              FROM unnest(p_lots, p_parts) WITH ORDINALITY AS t(id, part, n) ORDER BY t.n;
            INSERT INTO entries (transaction_id, account_id, amount)
            VALUES (o_transaction, p_wallet, -p_credits), (o_transaction, p_counter, p_credits);
        END IF;
        IF p_term IS NOT NULL THEN
            UPDATE terms SET units = units + p_term_units WHERE id = p_term;
        END IF;
        INSERT INTO usage_days AS u (clinic_id, day, product, charged, units, refunded, charge_refunded)
        VALUES (p_clinic, p_day, coalesce(p_product, ''), p_credits, coalesce(p_units, 0), 0, 0)
        ON CONFLICT (clinic_id, day, product)
        DO UPDATE SET charged = u.charged + excluded.charged, units = u.units + excluded.units;
    END IF;

    -- 4. the outcome, with the key
    UPDATE idempotency_keys SET outcome = p_head || o_transaction::text || p_tail, transaction_id = o_transaction
     WHERE id = v_claim;
END
$fn$;
"""
DROP_CHARGE_FUNCTION: Final = (
    "DROP FUNCTION IF EXISTS creditbook_charge(text, text, text, timestamptz, bigint, bigint, text, integer, "
    "integer, timestamptz, boolean, bigint, bigint, bigint[], bigint[], bigint, text, bigint, integer, text, "
    "text, text, text, text, bigint, bigint, bigint, date, text, text)"
)
