"""Staff passwords hashed with werkzeug's scrypt."""

from werkzeug.security import check_password_hash, generate_password_hash

# werkzeug's scrypt at its normal cost (N=32768, r=8, p=1). Nothing in the portal changes it:
# only the test suite turns it down (tests/conftest.py), for the hundreds of staff users it
# makes. Hashes record their method, so a hash made with any method is still checked right.
METHOD = "scrypt"


class WerkzeugPasswords:
    def hash(self, password: str) -> str:
        return generate_password_hash(password, method=METHOD)

    def matches(self, stored_hash: str, password: str) -> bool:
        return check_password_hash(stored_hash, password)
