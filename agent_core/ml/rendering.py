"""One rendering of prompts for training, evaluation, sampling and the harness, so that a model is
scored in the format it was trained in. The templates themselves (names, text templates) are
agent_core.training.templates; this module adds the tokenizer's own chat template ("model",
"auto") and turns rendered conversations into token ids with a loss mask.

No torch import: a tokenizer object is all it uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent_core.training import templates

_PROBE = "\u2063probe-answer\u2063"  # an assistant text no template changes, to find the end-of-turn marker


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def lineage_template(model_folder: str | Path) -> str | None:
    """The template recorded in a checkpoint's lineage.json (None for a base model or an older checkpoint)."""
    try:
        lineage = json.loads((Path(model_folder) / "lineage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = lineage.get("template") if isinstance(lineage, dict) else None
    return name if name in templates.TEMPLATE_NAMES else None


def requested_template(spec_template: str | None, model_folder: str | Path | None) -> str:
    """The template a job asks for: the spec's, else the one the model was trained with, else "auto"."""
    if spec_template:
        return spec_template
    return (lineage_template(model_folder) if model_folder is not None else None) or "auto"


class Renderer:
    """Prompts and answers as text under one template, resolved against a tokenizer ("auto": the
    tokenizer's chat template when it has one, else "plain"). ValueError for "model" without one."""

    def __init__(self, template: str, tokenizer: Any = None):
        name = templates.check_template(template)
        if name == "auto":
            name = "model" if has_chat_template(tokenizer) else "plain"
        if name == "model" and not has_chat_template(tokenizer):
            raise ValueError("template 'model': the tokenizer has no chat template (use plain, chatml or qa)")
        self.name = name
        self.tokenizer = tokenizer
        self._strip_bos = self._bos_to_strip()
        self.stop: list[str] = list(templates.STOPS.get(name, [])) if name != "model" else self._end_marker()

    # -- text
    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        if self.name != "model":
            return templates.render(self.name, messages, add_generation_prompt)
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        if self._strip_bos and text.startswith(self._strip_bos):
            text = text[len(self._strip_bos) :]  # tokenizing adds it again
        return text

    def prompt(self, prompt: str | list[dict[str, str]]) -> str:
        """The text the model reads before it answers `prompt`."""
        return self.render(templates.as_messages(prompt), add_generation_prompt=True)

    def completion(self, prompt: str | list[dict[str, str]], completion: str | list[dict[str, str]]) -> str:
        """The text that follows `prompt`'s rendering when the answer is `completion` (a string or
        assistant messages), with the template's end of turn."""
        answer = [{"role": "assistant", "content": completion}] if isinstance(completion, str) else completion
        before = self.prompt(prompt)
        full = self.render(templates.as_messages(prompt) + templates.as_messages(answer), add_generation_prompt=False)
        if not full.startswith(before):
            raise ValueError(f"template {self.name!r} renders the prompt differently once an answer follows it")
        return full[len(before) :]

    def conversation(self, messages: list[dict[str, str]]) -> list[tuple[str, bool]]:
        """A whole conversation as consecutive text pieces, True for the assistant turns (the ones
        trained on). ValueError when the template renders earlier turns differently later on."""
        pieces: list[tuple[str, bool]] = []
        done = ""
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            before = self.render(messages[:i], add_generation_prompt=True)
            full = self.render(messages[: i + 1], add_generation_prompt=False)
            if not (before.startswith(done) and full.startswith(before)):
                raise ValueError(
                    f"template {self.name!r} renders earlier turns differently later on; "
                    "use prompt/completion rows (one answer per row) instead"
                )
            pieces += [(before[len(done) :], False), (full[len(before) :], True)]
            done = full
        rest = self.render(messages, add_generation_prompt=False)
        if rest.startswith(done) and rest[len(done) :]:
            pieces.append((rest[len(done) :], False))
        return [(text, train) for text, train in pieces if text]

    # -- tokens
    def tokenize_conversation(self, messages: list[dict[str, str]]) -> dict[str, list[int]]:
        """{"input_ids", "completion_mask"} of a conversation: the mask is 1 on the assistant turns'
        tokens (and on an end-of-sequence token appended after a final assistant turn)."""
        tok = self.tokenizer
        pieces = self.conversation(messages)
        ids: list[int] = []
        mask: list[int] = []
        if getattr(tok, "is_fast", False):
            text = "".join(t for t, _ in pieces)
            spans, at = [], 0
            for t, train in pieces:
                if train:
                    spans.append((at, at + len(t)))
                at += len(t)
            enc = tok(text, return_offsets_mapping=True)
            ids = list(enc["input_ids"])
            for start, end in enc["offset_mapping"]:
                mask.append(int(end > start and any(s < end and start < e for s, e in spans)))
        else:  # a slow tokenizer has no offsets: the pieces one by one
            for j, (t, train) in enumerate(pieces):
                part = tok(t, add_special_tokens=j == 0)["input_ids"]
                ids += part
                mask += [int(train)] * len(part)
        if pieces and pieces[-1][1] and tok.eos_token_id is not None and (not ids or ids[-1] != tok.eos_token_id):
            ids.append(tok.eos_token_id)
            mask.append(1)
        return {"input_ids": ids, "completion_mask": mask}

    # -- helpers
    def _bos_to_strip(self) -> str | None:
        """The BOS text a chat template writes when tokenizing the text would add it again."""
        tok = self.tokenizer
        if self.name != "model" or tok is None or not getattr(tok, "bos_token", None):
            return None
        ids = tok("a")["input_ids"]
        return tok.bos_token if ids and ids[0] == tok.bos_token_id else None

    def _end_marker(self) -> list[str]:
        """The tokenizer's end-of-turn text (e.g. <|im_end|>, <|eot_id|>, <end_of_turn>), found by
        rendering a probe answer and reading what follows it."""
        try:
            text = self.render(
                [{"role": "user", "content": "q"}, {"role": "assistant", "content": _PROBE}],
                add_generation_prompt=False,
            )
        except Exception:  # a template that needs something else (tools, alternation rules, ...)
            return []
        at = text.rfind(_PROBE)
        marker = text[at + len(_PROBE) :].strip() if at >= 0 else ""
        return [marker] if marker else []
