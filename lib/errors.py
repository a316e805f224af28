"""Errors a user can fix, each with the exit code the CLI ends with.

Codes follow sysexits(3) so scripts can tell bad data from a missing path (2 is a
usage error, as Typer's own): 65 (EX_DATAERR) the input exists but is wrong; 66
(EX_NOINPUT) it does not exist or is empty; 73 (EX_CANTCREAT) the output cannot be
created as asked.
"""


class RaydaptError(Exception):
    """A failure the user can act on: printed as one line, no traceback."""

    exit_code = 1


class UsageError(RaydaptError):
    """A command line that cannot work, found after parsing: exit 2, like Typer's own."""

    exit_code = 2


class DataError(RaydaptError):
    exit_code = 65


class NoInputError(RaydaptError):
    exit_code = 66


class OutputError(RaydaptError):
    exit_code = 73


def name_some(items, limit: int = 5) -> str:
    """`a, b, c (+7 more)`: enough names to find the problem, short enough for one line."""
    items = [str(i) for i in items]
    head = ", ".join(items[:limit])
    return head if len(items) <= limit else f"{head} (+{len(items) - limit} more)"
