"""Prompt templates: how a prompt (a string, or chat messages) becomes the text a model reads, the
same for training, evaluation, sampling and the harness (agent_core.ml.rendering applies them).

Names (a task's `template`, a job spec's `template`, a checkpoint's lineage.json `template`):

- "auto": the base model's own chat template when its tokenizer has one, else "plain";
- "model": the tokenizer's chat template (a job fails with bad_input when there is none);
- "plain": the texts as they are: a string prompt renders exactly as itself and its completion
  follows it directly ("12+7=" then "19"); a conversation is its texts in order (a system text
  and a blank line first, an assistant turn followed by a newline when more comes);
- "chatml": `<|im_start|>{role}\\n{content}<|im_end|>\\n` per message, the generation prompt
  `<|im_start|>assistant\\n` (answers stop at `<|im_end|>`);
- "qa": `Question: {user}\\nAnswer:` then ` {assistant}` and a blank line (answers stop at a new
  `\\nQuestion:`), for base models without a chat template.

A string prompt is the conversation [{"role": "user", "content": prompt}]. Standard library only:
the daemon imports this module (it never imports torch or transformers).
"""

from __future__ import annotations

from typing import Any

TEMPLATE_NAMES = ("auto", "model", "plain", "chatml", "qa")
TEXT_TEMPLATES = ("plain", "chatml", "qa")  # rendered here, without a tokenizer
ROLES = ("system", "user", "assistant")
STOPS = {"plain": [], "chatml": ["<|im_end|>"], "qa": ["\nQuestion:"]}


def check_template(name: Any) -> str:
    """`name` if it is a template name; ValueError otherwise."""
    if name not in TEMPLATE_NAMES:
        raise ValueError(f"unknown template {name!r} (one of: {', '.join(TEMPLATE_NAMES)})")
    return name


def message_problem(value: Any) -> str | None:
    """Why `value` is not a list of {"role", "content"} chat messages (None when it is one)."""
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of {role, content} messages"
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            return f"message {i} must be an object with a string 'content'"
        if m.get("role") not in ROLES:
            return f"message {i} has role {m.get('role')!r} (one of: {', '.join(ROLES)})"
    return None


def as_messages(prompt: str | list[dict[str, str]]) -> list[dict[str, str]]:
    """A prompt as chat messages: a string is one user message."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def prompt_text(prompt: str | list[dict[str, str]]) -> str:
    """A prompt as a person reads it: a string as it is, a conversation as `role: content` lines."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)


def render(name: str, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    """The text of `messages` under a text template ("plain", "chatml", "qa"); with
    `add_generation_prompt`, followed by what starts the assistant's answer."""
    out: list[str] = []
    for i, m in enumerate(messages):
        role, content = m["role"], m["content"]
        more = i + 1 < len(messages)
        if name == "chatml":
            out.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
        elif role == "system":
            out.append(content + "\n\n")
        elif name == "qa":
            out.append(f"Question: {content}\nAnswer:" if role == "user" else f" {content}\n\n")
        else:  # plain
            out.append(content + ("\n" if role == "assistant" and more else ""))
    if add_generation_prompt and name == "chatml":
        out.append("<|im_start|>assistant\n")
    return "".join(out)
