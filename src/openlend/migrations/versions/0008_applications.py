"""applications: the origination state machine, decision records, the internal blacklist, the model
and policy registry, manual reviews

Revision ID: 0008
Revises: 0007

* ``applications``: one row per credit application, its status moved only along the state machine
  of ``applications/service.py`` (every move recorded in ``application_events``).  The ID number is
  stored only encrypted (AES-256-GCM, key id kept) with a keyed hash and a masked form; the selfie
  and the ID-card images are stored encrypted too (``application_documents``).
* ``decisions``: immutable decision records (every input, every rule result, score, model and
  policy versions, reasons, outcome); ``decisions.record`` replays to itself.
* ``blacklist_entries``: the internal blacklist, by keyed hash of the value (ID number, mobile,
  device, bank card), managed by operators; an entry is removed by marking it, never deleted.
* ``risk_models`` and ``risk_policies``: versions stored with their metrics / hash; one champion,
  challengers with a share.
* ``application_reviews``: the manual review queue's decisions (a second operator above a limit).
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(r"""
    CREATE TABLE applications (
        id                 text        PRIMARY KEY CHECK (id LIKE 'app\_%'),
        product_id         text        NOT NULL REFERENCES loan_products (id),
        mobile             text        NOT NULL,
        status             text        NOT NULL CHECK (status IN (
                               'started', 'code_verified', 'identity_verified', 'consented', 'data_collected',
                               'manual_review', 'approved', 'funder_approved', 'line_opened', 'declined',
                               'cancelled')),
        verification_code_id text,
        consent_id         text,
        name               text,
        sex                text        CHECK (sex IN ('M', 'F')),
        birth_date         date,
        id_number_cipher   bytea,
        id_number_key_id   text,
        id_number_hash     bytea,
        id_number_masked   text,
        id_card            jsonb,           -- fields with confidences and checks (number masked)
        face               jsonb,           -- score, distance, threshold, match, notes; liveness
        factors            jsonb,           -- 2/3/4-factor and carrier results
        applicant          jsonb,           -- declared data (occupation, income, ...; scorecard fields)
        bank_card_hash     bytea,
        bank_card_masked   text,
        device_id          text,
        client_ip          inet,
        decision_id        text,
        outcome            text        CHECK (outcome IN ('approve', 'decline', 'refer')),
        approved_limit     numeric(20,4),
        approved_rate      numeric(12,6),
        funder_code        text,
        funder_reference   text,
        customer_id        text        REFERENCES customers (id),
        line_id            text        REFERENCES credit_lines (id),
        livemode           boolean     NOT NULL,
        created_at         timestamptz NOT NULL DEFAULT now(),
        updated_at         timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX applications_list ON applications (livemode, id DESC);
    CREATE INDEX applications_review ON applications (created_at) WHERE status = 'manual_review';
    CREATE INDEX applications_id_hash ON applications (id_number_hash, created_at);
    CREATE INDEX applications_device ON applications (device_id, created_at);
    CREATE INDEX applications_ip ON applications (client_ip, created_at);
    CREATE INDEX applications_mobile ON applications (mobile, created_at);
    COMMENT ON TABLE applications IS 'Credit applications: from a mobile number to a line opened, or a decline';

    CREATE TABLE application_events (
        id              bigserial   PRIMARY KEY,
        application_id  text        NOT NULL REFERENCES applications (id),
        from_status     text,
        to_status       text        NOT NULL,
        actor           text        NOT NULL,
        note            text,
        details         jsonb       NOT NULL DEFAULT '{}'::jsonb,
        created_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX application_events_app ON application_events (application_id, id);

    CREATE TABLE application_documents (
        application_id  text        NOT NULL REFERENCES applications (id),
        kind            text        NOT NULL CHECK (kind IN ('id_front', 'id_back', 'selfie')),
        cipher          bytea       NOT NULL,     -- AES-256-GCM: nonce || ciphertext || tag
        key_id          text        NOT NULL,
        sha256          bytea       NOT NULL,     -- of the plain bytes
        content_type    text        NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (application_id, kind)
    );
    COMMENT ON TABLE application_documents IS 'ID-card images and selfies, encrypted';

    CREATE TABLE decisions (
        id              text        PRIMARY KEY,
        application_id  text        NOT NULL REFERENCES applications (id),
        outcome         text        NOT NULL CHECK (outcome IN ('approve', 'decline', 'refer')),
        model_version   text        NOT NULL,
        policy_id       text        NOT NULL,
        policy_version  integer     NOT NULL,
        record          jsonb       NOT NULL,
        provider_data   jsonb       NOT NULL DEFAULT '{}'::jsonb,   -- what the providers answered (masked)
        seconds         numeric(10,4),
        created_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX decisions_application ON decisions (application_id, created_at);

    CREATE TABLE blacklist_entries (
        id          text        PRIMARY KEY CHECK (id LIKE 'bl\_%'),
        kind        text        NOT NULL CHECK (kind IN ('id_number', 'mobile', 'device', 'bank_card')),
        value_hash  bytea       NOT NULL,
        value_masked text       NOT NULL,
        reason      text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
        created_by  text        NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        removed_at  timestamptz,
        removed_by  text,
        livemode    boolean     NOT NULL
    );
    CREATE UNIQUE INDEX blacklist_entries_active ON blacklist_entries (livemode, kind, value_hash) WHERE removed_at IS NULL;

    CREATE TABLE risk_models (
        version     text        PRIMARY KEY,
        kind        text        NOT NULL CHECK (kind IN ('scorecard', 'fraud')),
        body        jsonb       NOT NULL,
        metrics     jsonb       NOT NULL DEFAULT '{}'::jsonb,
        role        text        NOT NULL DEFAULT 'retired' CHECK (role IN ('champion', 'challenger', 'retired')),
        share       numeric(5,4) NOT NULL DEFAULT 0 CHECK (share >= 0 AND share <= 1),
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX risk_models_one_champion ON risk_models (kind) WHERE role = 'champion';

    CREATE TABLE risk_policies (
        id          text        NOT NULL,
        version     integer     NOT NULL CHECK (version >= 1),
        body        jsonb       NOT NULL,
        sha256      text        NOT NULL,
        status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
        created_by  text        NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (id, version)
    );
    CREATE UNIQUE INDEX risk_policies_one_active ON risk_policies (id) WHERE status = 'active';

    CREATE TABLE application_reviews (
        id              text        PRIMARY KEY CHECK (id LIKE 'rev\_%'),
        application_id  text        NOT NULL REFERENCES applications (id),
        operator        text        NOT NULL,
        action          text        NOT NULL CHECK (action IN ('approve', 'decline')),
        approved_limit  numeric(20,4),
        note            text        NOT NULL CHECK (length(note) BETWEEN 1 AND 2000),
        created_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX application_reviews_app ON application_reviews (application_id, created_at);

    CREATE TRIGGER decisions_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON decisions
        FOR EACH STATEMENT EXECUTE FUNCTION servicing_immutable();
    CREATE TRIGGER application_events_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON application_events
        FOR EACH STATEMENT EXECUTE FUNCTION servicing_immutable();
    CREATE TRIGGER application_reviews_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON application_reviews
        FOR EACH STATEMENT EXECUTE FUNCTION servicing_immutable();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE application_reviews; DROP TABLE risk_policies; DROP TABLE risk_models;
    DROP TABLE blacklist_entries; DROP TABLE decisions; DROP TABLE application_documents;
    DROP TABLE application_events; DROP TABLE applications;
    """)
