"""transcript chunks: the sign bits of each embedding, for the in-memory semantic index

`embedding_code` is numpy.packbits(embedding > 0) of the float32 vector stored beside it (see
callvault/search/vectors.py). Vectors already stored get their codes here.

Revision ID: c4e9a2f7d813
Revises: afb15f024f4d
Create Date: 2026-12-04 12:45:00

"""
from alembic import op
import numpy as np
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e9a2f7d813'
down_revision = 'afb15f024f4d'
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade():
    with op.batch_alter_table('transcript_chunks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('embedding_code', sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(sa.text(
            "SELECT id, embedding FROM transcript_chunks WHERE id > :last AND embedding IS NOT NULL "
            "ORDER BY id LIMIT :batch"), {"last": last, "batch": BATCH}).all()
        if not rows:
            break
        connection.execute(sa.text("UPDATE transcript_chunks SET embedding_code = :code WHERE id = :id"), [
            {"id": row.id, "code": np.packbits(np.frombuffer(row.embedding, dtype="<f4") > 0).tobytes()}
            for row in rows])
        last = rows[-1].id


def downgrade():
    with op.batch_alter_table('transcript_chunks', schema=None) as batch_op:
        batch_op.drop_column('embedding_code')
