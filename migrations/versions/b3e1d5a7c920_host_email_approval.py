"""host emails route recordings only once approved: status, proof and created_at on host_emails

Existing rows: the account's own address is approved ("account email"); any other address is
approved only if it has already routed recordings to its user (a call of that user recorded from
it), as turning it off would silently stop deliveries that worked; every other address becomes a
pending claim for an admin to approve on the accounts page.

Revision ID: b3e1d5a7c920
Revises: 3e7d1c9a5b20
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa

import callvault.models.types


revision = 'b3e1d5a7c920'
down_revision = '3e7d1c9a5b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('host_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('proof', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('created_at', callvault.models.types.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_host_emails_status'), ['status'], unique=False)
    op.execute("UPDATE host_emails SET status = 'approved', proof = 'account email' "
               "WHERE email = (SELECT lower(users.email) FROM users WHERE users.id = host_emails.user_id)")
    op.execute("UPDATE host_emails SET status = 'approved', proof = 'routed recordings before approval existed' "
               "WHERE status = 'pending' AND EXISTS (SELECT 1 FROM calls WHERE calls.owner_id = host_emails.user_id "
               "AND lower(calls.recorded_by_email) = host_emails.email)")


def downgrade():
    with op.batch_alter_table('host_emails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_host_emails_status'))
        batch_op.drop_column('created_at')
        batch_op.drop_column('proof')
        batch_op.drop_column('status')
