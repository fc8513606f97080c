"""hot accounts: more balance shards for the accounts every drawdown or repayment touches

Revision ID: 0006
Revises: 0005

A posting adds to the balance row ``pg_backend_pid() % shards`` of each account it touches
(0002_ledger); with one shard, every concurrent drawdown queues on the row lock of 1100.  More shards
leave the sum, and so every balance, unchanged: old rows keep their amounts.
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HOT = ("1100",)


def upgrade() -> None:
    op.execute("UPDATE ledger_accounts SET shards = 8 WHERE code IN ('1100') AND shards < 8")


def downgrade() -> None:
    pass   # more shards are harmless; fewer would strand nothing either (balance = sum over rows)
