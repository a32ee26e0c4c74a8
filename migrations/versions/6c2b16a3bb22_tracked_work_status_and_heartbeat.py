"""tracked work: one status vocabulary, heartbeats and recovery for sync jobs and export bundles

Both tables take TrackedWork's columns (callvault/models/tracked.py): the status vocabulary
queued | running | succeeded | failed | cancelled, enforced by a CHECK constraint on each table
(`done` is renamed `succeeded` in the rows already there), `heartbeat_at` on both, `started_at`
on export bundles, and an index on status for the periodic recovery's scan of active rows.

Revision ID: 6c2b16a3bb22
Revises: 7bc4b2a8218b
Create Date: 2026-12-04 09:12:25.238778

"""
from alembic import op
import sqlalchemy as sa

import callvault.models.types


# revision identifiers, used by Alembic.
revision = '6c2b16a3bb22'
down_revision = '7bc4b2a8218b'
branch_labels = None
depends_on = None

TABLES = ('sync_jobs', 'export_bundles')
# A copy of callvault.models.tracked.WorkStatus as of this revision.
WORK_STATES = ('queued', 'running', 'succeeded', 'failed', 'cancelled')
CHECK = "status IN (" + ", ".join(f"'{state}'" for state in WORK_STATES) + ")"


def _rename_status(table, old, new):
    op.execute(sa.text(f"UPDATE {table} SET status = :new WHERE status = :old").bindparams(old=old, new=new))


def upgrade():
    for table in TABLES:
        _rename_status(table, 'done', 'succeeded')

    with op.batch_alter_table('export_bundles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', callvault.models.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', callvault.models.types.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_export_bundles_status'), ['status'], unique=False)
        batch_op.create_check_constraint(batch_op.f('ck_export_bundles_work_status'), CHECK)

    with op.batch_alter_table('sync_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', callvault.models.types.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_sync_jobs_status'), ['status'], unique=False)
        batch_op.create_check_constraint(batch_op.f('ck_sync_jobs_work_status'), CHECK)


def downgrade():
    with op.batch_alter_table('sync_jobs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_sync_jobs_work_status'), type_='check')
        batch_op.drop_index(batch_op.f('ix_sync_jobs_status'))
        batch_op.drop_column('heartbeat_at')

    with op.batch_alter_table('export_bundles', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_export_bundles_work_status'), type_='check')
        batch_op.drop_index(batch_op.f('ix_export_bundles_status'))
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('started_at')

    for table in TABLES:
        _rename_status(table, 'succeeded', 'done')
    # Bundles had no cancelled state: a cancelled bundle was a failed one.
    op.execute(sa.text("UPDATE export_bundles SET status = 'failed', error = coalesce(error, 'cancelled') "
                       "WHERE status = 'cancelled'"))
