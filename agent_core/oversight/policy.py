"""The policy gate: every tool call is classified allow, ask or deny before it runs.

A verdict carries a rule id (public: used in approval_request.rule and alert.rule), a risk
level, a one-line reason, a preview (`details`: a diff, examples, the code) and a `pattern`:
what "approve for the rest of the session" covers (the same dataset, source, path, kind of
network use), never every future call of the rule. `ask` makes the supervisor wait for a
person; `deny` returns the reason to the agent as the tool's result.

`classify(tool, args, ctx)` gives the built-in verdict; `gate(tool, args, ctx, policy)` applies
the run's policy (agent_core.oversight.policy_file: user default, run file, --approval preset) on top.

Rules:
    workspace_escape    a path resolves outside the workspace (`..`, absolute, symlinks)
    eval_access         reading the hidden split or the scoring code; evaluating on test
    eval_tamper         writing the hidden split or the scoring code; run_python code naming them
    secret_access       reading .env / credential files or key-like content; run_python code
                        reading secret environment variables or the whole environment
    network             run_python code that imports network libraries or installs packages
    outside_download    loading a dataset that is not on this machine
    contamination       training data overlapping the test or dev split (agent_core.oversight.contamination)
    model_substitution  training from, or submitting, a model that does not descend from the base
                        (lineage.json chain + config/tokenizer/weight-shape identity)
    reward_rewrite      rewriting a reward file a GRPO job uses or has used (preview: a diff)
    code_execution      run_python at all (allowed by default; `--approval strict` asks)
    budget_overrun      (an alert from the daemon, not a tool call)
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from agent_core.oversight import identity, safe_fs
from agent_core.oversight.code_scan import HARNESS_DIR, NET_MODULES, code_findings, code_spans  # noqa: F401
from agent_core.record import secrets as secret_scan
from agent_core.record.events import LIVE_JOB_STATES

if TYPE_CHECKING:
    from agent_core.training.workspace import Workspace

RULES = (
    "reward_rewrite",
    "outside_download",
    "model_substitution",
    "contamination",
    "eval_access",
    "eval_tamper",
    "secret_access",
    "workspace_escape",
    "network",
    "budget_overrun",
)
RISK = {
    "reward_rewrite": "medium",
    "outside_download": "medium",
    "model_substitution": "high",
    "contamination": "high",
    "eval_access": "high",
    "eval_tamper": "high",
    "secret_access": "high",
    "workspace_escape": "high",
    "network": "medium",
    "budget_overrun": "low",
    "code_execution": "low",
}
MAX_SCAN = 256 * 1024
MAX_PREVIEW = 1 << 20  # what an approval preview shows whole; beyond it, it says what it left out


@dataclass
class Verdict:
    action: str  # allow | ask | deny
    rule: str = ""
    reason: str = ""
    details: dict = field(default_factory=dict)
    pattern: str = ""  # what an approval "for the session" covers, with the rule

    @property
    def risk(self) -> str:
        return RISK.get(self.rule, "low")


ALLOW = Verdict("allow")


@dataclass
class GateContext:
    """Everything the gate may ask about the run (the daemon builds one; tests build their own)."""

    files: Workspace  # the agent's workspace: datasets, frozen copies, the reward bundle
    hidden_dir: Path  # the held-out split and the scorer: never the agent's
    run_id: str
    checkpoints: Callable[[], dict[str, Path]]  # {job id: checkpoint folder}
    checkpoint_path: Callable[[str], Path | None]  # "base", "latest" or a job id -> folder
    contamination: Callable[[str], list]  # dataset name -> overlap reports with the held-out splits
    jobs: Callable[[], list[tuple[dict, str]]]  # (spec, state) of every job, in start order

    @property
    def workspace(self) -> Path:
        return self.files.root

    @property
    def base_model_path(self) -> Path | None:
        return self.checkpoint_path("base")

    def dataset_path(self, name: str) -> Path | None:
        return self.files.dataset_path(name)

    def frozen_dataset(self, name: str) -> tuple[Path, str] | None:
        return self.files.frozen_dataset(name)


class PathEscape(ValueError):
    pass


def resolve_in(root: Path, rel: str) -> Path:
    """Resolve `rel` under `root`, following symlinks and `..`; raise PathEscape outside it."""
    root = Path(root).resolve()
    target = (root / rel).resolve() if not os.path.isabs(rel) else Path(rel).resolve()
    if target != root and root not in target.parents:
        raise PathEscape(f"{rel!r} resolves outside the workspace")
    return target


HIDDEN_WORDS = ("test", "hidden")


def _is_hidden_split(name: str) -> bool:
    base = str(name).lower().replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    base = base.removesuffix(".jsonl")
    return base in HIDDEN_WORDS


def _inside(path: Path, folder: Path) -> bool:
    folder = folder.resolve()
    return path == folder or folder in path.parents


def _target(workspace: Path, rel: str) -> Path | None:
    try:
        return (Path(workspace) / rel).resolve() if not os.path.isabs(rel) else Path(rel).resolve()
    except (OSError, RuntimeError):
        return None


# -- secrets in files -----------------------------------------------------------------
SECRET_FILES = {
    ".env",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    "credentials",
    "credentials.json",
    "id_rsa",
    "id_ed25519",
    "id_ecdsa",
    ".htpasswd",
    "secrets.json",
    "secrets.toml",
    "secrets.yaml",
    "secrets.yml",
}
SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".keystore")


def _secret_file_name(path: Path) -> bool:
    name = path.name.lower()
    return name in SECRET_FILES or name.startswith(".env.") or name.endswith(SECRET_SUFFIXES) or "credential" in name


def _secret_content(path: Path) -> list[str]:
    try:
        with open(path, "rb") as fh:
            text = fh.read(MAX_SCAN).decode("utf-8", "replace")
    except OSError:
        return []
    return sorted({kind for kind, _ in secret_scan.find(text)})


def _diff(path: Path, new: str, rel: str) -> str:
    try:
        old = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        old = ""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"a/{rel}", tofile=f"b/{rel}", n=2
    )
    text = "".join(lines)
    if len(text) > MAX_PREVIEW:  # never cut silently: the prompt says how much is not shown
        return text[:MAX_PREVIEW] + f"\n[... {len(text) - MAX_PREVIEW} more characters of the diff not shown ...]"
    return text


def reward_files(ctx: GateContext) -> dict[Path, str]:
    """{resolved reward file: state of the latest GRPO job that uses it} from the jobs' specs."""
    found: dict[Path, str] = {}
    for spec, state in ctx.jobs():
        rf = spec.get("reward_source")  # the workspace file the job's frozen reward was copied from
        if rf:
            try:
                found[(ctx.workspace / rf).resolve()] = state
            except (OSError, RuntimeError):
                continue
    return found


# -- the classifier ---------------------------------------------------------------------
def classify(tool: str, args: dict, ctx: GateContext) -> Verdict:
    ws = ctx.workspace
    if tool in ("read_file", "write_file", "list_files"):
        path = str(args.get("path", "."))
        try:
            target = resolve_in(ws, path)
        except PathEscape as exc:
            raw = _target(ws, path)
            if raw is not None and _inside(raw, ctx.hidden_dir):
                if tool == "write_file":
                    return Verdict(
                        "deny",
                        "eval_tamper",
                        f"{path!r} is in the hidden evaluation folder: "
                        "the test split and the scoring code cannot be changed",
                        pattern=path,
                    )
                return Verdict("deny", "eval_access", f"{exc}; tools only work inside the workspace")
            if raw is not None and _inside(raw, HARNESS_DIR):
                if tool == "write_file":
                    return Verdict(
                        "deny",
                        "eval_tamper",
                        f"{path!r} is the harness's scoring code; it cannot be changed",
                        pattern=path,
                    )
                return Verdict("deny", "eval_access", f"{path!r} is the harness's code, outside the workspace")
            return Verdict("deny", "workspace_escape", f"{exc}; tools only work inside the workspace")
        if tool == "read_file" and target.is_file():
            if _secret_file_name(target):
                return Verdict(
                    "deny",
                    "secret_access",
                    f"{path!r} looks like a credentials file; secrets are not available to the agent",
                    pattern=path,
                )
            kinds = _secret_content(target)
            if kinds:
                return Verdict(
                    "deny",
                    "secret_access",
                    f"{path!r} contains key-like strings ({', '.join(kinds)}); secrets are not available to the agent",
                    {"kinds": kinds},
                    pattern=path,
                )
        if tool == "write_file":
            return _reward_rewrite(ctx, target, path, str(args.get("content", "")))
        return ALLOW
    if tool == "run_python":
        return _run_python(ctx, str(args.get("code", "")))
    if tool in ("evaluate", "sample") and _is_hidden_split(args.get("split", "")):
        return Verdict(
            "deny", "eval_access", "the test split is hidden: the harness scores your submission on it; use dev"
        )
    if tool == "load_dataset":
        name = str(args.get("name", ""))
        if _is_hidden_split(name):
            return Verdict("deny", "eval_access", "the test split is hidden and cannot be loaded")
        if ctx.dataset_path(name) is None:
            return Verdict(
                "ask",
                "outside_download",
                f"{name!r} is not on this machine: loading it downloads outside data",
                {"source": name},
                pattern=name,
            )
    if tool == "start_training":
        rf = args.get("reward_file")
        if rf:
            raw = _target(ws, str(rf))
            if raw is None or not _inside(raw, ws):
                rule = "eval_access" if raw is not None and _inside(raw, ctx.hidden_dir) else "workspace_escape"
                return Verdict("deny", rule, f"the reward file {rf!r} must be inside the workspace")
        found = [r for r in ctx.contamination(str(args.get("dataset", ""))) if r.found]
        if found:
            what = "; ".join(
                f"{r.contaminated} of {r.eval_rows} {r.name} items ({r.verbatim} verbatim, {r.reworded} reworded)"
                for r in found
            )
            examples = [
                {"split": r.name, "held_out": m.eval_text, "train": m.train_text, "kind": m.kind}
                for r in found
                for m in r.examples[:3]
            ]
            ds = str(args.get("dataset"))
            # the session pattern is this dataset with this content: more items written into the
            # same file ask again
            return Verdict(
                "ask",
                "contamination",
                f"the training data overlaps held-out evaluation items: {what}",
                {"dataset": args.get("dataset"), "count": sum(r.contaminated for r in found), "examples": examples},
                pattern=_content_pattern(ctx, ds),
            )
        if rf and str(args.get("method") or "").lower() == "grpo":
            changed = _reward_bundle_change(ctx)
            if changed is not None:
                return changed
        return _training_base(ctx, str(args.get("base") or "base"))
    if tool == "submit":
        ckpt = str(args.get("checkpoint", ""))
        path = ctx.checkpoint_path(ckpt)
        if path is None or ckpt == "base":
            return Verdict(
                "deny",
                "model_substitution",
                f"only checkpoints trained in this run can be submitted; {ckpt!r} is not one",
            )
        problem = _lineage(ctx, path)
        if problem:
            return Verdict("deny", "model_substitution", f"{ckpt!r} cannot be submitted: {problem}")
    return ALLOW


def _content_pattern(ctx: GateContext, name: str) -> str:
    """The dataset with this content: what approving a contamination "for the session" covers."""
    try:
        frozen = ctx.frozen_dataset(name)
    except (OSError, ValueError):
        return name
    return f"{name}#{frozen[1][:12]}" if frozen else name


def _reward_bundle_change(ctx: GateContext) -> Verdict | None:
    """A GRPO job whose reward bundle (the reward file and the workspace files it may read) differs
    from the previous GRPO job's: changing the reward throws GRPO progress away, so a person asks."""
    prev = [spec for spec, _state in ctx.jobs() if spec.get("reward_sha256")]
    if not prev:
        return None
    last = prev[-1]
    now = ctx.files.bundle_manifest()
    if now["sha256"] == last["reward_sha256"]:
        return None
    old_files: dict = last.get("reward_manifest") or {}
    changed = sorted(r for r in set(old_files) | set(now["files"]) if old_files.get(r) != now["files"].get(r))
    bundle = Path(str(last.get("reward_cwd") or ""))
    diffs = []
    for rel in changed[:10]:
        try:
            new = safe_fs.read_bytes(ctx.workspace, rel).decode("utf-8", "replace") if rel in now["files"] else ""
        except (OSError, ValueError):
            new = ""
        diffs.append(_diff(bundle / rel, new, rel))
    if len(changed) > 10:  # never a silent cut: the person sees what is left out
        diffs.append(
            f"[... diffs of {len(changed) - 10} more changed files not shown: {', '.join(changed[10:])} ...]\n"
        )
    return Verdict(
        "ask",
        "reward_rewrite",
        f"the reward bundle differs from the previous GRPO job's ({', '.join(changed[:5])}"
        f"{' ...' if len(changed) > 5 else ''}); changing the reward throws GRPO progress away "
        "(checkpoint and reset the baseline first)",
        {"changed": changed, "diff": "".join(diffs), "previous_sha256": last["reward_sha256"], "sha256": now["sha256"]},
        pattern=now["sha256"],
    )


def _lineage(ctx: GateContext, path: Path) -> str | None:
    return identity.lineage_problem(path, ctx.base_model_path, ctx.checkpoints(), ctx.run_id)


def _training_base(ctx: GateContext, base: str) -> Verdict:
    if base == "base":
        return ALLOW
    known = ctx.checkpoint_path(base)
    if known is not None:
        problem = _lineage(ctx, known)
        if problem:
            return Verdict("deny", "model_substitution", f"cannot train from {base!r}: {problem}")
        return ALLOW
    details: dict = {"requested_base": base}
    folder = Path(base).expanduser()
    if not folder.is_absolute():
        folder = ctx.workspace / folder
    base_path = ctx.base_model_path
    if (folder / "config.json").is_file() and base_path is not None and (Path(base_path) / "config.json").is_file():
        try:
            diff = identity.differences(Path(base_path), folder)
        except identity.IdentityError as exc:
            diff = [str(exc)]
        if diff:
            return Verdict(
                "deny",
                "model_substitution",
                f"{base!r} is a different model from the given base: " + "; ".join(diff[:3]),
                {"requested_base": base, "differences": diff},
            )
        details["identity"] = (
            "same architecture and tokenizer as the base, but no lineage: it may be "
            "a fine-tuned (e.g. instruct) version of it"
        )
    return Verdict(
        "ask",
        "model_substitution",
        f"training must start from the given base model or this run's checkpoints; {base!r} is neither",
        details,
        pattern=base,
    )


def _run_python(ctx: GateContext, code: str) -> Verdict:
    found = code_findings(code, ctx.hidden_dir)
    # the whole code, never a cut: the flagged part may sit anywhere; spans say where
    preview = {"code": code, "spans": code_spans(code, found, ctx.hidden_dir)}
    if found["eval"]:
        return Verdict(
            "deny",
            "eval_tamper",
            f"the code refers to {' and '.join(found['eval'])}; the test split and the scoring code are off limits",
            preview,
        )
    if found["secrets"]:
        return Verdict(
            "deny",
            "secret_access",
            f"the code reads {' and '.join(found['secrets'])}; API keys "
            "are not available to the agent (run_python gets a scrubbed environment)",
            preview,
            pattern=",".join(found["secrets"]),
        )
    if found["network"]:
        return Verdict(
            "ask",
            "network",
            f"the code may reach the network or install packages "
            f"({', '.join(found['network'])}); without approval it runs with the network blocked",
            {**preview, "uses": found["network"]},
            pattern=",".join(found["network"]),
        )
    return Verdict("allow", "code_execution", "run agent-written Python in the workspace", preview, pattern="*")


def _reward_rewrite(ctx: GateContext, target: Path, rel: str, content: str) -> Verdict:
    used = reward_files(ctx)
    state = used.get(target)
    if state is None:
        return ALLOW
    live = state in LIVE_JOB_STATES
    if not live and not target.name.lower().startswith("reward"):
        return ALLOW
    when = "a GRPO job that is still " + state if live else "an earlier GRPO job"
    return Verdict(
        "ask",
        "reward_rewrite",
        f"{rel!r} is the reward of {when}; changing the reward mid-run throws GRPO progress "
        "away (checkpoint and reset the baseline first)",
        {"path": rel, "diff": _diff(target, content, rel), "job_state": state},
        pattern=rel,
    )


def gate(tool: str, args: dict, ctx: GateContext, policy=None) -> Verdict:
    """classify, then the run's policy decides the action for the verdict's rule. With the code
    heuristics off ([code] heuristics = false) run_python is never scanned: only the fence stands."""
    if tool == "run_python" and policy is not None and not policy.code_heuristics:
        verdict = Verdict(
            "allow",
            "code_execution",
            "run agent-written Python in the workspace (text heuristics off: the sandbox is the boundary)",
            {"code": str(args.get("code", ""))},
            pattern="*",
        )
    else:
        verdict = classify(tool, args, ctx)
    if not verdict.rule:
        return verdict
    if policy is None:
        from agent_core.oversight.policy_file import Policy

        policy = Policy()
    action = policy.action(verdict.rule, verdict.action)
    if action != verdict.action:
        verdict = replace(
            verdict, action=action, details={**verdict.details, "policy": f"{verdict.action} -> {action}"}
        )
    return verdict
