"""Webhook deliveries get the intake's receipt (unique): an inbox entry recorded twice keeps one row

Revision ID: c41f7e2a9d10
Revises: c4e8a1f2d9b7
Create Date: 2026-12-04 12:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c41f7e2a9d10'
down_revision = 'c4e8a1f2d9b7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt', sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_webhook_deliveries_receipt'), ['receipt'])


def downgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_webhook_deliveries_receipt'), type_='unique')
        batch_op.drop_column('receipt')
