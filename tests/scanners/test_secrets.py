"""The secrets scanner: each rule fires on a real-looking (randomly generated, never real) secret and reports its
kind and line, never its value; placeholders, names and prose do not fire; binary files are skipped; hostile
inputs stay linear; the streaming scan of a large file agrees with the in-memory one."""

from __future__ import annotations

import base64
import json
import random
import re
import string
from pathlib import Path

import pytest

from inhouse.scanners import secrets
from inhouse.scanners.secrets import scan, scan_bytes

RNG = random.Random(20261201)
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def b64url(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def pem_body() -> str:
    return "\n".join(rand(64, ALNUM + "+/") for _ in range(3))


# (kind, a line holding a secret of that kind). Prefixes are assembled so that this file holds no token literal.
CASES: list[tuple[str, str]] = [
    ("AWS access key id", f'aws_access_key_id = {"AK" + "IA"}{rand(16, UPPER_DIGITS)}'),
    ("AWS secret access key", f'aws_secret_access_key = "{rand(40, ALNUM + "+/")}"'),
    ("GitHub token", f'token: {"gh" + "p_"}{rand(36)}'),
    ("GitHub token", f'GH_TOKEN={"gh" + "s_"}{rand(36)}'),
    ("GitHub fine-grained token", f'{"github" + "_pat_"}{rand(22)}_{rand(59)}'),
    ("GitLab token", f'export GITLAB={"gl" + "pat-"}{rand(20)}'),
    ("Slack token", f'SLACK_BOT={"xo" + "xb-"}{rand(11, string.digits)}-{rand(12, string.digits)}-{rand(24)}'),
    ("Slack webhook URL", f'url = "https://hooks.slack.com/services/T{rand(8, UPPER_DIGITS)}/B{rand(8, UPPER_DIGITS)}/'
                          f'{rand(24)}"'),
    ("Stripe live key", f'stripe.api_key = {"sk" + "_live_"}{rand(24)}'),
    ("Google API key", f'"key": "{"AI" + "za"}{rand(35, ALNUM + "_-")}"'),
    ("OpenAI API key", f'OPENAI_API_KEY={"sk" + "-proj-"}{rand(100, ALNUM + "_-")}'),
    ("OpenAI API key", f'openai.api_key = {"sk" + "-"}{rand(20)}T3BlbkFJ{rand(20)}'),
    ("Anthropic API key", f'{"sk" + "-ant-"}api03-{rand(93, ALNUM + "_-")}'),
    ("Hugging Face token", f'HF_TOKEN={"h" + "f_"}{rand(34, string.ascii_letters)}'),
    ("inhouse access token", f'Authorization: Bearer {"i" + "h_"}{rand(43, ALNUM + "_-")}'),
    ("JSON Web Token", f'Cookie: session={b64url({"alg": "HS256", "typ": "JWT"})}.'
                       f'{b64url({"sub": "1234567890", "name": "Jane"})}.{rand(43, ALNUM + "_-")}'),
    ("password or secret assignment", f'DATABASE_PASSWORD = "{rand(6)}-{rand(10)}!"'),
    ("password or secret assignment", f'"client_secret": "{rand(32)}"'),
]


@pytest.mark.parametrize(("kind", "line"), CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
def test_each_rule_fires_with_its_line_and_never_the_value(kind: str, line: str) -> None:
    text = f"# settings\n\nname = 'demo'\n{line}\nother = 1\n"
    out = scan_bytes(text.encode(), "config.py")
    assert out.status == "findings"
    assert {"type": kind, "line": 4} in out.findings["secrets"]
    dumped = json.dumps(out.findings)
    secret_part = line.split("=", 1)[-1].split(":", 1)[-1].strip().strip('"')[-20:]
    assert secret_part not in dumped


def test_private_key_block_fires_on_its_begin_line() -> None:
    text = f"x = 1\n-----BEGIN RSA PRIVATE KEY-----\n{pem_body()}\n-----END RSA PRIVATE KEY-----\n"
    out = scan_bytes(text.encode(), "id_rsa")
    assert out.findings["secrets"] == [{"type": "private key", "line": 2}]
    text = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{pem_body()}\n"
    assert scan_bytes(text.encode(), "key").findings["secrets"] == [{"type": "private key", "line": 1}]
    encrypted = ("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123\n\n"
                 f"{pem_body()}\n")
    assert scan_bytes(encrypted.encode(), "key").status == "findings"


PLACEHOLDERS = [
    "HF_TOKEN=hf_xxx",
    "export HF_TOKEN=hf_" + "x" * 34,
    "token = hf_" + "X" * 34,
    "api_key=YOUR_KEY",
    'api_key = "YOUR_API_KEY_HERE_12345"',
    'password = "<your-password-here>"',
    'password = "${DB_PASSWORD_FROM_ENV}"',
    'secret: "{{ vault_secret_value }}"',
    'password = "**************"',
    'password = os.environ["DATABASE_PASSWORD"]',
    'password = "user_password_field"',
    'PASSWORD_FIELD = "password_confirmation"',
    'secret_keys: "Iterable[pysequoia.Tsk]" = (),',
    'api_key = "load_key_from(settings.path)"',
    "aws_access_key_id = AKIA" + "IOSFODNN7EXAMPLE",  # AWS's documented example
    'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
    "sk-learn is spelled scikit-learn; see the task-" + "a" * 48,
    "ghp_ tokens start with ghp_ and look like ghp_" + "0" * 36,
    "The JWT looks like eyJhbGciOi.eyJzdWIi.signature",
    "Use `hf auth login` and paste a token from https://huggingface.co/settings/tokens",
]


@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_placeholders_and_prose_do_not_fire(text: str) -> None:
    out = scan_bytes(f"# README\n\n{text}\n".encode(), "README.md")
    assert out.status == "clean", out.findings
    assert out.findings["secrets"] == []


def test_token_inside_a_longer_token_is_not_one() -> None:
    inner = "xyz" + "hf_" + rand(34, string.ascii_letters)  # preceded by letters: a longer identifier
    assert scan_bytes(inner.encode(), "a.txt").status == "clean"
    longer = "hf_" + rand(60, string.ascii_letters)  # longer than a Hugging Face token can be
    assert scan_bytes(longer.encode(), "a.txt").status == "clean"


def test_a_readme_with_an_hf_placeholder_does_not_fire_but_a_real_one_in_it_does() -> None:
    readme = ("# My model\n\n```bash\nexport HF_TOKEN=hf_xxx\nhuggingface-cli login --token hf_***\n```\n\n"
              "Set `token=\"hf_...\"` in the client.\n")
    assert scan_bytes(readme.encode(), "README.md").status == "clean"
    leaked = readme + "\n" + "login(token='hf_" + rand(34, string.ascii_letters) + "')\n"
    out = scan_bytes(leaked.encode(), "README.md")
    assert out.findings["secrets"] == [{"type": "Hugging Face token", "line": 10}]


def test_binary_files_are_skipped() -> None:
    data = b"\x00\x01PK" + ("hf_" + rand(34, string.ascii_letters)).encode()
    out = scan_bytes(data, "weights.bin")
    assert out.status == "clean" and out.findings == {"secrets": [], "total": 0, "text": False}


def test_findings_are_capped_and_counted() -> None:
    lines = [f"k{i} = {'gh' + 'p_'}{rand(36)}" for i in range(secrets.MAX_FINDINGS + 50)]
    out = scan_bytes("\n".join(lines).encode(), "many.env")
    assert len(out.findings["secrets"]) == secrets.MAX_FINDINGS
    assert out.findings["total"] == secrets.MAX_FINDINGS + 50
    assert out.findings["secrets"][-1] == {"type": "GitHub token", "line": secrets.MAX_FINDINGS}


def test_every_pattern_is_bounded() -> None:
    """Linear time by construction: rules are tried only where a literal trigger is (bytes.find), and no pattern
    has an unbounded repetition (*, +, {n,}) outside a character class, so the work per trigger is bounded."""
    for rule in secrets.RULES:
        source = re.sub(rb"\\.", b"e", rule.pattern.pattern)  # escapes
        source = re.sub(rb"\[[^\]]*\]", b"c", source)  # character classes
        assert not re.search(rb"[*]|(?<!\})\+|\{\d+,\}", source), rule.kind
        assert rule.triggers and all(len(t) >= 2 for t, _ in rule.triggers), rule.kind


def test_hostile_inputs_are_not_secrets() -> None:
    """Inputs built to make a regex engine retry (repeated prefixes, long runs without their end): no finding.
    (On the development machine each 2 MB input takes about what 2 MB of source code takes, 0.05-0.25 s.)"""
    size = 2_000_000
    for unit in (b"eyJ", b"-eyJa.", b"AKIA", b"aws_secret=", b"password=\"", b"-----BEGIN A PRIVATE KEY-----\n",
                 b"ghp_", b"sk-proj-", b"x" * 64 + b"\n", b"-----BEGIN A PRIVATE KEY-----" + b" " * 5000):
        hostile = (unit * (size // len(unit) + 1))[:size]
        out = scan_bytes(hostile, "h.txt")
        assert out.status == "clean", unit


def test_streaming_scan_agrees_with_the_in_memory_scan(tmp_path: Path) -> None:
    """Blocks cut at line ends, a line longer than a block, and a PEM block across a block boundary."""
    parts = []
    expected = []
    line = 1
    for i in range(40):
        filler = "lorem ipsum dolor sit amet\n" * RNG.randrange(1000, 8000)
        if i % 3 == 0:
            part = f"token = {'gh' + 'o_'}{rand(36)}\n"
            kind = "GitHub token"
        elif i % 3 == 1:
            part = f"-----BEGIN EC PRIVATE KEY-----\n{pem_body()}\n-----END EC PRIVATE KEY-----\n"
            kind = "private key"
        else:
            part = "a" * (secrets.BLOCK_BYTES + 12345) + " " + "h" + "f_" + rand(34, string.ascii_letters) + "\n"
            kind = "Hugging Face token"
        line += filler.count("\n")
        expected.append({"type": kind, "line": line})
        line += part.count("\n")
        parts += [filler, part]
    text = "".join(parts).encode()
    path = tmp_path / "big.txt"
    path.write_bytes(text)
    streamed = scan(path, "big.txt", {})
    assert streamed.findings["secrets"] == expected
    assert scan_bytes(text, "big.txt").findings["secrets"] == expected
