"""``coder completion``: tab completion of commands, subcommands and flags for bash, zsh
and fish, installed into the shell's startup file (as Coder's) or printed with --print.

Written by hand, as a generator of static scripts from the parser itself: argparse
generates none; argcomplete (the usual library) runs the Python CLI on every Tab and
must import every command's module to see their flags, where this CLI imports only
the chosen one (start-up time); shtab would be a new dependency for what is a walk of
the parser tree and three small templates. The scripts need no Python while completing,
and are regenerated from the parser, so they cannot drift from it. zsh uses the bash
script through bashcompinit.

The walk reads argparse's ``_actions`` and ``_SubParsersAction``: argparse has no public
way to list a parser's arguments or subcommands. It is the standard library, pinned
with Python itself, and shtab and argcomplete read the same;
tests/appliance/test_cli_completion.py fails if a Python release changes them.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .. import connect, managed, prompt
from ..base import CommandError

SHELLS = ("bash", "zsh", "fish")
START = "# ------------START-CODER-COMPLETION-----------"
END = "# ------------END-CODER-COMPLETION------------"


def configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Install tab completion for coder into your shell's startup file "
                     "(~/.bashrc, ~/.zshrc, or fish's completions folder), or print it.")
    p.add_argument("-s", "--shell", choices=SHELLS,
                   help="The shell (default: the one $SHELL names).")
    p.add_argument("-p", "--print", dest="print_only", action="store_true",
                   help="Print the completion script instead of installing it.")
    connect.add_global_options(p, leaf=True)  # -y installs without asking


def run(args: argparse.Namespace) -> int:
    shell = args.shell or Path(os.environ.get("SHELL", "")).name
    if shell not in SHELLS:
        raise CommandError(f"unsupported shell {shell!r}: choose one of {', '.join(SHELLS)}",
                           hint="Pass --shell.", code=2)
    script = SCRIPTS[shell](command_tree(args.whole_parser()))
    if args.print_only:
        print(script, end="")
        return 0
    path = startup_file(shell)
    current = path.read_text() if path.exists() else ""
    updated = managed.replace_block(current, f"{START}\n{script}{END}\n", START, END)
    if updated == current:
        print(f"Completion for {shell} is up to date in {path}.")
        return 0
    if not prompt.agreed(args, f"Install {shell} completion into {path}?", default=True):
        raise CommandError("canceled")
    managed.write_atomic(path, updated)
    print(f"Installed {shell} completion into {path}: it works in new shells.")
    return 0


def startup_file(shell: str) -> Path:
    home = Path.home()
    if shell == "fish":
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        return config / "fish" / "completions" / "coder.fish"
    return home / (".bashrc" if shell == "bash" else ".zshrc")


def command_tree(parser: argparse.ArgumentParser, path: str = "") -> dict[str, tuple[list, list]]:
    """Each command path ("", "users", "users list") -> (its subcommands, its flags)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    names = [name for a in subs for name in a.choices]
    flags = [f for a in parser._actions for f in a.option_strings]
    tree = {path: (names, flags)}
    for action in subs:
        for name, child in action.choices.items():
            tree.update(command_tree(child, f"{path} {name}".strip()))
    return tree


def _bash(tree: dict[str, tuple[list, list]]) -> str:
    paths = "|".join(f'"{p}"' for p in tree if p)
    cases = "".join(f'        "{p}") subs="{" ".join(s)}"; flags="{" ".join(f)}";;\n'
                    for p, (s, f) in tree.items())
    return f"""_coder() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} path="" next subs flags i
    for ((i = 1; i < COMP_CWORD; i++)); do
        next="${{path:+$path }}${{COMP_WORDS[i]}}"
        case "$next" in
            {paths}) path=$next;;
        esac
    done
    case "$path" in
{cases}    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    fi
}}
complete -o default -F _coder coder
"""


def _zsh(tree: dict[str, tuple[list, list]]) -> str:
    return ("(( $+functions[compdef] )) || { autoload -U +X compinit && compinit; }\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + _bash(tree))


def _fish(tree: dict[str, tuple[list, list]]) -> str:
    paths = " ".join(f"'{p}'" for p in tree if p)
    lines = [f"set -g __coder_paths {paths}",
             "function __coder_path",
             "    set -l path ''",
             "    for word in (commandline -opc)[2..-1]",
             "        set -l next (string trim -- \"$path $word\")",
             "        if contains -- $next $__coder_paths",
             "            set path $next",
             "        end",
             "    end",
             "    echo $path",
             "end"]
    for path, (subs, flags) in tree.items():
        when = f"-n 'test (__coder_path) = \"{path}\"'"
        if subs:
            lines.append(f"complete -c coder -f {when} -a '{' '.join(subs)}'")
        for flag in flags:
            kind = "-l" if flag.startswith("--") else "-s"
            lines.append(f"complete -c coder {when} {kind} {flag.lstrip('-')}")
    return "\n".join(lines) + "\n"


SCRIPTS = {"bash": _bash, "zsh": _zsh, "fish": _fish}
