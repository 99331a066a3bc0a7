"""Password hashing for staff users (werkzeug's scrypt: salted, slow on purpose)."""

from werkzeug.security import check_password_hash, generate_password_hash


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    return check_password_hash(stored_hash, password)
