"""The offline embedder: WordLlama's 256-dimension model, shipped inside its wheel, on the CPU.

No network and no key: the weights and the tokenizer are files of the installed `wordllama`
package, loaded with downloads disabled (0.4.0's default lookup looks for the tokenizer in a cache
folder and would try to download it). Loaded once per process, on first use (~0.2 s); about
20,000 short passages a second on one core.
"""
import threading
from pathlib import Path

MODEL_NAME = "wordllama-l2-supercat-256"
_lock = threading.Lock()
_model = None


class EmbedderError(Exception):
    """The offline model could not be loaded or run."""


def _load():
    global _model
    with _lock:
        if _model is None:
            try:
                import wordllama
                from wordllama import WordLlama
                _model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
            except Exception as exc:  # a missing or broken install: search falls back to words
                raise EmbedderError(f"the offline embedding model could not be loaded ({type(exc).__name__})") from exc
    return _model


def embed(texts: list[str]):
    """Unit-length float32 vectors (a numpy array, one row per text)."""
    import numpy as np
    model = _load()
    try:
        vectors = np.asarray(model.embed(list(texts), norm=True), dtype=np.float32)
    except Exception as exc:
        raise EmbedderError(f"the offline embedding model failed ({type(exc).__name__})") from exc
    return vectors.reshape(len(texts), -1)

# Cosine similarity below which a passage is not "about" the query, for this model (its scores run
# lower than large models': a close paraphrase scores 0.2–0.5). Tuned with bench/search_quality.py.
MIN_SIMILARITY = 0.1
