"""Secrets at rest: every stored token, key and webhook secret goes through here.

`CREDENTIALS_ENCRYPTION_KEY` holds Fernet keys, newest first. New values are encrypted with the
newest key; any listed key decrypts, which is what makes rotation safe.
"""
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in current_app.config["CREDENTIALS_ENCRYPTION_KEYS"]])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str, what: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError, TypeError):
        raise SecretUnreadable(f"{what} cannot be decrypted with the configured "
                               "CREDENTIALS_ENCRYPTION_KEY; re-enter it or restore the old key") from None


def rotate(ciphertext: str, what: str) -> str:
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except (InvalidToken, ValueError, TypeError):
        raise SecretUnreadable(f"{what} cannot be decrypted with the configured keys") from None


class EncryptedField:
    """Model attribute that stores ciphertext in `<name>_encrypted` and hands out plaintext.

    Reading a value that no configured key can decrypt raises `SecretUnreadable`, naming the
    record, so a page can show a clear error instead of crashing.
    """

    registry: list[tuple[type, str]] = []

    def __set_name__(self, owner, name):
        self.name = name
        self.column = f"{name}_encrypted"
        EncryptedField.registry.append((owner, name))

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        stored = getattr(obj, self.column)
        if stored is None:
            return None
        return decrypt(stored, f"{type(obj).__name__} {obj.id} {self.name}")

    def __set__(self, obj, value):
        setattr(obj, self.column, None if value is None else encrypt(value))


def rotate_all(session) -> tuple[int, list[str]]:
    """Re-encrypt every stored secret with the newest key. Returns (count, problems)."""
    count, problems = 0, []
    for model, name in EncryptedField.registry:
        column = f"{name}_encrypted"
        for obj in session.query(model).filter(getattr(model, column).isnot(None)):
            try:
                setattr(obj, column, rotate(getattr(obj, column), f"{model.__name__} {obj.id} {name}"))
                count += 1
            except SecretUnreadable as exc:
                problems.append(str(exc))
    session.commit()
    return count, problems
