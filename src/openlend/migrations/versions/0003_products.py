"""products: loan products and their immutable versions

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(r"""
    CREATE TABLE loan_products (
        id               text        PRIMARY KEY CHECK (id LIKE 'prod\_%'),
        code             text        NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$'),
        name             text        NOT NULL,
        status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
        current_version  integer     NOT NULL CHECK (current_version >= 1),
        livemode         boolean     NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        retired_at       timestamptz,
        CHECK ((status = 'retired') = (retired_at IS NOT NULL))
    );
    -- A code names one product per mode; test and live never mix.
    CREATE UNIQUE INDEX loan_products_code ON loan_products (livemode, code);
    -- Lists run newest first by id (ids are time-ordered), optionally by status.
    CREATE INDEX loan_products_list ON loan_products (livemode, id DESC);
    COMMENT ON TABLE loan_products IS
      'A loan product: its identity and lifecycle; what it offers lives in loan_product_versions';

    CREATE TABLE loan_product_versions (
        product_id      text        NOT NULL REFERENCES loan_products (id),
        version         integer     NOT NULL CHECK (version >= 1),
        config          jsonb       NOT NULL CHECK (jsonb_typeof(config) = 'object'),
        given_config    jsonb       NOT NULL CHECK (jsonb_typeof(given_config) = 'object'),
        worst_case_apr  jsonb       NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (product_id, version)
    );
    COMMENT ON TABLE loan_product_versions IS
      'Immutable: a loan keeps the version it was made on; a change is a new version';
    COMMENT ON COLUMN loan_product_versions.config IS
      'The full validated config, every default written in; amounts and rates as decimal strings';
    COMMENT ON COLUMN loan_product_versions.given_config IS
      'The fields the lender set (create body less code, then each merge patch); a patch applies to it, '
      'so fields never set keep following their defaults';
    COMMENT ON COLUMN loan_product_versions.worst_case_apr IS
      'The highest APR over the product corners and the cap it was checked against';

    -- The current version always exists (checked at commit, so product and version insert together).
    ALTER TABLE loan_products ADD CONSTRAINT loan_products_current_version_fk
        FOREIGN KEY (id, current_version) REFERENCES loan_product_versions (product_id, version)
        DEFERRABLE INITIALLY DEFERRED;

    CREATE FUNCTION loan_product_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_LEVEL = 'STATEMENT' THEN
            RAISE EXCEPTION 'loan product versions are immutable (%)', TG_OP
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RAISE EXCEPTION 'loan product versions are immutable (% on %, version %)',
            TG_OP, OLD.product_id, OLD.version
            USING ERRCODE = 'integrity_constraint_violation';
    END $$;
    CREATE TRIGGER loan_product_versions_immutable
        BEFORE UPDATE OR DELETE ON loan_product_versions
        FOR EACH ROW EXECUTE FUNCTION loan_product_versions_immutable();
    CREATE TRIGGER loan_product_versions_no_truncate
        BEFORE TRUNCATE ON loan_product_versions
        FOR EACH STATEMENT EXECUTE FUNCTION loan_product_versions_immutable();
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE loan_products DROP CONSTRAINT loan_products_current_version_fk;
    DROP TABLE loan_product_versions;
    DROP FUNCTION loan_product_versions_immutable();
    DROP TABLE loan_products;
    """)
