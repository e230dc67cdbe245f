"""Secret-looking text is found (never indexed) and scrubbed (never trained on)."""

from __future__ import annotations

import pytest

from ghostwright.indexer.secrets import REDACTED, contains_secret, scrub, shannon_entropy

AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # split so this file does not trip scanners itself
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0kLmN0pQrStUvWxYz"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1c2\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    "text",
    [
        PEM,
        f'aws_access_key_id = "{AWS_KEY}"',
        f"token: {GITHUB}",
        'API_KEY = "x8Kf2Lq9Zr7Tw3Vb5Nm1"',
        '{"client_secret": "a1B2c3D4e5F6g7H8i9J0kLmN"}',
        "password := 'Zx81kQ0pLm2nB7vC'",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N",
    ],
)
def test_secrets_are_found(text: str):
    assert contains_secret(text)


@pytest.mark.parametrize(
    "text",
    [
        'password = "changeme123"',  # a word with digits: low entropy
        'token = os.environ["TOKEN"]',
        'self.token_url = "https://example.com/oauth/token"',
        'SECRET_KEY_NAME = "SECRET_KEY_ENVIRONMENT_VAR"',  # a constant, no digits
        "def get_token(self):\n    return self._token",
        'digest = "3f786850e387550fdab836ed7e6dc881de23001b"',  # not assigned to a secret name
    ],
)
def test_ordinary_code_is_not_a_secret(text: str):
    assert not contains_secret(text)


def test_scrub_replaces_only_the_secret():
    text = f'key = "{AWS_KEY}"\nname = "demo"\n{PEM}\n'
    scrubbed = scrub(text)
    assert AWS_KEY not in scrubbed and "PRIVATE KEY" not in scrubbed
    assert scrubbed == f'key = "{REDACTED}"\nname = "demo"\n{REDACTED}\n'


def test_entropy_separates_words_from_keys():
    assert shannon_entropy("aaaaaaaa") == 0.0
    assert shannon_entropy("password") < 3.0
    assert shannon_entropy("x8Kf2Lq9Zr7Tw3Vb5Nm1") > 4.0
