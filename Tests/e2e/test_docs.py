"""The documentation stays true to the code: every seed key the readers accept is documented in
docs/configuration.md and every documented key is read; every relative link and anchor in the
README and docs/ resolves; the README stays a front page (at most 300 lines).

The seed readers are found in Sources/SwitchyardCore by the TableReader calls that take a key
(`table.string("listen")`, `duration("window")`, ...); the documented keys are the first column
of the reference tables (those whose header starts `| key |`). Table names (`[server]`,
`[models.NAME]`, ...) and the keys of inline step tables are documented in prose, so they are
listed here once rather than guessed.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import start_gateway

REPO = Path(__file__).resolve().parents[2]
READERS = [REPO / "Sources" / "SwitchyardCore" / "Config", REPO / "Sources" / "SwitchyardCore" / "Releases"]
CONFIGURATION = REPO / "docs" / "configuration.md"
READER_CALL = re.compile(
    r"\b(?:string|requiredString|requiredName|displayText|integer|number|percentBasisPoints|bool|strings|table|tables|namedTables|stringTable|jsonObject|duration)"
    r"\(\"([a-z_0-9]+)\"")
# Read by the readers, documented as table headings or in the text around a table.
TABLES_AND_STEP_KEYS = {"server", "settings", "telemetry", "providers", "models", "users", "versions", "set_weight", "pause"}


def reader_keys() -> set[str]:
    keys: set[str] = set()
    for folder in READERS:
        for source in folder.glob("*.swift"):
            keys |= set(READER_CALL.findall(source.read_text()))
    return keys


def documented_keys() -> set[str]:
    keys: set[str] = set()
    in_key_table = False
    for line in CONFIGURATION.read_text().splitlines():
        if line.startswith("| key |"):
            in_key_table = True
        elif not line.startswith("|"):
            in_key_table = False
        elif in_key_table and (match := re.match(r"^\| `([a-z_0-9]+)`", line)):
            keys.add(match.group(1))
    return keys


def test_every_seed_key_is_documented_and_every_documented_key_is_read() -> None:
    read, documented = reader_keys(), documented_keys()
    assert len(read) > 50, f"the reader scan found too few keys: {sorted(read)}"
    text = CONFIGURATION.read_text()
    undocumented = sorted(key for key in read - documented - TABLES_AND_STEP_KEYS if f"`{key}`" not in text)
    assert not undocumented, f"seed keys the readers accept but docs/configuration.md does not name: {undocumented}"
    unread = sorted(documented - read)
    assert not unread, f"keys docs/configuration.md documents that no reader takes: {unread}"


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        match = re.match(r"^#{1,6} (.*)$", line)
        if match and not in_fence:
            anchor = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    for document in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            destination = document if not path else (document.parent / path).resolve()
            if not destination.exists():
                broken.append(f"{document.relative_to(REPO)}: {target} (no such file)")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                broken.append(f"{document.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_readme_is_a_front_page() -> None:
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= 300, f"README.md has {lines} lines; the reference belongs in docs/"


def tour_commands() -> list[str]:
    """The shell blocks of the README's tour, in order."""
    text = (REPO / "README.md").read_text()
    tour = text[text.index("## A five-minute tour"):]
    tour = tour[:tour.index("\n## ", 1)]
    return re.findall(r"```sh\n(.*?)```", tour, flags=re.S)


def test_the_readme_tour_runs_against_the_built_binary(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Every command of the tour, on the example seed, with the admin token the reader would paste."""
    example = (REPO / "Sources" / "SwitchyardServer" / "Resources" / "switchyard.example.toml").read_text()
    admin = "sya-tour-admin-token"
    blocks = tour_commands()
    assert len(blocks) == 2, blocks
    with start_gateway(example, tmp_path, request.config, env={"SWITCHYARD_ADMIN_TOKEN": admin}) as base_url:
        outputs = []
        for block in blocks:
            script = block.replace("http://127.0.0.1:8080", base_url)
            run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], env={**os.environ, "ADMIN": admin},
                                 capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, f"{script}\n{run.stdout}\n{run.stderr}"
            outputs.append(run.stdout)
    routed, rolled_back = outputs
    assert "x-switchyard-version:" in routed.lower() and "x-switchyard-backend:" in routed.lower(), routed
    assert '"candidates"' in routed and '"canary_weight":25' in routed.replace(" ", ""), routed
    assert '"default":"v1"' in rolled_back.replace(" ", "") and '"action":"rollback"' in rolled_back.replace(" ", ""), rolled_back
