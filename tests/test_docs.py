"""Every command in README.md's and docs/'s shell blocks goes through the CLI's parser
(not the job): a renamed or removed option fails here instead of rotting in the docs."""

import re
import shlex

import pytest
import typer

from lib.cli import command
from lib.cluster.entrypoint import parse_job_args
from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Every fenced block, its language and text: taken in pairs, so a block in another
# language (toml) is passed over whole instead of its closing fence opening a new one.
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
SHELL = ("", "sh", "bash", "shell", "console")


def shell_lines(text: str):
    """Logical lines of the shell blocks: continuations joined, comments (a # after a
    space, as the shell reads them: `stl10:PATH#test` is not one) removed, and variables
    the block sets (`D=...`, or a loop's first value) substituted."""
    for language, block in BLOCK.findall(text):
        if language not in SHELL:
            continue
        values = {}
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            for name, value in re.findall(r"(?:^|;\s*|\s)([A-Za-z_]\w*)=(\S+)", line):
                values.setdefault(name, value)
            for name, first in re.findall(r"\bfor (\w+) in (\S+)", line):
                values.setdefault(name, first)
            line = re.sub(r"\$\{?(\w+)\}?", lambda m, known=values: known.get(m[1], m[0]), line)
            if line:
                yield line


def commands(line: str):
    """(kind, words) of each raydapt invocation in a shell line: `raydapt ...`, `python -m
    jobs.X ...` (alone or after `ray job submit ... --`) and `typer jobs run X ...`. A
    synopsis (`raydapt adapt [--target URI] ...`) is ("synopsis", words)."""
    if "[--" in line:
        words = line.split()
        at = next((i for i, w in enumerate(words) if w.rsplit("/", 1)[-1] == "raydapt"), None)
        if at is not None:
            yield "synopsis", words[at + 1:]
        return
    for part in re.split(r"&&|\|\||;|\|", line):
        words = [w for w in shlex.split(part) if w != "..."]  # `...`: the rest elided
        for at, word in enumerate(words):
            if word.rsplit("/", 1)[-1] == "raydapt" and "=" not in word:
                yield "raydapt", words[at + 1:]
                break
            if word == "-m" and at + 1 < len(words) and words[at + 1].startswith("jobs."):
                yield "job", [words[at + 1].removeprefix("jobs."), *words[at + 2:]]
                break
            if words[at:at + 3] == ["typer", "jobs", "run"]:
                yield "job", words[at + 3:]
                break


def parse(config_class, name: str, args: list[str], context=None):
    parsed = []
    app = typer.Typer(add_completion=False)
    app.command(name, context_settings=context)(command(config_class, parsed.append))
    typer.main.get_command(app).main(args=args, prog_name=name, standalone_mode=False)
    return parsed[0]


def option_names(config_class) -> set[str]:
    app = typer.Typer(add_completion=False)
    app.command("x")(command(config_class, print))
    return {name for param in typer.main.get_command(app).params
            for name in (*param.opts, *param.secondary_opts) if name.startswith("--")}


def check(kind: str, words: list[str]) -> None:
    from jobs import SUBMIT_CONTEXT
    from lib.jobs_table import JOB_COMMANDS, JOBS, SUBMIT

    if kind == "synopsis":  # every option it names exists
        config_class = JOBS[words[0]][0] if words[0] in JOBS else SUBMIT[0] \
            if words[0] == "submit" else None
        classes = [config_class] if config_class else [c for c, _ in JOB_COMMANDS.values()]
        known = set().union(*map(option_names, classes))
        named = set(re.findall(r"--[a-z][a-z0-9-]*", " ".join(words)))
        assert named <= known, f"{words[0]}: no option {sorted(named - known)}"
    elif kind == "job" or words[0] in JOBS:
        parse_job_args(words[0], words[1:])
    elif words[0] == "submit":
        submitted = parse(SUBMIT[0], "submit", words[1:], SUBMIT_CONTEXT)
        parse_job_args(submitted.job, submitted.job_args)
    elif words[0] == "job":
        parse(JOB_COMMANDS[words[1]][0], words[1], words[2:])
    elif words not in (["--help"], []):
        raise AssertionError(f"not a raydapt command: {words}")


FOUND = [(page.name, line, kind, words) for page in PAGES
         for line in shell_lines(page.read_text()) for kind, words in commands(line)]


def test_the_docs_have_commands_to_check():
    assert len(FOUND) >= 20 and {page for page, *_ in FOUND} >= {"README.md"}


@pytest.mark.parametrize("page,line,kind,words", FOUND,
                         ids=[f"{page}:{i}" for i, (page, *_) in enumerate(FOUND)])
def test_every_documented_command_parses(page, line, kind, words):
    check(kind, words)


def test_a_renamed_option_would_fail():
    # The check is real: the parser refuses what the CLI would, in a command and in a
    # synopsis.
    ((kind, words),) = commands("raydapt adapt --target-shfit fog@4 --target folder:x")
    with pytest.raises(Exception, match="No such option"):
        check(kind, words)
    ((kind, words),) = commands("raydapt adapt [--target URI] [--target-shfit NAME@SEV]")
    with pytest.raises(AssertionError, match="no option.*--target-shfit"):
        check(kind, words)
    ((kind, words),) = commands("raydapt submit --no-wait adapt --target-shfit fog@4")
    with pytest.raises(Exception, match="No such option: --target-shfit"):
        check(kind, words)
