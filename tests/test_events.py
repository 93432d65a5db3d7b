"""The event log is the record of a run: order, durability, torn and corrupt lines, reload."""

from __future__ import annotations

import base64
import json
import re
import threading

from agent_core.record.events import EventLog, LogReader, last_seq, read_events


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


# -- redaction at the source: nothing with a key reaches events.jsonl or a listener ----------
ANTHROPIC = "sk-ant-api03-" + "Q7x" * 15
ENV_SECRET = "plain-Looking-Daemon-Value-7Rw2"  # no key shape: only the environment says it is secret


def _log_with_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("TINKER_TEST_SERVICE_TOKEN", ENV_SECRET)
    return EventLog(tmp_path / "events.jsonl")  # reads the daemon's secret values once, here


def _raw(tmp_path) -> str:
    return (tmp_path / "events.jsonl").read_text()


def test_emit_redacts_keys_in_agent_messages_and_notes(tmp_path, monkeypatch):
    log = _log_with_secret(tmp_path, monkeypatch)
    log.emit("agent_message", text=f"I found {ANTHROPIC} in the repo")
    log.emit("note", text=f"the token is {ENV_SECRET}; encoded {base64.b64encode(ENV_SECRET.encode()).decode()}")
    log.close()
    raw = _raw(tmp_path)
    assert ANTHROPIC not in raw and ENV_SECRET not in raw and base64.b64encode(ENV_SECRET.encode()).decode() not in raw
    msg, note = read_events(tmp_path / "events.jsonl")
    assert msg["text"] == "I found [REDACTED:anthropic_key] in the repo"
    assert note["text"].startswith("the token is [REDACTED:TINKER_TEST_SERVICE_TOKEN]; encoded [REDACTED:")


def test_emit_redacts_nested_fields_and_what_json_cannot_write(tmp_path, monkeypatch):
    log = _log_with_secret(tmp_path, monkeypatch)
    detail = {
        "kind": "crashed",
        "message": "worker died",
        "trace": ["File x.py", {"env": f"OPENAI_API_KEY={ANTHROPIC}", ENV_SECRET: 1}],
        "args": (ENV_SECRET[::-1], 3, None, 1.5),
    }
    log.emit("job_state", job="job1", state="failed", error=detail)
    log.emit(
        "alert",
        rule="reward",
        severity="error",
        message="reward import error",
        error=ImportError(f"cannot import reward: {ENV_SECRET}"),
    )  # written as its str
    log.emit("metric", job="job1", step=3, values={"loss": 1.23, "learning_rate": 0.001})
    log.close()
    raw = _raw(tmp_path)
    assert ANTHROPIC not in raw and ENV_SECRET not in raw and ENV_SECRET[::-1] not in raw
    job, alert, metric = read_events(tmp_path / "events.jsonl")
    assert job["error"]["kind"] == "crashed" and job["error"]["trace"][0] == "File x.py"
    assert job["error"]["args"][1:] == [3, None, 1.5]
    assert alert["error"] == "cannot import reward: [REDACTED:TINKER_TEST_SERVICE_TOKEN]"
    assert metric["values"] == {"loss": 1.23, "learning_rate": 0.001} and metric["job"] == "job1"


def test_listeners_get_the_redacted_event(tmp_path, monkeypatch):
    log = _log_with_secret(tmp_path, monkeypatch)
    seen = []
    log.subscribe(seen.append)
    ev = log.emit("tool_result", id="c1", ok=True, summary=f"key: {ENV_SECRET}", data={"k": [ANTHROPIC]})
    log.close()
    assert seen == [ev] and ENV_SECRET not in json.dumps(seen) and ANTHROPIC not in json.dumps(seen)
    assert read_events(tmp_path / "events.jsonl") == seen


def test_secret_values_are_read_once_then_on_refresh(tmp_path, monkeypatch):
    monkeypatch.delenv("TINKER_TEST_LATE_SECRET", raising=False)
    log = EventLog(tmp_path / "events.jsonl")
    monkeypatch.setenv("TINKER_TEST_LATE_SECRET", ENV_SECRET)  # after the log was opened
    assert ENV_SECRET in log.emit("agent_message", text=ENV_SECRET)["text"]  # not re-read per event
    log.refresh_secrets()
    assert log.emit("agent_message", text=ENV_SECRET)["text"] == "[REDACTED:TINKER_TEST_LATE_SECRET]"
    log.close()
