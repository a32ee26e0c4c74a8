"""An index on bots (state_changed_at, id): the dashboard's recent missed and failed bots, newest first

Without it the failures list read every bot (a sequential scan of 45,000 bots took ~20 ms).

Revision ID: c4e8a1f2d9b7
Revises: c4e9a2f7d813
Create Date: 2026-12-04 13:22:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4e8a1f2d9b7'
down_revision = 'c4e9a2f7d813'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.create_index('ix_bots_state_changed_at', ['state_changed_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.drop_index('ix_bots_state_changed_at')
