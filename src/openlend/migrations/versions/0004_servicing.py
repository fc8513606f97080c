"""servicing: customers, credit lines and their limit history, loans with their schedules,
transactions and the cumulative figures posted to the ledger

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(r"""
    -- Customers ------------------------------------------------------------------------------------
    CREATE TABLE customers (
        id                 text        PRIMARY KEY CHECK (id LIKE 'cus\_%'),
        name               text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        mobile             text        NOT NULL CHECK (mobile ~ '^\+861[3-9][0-9]{9}$'),
        id_number_cipher   bytea       NOT NULL,   -- AES-256-GCM: 12-byte nonce || ciphertext || 16-byte tag
        id_number_key_id   text        NOT NULL,   -- which data key encrypted it (keys rotate)
        id_number_hash     bytea       NOT NULL CHECK (length(id_number_hash) = 32),  -- HMAC-SHA256, keyed
        id_number_masked   text        NOT NULL,   -- 1101**********1234: what every response shows
        status             text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
        livemode           boolean     NOT NULL,
        created_at         timestamptz NOT NULL DEFAULT now(),
        updated_at         timestamptz NOT NULL DEFAULT now()
    );
    -- One customer per person (and mode): the keyed hash finds them without decrypting anything.
    CREATE UNIQUE INDEX customers_id_number ON customers (livemode, id_number_hash);
    CREATE INDEX customers_list ON customers (livemode, id DESC);
    CREATE INDEX customers_mobile ON customers (livemode, mobile);
    COMMENT ON TABLE customers IS
      'Borrowers. The PRC resident ID number is stored only encrypted (AES-256-GCM) and as a keyed hash';
    COMMENT ON COLUMN customers.id_number_hash IS
      'HMAC-SHA256 of the normalised ID number under the lookup key: equality search and uniqueness';

    -- Credit lines -----------------------------------------------------------------------------------
    CREATE TABLE credit_lines (
        id               text          PRIMARY KEY CHECK (id LIKE 'line\_%'),
        customer_id      text          NOT NULL REFERENCES customers (id),
        product_id       text          NOT NULL,
        product_version  integer       NOT NULL,
        currency         text          NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        limit_amount     numeric(20,4) NOT NULL CHECK (limit_amount >= 0),
        used_amount      numeric(20,4) NOT NULL DEFAULT 0,
        status           text          NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen', 'closed')),
        status_reason    text          CHECK (length(status_reason) <= 500),
        expires_on       date,
        closed_at        timestamptz,
        livemode         boolean       NOT NULL,
        created_at       timestamptz   NOT NULL DEFAULT now(),
        updated_at       timestamptz   NOT NULL DEFAULT now(),
        FOREIGN KEY (product_id, product_version) REFERENCES loan_product_versions (product_id, version),
        -- The limit invariant's backstop: whatever the SQL, a line is never used beyond its limit.
        CONSTRAINT credit_lines_used_within_limit CHECK (used_amount >= 0 AND used_amount <= limit_amount),
        CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
        CHECK (status <> 'closed' OR used_amount = 0)
    ) WITH (fillfactor = 80);  -- room for HOT updates of used_amount (not indexed)
    -- A customer has one open line per product.
    CREATE UNIQUE INDEX credit_lines_customer_product ON credit_lines (customer_id, product_id)
        WHERE status <> 'closed';
    CREATE INDEX credit_lines_customer ON credit_lines (customer_id, id DESC);
    CREATE INDEX credit_lines_list ON credit_lines (livemode, id DESC);
    COMMENT ON TABLE credit_lines IS
      'Revolving credit lines. used_amount moves only by one guarded UPDATE (reserve on drawdown, '
      'release on principal repaid); available = limit_amount - used_amount';
    COMMENT ON COLUMN credit_lines.product_version IS
      'The product version the line is on: its drawdowns are priced and scheduled by it';

    CREATE TABLE credit_line_limit_changes (
        id              text          PRIMARY KEY CHECK (id LIKE 'lchg\_%'),
        line_id         text          NOT NULL REFERENCES credit_lines (id),
        kind            text          NOT NULL CHECK (kind IN ('initial', 'increase', 'decrease')),
        previous_limit  numeric(20,4) NOT NULL,
        new_limit       numeric(20,4) NOT NULL,
        used_at_change  numeric(20,4) NOT NULL,
        reason          text          NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
        changed_by      text          NOT NULL,
        created_at      timestamptz   NOT NULL DEFAULT now(),
        CHECK (new_limit >= used_at_change)
    );
    CREATE INDEX credit_line_limit_changes_line ON credit_line_limit_changes (line_id, id DESC);
    COMMENT ON TABLE credit_line_limit_changes IS 'Every limit a line has had, and why; append-only';

    -- Loans ------------------------------------------------------------------------------------------
    CREATE SEQUENCE loan_receipt_seq AS bigint;
    COMMENT ON SEQUENCE loan_receipt_seq IS 'The 8-digit tail of receipt numbers (LN + yyyymmdd + seq)';

    CREATE TABLE loans (
        id                     text          PRIMARY KEY CHECK (id LIKE 'loan\_%'),
        receipt_no             text          NOT NULL UNIQUE,               -- 借据号: LN20240115 00000042
        line_id                text          NOT NULL REFERENCES credit_lines (id),
        customer_id            text          NOT NULL REFERENCES customers (id),
        product_id             text          NOT NULL,
        product_version        integer       NOT NULL,
        currency               text          NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        principal              numeric(20,4) NOT NULL CHECK (principal > 0),
        annual_rate            numeric(12,6) NOT NULL CHECK (annual_rate >= 0),
        term                   integer       NOT NULL CHECK (term >= 1),
        method                 text          NOT NULL,
        disbursement_date      date          NOT NULL,
        first_due_date         date          NOT NULL,
        maturity_date          date          NOT NULL,
        next_due_date          date,                                        -- NULL once nothing is left to fall due
        upfront_fees           numeric(20,4) NOT NULL DEFAULT 0 CHECK (upfront_fees >= 0),
        net_disbursed          numeric(20,4) NOT NULL CHECK (net_disbursed >= 0),
        apr_nominal            numeric(12,4) NOT NULL,
        apr_effective          numeric(12,4) NOT NULL,
        status                 text          NOT NULL DEFAULT 'active'
                               CHECK (status IN ('active', 'overdue', 'paid_off', 'written_off')),
        days_past_due          integer       NOT NULL DEFAULT 0 CHECK (days_past_due >= 0),
        bucket                 text          NOT NULL DEFAULT 'M0' CHECK (bucket IN ('M0', 'M1', 'M2', 'M3', 'M4+')),
        principal_outstanding  numeric(20,4) NOT NULL CHECK (principal_outstanding >= 0),
        closed_on              date,
        schedule_version       integer       NOT NULL DEFAULT 1 CHECK (schedule_version >= 1),
        terms                  jsonb         NOT NULL CHECK (jsonb_typeof(terms) = 'object'),
        rules                  jsonb         NOT NULL CHECK (jsonb_typeof(rules) = 'object'),
        livemode               boolean       NOT NULL,
        created_at             timestamptz   NOT NULL DEFAULT now(),
        updated_at             timestamptz   NOT NULL DEFAULT now(),
        FOREIGN KEY (product_id, product_version) REFERENCES loan_product_versions (product_id, version),
        CHECK ((status IN ('paid_off', 'written_off')) = (closed_on IS NOT NULL))
    );
    -- Close of business: the open loans by next due date (falling due, ageing, penalty).
    CREATE INDEX loans_cob ON loans (status, next_due_date, id) WHERE status IN ('active', 'overdue');
    -- Lists: a customer's loans newest first; a line's loans; all loans newest first.
    CREATE INDEX loans_customer ON loans (customer_id, id DESC);
    CREATE INDEX loans_line ON loans (line_id, id DESC);
    CREATE INDEX loans_list ON loans (livemode, id DESC);
    COMMENT ON TABLE loans IS 'One loan per drawdown; its state is kept by the loan service and COB';
    COMMENT ON COLUMN loans.terms IS
      'The schedule terms used, in the openlend schedule JSON contract (schedule.io.parse_terms reads it)';
    COMMENT ON COLUMN loans.rules IS
      'Servicing rules from the product version: penalty (and its annual rate), allocation, prepayment fee';

    CREATE TABLE loan_schedule_versions (
        loan_id         text        NOT NULL REFERENCES loans (id),
        version         integer     NOT NULL CHECK (version >= 1),
        reason          text        NOT NULL CHECK (reason IN ('disbursement', 'prepayment', 'due_day_change',
                                                               'reschedule', 'replay', 'payoff')),
        effective_date  date        NOT NULL,
        transaction_id  text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (loan_id, version)
    );
    COMMENT ON TABLE loan_schedule_versions IS 'Immutable: each schedule a loan has had, and why';

    CREATE TABLE loan_scheduled_installments (
        loan_id      text          NOT NULL,
        version      integer       NOT NULL,
        number       integer       NOT NULL CHECK (number >= 1),
        from_date    date          NOT NULL,
        due_date     date          NOT NULL,
        principal    numeric(20,4) NOT NULL,
        interest     numeric(20,4) NOT NULL,
        fees         numeric(20,4) NOT NULL,
        outstanding  numeric(20,4) NOT NULL,     -- principal outstanding after this installment
        PRIMARY KEY (loan_id, version, number),
        FOREIGN KEY (loan_id, version) REFERENCES loan_schedule_versions (loan_id, version)
    );
    COMMENT ON TABLE loan_scheduled_installments IS 'Immutable: the installments of each schedule version as scheduled';

    CREATE TABLE loan_installments (
        loan_id           text          NOT NULL REFERENCES loans (id),
        number            integer       NOT NULL CHECK (number >= 1),
        from_date         date          NOT NULL,
        due_date          date          NOT NULL,
        principal         numeric(20,4) NOT NULL CHECK (principal >= 0),
        interest          numeric(20,4) NOT NULL CHECK (interest >= 0),
        fees              numeric(20,4) NOT NULL CHECK (fees >= 0),
        penalty           numeric(20,4) NOT NULL DEFAULT 0 CHECK (penalty >= 0),
        paid_principal    numeric(20,4) NOT NULL DEFAULT 0 CHECK (paid_principal >= 0),
        paid_interest     numeric(20,4) NOT NULL DEFAULT 0 CHECK (paid_interest >= 0),
        paid_fees         numeric(20,4) NOT NULL DEFAULT 0 CHECK (paid_fees >= 0),
        paid_penalty      numeric(20,4) NOT NULL DEFAULT 0 CHECK (paid_penalty >= 0),
        accrued_interest  numeric(20,4) NOT NULL DEFAULT 0 CHECK (accrued_interest >= 0),
        status            text          NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'due', 'overdue', 'paid', 'written_off')),
        paid_on           date,
        -- the accrual rule (docs/design/servicing.md): interest accrues over [interest_from, due_date);
        -- a prepayment inside the period fixes interest_fixed up to interest_from (NULL: from_date)
        interest_from     date,
        interest_fixed    numeric(20,4) NOT NULL DEFAULT 0 CHECK (interest_fixed >= 0),
        PRIMARY KEY (loan_id, number)
    );
    -- Close of business: what falls due or is overdue on a date.
    CREATE INDEX loan_installments_open_due ON loan_installments (due_date, loan_id) WHERE status <> 'paid';
    COMMENT ON TABLE loan_installments IS
      'The current schedule with what was paid, accrued and charged; rewritten by the loan service';

    CREATE TABLE loan_transactions (
        id           text          PRIMARY KEY CHECK (id LIKE 'txn\_%'),
        loan_id      text          NOT NULL REFERENCES loans (id),
        type         text          NOT NULL CHECK (type IN ('disbursement', 'repayment', 'prepayment', 'due_day_change',
                                                            'reschedule', 'charge', 'write_off', 'reversal')),
        value_date   date          NOT NULL,
        amount       numeric(20,4) NOT NULL CHECK (amount >= 0),
        channel      text,
        status       text          NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'reversed')),
        reversed_by  text          REFERENCES loan_transactions (id),
        seq          bigserial     NOT NULL UNIQUE,   -- the order events were entered (the fold's tie-break)
        details      jsonb         NOT NULL DEFAULT '{}'::jsonb,
        entry_ids    text[]        NOT NULL DEFAULT '{}',
        livemode     boolean       NOT NULL,
        created_at   timestamptz   NOT NULL DEFAULT now(),
        CHECK ((status = 'reversed') = (reversed_by IS NOT NULL))
    );
    -- The fold reads a loan's events in (value_date, seq) order.
    CREATE INDEX loan_transactions_loan ON loan_transactions (loan_id, value_date, seq);
    COMMENT ON TABLE loan_transactions IS
      'The dated events of a loan; a reversed one is left out of the fold, never deleted';

    CREATE TABLE loan_posted_totals (
        loan_id            text          PRIMARY KEY REFERENCES loans (id),
        currency           text          NOT NULL,
        disbursed          numeric(20,4) NOT NULL DEFAULT 0,
        principal_repaid   numeric(20,4) NOT NULL DEFAULT 0,
        interest_accrued   numeric(20,4) NOT NULL DEFAULT 0,
        interest_repaid    numeric(20,4) NOT NULL DEFAULT 0,
        fees_charged       numeric(20,4) NOT NULL DEFAULT 0,
        fees_repaid        numeric(20,4) NOT NULL DEFAULT 0,
        penalty_charged    numeric(20,4) NOT NULL DEFAULT 0,
        penalty_repaid     numeric(20,4) NOT NULL DEFAULT 0,
        overpayment        numeric(20,4) NOT NULL DEFAULT 0,
        written_off        numeric(20,4) NOT NULL DEFAULT 0,   -- the sum of the four below
        written_off_principal numeric(20,4) NOT NULL DEFAULT 0,
        written_off_interest  numeric(20,4) NOT NULL DEFAULT 0,
        written_off_fees      numeric(20,4) NOT NULL DEFAULT 0,
        written_off_penalty   numeric(20,4) NOT NULL DEFAULT 0,
        as_of              date          NOT NULL,
        updated_at         timestamptz   NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE loan_posted_totals IS
      'Per loan, the cumulative figures already posted to the GL; the service posts new minus posted. '
      'At drawdown: disbursed = principal; upfront fees are charged and settled at once by deduction '
      '(fees_charged = fees_repaid = upfront fees), booked Dr 1100 principal / Cr 1300 net / Cr 4100 fees';

    -- Immutable history ------------------------------------------------------------------------------
    CREATE FUNCTION servicing_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% on % refused: rows of this table are immutable', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME;
    END $$;
    CREATE TRIGGER loan_schedule_versions_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON loan_schedule_versions
        FOR EACH STATEMENT EXECUTE FUNCTION servicing_immutable();
    CREATE TRIGGER loan_scheduled_installments_immutable BEFORE UPDATE OR DELETE OR TRUNCATE
        ON loan_scheduled_installments FOR EACH STATEMENT EXECUTE FUNCTION servicing_immutable();
    CREATE TRIGGER credit_line_limit_changes_immutable BEFORE UPDATE OR DELETE OR TRUNCATE
        ON credit_line_limit_changes FOR EACH STATEMENT EXECUTE FUNCTION servicing_immutable();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE loan_posted_totals;
    DROP TABLE loan_transactions;
    DROP TABLE loan_installments;
    DROP TABLE loan_scheduled_installments;
    DROP TABLE loan_schedule_versions;
    DROP TABLE loans;
    DROP SEQUENCE loan_receipt_seq;
    DROP TABLE credit_line_limit_changes;
    DROP TABLE credit_lines;
    DROP TABLE customers;
    DROP FUNCTION servicing_immutable();
    """)
