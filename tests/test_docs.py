"""The documentation: the generated command-line reference is current, no placeholder is left."""

import re

import pytest
from conftest import REPO_ROOT

from data_tools.cli_reference import reference

pytestmark = pytest.mark.backend_independent

PLACEHOLDER = re.compile(r"@@[A-Z0-9_]+@@")


@pytest.fixture(scope="module")
def help_pages():
    return reference()


def test_cli_reference_is_current(help_pages):
    written = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert written == help_pages, "regenerate: python -m data_tools.cli_reference > docs/cli.md"


def test_no_unfilled_placeholder_in_the_docs_or_the_help(help_pages):
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    texts = {path.name: path.read_text(encoding="utf-8") for path in pages}
    texts["--help of every command"] = help_pages
    assert {name: PLACEHOLDER.findall(text) for name, text in texts.items() if PLACEHOLDER.search(text)} == {}


def test_readme_stays_short_and_its_links_resolve():
    assert (REPO_ROOT / "README.md").stat().st_size <= 10 * 1024, "move the details into a docs/ guide"
    for page in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"
