"""Every AWS fact the lab states carries its source: docs/sources.md, and the links that point there.

Each AWS documentation link in the notebooks (markdown, code and outputs), README.md, docs/**/*.md
and labkit's Python strings must be well-formed (https, the canonical host, no query, an .html page
or a known directory form) and its page must be listed in docs/sources.md, so that a new claim
cannot land without its source. The second half checks the facts labkit itself states (the
console's limits are in tests/test_console.py) against what docs/sources.md says AWS says.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

from labkit import policies
from labkit.outcomes import EXPLANATIONS

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"

URL = re.compile(r"https?://[^\s<>\"'`()\[\]{}|\\]+")
TRAILING = ".,;:!?*_"  # punctuation that ends a sentence, not a URL
AWS_DOMAINS = ("aws.amazon.com", "amazonaws.com", "amazonaws.cn", "repost.aws")
DOC_LABELS = {"docs", "boto3", "botocore", "repost", "aws", "www"}  # not signin., console., sts., s3. ...
CANONICAL = {
    "docs.aws.amazon.com": "AWS documentation",
    "boto3.amazonaws.com": "boto3's documentation",
    "botocore.amazonaws.com": "botocore's documentation",
    "repost.aws": "AWS re:Post knowledge center",
}
LOCALE = re.compile(r"^/[a-z]{2}_[a-z]{2}/")
GUIDE_START = re.compile(r"^/[\w.-]+/(?:latest|v\d+)/[\w.-]+/$")  # e.g. /IAM/latest/UserGuide/
KNOWLEDGE_CENTER = re.compile(r"^/knowledge-center/[a-z0-9-]+/?$")


# --- finding the links -------------------------------------------------------------------------


def urls_in(text: str) -> list[str]:
    return [match.group(0).rstrip(TRAILING) for match in URL.finditer(text)]


def is_aws_doc(url: str) -> bool:
    """An AWS documentation link (docs.aws.amazon.com, boto3's, re:Post ...), not a sign-in page,
    a console or a service endpoint."""
    host = (urlsplit(url).hostname or "").lower()
    if not any(host == domain or host.endswith("." + domain) for domain in AWS_DOMAINS):
        return False
    return host == "repost.aws" or host.split(".", 1)[0] in DOC_LABELS


def _notebook_texts(path: Path) -> list[str]:
    texts = []
    for cell in nbformat.read(path, as_version=4).cells:
        texts.append(cell.source)
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.extend(v for v in output.get("data", {}).values() if isinstance(v, str))
    return texts


def _python_strings(path: Path) -> list[str]:
    """Every string in the module (docstrings, messages, f-string parts), comments excluded."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def doc_links(path: Path) -> list[str]:
    """The AWS documentation links in one notebook, Markdown file or Python module."""
    if path.suffix == ".ipynb":
        texts = _notebook_texts(path)
    elif path.suffix == ".py":
        texts = _python_strings(path)
    else:
        texts = [path.read_text()]
    return [url for text in texts for url in urls_in(text) if is_aws_doc(url)]


def lesson_files(root: Path = ROOT) -> list[Path]:
    return sorted([*(root / "notebooks").glob("*.ipynb"), root / "README.md",
                   *(path for path in (root / "docs").rglob("*.md") if path.name != "sources.md"),
                   *(root / "labkit").rglob("*.py")])


# --- judging them ------------------------------------------------------------------------------


def page(url: str) -> str:
    """The page a link points to: without its #fragment."""
    return url.split("#", 1)[0]


def problems(url: str) -> list[str]:
    """What is wrong with an AWS documentation link, in words (empty when it is well-formed)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    found = []
    if parts.scheme != "https":
        found.append("use https")
    if host not in CANONICAL:
        found.append(f"{host} is not a canonical documentation host ({', '.join(sorted(CANONICAL))})")
    if parts.query:
        found.append(f"drop the query ?{parts.query} (a tracking or console parameter)")
    if parts.port or parts.username:
        found.append("no port or user in a documentation link")
    if LOCALE.match(parts.path):
        found.append(f"drop the language folder {parts.path[:7]} (the English page is canonical)")
    if host == "repost.aws":
        if not KNOWLEDGE_CENTER.match(parts.path):
            found.append("a re:Post link is a knowledge-center article, /knowledge-center/<name>")
    elif not (parts.path.endswith(".html") or GUIDE_START.match(parts.path)):
        found.append(f"{parts.path or '/'} is not an .html page or a guide's start page (…/latest/Guide/)")
    if host in ("boto3.amazonaws.com", "botocore.amazonaws.com") and "/api/latest/" not in parts.path:
        found.append("link boto3's and botocore's latest documentation (/api/latest/), not a pinned version")
    return found


def listed_pages(text: str) -> set[str]:
    return {page(url) for url in urls_in(text) if is_aws_doc(url)}


def unlisted(links: list[str], listed: set[str]) -> list[str]:
    return sorted({url for url in links if page(url) not in listed})


# --- the repository's links ----------------------------------------------------------------------


LINKS = {path.relative_to(ROOT).as_posix(): doc_links(path) for path in lesson_files()}


def test_the_lessons_link_aws_documentation():
    linked = [path for path, links in LINKS.items() if links]
    assert len([p for p in linked if p.startswith("notebooks/")]) == 7
    assert "docs/instructors.md" in linked and "docs/terminal-walkthrough.md" in linked


@pytest.mark.parametrize("path", sorted(p for p, links in LINKS.items() if links))
def test_every_aws_documentation_link_is_well_formed(path):
    bad = {url: problems(url) for url in LINKS[path] if problems(url)}
    assert bad == {}, f"{path}: " + "; ".join(f"{url}: {', '.join(why)}" for url, why in bad.items())


@pytest.mark.parametrize("path", sorted(p for p, links in LINKS.items() if links))
def test_every_aws_documentation_link_is_listed_in_sources(path):
    missing = unlisted(LINKS[path], listed_pages(SOURCES.read_text()))
    assert missing == [], f"{path} links pages docs/sources.md does not list: {missing}"


def test_the_sources_own_links_are_well_formed():
    bad = {url: problems(url) for url in urls_in(SOURCES.read_text()) if is_aws_doc(url) and problems(url)}
    assert bad == {}


def _fact_lines(text: str) -> list[str]:
    body = text.split("\n## ", 1)[1]  # after the introduction
    return [line for line in body.splitlines() if line.startswith("- ")]


def test_every_fact_in_sources_names_its_page_or_says_why_not():
    for line in _fact_lines(SOURCES.read_text()):
        has_page = any(is_aws_doc(url) for url in urls_in(line))
        assert has_page or "not AWS" in line or "observed" in line, f"no source: {line}"
    assert len(_fact_lines(SOURCES.read_text())) >= 100


def test_every_exact_error_text_says_where_it_was_seen():
    table = SOURCES.read_text().split("### The exact texts the lab shows", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| Code")]
    assert len(rows) >= 10
    for row in rows:
        code, message, seen, shown = (cell.strip() for cell in row.strip("|").split(" | "))
        assert message and shown, row
        assert is_aws_doc(" ".join(urls_in(seen))) or re.search(r"\.html|observed|not AWS|the sandbox's wording", seen), row


# --- the check itself fails on a new, unlisted or malformed link -------------------------------------


def test_a_new_unlisted_link_is_found_in_each_kind_of_file(tmp_path):
    new = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user.html"
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "docs" / "more").mkdir(parents=True)
    (tmp_path / "labkit").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"Read [this]({new}).")])
    nbformat.write(nb, tmp_path / "notebooks" / "08-new.ipynb")
    (tmp_path / "README.md").write_text("No AWS link here, only https://signin.aws.amazon.com/switchrole.\n")
    (tmp_path / "docs" / "more" / "page.md").write_text(f"See <{new}#anchor>.\n")
    (tmp_path / "labkit" / "new.py").write_text(
        f'"""Module."""\n# {new}x.html in a comment is not a string\nMESSAGE = ("see "\n    "{new}")\n')
    found = {path.relative_to(tmp_path).as_posix(): doc_links(path) for path in lesson_files(tmp_path)}
    assert found == {"README.md": [], "docs/more/page.md": [new + "#anchor"],
                     "labkit/new.py": [new], "notebooks/08-new.ipynb": [new]}
    listed = listed_pages(SOURCES.read_text())
    for links in found.values():
        assert unlisted(links, listed) == sorted(set(links))
    assert unlisted([new], listed | {new}) == []


@pytest.mark.parametrize(("url", "says"), [
    ("http://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles.html", "https"),
    ("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles.html?icmpid=docs_iam_console", "query"),
    ("https://docs.aws.amazon.com/ja_jp/IAM/latest/UserGuide/id_roles.html", "language folder"),
    ("https://docs.amazonaws.cn/en_us/IAM/latest/UserGuide/id_roles.html", "canonical"),
    ("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles.md", ".html page"),
    ("https://boto3.amazonaws.com/v1/documentation/api/1.28.7/guide/session.html", "pinned version"),
    ("https://aws.amazon.com/premiumsupport/knowledge-center/iam-role-chaining-limit/", "canonical"),
])
def test_a_malformed_link_is_refused_with_what_to_change(url, says):
    assert is_aws_doc(url)
    assert any(says in problem for problem in problems(url)), problems(url)


@pytest.mark.parametrize("url", [
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles.html#iam-term-role-chaining",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/",
    "https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html",
    "https://repost.aws/knowledge-center/iam-role-chaining-limit",
])
def test_a_well_formed_link_passes(url):
    assert problems(url) == []


@pytest.mark.parametrize("url", [
    "https://signin.aws.amazon.com/switchrole?roleName=sts_role&account=123456789012",
    "https://console.aws.amazon.com/",
    "https://sts.amazonaws.com/doc/2011-06-15/",
    "http://s3.amazonaws.com/doc/2006-03-01/",
    "https://example.com/docs.aws.amazon.com.html",
])
def test_sign_in_console_and_endpoint_addresses_are_not_documentation(url):
    assert not is_aws_doc(url)


# --- the facts labkit states, as docs/sources.md has them ------------------------------------------


def test_request_expired_covers_both_of_ec2s_cases():
    """errors-overview.html: a request more than 15 minutes off, or expired temporary credentials."""
    said = EXPLANATIONS["RequestExpired"]
    assert "Expiration" in said and "15 minutes" in said and "clock" in said


def test_unauthorized_operation_covers_no_allow_and_an_explicit_deny():
    """troubleshoot_access-denied.html: "because no ... policy allows" or "with an explicit deny"."""
    said = EXPLANATIONS["UnauthorizedOperation"]
    assert "no policy" in said and "Deny" in said and "none of the caller's policies" not in said
    assert "explicit deny" in EXPLANATIONS["AccessDenied"]


@pytest.mark.parametrize("code", ["InvalidClientTokenId", "AuthFailure"])
def test_a_temporary_key_without_its_token_is_one_of_the_causes(code):
    """reference_identifiers.html: an ASIA key is unique only with its secret and session token."""
    assert "without its session token" in EXPLANATIONS[code]


def test_principal_belongs_in_resource_based_policies_not_only_trust_policies():
    """reference_policies_elements_principal.html."""
    said = policies.FIELDS["Principal"]
    assert "resource-based policies" in said and "trust policy is one of them" in said
    assert not said.startswith("Only in a trust policy")


def test_version_names_the_older_policy_language_too():
    """reference_policies_elements_version.html."""
    said = policies.FIELDS["Version"]
    assert "2012-10-17" in said and "2008-10-17" in said and "Always" not in said
