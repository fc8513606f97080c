"""ledger: chart of accounts, append-only journal, balances kept by the database

Revision ID: 0002
Revises: 0001

What the database itself guarantees, whoever writes to it (the service, psql, a script):

* every journal entry has at least two lines and its lines sum to zero in each currency
  (a DEFERRABLE INITIALLY DEFERRED constraint trigger: checked once per entry at COMMIT);
* lines can be added only to an entry created in the same transaction, on a detail account
  that exists, in the account's currency if it is bound to one, with the entry's effective date
  (a statement-level AFTER INSERT trigger over the transition table of new lines; it is also
  what enforces the two foreign keys of a line, see journal_lines);
* journal_entries and journal_lines refuse UPDATE, DELETE and TRUNCATE: a booked entry is
  corrected by a reversal entry (``reverses`` points at the original; unique, so only once);
* account_balances (sharded running balances, signed: debit positive) is written by that same
  lines trigger in the same transaction, and refuses any other writer, so a balance always
  equals the sum of its account's lines;
* ledger accounts are never deleted, and their code, type, side, usage and currency never change.

``ledger_post`` books one entry in one round trip and is idempotent on the entry id;
``ledger_reverse`` books the reversal of an entry.
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE ledger_accounts (
    code         text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type         text NOT NULL CHECK (type IN ('asset', 'liability', 'equity', 'income', 'expense')),
    normal_side  text NOT NULL CHECK (normal_side IN ('debit', 'credit')),
    usage        text NOT NULL DEFAULT 'detail' CHECK (usage IN ('detail', 'header')),
    currency     text CHECK (currency ~ '^[A-Z]{3}$'),          -- NULL: any currency
    parent_code  text REFERENCES ledger_accounts (code),
    shards       smallint NOT NULL DEFAULT 1 CHECK (shards BETWEEN 1 AND 64),
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_code IS DISTINCT FROM code)
);
COMMENT ON TABLE ledger_accounts IS 'Chart of accounts; rows are never deleted';
COMMENT ON COLUMN ledger_accounts.shards IS
  'Balance rows the account''s balance is spread over (hot accounts); balance = sum of shards';

CREATE TABLE journal_entries (
    id              text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),  -- chosen by the caller: retries are harmless
    effective_date  date NOT NULL,                                         -- business / value date
    booked_at       timestamptz NOT NULL DEFAULT now(),
    memo            text CHECK (length(memo) <= 1000),
    reverses        text REFERENCES journal_entries (id),
    source_type     text CHECK (length(source_type) <= 64),                -- e.g. loan_transaction
    source_id       text CHECK (length(source_id) <= 128),                 -- e.g. txn_01J...
    metadata        jsonb,
    booked_xid      xid8 NOT NULL DEFAULT pg_current_xact_id(),            -- the booking transaction
    CHECK (reverses IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX journal_entries_reverses_key ON journal_entries (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX journal_entries_booked ON journal_entries (booked_at, id);
CREATE INDEX journal_entries_source ON journal_entries (source_type, source_id) WHERE source_id IS NOT NULL;
COMMENT ON TABLE journal_entries IS 'Append-only; corrections are reversal entries';

-- entry_id and account_code are foreign keys checked by the journal_lines_apply trigger rather than
-- by declared REFERENCES: it checks more (the entry was created by this very transaction, the
-- account is a detail account in the line's currency) in one set-based query per INSERT
-- statement instead of two row-by-row lookups per line.  Entries and accounts are never deleted
-- or renamed (their own triggers refuse it), so nothing can dangle later.
CREATE TABLE journal_lines (
    entry_id        text NOT NULL,
    line_no         smallint NOT NULL CHECK (line_no >= 1),
    account_code    text NOT NULL,
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount          numeric(20, 4) NOT NULL CHECK (amount <> 0),           -- signed: debit > 0, credit < 0
    effective_date  date NOT NULL,                                         -- the entry's, for statements
    PRIMARY KEY (entry_id, line_no)
);
-- Account statements, opening balances and the trial balance as of a date (per account, the
-- lines after it): index ranges, index-only.
CREATE INDEX journal_lines_account ON journal_lines (account_code, effective_date, entry_id, line_no)
    INCLUDE (currency, amount);
COMMENT ON TABLE journal_lines IS 'Append-only; lines of one entry sum to zero per currency';

CREATE TABLE account_balances (
    account_code  text NOT NULL,
    currency      text NOT NULL,
    shard         smallint NOT NULL,
    balance       numeric NOT NULL,                                        -- signed: debit > 0
    PRIMARY KEY (account_code, currency, shard)
) WITH (fillfactor = 50);  -- room for HOT updates: the balance column is not indexed
COMMENT ON TABLE account_balances IS
  'Written only by the journal_lines trigger, in the posting transaction; balance = SUM over shards';

-- Append-only journal ---------------------------------------------------------------------------
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the journal is append-only; correct a booked entry with a reversal',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation', TABLE = TG_TABLE_NAME;
END $$;

CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER journal_lines_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON journal_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Every entry balanced, checked at commit ---------------------------------------------------------
CREATE FUNCTION ledger_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n_lines  bigint;
    cur_min  text;
    cur_max  text;
    total    numeric;
    bad_cur  text;
BEGIN
    SELECT count(*), min(l.currency), max(l.currency), sum(l.amount)
      INTO n_lines, cur_min, cur_max, total
      FROM journal_lines l WHERE l.entry_id = NEW.id;
    IF n_lines < 2 THEN
        RAISE EXCEPTION 'journal entry % has % line(s); an entry needs at least two', NEW.id, n_lines
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_min_lines', TABLE = 'journal_entries';
    END IF;
    IF cur_min = cur_max AND total = 0 THEN
        RETURN NULL;  -- the common case: one currency, balanced
    END IF;
    SELECT l.currency, sum(l.amount) INTO bad_cur, total
      FROM journal_lines l WHERE l.entry_id = NEW.id
     GROUP BY l.currency HAVING sum(l.amount) <> 0 ORDER BY l.currency LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: its % lines sum to % (debits must equal credits)',
            NEW.id, bad_cur, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced', TABLE = 'journal_entries';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry();

-- New lines: guards, then balances, once per INSERT statement ---------------------------------------
CREATE FUNCTION ledger_apply_lines() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- One statement: look every new line's entry and account up once, move the balances (upsert
    -- in (account, currency) order, so that concurrent postings lock balance rows in one order),
    -- and return the first line that breaks a rule.  The upsert has run by then, but raising
    -- aborts the transaction and takes it back.
    WITH chk AS (
        SELECT n.entry_id, n.line_no, n.account_code, n.currency, n.amount, a.shards,
               a.code IS NULL AS no_account,
               e.id IS NULL AS no_entry,
               e.booked_xid <> pg_current_xact_id() AS other_tx,
               e.effective_date <> n.effective_date AS other_date,
               a.usage <> 'detail' AS header,
               a.currency AS account_currency
          FROM new_lines n
          LEFT JOIN journal_entries e ON e.id = n.entry_id
          LEFT JOIN ledger_accounts a ON a.code = n.account_code),
    moved AS (
        INSERT INTO account_balances AS b (account_code, currency, shard, balance)
        SELECT c.account_code, c.currency, (pg_backend_pid() % c.shards)::smallint, sum(c.amount)
          FROM chk c WHERE c.shards IS NOT NULL
         GROUP BY c.account_code, c.currency, c.shards
         ORDER BY c.account_code, c.currency
        ON CONFLICT (account_code, currency, shard) DO UPDATE SET balance = b.balance + EXCLUDED.balance)
    SELECT c.* INTO bad FROM chk c
     WHERE c.no_account OR c.no_entry OR c.other_tx OR c.other_date OR c.header OR c.account_currency <> c.currency
     ORDER BY c.entry_id, c.line_no
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF bad.no_entry THEN
        RAISE EXCEPTION 'line % names journal entry %, which does not exist', bad.line_no, bad.entry_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'journal_lines_entry_id_fkey', TABLE = 'journal_lines',
                  DETAIL = json_build_object('entry', bad.entry_id, 'line', bad.line_no)::text;
    ELSIF bad.other_tx THEN
        RAISE EXCEPTION 'journal entry % was booked by another transaction; lines cannot be added to a booked entry',
            bad.entry_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_lines_same_transaction', TABLE = 'journal_lines',
                  DETAIL = json_build_object('entry', bad.entry_id, 'line', bad.line_no)::text;
    ELSIF bad.no_account THEN
        RAISE EXCEPTION 'no ledger account % (line % of %)', bad.account_code, bad.line_no, bad.entry_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'journal_lines_account_code_fkey', TABLE = 'journal_lines',
                  DETAIL = json_build_object('entry', bad.entry_id, 'line', bad.line_no, 'account', bad.account_code)::text;
    ELSIF bad.other_date THEN
        RAISE EXCEPTION 'line % of journal entry % has another effective date than its entry', bad.line_no, bad.entry_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_lines_entry_date', TABLE = 'journal_lines',
                  DETAIL = json_build_object('entry', bad.entry_id, 'line', bad.line_no)::text;
    ELSIF bad.header THEN
        RAISE EXCEPTION 'account % is a header account and takes no postings (line % of %)',
            bad.account_code, bad.line_no, bad.entry_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_lines_detail_account', TABLE = 'journal_lines',
                  DETAIL = json_build_object('entry', bad.entry_id, 'line', bad.line_no, 'account', bad.account_code)::text;
    ELSE
        RAISE EXCEPTION 'account % is kept in %, not % (line % of %)',
            bad.account_code, bad.account_currency, bad.currency, bad.line_no, bad.entry_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_lines_account_currency', TABLE = 'journal_lines',
                  DETAIL = json_build_object('entry', bad.entry_id, 'line', bad.line_no, 'account', bad.account_code,
                                             'account_currency', bad.account_currency)::text;
    END IF;
END $$;

CREATE TRIGGER journal_lines_apply AFTER INSERT ON journal_lines
    REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION ledger_apply_lines();

-- Balances: only the journal writes them ----------------------------------------------------------
CREATE FUNCTION ledger_guard_balances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION '% on account_balances refused: balances are kept by the journal; post an entry', TG_OP
            USING ERRCODE = 'restrict_violation', TABLE = 'account_balances';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER account_balances_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON account_balances
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_guard_balances();

-- Accounts: never deleted; what postings depend on never changes -----------------------------------
CREATE FUNCTION ledger_guard_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION '% on ledger_accounts refused: accounts are never removed', TG_OP
            USING ERRCODE = 'restrict_violation', TABLE = 'ledger_accounts';
    END IF;
    IF NEW.code <> OLD.code OR NEW.type <> OLD.type OR NEW.normal_side <> OLD.normal_side
       OR NEW.usage <> OLD.usage OR NEW.currency IS DISTINCT FROM OLD.currency THEN
        RAISE EXCEPTION 'account %: code, type, normal side, usage and currency cannot change', OLD.code
            USING ERRCODE = 'restrict_violation', TABLE = 'ledger_accounts';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER ledger_accounts_guard BEFORE UPDATE OR DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_guard_account();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_guard_account();

-- Posting: one call, one round trip ----------------------------------------------------------------
-- Idempotent on p_id: the same id with the same content returns the booked entry (replayed = true);
-- the same id with other content raises unique_violation on journal_entries_pkey.
CREATE FUNCTION ledger_post(
    p_id          text,
    p_effective   date,
    p_accounts    text[],
    p_currencies  text[],
    p_amounts     numeric[],             -- signed: debit > 0, credit < 0
    p_memo        text DEFAULT NULL,
    p_source_type text DEFAULT NULL,
    p_source_id   text DEFAULT NULL,
    p_metadata    jsonb DEFAULT NULL,
    p_reverses    text DEFAULT NULL,
    OUT booked_at timestamptz,
    OUT replayed  boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_same boolean;
BEGIN
    INSERT INTO journal_entries AS e (id, effective_date, memo, reverses, source_type, source_id, metadata)
    VALUES (p_id, p_effective, p_memo, p_reverses, p_source_type, p_source_id, p_metadata)
    ON CONFLICT (id) DO NOTHING
    RETURNING e.booked_at INTO booked_at;
    IF FOUND THEN
        INSERT INTO journal_lines (entry_id, line_no, account_code, currency, amount, effective_date)
        SELECT p_id, l.n, l.a, l.c, l.m, p_effective
          FROM unnest(p_accounts, p_currencies, p_amounts) WITH ORDINALITY AS l(a, c, m, n);
        replayed := false;
        RETURN;
    END IF;

    SELECT e.booked_at,
           e.effective_date = p_effective
           AND e.memo IS NOT DISTINCT FROM p_memo
           AND e.reverses IS NOT DISTINCT FROM p_reverses
           AND e.source_type IS NOT DISTINCT FROM p_source_type
           AND e.source_id IS NOT DISTINCT FROM p_source_id
           AND e.metadata IS NOT DISTINCT FROM p_metadata
           AND (SELECT array_agg(l.account_code ORDER BY l.line_no) = p_accounts
                   AND array_agg(l.currency ORDER BY l.line_no) = p_currencies
                   AND array_agg(l.amount ORDER BY l.line_no) = p_amounts
                  FROM journal_lines l WHERE l.entry_id = p_id)
      INTO booked_at, v_same
      FROM journal_entries e WHERE e.id = p_id;
    IF NOT coalesce(v_same, false) THEN
        RAISE EXCEPTION 'journal entry % already exists with different content', p_id
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'journal_entries_pkey', TABLE = 'journal_entries',
                  DETAIL = json_build_object('entry', p_id)::text;
    END IF;
    replayed := true;
END $$;

-- Reversal: the negation of the original's lines, once per original; idempotent on p_id.
-- The effective date defaults to the original's (the entry is undone as of the day it took effect,
-- and a retry on another day books the same content); it may be later, never earlier.
CREATE FUNCTION ledger_reverse(
    p_original    text,
    p_id          text,
    p_effective   date DEFAULT NULL,
    p_memo        text DEFAULT NULL,
    p_source_type text DEFAULT NULL,
    p_source_id   text DEFAULT NULL,
    p_metadata    jsonb DEFAULT NULL,
    OUT booked_at timestamptz,
    OUT replayed  boolean,
    OUT effective_date date)
LANGUAGE plpgsql AS $$
DECLARE
    o            record;
    v_other      text;
    v_accounts   text[];
    v_currencies text[];
    v_amounts    numeric[];
BEGIN
    SELECT e.id, e.effective_date AS eff, e.reverses INTO o FROM journal_entries e WHERE e.id = p_original;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no journal entry %', p_original
            USING ERRCODE = 'no_data_found', DETAIL = json_build_object('entry', p_original)::text;
    END IF;
    IF o.reverses IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % is the reversal of %; it cannot be reversed (post a new entry)',
            p_original, o.reverses
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entries_no_reversal_of_reversal',
                  DETAIL = json_build_object('entry', p_original, 'reverses', o.reverses)::text;
    END IF;
    effective_date := coalesce(p_effective, o.eff);
    IF effective_date < o.eff THEN
        RAISE EXCEPTION 'a reversal cannot take effect (%) before the entry it reverses (%)', effective_date, o.eff
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entries_reversal_date',
                  DETAIL = json_build_object('entry', p_original, 'effective_date', o.eff)::text;
    END IF;
    SELECT r.id INTO v_other FROM journal_entries r WHERE r.reverses = p_original;
    IF FOUND AND v_other <> p_id THEN
        RAISE EXCEPTION 'journal entry % is already reversed by %', p_original, v_other
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'journal_entries_reverses_key',
                  DETAIL = json_build_object('entry', p_original, 'reversed_by', v_other)::text;
    END IF;
    SELECT array_agg(l.account_code ORDER BY l.line_no), array_agg(l.currency ORDER BY l.line_no),
           array_agg(-l.amount ORDER BY l.line_no)
      INTO v_accounts, v_currencies, v_amounts
      FROM journal_lines l WHERE l.entry_id = p_original;
    SELECT p.booked_at, p.replayed INTO booked_at, replayed
      FROM ledger_post(p_id, effective_date, v_accounts, v_currencies, v_amounts,
                       coalesce(p_memo, 'Reversal of ' || p_original), p_source_type, p_source_id,
                       p_metadata, p_original) p;
END $$;
"""

DROP = """
DROP FUNCTION IF EXISTS ledger_reverse(text, text, date, text, text, text, jsonb);
DROP FUNCTION IF EXISTS ledger_post(text, date, text[], text[], numeric[], text, text, text, jsonb, text);
DROP TABLE IF EXISTS account_balances;
DROP TABLE IF EXISTS journal_lines;
DROP TABLE IF EXISTS journal_entries;
DROP TABLE IF EXISTS ledger_accounts;
DROP FUNCTION IF EXISTS ledger_guard_account();
DROP FUNCTION IF EXISTS ledger_guard_balances();
DROP FUNCTION IF EXISTS ledger_apply_lines();
DROP FUNCTION IF EXISTS ledger_check_entry();
DROP FUNCTION IF EXISTS ledger_refuse_change();
"""


def upgrade() -> None:
    from openlend.ledger.chart import CHART_0002, rows

    conn = op.get_bind()
    # Straight to psycopg without parameters (simple protocol): the PL/pgSQL bodies reach PostgreSQL
    # as written, with no bind-parameter parsing of their ':=' and '%'.
    conn.connection.cursor().execute(SCHEMA)
    conn.execute(sa.text(
        "INSERT INTO ledger_accounts (code, name, type, normal_side, usage, parent_code, currency, shards, description) "
        "VALUES (:code, :name, :type, :normal_side, :usage, :parent_code, :currency, :shards, :description)"),
        rows(CHART_0002))


def downgrade() -> None:
    op.get_bind().connection.cursor().execute(DROP)
