"""The event log is the record of a run: order, durability, torn and corrupt lines, reload."""
from __future__ import annotations

import json
import re
import threading

from agent_core.events import EventLog, LogReader, last_seq, read_events


def test_events_have_increasing_seq_and_utc_timestamps(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    log.emit("run_state", state="starting")
    log.emit("agent_message", text="hi")
    log.emit("metric", job="job1", step=1, values={"loss": 1.5})
    log.close()
    events = read_events(tmp_path / "events.jsonl")
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert [e["type"] for e in events] == ["run_state", "agent_message", "metric"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["ts"]) for e in events)
    assert events[2]["values"] == {"loss": 1.5}


def test_concurrent_writers_keep_seq_strictly_increasing(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")

    def burst():
        for i in range(200):
            log.emit("metric", job="j", step=i, values={})

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    seqs = [e["seq"] for e in read_events(tmp_path / "events.jsonl")]
    assert seqs == list(range(1, 801))


def test_torn_last_line_is_ignored_then_repaired_on_reopen(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.emit("run_state", state="running")
    log.emit("agent_message", text="before the crash")
    log.close()
    with open(path, "a") as fh:  # a crash in the middle of a write
        fh.write('{"seq": 3, "ts": "2026-01-01T00:00:00.000Z", "type": "agent_mes')
    assert [e["seq"] for e in read_events(path)] == [1, 2]
    assert last_seq(path) == 2
    log = EventLog(path)  # resume: the next event must not glue onto the torn line
    ev = log.emit("run_state", state="running")
    log.close()
    assert ev["seq"] == 3
    events = read_events(path)
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert events[-1]["type"] == "run_state"


def test_reader_waits_for_the_rest_of_a_line(tmp_path):
    path = tmp_path / "events.jsonl"
    reader = LogReader(path)
    assert reader.poll() == []
    line = json.dumps({"seq": 1, "ts": "t", "type": "agent_message", "text": "hello"})
    with open(path, "w") as fh:
        fh.write(line[:20])
    assert reader.poll() == []
    with open(path, "a") as fh:
        fh.write(line[20:] + "\n")
    assert [e["text"] for e in reader.poll()] == ["hello"]
    assert reader.poll() == []


def test_corrupt_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "events.jsonl"
    good = [json.dumps({"seq": i, "ts": "t", "type": "agent_message", "text": str(i)}) for i in (1, 2, 3)]
    path.write_text("\n".join([good[0], "not json at all", good[1], '["a list"]', good[2]]) + "\n")
    reader = LogReader(path)
    events = reader.poll()
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert reader.corrupt == 2


def test_reload_continues_numbering(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    for _ in range(5):
        log.emit("agent_message", text="x")
    log.close()
    log = EventLog(path)
    assert log.emit("agent_message", text="y")["seq"] == 6
    log.close()
    assert [e["seq"] for e in read_events(path)] == list(range(1, 7))
