"""close of business: the business date, COB runs and their batches, the notifications outbox, exact
half-even division in SQL, fees charged per installment

Revision ID: 0005
Revises: 0004

* ``system_state`` holds the business date (one row; absent or NULL: the server's calendar date).
  ``openlend cob --date D`` closes business day D and moves the business date to D + 1.
* ``cob_runs`` (one per business date closed) and ``cob_batches`` (one per batch of loans, written in
  the batch's own transaction): a second run of a closed date does nothing; a run killed mid-way
  skips the batches already committed when it is started again.
* ``notifications_outbox``: reminders queued by COB for the notices a later issue sends; unique per
  (kind, loan, business date) so a re-run queues nothing twice.
* ``round_half_even_div(n, d, places)``: ``n / d`` rounded half-even to ``places``, exactly
  (PostgreSQL's ``round(numeric)`` rounds halves away from zero, and a numeric division is cut at
  some digits before any rounding).
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(r"""
    CREATE TABLE system_state (
        id             boolean     PRIMARY KEY DEFAULT true CHECK (id),
        business_date  date,
        updated_at     timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO system_state (id, business_date) VALUES (true, NULL);
    COMMENT ON TABLE system_state IS
      'One row. business_date: the open business day (NULL until the first close of business: the calendar date)';

    CREATE TABLE cob_runs (
        business_date  date        PRIMARY KEY,
        status         text        NOT NULL CHECK (status IN ('running', 'done')),
        batch_size     integer     NOT NULL CHECK (batch_size >= 1),
        loans          bigint      NOT NULL DEFAULT 0,
        batches        integer     NOT NULL DEFAULT 0,
        started_at     timestamptz NOT NULL DEFAULT now(),
        finished_at    timestamptz,
        summary        jsonb       NOT NULL DEFAULT '{}'::jsonb,
        CHECK ((status = 'done') = (finished_at IS NOT NULL))
    );
    COMMENT ON TABLE cob_runs IS 'One row per business date closed; status done: a second run changes nothing';

    CREATE TABLE cob_batches (
        business_date  date          NOT NULL REFERENCES cob_runs (business_date),
        batch_no       integer       NOT NULL CHECK (batch_no >= 0),
        first_loan_id  text          NOT NULL,
        last_loan_id   text          NOT NULL,
        loans          integer       NOT NULL,
        replayed       integer       NOT NULL DEFAULT 0,
        interest       numeric(20,4) NOT NULL DEFAULT 0,
        fees           numeric(20,4) NOT NULL DEFAULT 0,
        penalty        numeric(20,4) NOT NULL DEFAULT 0,
        entry_ids      text[]        NOT NULL DEFAULT '{}',
        seconds        numeric(10,3) NOT NULL DEFAULT 0,
        done_at        timestamptz   NOT NULL DEFAULT now(),
        PRIMARY KEY (business_date, batch_no)
    );
    COMMENT ON TABLE cob_batches IS
      'A batch of loans closed for a date, written in the transaction that did its work: the resume point';

    CREATE TABLE notifications_outbox (
        id             text        PRIMARY KEY CHECK (id LIKE 'ntf\_%'),
        kind           text        NOT NULL CHECK (kind IN ('due_soon', 'due_today', 'overdue')),
        customer_id    text        NOT NULL REFERENCES customers (id),
        loan_id        text        NOT NULL REFERENCES loans (id),
        business_date  date        NOT NULL,
        payload        jsonb       NOT NULL,
        status         text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
        created_at     timestamptz NOT NULL DEFAULT now(),
        UNIQUE (kind, loan_id, business_date)
    );
    CREATE INDEX notifications_outbox_pending ON notifications_outbox (created_at) WHERE status = 'pending';
    COMMENT ON TABLE notifications_outbox IS
      'Notices waiting to be sent (reminders queued by close of business); the notices issue sends them';

    ALTER TABLE loan_installments ADD COLUMN fees_charged numeric(20,4) NOT NULL DEFAULT 0 CHECK (fees_charged >= 0);
    COMMENT ON COLUMN loan_installments.fees_charged IS
      'Fees recognised as income so far: all of fees once due (or paid), else the charges put on the row';
    -- room on each page for HOT updates: COB rewrites these rows every day
    ALTER TABLE loan_installments SET (fillfactor = 80);
    ALTER TABLE loan_posted_totals SET (fillfactor = 80);
    ALTER TABLE loans SET (fillfactor = 85);

    ALTER TABLE loan_transactions DROP CONSTRAINT loan_transactions_type_check;
    ALTER TABLE loan_transactions ADD CONSTRAINT loan_transactions_type_check CHECK (type IN (
        'disbursement', 'repayment', 'prepayment', 'due_day_change', 'reschedule', 'charge', 'write_off',
        'reversal', 'refund'));
    ALTER TABLE loan_posted_totals
        ADD COLUMN overpayment_refunded numeric(20,4) NOT NULL DEFAULT 0 CHECK (overpayment_refunded >= 0);
    COMMENT ON COLUMN loan_posted_totals.overpayment_refunded IS
      'Cumulative overpayment paid back to the borrower (Dr 2100 / Cr 1300); overpayment is what is still held';

    -- One SELECT of one expression, not STRICT: the planner inlines it into the calling query (COB
    -- evaluates it for every loan every day).  q = trunc(n * 10^places / d); r = n * 10^places - q * d,
    -- the exact remainder; more than half a unit, or exactly half with q odd, goes away from zero.
    CREATE FUNCTION round_half_even_div(n numeric, d numeric, places integer) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT round((div(n * 10 ^ places::numeric, d)
                      + CASE WHEN 2 * abs(n * 10 ^ places::numeric - div(n * 10 ^ places::numeric, d) * d) > abs(d)
                               OR (2 * abs(n * 10 ^ places::numeric - div(n * 10 ^ places::numeric, d) * d) = abs(d)
                                   AND mod(div(n * 10 ^ places::numeric, d), 2) <> 0)
                             THEN sign(n) * sign(d) ELSE 0 END) / 10 ^ places::numeric, places)
    $$;
    COMMENT ON FUNCTION round_half_even_div(numeric, numeric, integer) IS
      'n / d rounded half-even to places, exactly (banker''s rounding; round() rounds halves away from zero)';

    -- The accrual rule of docs/design/servicing.md (loans/engine.py, _interest_to and result): the
    -- interest of an installment accrued at the start of day as_of, never below the interest paid.
    CREATE FUNCTION installment_accrued(interest numeric, fixed numeric, paid numeric, from_date date,
                                        due_date date, interest_from date, as_of date, places integer)
    RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT greatest(paid, CASE
            WHEN as_of >= due_date THEN interest
            WHEN as_of <= from_date THEN 0
            WHEN as_of < coalesce(interest_from, from_date) THEN
                round_half_even_div(fixed * (as_of - from_date), interest_from - from_date, places)
            ELSE fixed + round_half_even_div((interest - fixed) * (as_of - coalesce(interest_from, from_date)),
                                             due_date - coalesce(interest_from, from_date), places)
        END)
    $$;
    COMMENT ON FUNCTION installment_accrued(numeric, numeric, numeric, date, date, date, date, integer) IS
      'Interest of an installment accrued at the start of as_of (the design''s accrual rule), floored at the paid';
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION installment_accrued(numeric, numeric, numeric, date, date, date, date, integer);
    DROP FUNCTION round_half_even_div(numeric, numeric, integer);
    ALTER TABLE loan_transactions DROP CONSTRAINT loan_transactions_type_check;
    ALTER TABLE loan_transactions ADD CONSTRAINT loan_transactions_type_check CHECK (type IN (
        'disbursement', 'repayment', 'prepayment', 'due_day_change', 'reschedule', 'charge', 'write_off', 'reversal'));
    ALTER TABLE loan_installments DROP COLUMN fees_charged;
    ALTER TABLE loan_posted_totals DROP COLUMN overpayment_refunded;
    DROP TABLE notifications_outbox;
    DROP TABLE cob_batches;
    DROP TABLE cob_runs;
    DROP TABLE system_state;
    """)
