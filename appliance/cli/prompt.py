"""Terminal prompts for the commands that may ask (login, logout, users create,
config-ssh, templates push and delete, stop, delete, coderd reset-password).

One confirmation policy, Coder's: ``-y/--yes`` (a global flag) answers yes to
every confirmation. Prompting is only done on a terminal: a script gets a
CommandError naming the flag to pass instead, never a hang on a closed stdin.
Secrets go through ``getpass`` (no echo, read from the terminal itself).
"""
from __future__ import annotations

import getpass
import sys
from typing import Callable

from appliance import passwords

from .base import CommandError


def interactive() -> bool:
    return sys.stdin.isatty()


def require_terminal(what: str, flags: str) -> None:
    if not interactive():
        raise CommandError(f"{what} needs a terminal to prompt on", hint=f"Pass {flags}.")


def ask(text: str, default: str = "", secret: bool = False,
        validate: Callable[[str], str] | None = None) -> str:
    """Prompt until ``validate`` (returning an error text, or "") accepts the answer."""
    suffix = f" ({default})" if default else ""
    while True:
        try:
            answer = getpass.getpass(f"{text} ") if secret else input(f"{text}{suffix} ")
        except EOFError:
            raise CommandError(f"no answer to {text!r}") from None
        answer = answer.strip() if not secret else answer
        answer = answer or default
        problem = validate(answer) if validate else ""
        if not problem:
            return answer
        print(problem, file=sys.stderr)


def agreed(args, question: str, default: bool = False) -> bool:
    """A yes/no confirmation: yes with ``--yes``; asked on a terminal; without one, a
    CommandError naming the flag."""
    if getattr(args, "yes", False):
        return True
    if not interactive():
        raise CommandError(f"{question!r} needs a terminal to prompt on",
                           hint="Pass --yes to answer yes without a prompt.")
    return confirm(question, default)


def new_password(text: str) -> str:
    """A password asked twice, until Coder's rules take it and both answers match."""
    while True:
        password = ask(text, secret=True, validate=passwords.problem)
        if ask("Confirm password:", secret=True) == password:
            return password
        print("Passwords do not match, try again.")


def confirm(text: str, default: bool = True) -> bool:
    answer = ask(f"{text} [{'Y/n' if default else 'y/N'}]").lower()
    return default if not answer else answer.startswith("y")


def multi_select(message: str, options: list[str], chosen: list[str]) -> list[str]:
    """Coder's MultiSelect on a plain terminal: the options numbered, the chosen ones
    marked; the answer is numbers or names (comma-separated), "none", or Enter to keep."""
    _show(message, [f"[{'x' if o in chosen else ' '}] {o}" for o in options])

    def check(answer: str) -> str:
        return "" if _picked(answer, options) is not None else \
            f"Choose from 1-{len(options)} or the names, comma-separated, or 'none'."
    answer = ask("Numbers or names (Enter keeps the marked ones):",
                 default=",".join(chosen) or "none", validate=check)
    return _picked(answer, options) or []


def select(message: str, options: list[str]) -> str:
    """Coder's Select on a plain terminal: one of the numbered options, by number or name;
    Enter takes the first, as Coder's highlighted first item does."""
    _show(message, options)

    def check(answer: str) -> str:
        picked = _picked(answer, options)
        return "" if picked and len(picked) == 1 else \
            f"Choose one of 1-{len(options)}, or its name."
    return _picked(ask("Number or name:", default="1", validate=check), options)[0]


def _show(message: str, lines: list[str]) -> None:
    print(f"{message}:")
    for number, line in enumerate(lines, 1):
        print(f"  {number}) {line}")


def _picked(answer: str, options: list[str]) -> list[str] | None:
    """The options an answer names (None: it names something else)."""
    if answer.strip().lower() == "none":
        return []
    picked = []
    for item in (i.strip() for i in answer.split(",") if i.strip()):
        if item.isdigit() and 1 <= int(item) <= len(options):
            item = options[int(item) - 1]
        if item not in options:
            return None
        picked.append(item)
    return list(dict.fromkeys(picked))


def required(answer: str) -> str:
    return "" if answer else "A value is required."
