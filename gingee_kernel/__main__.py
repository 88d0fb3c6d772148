"""`python -m gingee_kernel install [--user|--sys-prefix|--prefix P]`; other commands go to `gingee`."""

from __future__ import annotations

import argparse
import sys


def install_main(argv: list[str]) -> int:
    """Install the "Gingee (Python 3)" kernelspec."""
    from .kernelspec import NAME, install

    parser = argparse.ArgumentParser(
        prog="python -m gingee_kernel install", description="Install the Gingee Jupyter kernel."
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument("--sys-prefix", action="store_true", help="install into sys.prefix (this environment)")
    where.add_argument("--prefix", default=None, help="install under PREFIX/share/jupyter/kernels")
    parser.add_argument("--name", default=NAME, help=f"the kernelspec name (default: {NAME})")
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    try:
        path = install(user=args.user, prefix=prefix, name=args.name)
    except OSError as exc:
        print(f"gingee_kernel install: {exc}; try --user or --sys-prefix", file=sys.stderr)
        return 1
    print(f"installed the Gingee kernelspec in {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`install` here; anything else is the `gingee` command."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["install"]:
        return install_main(args[1:])
    from .cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
