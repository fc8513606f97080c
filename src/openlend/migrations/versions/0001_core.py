"""core: idempotency keys

Revision ID: 0001
Revises:
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE idempotency_keys (
        scope          text        NOT NULL,          -- who and where: principal + method + route
        key            text        NOT NULL,
        request_hash   text        NOT NULL,          -- sha256 of the canonical request body
        status_code    integer     NOT NULL,
        response_body  jsonb       NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
    COMMENT ON TABLE idempotency_keys IS
      'Stripe-style idempotency: written in the same transaction as the effect, kept >= 24 h';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
