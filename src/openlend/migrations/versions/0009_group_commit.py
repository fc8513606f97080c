"""group commit: many drawdowns in one call

Revision ID: 0009
Revises: 0008

``loan_drawdown_many`` does the writes of many drawdowns (``loan_drawdown``'s, migration 0006) in one
round trip and one transaction, set-based: per drawdown, in the order of the lines' ids (the order
every batch takes the lines' row locks in, so that concurrent batches cannot deadlock) and then in
the order given, the very guarded limit reservation of ``openlend.lines.service.reserve``; then, for
the drawdowns whose reservation held, the loans with their receipt numbers, schedule version 1 as
scheduled, the current installments, the disbursement transactions, the posted totals and the
disbursement journal entries, one multi-row statement per table.  ``ledger_post_many`` books many
entries in two statements: the lines of all of them go in ONE ``INSERT``, so the ledger's statement
trigger moves each balance row once per batch, in account order, and each entry is still checked
balanced at commit.  Answers the loans written; a drawdown whose reservation
did not hold writes nothing (its caller reads the line to say why).

Item arrays are indexed by the drawdown's ordinal ``k`` (1-based); the installment and journal-line
arrays carry their drawdown's ``k``; ``p_terms``, ``p_rules`` and ``p_details`` are JSON arrays
(element ``k - 1``).
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SIGNATURE = ("date, boolean, text, text[], numeric[], text[], text[], text[], integer[], text[], numeric[], "
             "integer[], text[], date[], date[], date[], numeric[], numeric[], numeric[], numeric[], jsonb, jsonb, "
             "text[], jsonb, text[], integer[], integer[], date[], date[], numeric[], numeric[], numeric[], "
             "numeric[], integer[], text[], text[], numeric[]")

POST_MANY = r"""
CREATE FUNCTION ledger_post_many(
    p_effective date, p_ids text[], p_memos text[], p_source_ids text[], p_metadata jsonb,
    p_lk integer[], p_lk_ids text[], p_accounts text[], p_currencies text[], p_amounts numeric[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- entries p_ids (NULL: none) from loan transactions p_source_ids; line i belongs to the entry
    -- p_lk_ids[p_lk[i]] and goes only when that entry is one of p_ids
    INSERT INTO journal_entries (id, effective_date, memo, source_type, source_id, metadata)
    SELECT e.id, p_effective, e.memo, 'loan_transaction', e.src, p_metadata -> (e.n::int - 1)
      FROM unnest(p_ids, p_memos, p_source_ids) WITH ORDINALITY AS e(id, memo, src, n)
     WHERE e.id IS NOT NULL;
    INSERT INTO journal_lines (entry_id, line_no, account_code, currency, amount, effective_date)
    SELECT p_lk_ids[x.k], row_number() OVER (PARTITION BY x.k ORDER BY x.ord), x.a, x.c, x.m, p_effective
      FROM unnest(p_lk, p_accounts, p_currencies, p_amounts) WITH ORDINALITY AS x(k, a, c, m, ord)
     WHERE p_lk_ids[x.k] = ANY(p_ids);
END $$;
"""

DRAWDOWN_MANY = r"""
CREATE FUNCTION loan_drawdown_many(
    p_today date, p_livemode boolean, p_channel text,
    p_line text[], p_amount numeric[], p_id text[], p_customer text[], p_product text[], p_version integer[],
    p_currency text[], p_rate numeric[], p_term integer[], p_method text[], p_disb date[], p_first date[],
    p_maturity date[], p_upfront numeric[], p_net numeric[], p_apr_n numeric[], p_apr_e numeric[],
    p_terms jsonb, p_rules jsonb, p_txn text[], p_details jsonb, p_entry text[],
    p_ik integer[], p_n integer[], p_from date[], p_due date[], p_p numeric[], p_i numeric[], p_f numeric[],
    p_o numeric[],
    p_lk integer[], p_accounts text[], p_currencies text[], p_amounts numeric[])
RETURNS SETOF loans LANGUAGE plpgsql AS $$
DECLARE
    v_ok      integer[] := '{}';
    v_receipt text[] := array_fill(NULL::text, ARRAY[cardinality(p_line)]);
    v_k       bigint;
    v_day     text := to_char(p_today, 'YYYYMMDD');
    v_seq     bigint;
BEGIN
    -- the limit invariant: the one guarded statement per drawdown, lines in id order
    FOR v_k IN SELECT u.k FROM unnest(p_line) WITH ORDINALITY AS u(line, k) ORDER BY u.line, u.k LOOP
        UPDATE credit_lines SET used_amount = used_amount + p_amount[v_k], updated_at = now()
         WHERE id = p_line[v_k] AND status = 'active' AND (expires_on IS NULL OR expires_on >= p_today)
           AND used_amount + p_amount[v_k] <= limit_amount;
        IF FOUND THEN
            v_ok := v_ok || v_k::integer;
            v_seq := nextval('loan_receipt_seq');
            v_receipt[v_k] := 'LN' || v_day || lpad(v_seq::text, greatest(8, length(v_seq::text)), '0');
        END IF;
    END LOOP;
    IF cardinality(v_ok) = 0 THEN
        RETURN;
    END IF;
    v_ok := ARRAY(SELECT x FROM unnest(v_ok) x ORDER BY x);

    RETURN QUERY
    WITH it AS (SELECT k FROM unnest(v_ok) AS k),
    l AS (
        INSERT INTO loans (id, receipt_no, line_id, customer_id, product_id, product_version, currency, principal,
                           annual_rate, term, method, disbursement_date, first_due_date, maturity_date, next_due_date,
                           upfront_fees, net_disbursed, apr_nominal, apr_effective, principal_outstanding, terms,
                           rules, livemode)
        SELECT p_id[k], v_receipt[k], p_line[k], p_customer[k], p_product[k], p_version[k], p_currency[k],
               p_amount[k], p_rate[k], p_term[k], p_method[k], p_disb[k], p_first[k], p_maturity[k], p_first[k],
               p_upfront[k], p_net[k], p_apr_n[k], p_apr_e[k], p_amount[k], p_terms -> (k - 1), p_rules -> (k - 1),
               p_livemode
          FROM it
        RETURNING *),
    r AS (
        SELECT * FROM unnest(p_ik, p_n, p_from, p_due, p_p, p_i, p_f, p_o)
            AS r(k, number, from_date, due_date, principal, interest, fees, outstanding)
         WHERE r.k = ANY(v_ok)),
    v AS (
        INSERT INTO loan_schedule_versions (loan_id, version, reason, effective_date, transaction_id)
        SELECT p_id[k], 1, 'disbursement', p_disb[k], p_txn[k] FROM it),
    si AS (
        INSERT INTO loan_scheduled_installments (loan_id, version, number, from_date, due_date, principal,
                                                 interest, fees, outstanding)
        SELECT p_id[r.k], 1, r.number, r.from_date, r.due_date, r.principal, r.interest, r.fees, r.outstanding
          FROM r),
    i AS (
        INSERT INTO loan_installments (loan_id, number, from_date, due_date, principal, interest, fees)
        SELECT p_id[r.k], r.number, r.from_date, r.due_date, r.principal, r.interest, r.fees FROM r),
    t AS (
        INSERT INTO loan_transactions (id, loan_id, type, value_date, amount, channel, details, entry_ids, livemode)
        SELECT p_txn[k], p_id[k], 'disbursement', p_disb[k], p_amount[k], p_channel, p_details -> (k - 1),
               CASE WHEN p_entry[k] IS NULL THEN '{}'::text[] ELSE ARRAY[p_entry[k]] END, p_livemode FROM it),
    pt AS (
        INSERT INTO loan_posted_totals (loan_id, currency, disbursed, fees_charged, fees_repaid, as_of)
        SELECT p_id[k], p_currency[k], p_amount[k], p_upfront[k], p_upfront[k], p_disb[k] FROM it)
    SELECT l.* FROM l;

    -- the disbursement entries
    PERFORM ledger_post_many(p_today, ARRAY(SELECT p_entry[k] FROM unnest(v_ok) k),
                             ARRAY(SELECT 'Loan ' || v_receipt[k] || ' disbursed' FROM unnest(v_ok) k),
                             ARRAY(SELECT p_txn[k] FROM unnest(v_ok) k),
                             (SELECT jsonb_agg(jsonb_build_object('loan_id', p_id[k], 'value_date',
                                                                  to_char(p_disb[k], 'YYYY-MM-DD')) ORDER BY k)
                                FROM unnest(v_ok) k),
                             p_lk, p_entry, p_accounts, p_currencies, p_amounts);
END $$;
"""


# The installments' references, checked once per statement instead of once per row (as the journal's
# lines are, migration 0002): a drawdown writes 24 installment rows, a batch hundreds, and a row-level
# foreign key runs one lookup with a row lock per row.  Loans are never deleted (their transactions
# reference them), schedule versions and their installments never change (0004's triggers), so
# what is checked on insert stays true.
PARENT_CHECKS = r"""
ALTER TABLE loan_installments DROP CONSTRAINT loan_installments_loan_id_fkey;
ALTER TABLE loan_scheduled_installments DROP CONSTRAINT loan_scheduled_installments_loan_id_version_fkey;

CREATE FUNCTION loan_installments_check_loan() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_loan text;
BEGIN
    SELECT n.loan_id INTO v_loan FROM (SELECT DISTINCT loan_id FROM new_rows) n
     WHERE NOT EXISTS (SELECT 1 FROM loans l WHERE l.id = n.loan_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'installment of loan %, which does not exist', v_loan
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'loan_installments_loan_id_fkey',
                  TABLE = 'loan_installments';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER loan_installments_loan AFTER INSERT ON loan_installments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION loan_installments_check_loan();

CREATE FUNCTION loan_scheduled_installments_check_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_bad record;
BEGIN
    SELECT n.loan_id, n.version INTO v_bad FROM (SELECT DISTINCT loan_id, version FROM new_rows) n
     WHERE NOT EXISTS (SELECT 1 FROM loan_schedule_versions v WHERE v.loan_id = n.loan_id AND v.version = n.version)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'scheduled installment of version % of loan %, which does not exist', v_bad.version, v_bad.loan_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'loan_scheduled_installments_loan_id_version_fkey',
                  TABLE = 'loan_scheduled_installments';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER loan_scheduled_installments_version AFTER INSERT ON loan_scheduled_installments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION loan_scheduled_installments_check_version();
"""


def upgrade() -> None:
    op.execute(PARENT_CHECKS)
    op.execute(POST_MANY)
    op.execute(DRAWDOWN_MANY)


def downgrade() -> None:
    op.execute("DROP TRIGGER loan_installments_loan ON loan_installments; "
               "DROP TRIGGER loan_scheduled_installments_version ON loan_scheduled_installments; "
               "DROP FUNCTION loan_installments_check_loan(); DROP FUNCTION loan_scheduled_installments_check_version(); "
               "ALTER TABLE loan_installments ADD CONSTRAINT loan_installments_loan_id_fkey FOREIGN KEY (loan_id) "
               "REFERENCES loans (id); "
               "ALTER TABLE loan_scheduled_installments ADD CONSTRAINT loan_scheduled_installments_loan_id_version_fkey "
               "FOREIGN KEY (loan_id, version) REFERENCES loan_schedule_versions (loan_id, version)")
    op.execute(f"DROP FUNCTION IF EXISTS loan_drawdown_many({SIGNATURE})")
    op.execute("DROP FUNCTION IF EXISTS ledger_post_many(date, text[], text[], text[], jsonb, integer[], text[], "
               "text[], text[], numeric[])")
