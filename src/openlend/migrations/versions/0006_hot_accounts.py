"""hot accounts: more balance shards for the accounts every drawdown or repayment touches; the
drawdown's writes in one SQL function

Revision ID: 0006
Revises: 0005

A posting adds to the balance row ``pg_backend_pid() % shards`` of each account it touches
(0002_ledger) and holds that row's lock until its transaction commits; with one shard, every
concurrent drawdown queues on the row lock of 1100, and every repayment on those of 1110, 1120,
4000 and 4100 (interest and fees paid before they accrue are recognised when paid).  More shards
leave the sum, and so every balance, unchanged: old rows keep their amounts.  32 shards: with one
backend per client connection, 16 concurrent writers rarely share a row (backend pids are not
consecutive, so the shards they land on are close to random).

``loan_drawdown`` does a drawdown's writes in one round trip: the guarded limit reservation (the
very statement of ``openlend.lines.service.reserve``), the loan with its receipt number, schedule
version 1, installments, disbursement transaction and posted totals (the data-modifying CTEs of
``openlend.loans.service._INSERT_LOAN``), and, when given lines, the disbursement's journal entry
through ``ledger_post``.  No row when the line cannot lend the amount (nothing written): the
caller reads the line to say why.
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HOT = ("1100", "1110", "1120", "1130", "1300", "1310", "2000", "2100", "4000", "4100", "4200", "5000")
SHARDS = 32

DRAWDOWN = r"""
CREATE FUNCTION loan_drawdown(
    p_line text, p_amount numeric, p_today date,
    p_id text, p_customer text, p_product text, p_version integer, p_currency text, p_rate numeric,
    p_term integer, p_method text, p_disb date, p_first date, p_maturity date, p_upfront numeric,
    p_net numeric, p_apr_n numeric, p_apr_e numeric, p_terms jsonb, p_rules jsonb, p_livemode boolean,
    p_n integer[], p_from date[], p_due date[], p_p numeric[], p_i numeric[], p_f numeric[], p_o numeric[],
    p_txn text, p_channel text, p_details jsonb, p_entry_ids text[],
    p_entry text, p_accounts text[], p_currencies text[], p_amounts numeric[])
RETURNS SETOF loans LANGUAGE plpgsql AS $$
DECLARE
    v_loan loans;
BEGIN
    -- the limit invariant: the one guarded statement (openlend.lines.service._RESERVE)
    UPDATE credit_lines SET used_amount = used_amount + p_amount, updated_at = now()
     WHERE id = p_line AND status = 'active' AND (expires_on IS NULL OR expires_on >= p_today)
       AND used_amount + p_amount <= limit_amount;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    WITH l AS (
        INSERT INTO loans (id, receipt_no, line_id, customer_id, product_id, product_version, currency, principal,
                           annual_rate, term, method, disbursement_date, first_due_date, maturity_date, next_due_date,
                           upfront_fees, net_disbursed, apr_nominal, apr_effective, principal_outstanding, terms,
                           rules, livemode)
        SELECT p_id, 'LN' || to_char(p_today, 'YYYYMMDD') || lpad(q.n::text, greatest(8, length(q.n::text)), '0'),
               p_line, p_customer, p_product, p_version, p_currency, p_amount, p_rate, p_term, p_method, p_disb,
               p_first, p_maturity, p_first, p_upfront, p_net, p_apr_n, p_apr_e, p_amount, p_terms, p_rules,
               p_livemode
          FROM (SELECT nextval('loan_receipt_seq') AS n) q
        RETURNING *),
    r AS (
        SELECT * FROM unnest(p_n, p_from, p_due, p_p, p_i, p_f, p_o)
            AS r(number, from_date, due_date, principal, interest, fees, outstanding)),
    v AS (
        INSERT INTO loan_schedule_versions (loan_id, version, reason, effective_date, transaction_id)
        SELECT l.id, 1, 'disbursement', l.disbursement_date, p_txn FROM l RETURNING loan_id),
    si AS (
        INSERT INTO loan_scheduled_installments (loan_id, version, number, from_date, due_date, principal,
                                                 interest, fees, outstanding)
        SELECT v.loan_id, 1, r.number, r.from_date, r.due_date, r.principal, r.interest, r.fees, r.outstanding
          FROM v, r),
    i AS (
        INSERT INTO loan_installments (loan_id, number, from_date, due_date, principal, interest, fees)
        SELECT l.id, r.number, r.from_date, r.due_date, r.principal, r.interest, r.fees FROM l, r),
    t AS (
        INSERT INTO loan_transactions (id, loan_id, type, value_date, amount, channel, details, entry_ids, livemode)
        SELECT p_txn, l.id, 'disbursement', l.disbursement_date, l.principal, p_channel, p_details, p_entry_ids,
               l.livemode FROM l),
    pt AS (
        INSERT INTO loan_posted_totals (loan_id, currency, disbursed, fees_charged, fees_repaid, as_of)
        SELECT l.id, l.currency, l.principal, l.upfront_fees, l.upfront_fees, l.disbursement_date FROM l)
    SELECT l.* INTO v_loan FROM l;
    IF p_entry IS NOT NULL THEN
        PERFORM ledger_post(p_entry, p_today, p_accounts, p_currencies, p_amounts,
                            'Loan ' || v_loan.receipt_no || ' disbursed', 'loan_transaction', p_txn,
                            jsonb_build_object('loan_id', p_id, 'value_date', to_char(p_disb, 'YYYY-MM-DD')), NULL);
    END IF;
    RETURN NEXT v_loan;
END $$;
"""


def upgrade() -> None:
    op.execute(f"UPDATE ledger_accounts SET shards = {SHARDS} WHERE code IN ({', '.join(repr(c) for c in HOT)}) "
               f"AND shards < {SHARDS}")
    op.execute(DRAWDOWN)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS loan_drawdown(text, numeric, date, text, text, text, integer, text, numeric, "
               "integer, text, date, date, date, numeric, numeric, numeric, numeric, jsonb, jsonb, boolean, "
               "integer[], date[], date[], numeric[], numeric[], numeric[], numeric[], text, text, jsonb, text[], "
               "text, text[], text[], numeric[])")
    # more shards are harmless; fewer would strand nothing either (balance = sum over rows)
