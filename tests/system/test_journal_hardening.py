"""Journal hardening (issue 12): bounded strings, escaped output, one writer by OS lock,
verification at open, seal, storage errors, anchors, file modes. Real files, and real
processes where it is about a command or a second process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from station.bench import journal as journal_bench
from station.journal import (
    CHAIN_SEALED,
    MAX_TEXT,
    Journal,
    JournalBroken,
    JournalError,
    JournalReader,
    JournalStorageError,
    bound_json,
    bound_text,
    canonical_json,
    create_key,
    printable,
)
from station.journal.anchor import load_key
from station.journal.untrusted import bound_json_text
from station.state_dir import anchors_path, journal_path, resolve_state_dir

STATION = "photo-studio"
VIN = "VF1RFB00X66123456"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return resolve_state_dir(tmp_path / "state")


@pytest.fixture
async def journal(state: Path) -> AsyncIterator[Journal]:
    journal = Journal.open(journal_path(state), STATION)
    yield journal
    await journal.close()


async def write_events(state: Path, count: int) -> None:
    async with Journal.open(journal_path(state), STATION) as journal:
        for i in range(count):
            await journal.append("step_done", vin=VIN, operator="op-1", data={"i": i})


def sql(state: Path, *statements: str) -> None:
    """Statements on the closed journal, past its triggers, as someone with the file would."""
    conn = sqlite3.connect(journal_path(state), isolation_level=None)
    try:
        conn.executescript("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def station_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli", "journal", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- item 2: bounded strings ----------------------------------------------------------


def test_bound_text_keeps_short_text_and_marks_what_it_cuts() -> None:
    assert bound_text("op-1") == "op-1"
    assert bound_text("x" * MAX_TEXT) == "x" * MAX_TEXT
    assert bound_text("abcdef", 3) == "abc…[truncated: 6 characters]"
    nested = {"k" * 5: ["v" * 5, {"deep": "w" * 5}], "n": 1, "t": ("z" * 5,)}
    assert bound_json(nested, 2) == {
        "kk…[truncated: 5 characters]": [
            "vv…[truncated: 5 characters]",
            {"de…[truncated: 4 characters]": "ww…[truncated: 5 characters]"},
        ],
        "n": 1,
        "t": ["zz…[truncated: 5 characters]"],
    }


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"n": 1, "t": ("a", ["b", {"c": None}])},
        {"x": "y" * (MAX_TEXT - 10)},  # short enough as a string, too long as JSON
        {"x": "y" * (MAX_TEXT + 1)},
        {"k" * (MAX_TEXT + 1): 1},
        {"m": MappingProxyType({"z": "é"}), "f": 2.5},  # JSON only through bound_json
        {1: "a"},
    ],
)
def test_the_journaled_data_json_is_that_of_bound_json(data: dict[object, object]) -> None:
    assert bound_json_text(data) == canonical_json(bound_json(data))


async def test_a_10_mb_user_name_journals_a_bounded_row(journal: Journal, state: Path) -> None:
    huge = "A" * 10_000_000
    event = await journal.append(
        "command_refused",
        vin=huge,
        result=huge,
        operator=huge,
        data={"name": huge, "args": [{"note": huge}], huge: 1},
    )
    marked = "A" * MAX_TEXT + "…[truncated: 10000000 characters]"
    assert (event.vin, event.result, event.operator) == (marked, marked, marked)
    assert event.data == {"name": marked, "args": [{"note": marked}], marked: 1}
    conn = sqlite3.connect(journal_path(state))
    try:
        (row_bytes,) = conn.execute(
            "SELECT length(CAST(vin || result || operator || data AS BLOB)) FROM events"
        ).fetchone()
    finally:
        conn.close()
    assert row_bytes < 10 * 1024
    assert journal.verify().ok


# --- item 3: what show and verify print -----------------------------------------------

FORGED = "mallory\n9999  2030-01-01 00:00:00  released  FORGED\x1b[2J\x9b2J\u202e"


async def test_show_escapes_control_characters_and_json_stays_json(state: Path) -> None:
    async with Journal.open(journal_path(state), STATION) as journal:
        await journal.append("login_refused", operator=FORGED, data={"user": FORGED})
    shown = station_cli("show", "--state-dir", str(state))
    assert shown.returncode == 0, shown.stderr
    assert not any(c in shown.stdout for c in "\x1b\x9b\u202e")
    lines = shown.stdout.splitlines()
    assert len(lines) == 3, lines
    assert not any(line.startswith("9999") for line in lines)
    assert "mallory\\n9999" in lines[2]
    assert "FORGED\\x1b[2J\\x9b2J\\u202e" in lines[2]
    as_json = station_cli("show", "--json", "--state-dir", str(state))
    event = json.loads(as_json.stdout)["events"][0]
    assert (event["operator"], event["data"]["user"]) == (FORGED, FORGED)
    assert "\x1b" not in as_json.stdout


async def test_verify_escapes_control_characters(state: Path) -> None:
    await write_events(state, 1)
    sql(state, "UPDATE meta SET value = 'qc\x1b[2J\nok: forged' WHERE key = 'station'")
    verified = station_cli("verify", "--state-dir", str(state))
    assert "\x1b" not in verified.stdout + verified.stderr
    assert not any(line.startswith("ok: forged") for line in verified.stdout.splitlines())
    assert "qc\\x1b[2J\\nok: forged" in verified.stdout
    assert printable("a\tb\x7f") == "a\\tb\\x7f"


# --- item 8: one writer, by an OS lock ------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from station.journal import Journal
journal = Journal.open(Path(sys.argv[1]), "photo-studio")
print("open", flush=True)
time.sleep(120)
"""

SECOND = """
import sys
from pathlib import Path
from station.journal import Journal, JournalError
try:
    Journal.open(Path(sys.argv[1]), "photo-studio")
except JournalError as exc:
    print(exc)
    sys.exit(3)
"""


@pytest.fixture
def holder(state: Path) -> Iterator[subprocess.Popen[str]]:
    """A process holding the journal open for writing (killed -9 at the end)."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(journal_path(state))],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        try:
            assert process.stdout.readline() == "open\n"
            yield process
        finally:
            process.kill()


def test_deleting_lock_files_does_not_let_a_second_writer_in(
    holder: subprocess.Popen[str], state: Path
) -> None:
    for lock_file in state.glob("*.lock"):
        lock_file.unlink()
    second = subprocess.run(
        [sys.executable, "-c", SECOND, str(journal_path(state))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 3, second.stderr
    assert "is already open for writing by pid" in second.stdout
    assert f"pid {holder.pid} (" in second.stdout
    with pytest.raises(JournalError, match=f"already open for writing by pid {holder.pid}"):
        Journal.open(journal_path(state), STATION)


async def test_the_kernel_drops_the_lock_with_the_process(
    holder: subprocess.Popen[str], state: Path
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    async with Journal.open(journal_path(state), STATION) as journal:
        assert (await journal.append("restarted")).seq == 1


# --- item 9: verified at open, sealed by a supervisor ---------------------------------


async def test_open_refuses_a_broken_chain_naming_the_seq_and_the_way_out(state: Path) -> None:
    await write_events(state, 5)
    sql(state, "UPDATE events SET operator = 'op-2' WHERE seq = 3")
    with pytest.raises(JournalBroken) as broken:
        Journal.open(journal_path(state), STATION)
    assert broken.value.seq == 3
    assert "seq 3: hash mismatch" in str(broken.value)
    assert "station journal seal" in str(broken.value)
    with pytest.raises(JournalBroken):  # refused again, not "already open": lock released
        Journal.open(journal_path(state), STATION)


async def test_open_refuses_a_journal_cut_below_its_checkpoint(state: Path) -> None:
    await write_events(state, 5)
    await write_events(state, 0)  # an open verifies and moves the checkpoint to seq 5
    sql(state, "DELETE FROM events WHERE seq > 3")
    with pytest.raises(JournalBroken, match=r"seq 5: missing: the journal ends at seq 3"):
        Journal.open(journal_path(state), STATION)
    verified = station_cli("verify", "--state-dir", str(state))
    assert verified.returncode == 1
    assert "seq 5: missing: the journal ends at seq 3" in verified.stderr


async def test_bad_json_in_an_old_visit_is_a_broken_journal_not_a_traceback(state: Path) -> None:
    await write_events(state, 3)
    sql(
        state,
        "UPDATE events SET data = '{not json' WHERE seq = 2",
        "UPDATE events SET wall = 'yesterday, roughly' WHERE seq = 3",
    )
    with pytest.raises(JournalBroken, match="seq 2: data is not valid JSON"):
        Journal.open(journal_path(state), STATION)
    with JournalReader.open(journal_path(state)) as reader, pytest.raises(JournalBroken):
        reader.events()
    shown = station_cli("show", "--state-dir", str(state))
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    rows = shown.stdout.splitlines()[2:5]
    assert [row.split()[0] for row in rows] == ["1", "!2", "!3"]
    assert "yesterday, roughly" in rows[2]
    assert "! seq 2: data is not valid JSON" in shown.stdout
    document = json.loads(station_cli("show", "--json", "--state-dir", str(state)).stdout)
    assert [e["verified"] for e in document["events"]] == [True, False, False]
    assert document["events"][1]["problems"][0].startswith("seq 2: data is not valid JSON")


async def test_seal_starts_a_new_chain_that_verifies(state: Path) -> None:
    await write_events(state, 4)
    sql(state, "UPDATE events SET operator = 'op-2' WHERE seq = 2")
    assert station_cli("verify", "--state-dir", str(state)).returncode == 1
    sealed = station_cli(
        "seal", "--state-dir", str(state), "--reason", "INC-42: row edited", "--user", "sue"
    )
    assert sealed.returncode == 0, sealed.stderr
    assert "broken at seq 2, old head seq 4; new chain from seq 5" in sealed.stdout
    verified = station_cli("verify", "--state-dir", str(state))
    assert verified.returncode == 0, verified.stderr
    assert "(1 problem sealed)" in verified.stdout
    assert verified.stderr.startswith("sealed: seq 2: hash mismatch")
    async with Journal.open(journal_path(state), STATION) as journal:
        seal = journal.events(kinds=[CHAIN_SEALED])[0]
        assert (await journal.append("started")).seq == 6
    with JournalReader.open(journal_path(state)) as reader:
        old_head = reader.events()[3]
    assert (seal.operator, seal.data["reason"], seal.data["broken_seq"]) == (
        "sue",
        "INC-42: row edited",
        2,
    )
    assert seal.data["old_head"] == {"seq": 4, "hash": old_head.hash}
    assert seal.prev_hash == old_head.hash
    again = station_cli("seal", "--state-dir", str(state), "--reason", "r", "--user", "sue")
    assert (again.returncode, "nothing to seal" in again.stderr) == (1, True)
    sql(state, "UPDATE events SET result = 'forged' WHERE seq = 3")
    assert station_cli("verify", "--state-dir", str(state)).returncode == 1


def test_seal_is_refused_while_a_runtime_holds_the_journal(
    holder: subprocess.Popen[str], state: Path
) -> None:
    sealed = station_cli("seal", "--state-dir", str(state), "--reason", "r", "--user", "sue")
    assert sealed.returncode == 1
    assert f"already open for writing by pid {holder.pid}" in sealed.stderr


def damage_wal(state: Path, how: str) -> None:
    wal = Path(f"{journal_path(state)}-wal")
    if how == "truncate":
        os.truncate(wal, 0)
    elif how == "remove":
        wal.unlink()
    else:  # replaced by a copy: the writer would go on writing the unlinked one
        content = wal.read_bytes()
        wal.unlink()
        wal.write_bytes(content)


@pytest.mark.parametrize("how", ["truncate", "remove", "replace"])
async def test_wal_damaged_under_a_running_journal_fails_the_append(
    journal: Journal, state: Path, how: str
) -> None:
    await journal.append("before")
    damage_wal(state, how)
    with pytest.raises(JournalStorageError, match="under the running station"):
        await journal.append("after")
    with pytest.raises(JournalStorageError, match="refused: an earlier write failed"):
        await journal.append("later")


# --- item 10: anchors -----------------------------------------------------------------


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "anchor.key"
    create_key(path)
    return path


async def test_anchors_show_a_cut_tail_that_the_chain_cannot(state: Path, key: Path) -> None:
    async with Journal.open(journal_path(state), STATION) as journal:
        for i in range(6):
            await journal.append("tick", data={"i": i})
            if i in (2, 5):
                anchor = await journal.anchor(key)
    assert (anchor.seq, anchor.station) == (6, STATION)
    sql(state, "DELETE FROM events WHERE seq > 4", "DELETE FROM meta WHERE key = 'checkpoint'")
    assert station_cli("verify", "--state-dir", str(state)).returncode == 0
    checked = station_cli("verify", "--state-dir", str(state), "--anchor", str(key))
    assert checked.returncode == 1
    assert "seq 6: anchor line 2: the journal ends at seq 4" in checked.stderr


async def test_anchors_show_a_rehashed_chain_and_a_forged_anchor(state: Path, key: Path) -> None:
    async with Journal.open(journal_path(state), STATION) as journal:
        await journal.append("tick", result="failed")
        await journal.anchor(key)
    ok = station_cli("verify", "--state-dir", str(state), "--anchor", str(key))
    assert ok.returncode == 0, ok.stderr
    assert "1 anchors hold, up to seq 1" in ok.stdout
    # the whole chain rewritten with recomputed hashes: the chain alone cannot tell
    sql(state, "DELETE FROM events", "DELETE FROM meta WHERE key = 'checkpoint'")
    async with Journal.open(journal_path(state), STATION) as journal:
        await journal.append("tick", result="passed")
    assert station_cli("verify", "--state-dir", str(state)).returncode == 0
    checked = station_cli("verify", "--state-dir", str(state), "--anchor", str(key))
    assert checked.returncode == 1
    assert "seq 1: anchor line 1: hash" in checked.stderr
    assert "the chain was rewritten" in checked.stderr
    anchors = anchors_path(state)
    record = json.loads(anchors.read_text())
    anchors.write_text(json.dumps({**record, "seq": 0}) + "\n")
    forged = station_cli("verify", "--state-dir", str(state), "--anchor", str(key))
    assert "anchor line 1: signature does not match" in forged.stderr


def test_a_key_open_to_others_is_refused(state: Path, key: Path) -> None:
    key.chmod(0o644)
    with pytest.raises(JournalError, match=r"open to other users \(mode 0644\)"):
        load_key(key)


# --- item 11: file modes --------------------------------------------------------------


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def test_state_dir_and_journal_files_are_private(
    tmp_path: Path, key: Path, loose_umask: None
) -> None:
    state = resolve_state_dir(tmp_path / "new" / "state")
    assert state.stat().st_mode & 0o777 == 0o700
    async with Journal.open(journal_path(state), STATION) as journal:
        await journal.append("tick")
        await journal.anchor(key)
        modes = {p.name: p.stat().st_mode & 0o777 for p in state.iterdir()}
    assert modes == {
        "journal.sqlite3": 0o600,
        "journal.sqlite3-wal": 0o600,
        "journal.sqlite3-shm": 0o600,
        "anchors.jsonl": 0o600,
    }
    assert os.stat(key).st_mode & 0o777 == 0o600


# --- benchmark ------------------------------------------------------------------------


def test_benchmark_times_the_start_up_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--open-events", "50", "--json", "--dir", str(tmp_path)]
    assert journal_bench.main(argv) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["open_events"] == 50
    assert figures["build_s"] > 0
    assert figures["first_open_s"] > 0
    assert figures["open_s"] > 0
    assert list(tmp_path.iterdir()) == []
