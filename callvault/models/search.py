"""Search enrichment: transcript passages with their embeddings, and each call's enrichment state.

The full-text index itself is not a model: its columns, virtual tables and triggers are DDL in
callvault/search/schema.py, which autogenerate cannot express.
"""
from ..extensions import db
from .types import UTCDateTime, utcnow

ENRICHMENT_STATES = ("pending", "done", "failed")


class TranscriptChunk(db.Model):
    """A passage of a call for semantic search: a few speaker turns, overlapping its neighbours.

    Position 0 is the call's title and summary (no `start_ms`). `embedding` is a little-endian
    float32 vector of unit length, from `embedding_model`; `embedding_code` is its sign bits
    (numpy.packbits of `embedding > 0`: 32 bytes for 256 dimensions), what a web process holds in
    memory to shortlist passages (search/vectors.py). All three are null until it is embedded.
    """

    __tablename__ = "transcript_chunks"
    __table_args__ = (
        db.UniqueConstraint("call_id", "position"),
        db.Index("ix_transcript_chunks_model", "embedding_model", "call_id"),
    )

    id = db.Column(db.Integer, primary_key=True)
    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False)
    position = db.Column(db.Integer, nullable=False)
    speaker = db.Column(db.String(200))
    start_ms = db.Column(db.Integer)
    end_ms = db.Column(db.Integer)
    text = db.Column(db.Text, nullable=False)
    embedding = db.Column(db.LargeBinary)
    embedding_code = db.Column(db.LargeBinary)
    embedding_model = db.Column(db.String(200))


class CallEnrichment(db.Model):
    """What enrichment has done for one call, keyed on the call's content fingerprint.

    `fingerprint` is the `Call.content_hash` the chunks were built from; `embedding_model` is set
    when every chunk carries a vector from that model. `generated_title` / `generated_summary` are
    what we wrote into the call (so a later run knows the text is ours and may replace it).
    """

    __tablename__ = "call_enrichments"
    __table_args__ = (db.Index("ix_call_enrichments_due", "status", "next_attempt_at"),)

    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    status = db.Column(db.String(16), nullable=False, default="pending")
    fingerprint = db.Column(db.String(64))
    embedding_model = db.Column(db.String(200))
    generated_title = db.Column(db.String(500))
    generated_summary = db.Column(db.Text)
    attempts = db.Column(db.Integer, nullable=False, default=0)  # failed runs since the last success
    last_error = db.Column(db.Text)
    next_attempt_at = db.Column(UTCDateTime)
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    call = db.relationship("Call", backref=db.backref("enrichment", uselist=False, cascade="all, delete-orphan",
                                                      passive_deletes=True))
