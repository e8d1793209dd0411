"""Help text of every command, and the README's command list checked against the real options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tzero.cli import JSON_HELP, build_command

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands(cmd, path=()):
    """(path, command) for every leaf command of the tree."""
    subs = getattr(cmd, "commands", None)
    if not subs:
        yield path, cmd
        return
    for name, sub in subs.items():
        yield from _commands(sub, (*path, name))


ROOT = build_command()
LEAVES = dict(_commands(ROOT))


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_help_has_no_bool_placeholder_and_every_json_flag_is_explained(path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    rc = ROOT.main(args=[*path, "--help"], prog_name="tzero", standalone_mode=False)
    output = capsys.readouterr().out
    assert rc in (0, None) and "Usage" in output
    assert "<bool>" not in output
    for p in LEAVES[path].params:
        if "--json" in getattr(p, "opts", ()):
            assert p.help, f"tzero {' '.join(path)} --json has no help"
            assert (p.help == JSON_HELP) or p.help in " ".join(output.split())


def _readme_command_lines() -> list[str]:
    """Every ``tzero …`` command line inside the README's bash blocks (comments cut)."""
    lines, inside = [], False
    for raw in README.read_text(encoding="utf-8").splitlines():
        if raw.startswith("```"):
            inside = raw.strip() == "```bash"
            continue
        if inside and raw.startswith("tzero "):
            body = raw.split("  #")[0]
            lines += [part.strip() for part in re.split(r"\s+(?=tzero )", body)]
    return lines


def _resolve(words: list[str]):
    """(command, remaining words) for ``tzero w1 w2 …``, descending groups by name."""
    cmd, i = ROOT, 1
    while getattr(cmd, "commands", None) and i < len(words) and words[i] in cmd.commands:
        cmd, i = cmd.commands[words[i]], i + 1
    return cmd, words[i:]


def test_readme_command_list_matches_the_options() -> None:
    """Every option the README names exists on that command, and a bracketed
    ``[--opt literal]`` shows the option's real default (e.g. research report
    --strategies)."""
    lines = _readme_command_lines()
    assert len(lines) > 25
    problems = []
    for line in lines:
        head, *alts = line.split(" | ") if line.startswith("tzero universe") else [line]
        for alt in [head, *("tzero universe " + a for a in alts)]:
            words = shlex.split(alt.replace("[", " [ ").replace("]", " ] ").replace("|--", " --"))
            cmd, rest = _resolve([w for w in words if w not in ("[", "]")])
            if getattr(cmd, "commands", None):
                problems.append(f"{alt!r}: no such command")
                continue
            opts = {o: p for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
            for w in rest:
                if w.startswith("--") and w.split("=")[0] not in opts:
                    problems.append(f"{alt!r}: {w} is not an option of this command")
        for opt, val in re.findall(r"\[(--[a-z-]+) ([a-z0-9][a-z0-9_,.:]*|[A-Z0-9_]+_[A-Z0-9_]+)\]", line):
            cmd, _ = _resolve(shlex.split(line.replace("[", " ").replace("]", " ")))
            p = next((p for p in cmd.params if opt in p.opts), None)
            if p is not None and str(p.default) != val:
                problems.append(f"{line!r}: [{opt} {val}] but the default is {p.default!r}")
    assert not problems, "\n".join(problems)
