"""The offline playbook agent: no LLM, a sound recipe, and reactions to what tools report.

Recipe: look at the data, measure the base model on dev, train (SFT, the task's recipe),
wait while it trains, evaluate, read a few completions, train more if dev is weak, note
what was learned, submit the best checkpoint. It goes through the same tools and the same
policy gate as an LLM agent.
"""

from __future__ import annotations

from typing import Generator

from agent_core.agents.base import Action, Agent, Brief, Call, Done, Say, ToolOutcome

GOOD_ENOUGH = 0.9
MAX_ROUNDS = 3
EXTRA_DATA = "hf:tinker-tui/{task}-extra"


class PlaybookAgent(Agent):
    def __init__(self, brief: Brief):
        super().__init__(brief)
        self._plan = self._recipe()
        self._started = False
        self._acked = 0
        self.submit_now = False

    def on_budget_spent(self) -> None:
        self.submit_now = True

    def next_action(self, last: ToolOutcome | None) -> Action:
        if self._acked < len(self.nudges):
            text = self.nudges[self._acked]
            self._acked += 1
            low = text.lower()
            if "submit" in low or "wrap up" in low or "finish" in low:
                self.submit_now = True
                return Say(f"Understood ({text!r}): I will submit my best checkpoint at the next chance.")
            return Say(f"Noted from the person: {text!r}. I keep it in mind; the plan goes on.")
        try:
            if not self._started:
                self._started = True
                return next(self._plan)
            return self._plan.send(last)
        except StopIteration:
            return Done("Playbook finished.")

    def _recipe(self) -> Generator[Action, ToolOutcome | None, None]:
        b, r = self.brief, dict(self.brief.recipe)
        prior = b.prior or {}
        if prior.get("method", "sft") == "sft" and prior.get("learning_rate"):
            # the best earlier config on this task and base model (by dev score) replaces the recipe's
            r.update(
                {
                    k: prior[v]
                    for k, v in (
                        ("learning_rate", "learning_rate"),
                        ("num_train_epochs", "epochs"),
                        ("batch_size", "batch_size"),
                        ("lora", "lora"),
                        ("lr_scheduler_type", "lr_scheduler_type"),
                    )
                    if prior.get(v) is not None
                }
            )
        lr = float(r.get("learning_rate", 1e-3))
        batch = int(r.get("batch_size", r.get("per_device_train_batch_size", 16)))
        yield Say(
            f"Task {b.task}: {b.description.strip()} Plan: look at the data, measure the base "
            f"model on dev, fine-tune with SFT, evaluate, read some completions, submit the best."
        )
        if prior.get("learning_rate"):
            yield Say(
                f"An earlier run ({prior.get('run')}, {prior.get('job')}) reached {prior.get('dev', 0):.1%} on dev "
                f"with lr {r['learning_rate']:g}, {r.get('num_train_epochs')} epoch(s), batch {batch}: "
                f"I start from that config."
            )
        yield Call("list_datasets", {})
        out = yield Call("load_dataset", {"name": "train", "limit": 3})
        if not out or not out.ok:
            yield Say("I cannot read the training data, so there is nothing safe to train on. Stopping.")
            return
        if r.get("demo_flagged_action"):
            yield Say("More varied problems could help: I will ask for an extra public dataset.")
            got = yield Call("load_dataset", {"name": EXTRA_DATA.format(task=b.task), "limit": 3})
            if got is not None and not got.ok:
                yield Say(f"No extra data ({got.summary}). The local training split is enough for this task.")
        base = yield Call("evaluate", {"checkpoint": "base", "split": "dev"})
        best_name, best = "base", float(base.data.get("score", 0.0)) if base and base.ok else 0.0
        parent, epochs = "base", float(r.get("epochs", r.get("num_train_epochs", 1.0)))
        # a recipe may bound the rounds and say what is good enough (a slow base model: one round)
        rounds, good = int(r.get("max_rounds", MAX_ROUNDS)), float(r.get("good_enough", GOOD_ENOUGH))
        for round_no in range(1, rounds + 1):
            if self.submit_now:
                break
            args = {
                "dataset": "train",
                "base": parent,
                "learning_rate": lr,
                "epochs": epochs,
                "batch_size": batch,
                "lora": bool(r.get("lora", False)),
                "lr_scheduler_type": str(r.get("lr_scheduler_type", "constant")),
            }
            for key, kind in (("warmup_steps", int), ("weight_decay", float), ("adam_beta2", float)):
                if r.get(key) is not None:
                    args[key] = kind(r[key])
            started = yield Call("start_training", args)
            if not started or not started.ok:
                yield Say(f"Training did not start: {started.summary if started else 'no answer'}. Stopping.")
                break
            job = started.data["job"]
            status = yield Call("wait", {"job": job, "timeout_s": 900})
            while status and status.ok and status.data.get("state") in ("queued", "running", "stopping"):
                if self.submit_now:
                    yield Call("stop_training", {"job": job})
                status = yield Call("wait", {"job": job, "timeout_s": 900})
            state = status.data.get("state") if status else None
            if state == "failed":
                err = (status.data.get("error") or {}) if status else {}
                if err.get("kind") == "nan":
                    lr /= 4
                    yield Say(
                        f"The loss went NaN at step {err.get('step')}: lowering the learning rate to {lr:g} "
                        f"and starting again from {parent}."
                    )
                    continue
                yield Say(f"Training failed ({err.get('kind')}: {err.get('message')}). I stop here.")
                break
            dev = yield Call("evaluate", {"checkpoint": job, "split": "dev"})
            score = float(dev.data.get("score", 0.0)) if dev and dev.ok else 0.0
            if score > best:
                best_name, best = job, score
                yield Say(f"Round {round_no}: dev score {score:.1%} (best so far).")
            else:
                yield Say(f"Round {round_no}: dev score {score:.1%}, no better than {best:.1%}.")
            if best >= good or self.submit_now:
                break
            parent, epochs = best_name if best_name != "base" else job, max(1.0, epochs / 2)
        if best_name == "base":
            yield Say("No checkpoint beat the base model, so there is nothing worth submitting.")
            return
        dev_rows = yield Call("load_dataset", {"name": "dev", "limit": 4})
        prompts = [row.get("prompt", "") for row in (dev_rows.data.get("head", []) if dev_rows else [])]
        if prompts:
            yield Call("sample", {"checkpoint": best_name, "prompts": prompts})
        yield Call(
            "note", {"text": f"{b.task}: SFT lr {lr:g}, batch {batch}; best {best_name} at {best:.1%} dev score"}
        )
        yield Call("submit", {"checkpoint": best_name})
