"""`gingee workshop link`: the mybinder.org link that opens this repository's workshop in JupyterLab.

The repository's public location is not fixed, so the link is built from the checkout itself:

    https://mybinder.org/v2/gh/<owner>/<repo>/<ref>?urlpath=lab/tree/<notebook>

`<owner>/<repo>` comes from `git remote get-url origin` (GitHub's https and ssh forms), `<ref>` is the
current branch (`HEAD`, the remote's default branch, when detached), `<notebook>` the first tutorial.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

BINDER = "https://mybinder.org/v2/gh"
FIRST_NOTEBOOK = "notebooks/01-hello-gingee.ipynb"

# https://github.com/o/r(.git), http://, git+https://, with user:token@ before the host (never printed);
# git@github.com:o/r(.git) and ssh://git@github.com(:22)/o/r(.git).
_GITHUB = re.compile(
    r"""^(?:
        (?:git\+)?https?://(?:[^@/]+@)?github\.com(?::443)?/
      | (?:git\+)?ssh://(?:[^@/]+@)?(?:ssh\.)?github\.com(?::\d+)?/
      | [^@/:]+@github\.com:
    )(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/(?P<repo>[A-Za-z0-9._-]+?)(?:\.git)?/?$""",
    re.VERBOSE | re.IGNORECASE,
)


class WorkshopLinkError(ValueError):
    """The checkout has no GitHub remote (or no git) to build the link from; the message says what to do."""


def github_path(remote_url: str) -> str:
    """`owner/repo` of a GitHub remote URL (https or ssh form); WorkshopLinkError for any other host."""
    match = _GITHUB.match(remote_url.strip())
    if match is None:
        shown = re.sub(r"//[^@/]+@", "//", remote_url.strip())  # no credentials in the message
        raise WorkshopLinkError(
            f"the remote {shown!r} is not a GitHub repository, and mybinder.org links here are built for "
            f"GitHub (https://github.com/OWNER/REPO or git@github.com:OWNER/REPO.git): pass --remote NAME "
            f"of a GitHub remote (git remote -v lists them)"
        )
    return f"{match['owner']}/{match['repo']}"


def binder_url(repo: str, ref: str, notebook: str = FIRST_NOTEBOOK) -> str:
    """The mybinder.org launch URL of GitHub `repo` (`owner/repo`) at `ref`, opening `notebook` in Lab."""
    notebook = notebook.lstrip("/")
    return f"{BINDER}/{repo}/{quote(ref, safe='')}?urlpath={quote(f'lab/tree/{notebook}', safe='/')}"


def _git(cwd: Path, *args: str) -> str | None:
    """git's stdout, stripped; None when git fails (no repository, no such remote, no commit)."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise WorkshopLinkError("git is not installed: the link is read from `git remote get-url`") from None
    return done.stdout.strip() if done.returncode == 0 else None


def current_ref(cwd: Path) -> str:
    """The checked-out branch, else (HEAD detached) `HEAD`, which mybinder.org reads as the default branch."""
    return _git(cwd, "symbolic-ref", "--quiet", "--short", "HEAD") or "HEAD"


def workshop_link(
    cwd: Path, *, remote: str = "origin", ref: str | None = None, notebook: str = FIRST_NOTEBOOK
) -> str:
    """The launch URL of the checkout at `cwd`, from its remote `remote`."""
    if _git(cwd, "rev-parse", "--git-dir") is None:
        raise WorkshopLinkError(
            f"{cwd} is not in a git checkout: run this in a clone of the repository (or pass --repo DIR)"
        )
    url = _git(cwd, "remote", "get-url", remote)
    if url is None:
        known = (_git(cwd, "remote") or "").split()
        hint = f"pass --remote with one of: {', '.join(known)}" if known else "add one"
        raise WorkshopLinkError(
            f"this checkout has no git remote {remote!r}: {hint} "
            f"(git remote add {remote} https://github.com/OWNER/REPO)"
        )
    return binder_url(github_path(url), ref or current_ref(cwd), notebook)


def _link(args: argparse.Namespace) -> int:
    print(workshop_link(Path(args.repo), remote=args.remote, ref=args.ref, notebook=args.notebook))
    return 0


def add_commands(commands: Any) -> None:
    """`gingee workshop link` on the `gingee` parser's subparsers."""
    workshop = commands.add_parser("workshop", help="the Binder workshop: its launch link")
    sub = workshop.add_subparsers(dest="workshop_command", required=True)
    link = sub.add_parser(
        "link", help="print the mybinder.org link that opens the workshop (from git remote get-url)"
    )
    link.add_argument("--remote", default="origin", help="the GitHub remote to link to (default: origin)")
    link.add_argument("--ref", default=None, help="branch, tag or commit (default: the current branch)")
    link.add_argument(
        "--notebook", default=FIRST_NOTEBOOK, help=f"the notebook Lab opens (default: {FIRST_NOTEBOOK})"
    )
    link.add_argument("--repo", default=".", help="a folder of the checkout (default: the current one)")
    link.set_defaults(run=_link)
