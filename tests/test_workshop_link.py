"""`gingee workshop link`: the mybinder.org URL read from a real (temporary) git checkout's remote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gingee_kernel.cli import main
from gingee_kernel.workshop import WorkshopLinkError, binder_url, github_path, workshop_link

LAB = "?urlpath=lab/tree/notebooks/01-hello-gingee.ipynb"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git repository on branch `main` with one commit and no remote."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "start")
    return repo


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/ada-lab/gingee-py.git",
        "https://github.com/ada-lab/gingee-py",
        "https://github.com/ada-lab/gingee-py/",
        "https://ada:ghp_secret@github.com/ada-lab/gingee-py.git",
        "git+https://github.com/ada-lab/gingee-py.git",
        "git@github.com:ada-lab/gingee-py.git",
        "git@github.com:ada-lab/gingee-py",
        "ssh://git@github.com/ada-lab/gingee-py.git",
        "ssh://git@ssh.github.com:443/ada-lab/gingee-py.git",
        "  https://GitHub.com/ada-lab/gingee-py.git\n",
    ],
)
def test_github_https_and_ssh_forms_give_owner_and_repo(url: str) -> None:
    assert github_path(url) == "ada-lab/gingee-py"


def test_a_repository_name_with_dots_keeps_them() -> None:
    assert github_path("git@github.com:ada/gingee.py.git") == "ada/gingee.py"


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.com/ada-lab/gingee-py.git",
        "git@gitlab.com:ada-lab/gingee-py.git",
        "https://github.com.evil.example/ada-lab/gingee-py.git",
        "https://github.com/ada-lab",
        "/srv/git/gingee-py.git",
        "https://ada:ghp_secret@example.com/ada-lab/gingee-py.git",
    ],
)
def test_any_other_remote_is_refused_with_what_to_do(url: str) -> None:
    with pytest.raises(WorkshopLinkError, match="not a GitHub repository") as refused:
        github_path(url)
    assert "--remote NAME" in str(refused.value)
    assert "ghp_secret" not in str(refused.value)


def test_the_url_encodes_a_branch_with_a_slash_and_the_notebook_path() -> None:
    assert binder_url("ada/g", "feature/binder", "notebooks/02 jobs.ipynb") == (
        "https://mybinder.org/v2/gh/ada/g/feature%2Fbinder?urlpath=lab/tree/notebooks/02%20jobs.ipynb"
    )


def test_link_is_read_from_origin_at_the_current_branch(checkout: Path) -> None:
    git(checkout, "remote", "add", "origin", "git@github.com:ada-lab/gingee-py.git")
    assert workshop_link(checkout) == f"https://mybinder.org/v2/gh/ada-lab/gingee-py/main{LAB}"
    git(checkout, "switch", "-q", "-c", "workshop/june")
    assert workshop_link(checkout) == f"https://mybinder.org/v2/gh/ada-lab/gingee-py/workshop%2Fjune{LAB}"


def test_a_detached_head_links_to_head_and_ref_and_notebook_override(checkout: Path) -> None:
    git(checkout, "remote", "add", "origin", "https://github.com/ada-lab/gingee-py.git")
    git(checkout, "switch", "-q", "--detach")
    assert workshop_link(checkout) == f"https://mybinder.org/v2/gh/ada-lab/gingee-py/HEAD{LAB}"
    assert workshop_link(checkout, ref="v1.0", notebook="notebooks/06-logins.ipynb") == (
        "https://mybinder.org/v2/gh/ada-lab/gingee-py/v1.0?urlpath=lab/tree/notebooks/06-logins.ipynb"
    )


def test_a_branch_without_commits_is_still_the_branch(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "trunk")
    git(tmp_path, "remote", "add", "origin", "https://github.com/ada-lab/gingee-py")
    assert workshop_link(tmp_path).startswith("https://mybinder.org/v2/gh/ada-lab/gingee-py/trunk?")


def test_remote_picks_another_remote_from_a_subfolder(checkout: Path) -> None:
    git(checkout, "remote", "add", "origin", "https://gitlab.com/ada-lab/gingee-py.git")
    git(checkout, "remote", "add", "github", "https://github.com/ada-fork/gingee-py.git")
    (checkout / "notebooks").mkdir()
    with pytest.raises(WorkshopLinkError, match="not a GitHub repository"):
        workshop_link(checkout)
    link = workshop_link(checkout / "notebooks", remote="github")
    assert link == f"https://mybinder.org/v2/gh/ada-fork/gingee-py/main{LAB}"


def test_no_such_remote_names_the_ones_there_are(checkout: Path) -> None:
    with pytest.raises(WorkshopLinkError, match="no git remote 'origin': add one"):
        workshop_link(checkout)
    git(checkout, "remote", "add", "upstream", "https://github.com/ada-lab/gingee-py.git")
    with pytest.raises(WorkshopLinkError, match="pass --remote with one of: upstream"):
        workshop_link(checkout)


def test_outside_a_checkout_says_so(tmp_path: Path) -> None:
    with pytest.raises(WorkshopLinkError, match="not in a git checkout"):
        workshop_link(tmp_path)


def test_the_command_prints_the_link(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(checkout, "remote", "add", "origin", "git@github.com:ada-lab/gingee-py.git")
    assert main(["workshop", "link", "--repo", str(checkout), "--ref", "v2"]) == 0
    assert capsys.readouterr().out == f"https://mybinder.org/v2/gh/ada-lab/gingee-py/v2{LAB}\n"


def test_the_command_reports_a_missing_github_remote_and_exits_2(
    checkout: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(checkout)
    assert main(["workshop", "link"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "gingee: this checkout has no git remote 'origin'" in captured.err
