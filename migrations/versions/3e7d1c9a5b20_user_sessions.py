"""user sessions: one row per signed-in browser, so signing out ends a session server-side

Also clears stored call links that are not http(s) (a `javascript:` share link from before the store
checked them): the app now stores such links as NULL (callvault/safe_urls.py), so old rows match.

Revision ID: 3e7d1c9a5b20
Revises: 6c2b16a3bb22
Create Date: 2026-12-04 10:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

import callvault.models.types


# revision identifiers, used by Alembic.
revision = '3e7d1c9a5b20'
down_revision = '6c2b16a3bb22'
branch_labels = None
depends_on = None


def upgrade():
    for column in ('recording_url', 'share_url'):
        op.execute(f"UPDATE calls SET {column} = NULL WHERE {column} IS NOT NULL "
                   f"AND lower({column}) NOT LIKE 'http://%' AND lower({column}) NOT LIKE 'https://%'")
    op.create_table(
        'user_sessions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', callvault.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)


def downgrade():
    # The cleared links are not restored: they were never safe to show.
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))
    op.drop_table('user_sessions')
