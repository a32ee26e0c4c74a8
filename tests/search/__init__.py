"""Search: full-text queries and highlights, and enrichment (titles, summaries, embeddings)."""
