"""bots: departures of service bots let go of, per-meeting choices, send-now, transition sources

- `bot_departures`: one row per service bot that must not stay in a meeting (deleted while
  scheduled, asked to leave from joining on), retried by the dispatcher until confirmed.
- `bot_event_choices`: an owner's `skip` or `record` for one calendar event.
- `bots.send_now_at`: a bot was asked to join its meeting now.
- `bot_transitions.source`: webhook, poll or us.

Revision ID: b7d41e0c9a52
Revises: b3e1d5a7c920
Create Date: 2026-12-04 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import callvault.models.types


# revision identifiers, used by Alembic.
revision = 'b7d41e0c9a52'
down_revision = 'b3e1d5a7c920'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bot_departures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('attendee_id', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('remote_state', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', callvault.models.types.UTCDateTime(), nullable=False),
    sa.Column('done_at', callvault.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_bot_departures_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bot_departures')),
    sa.UniqueConstraint('attendee_id', name=op.f('uq_bot_departures_attendee_id'))
    )
    with op.batch_alter_table('bot_departures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bot_departures_bot_id'), ['bot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_departures_done_at'), ['done_at'], unique=False)

    op.create_table('bot_event_choices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', callvault.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['calendar_events.id'],
                            name=op.f('fk_bot_event_choices_event_id_calendar_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_bot_event_choices_user_id_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bot_event_choices')),
    sa.UniqueConstraint('event_id', name=op.f('uq_bot_event_choices_event_id'))
    )

    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_now_at', callvault.models.types.UTCDateTime(), nullable=True))

    with op.batch_alter_table('bot_transitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('bot_transitions', schema=None) as batch_op:
        batch_op.drop_column('source')

    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.drop_column('send_now_at')

    op.drop_table('bot_event_choices')
    with op.batch_alter_table('bot_departures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bot_departures_done_at'))
        batch_op.drop_index(batch_op.f('ix_bot_departures_bot_id'))
    op.drop_table('bot_departures')
