"""The bridge agent: steps from outside the daemon's loop (an MCP client, a coding-agent CLI) taken
one at a time, outcomes handed back to the caller, nudges in the next result, a stop releases all."""

from __future__ import annotations

import threading

from agent_core.agents.base import Brief, Call, Done, Say, ToolOutcome
from agent_core.agents.bridge import BridgeAgent
from agent_core.agents.markers import SUPERVISOR_PREFIX


def brief() -> Brief:
    return Brief(task="t", description="d", base_model="tiny", budget_s=None)


def call_in_thread(agent: BridgeAgent, action) -> dict:
    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault("outcome", agent.submit(action)), daemon=True)
    t.start()
    out["thread"] = t
    return out


def test_a_call_from_outside_runs_in_the_loop_and_its_outcome_goes_back():
    agent = BridgeAgent(brief())
    agent.submit(Say("planning"))
    waiting = call_in_thread(agent, Call("list_datasets", {}))
    assert isinstance(agent.next_action(None), Say)
    action = agent.next_action(None)
    assert action == Call("list_datasets", {})
    assert waiting["thread"].is_alive(), "the caller waits for the outcome"
    agent.on_nudge("use the dev split")
    second = call_in_thread(agent, Call("note", {"text": "x"}))
    assert agent.next_action(ToolOutcome("list_datasets", True, "train: 5 rows")) == Call("note", {"text": "x"})
    waiting["thread"].join(2)
    outcome = waiting["outcome"]
    assert outcome.ok and outcome.summary.startswith(f"{SUPERVISOR_PREFIX} use the dev split")
    assert outcome.summary.endswith("train: 5 rows")
    agent.cancel()  # the run stops: the waiting caller is released, the loop ends
    second["thread"].join(2)
    assert not second["thread"].is_alive() and second["outcome"] is None
    assert isinstance(agent.next_action(None), Done)
    assert agent.submit(Call("note", {"text": "late"})) is None


def test_a_call_given_up_before_the_loop_takes_it_never_runs():
    """Its caller hung up before the daemon took it (the loop idle, waiting for a step, or busy
    with another): the loop drops it and takes the next call instead."""
    dropped = []
    agent = BridgeAgent(brief())
    agent.dropped = dropped.append
    gone = threading.Event()
    gone.set()  # the control server saw the hang-up with the request
    taken: dict = {}
    loop = threading.Thread(target=lambda: taken.setdefault("action", agent.next_action(None)), daemon=True)
    loop.start()  # idle: waiting for a step
    assert agent.submit(Call("note", {"text": "given up"}), gone) is None
    live = call_in_thread(agent, Call("list_datasets", {}))
    loop.join(10)
    assert taken["action"] == Call("list_datasets", {})
    assert dropped == [Call("note", {"text": "given up"})]
    agent.cancel()
    live["thread"].join(10)
