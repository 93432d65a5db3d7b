"""GRPO reward rules: the reward collapsing (reward_collapse) or not improving (reward_flat), the
training reward rising while the dev score falls (reward_up_dev_down) or stays flat
(reward_up_dev_flat, both from `score` events), completions growing (length_runaway) or cut at
the length limit (completions_clipped), and groups without reward variance
(zero_variance_groups)."""

from __future__ import annotations

import math
from statistics import median

from agent_core.oversight.watchdogs.alerts import AlertBase
from agent_core.oversight.watchdogs.job import JobState
from agent_core.oversight.watchdogs.stats import flat_window, fmt, num, robust_sigma
from agent_core.record.metrics import DEV_SPLITS, FRAC_ZERO_STD, LEARNING_RATE


class RewardRules(AlertBase):
    # -- reward (collapse, flat)
    def _check_reward(self, js: JobState, step: int, r: float, values: dict) -> list[dict]:
        c = self.config
        hist = js.push("reward", r)
        out: list[dict] = []
        vals = list(hist)
        n = len(vals)
        # running peak: the best 5-step median, ending 3 steps before now
        if n >= 8:
            m5 = median(vals[-8:-3])
            js.reward_peak = m5 if js.reward_peak is None else max(js.reward_peak, m5)
        if n >= max(c.collapse_min_history, 8) and js.reward_peak is not None:
            cur = median(vals[-3:])
            sigma = robust_sigma(vals[-50:])
            thr = max(c.collapse_drop_abs, c.collapse_drop_frac * abs(js.reward_peak), c.collapse_noise_k * sigma)
            if cur < js.reward_peak - thr:
                out += self._fire(
                    "reward_collapse",
                    js.name,
                    step,
                    f"{js.name}: reward {fmt(cur)} (median of the last 3 steps) collapsed from its "
                    f"peak {fmt(js.reward_peak)} at step {step}",
                    "policy collapse (LR or KL too loose, temperature too low), a reward-function "
                    "change, or a degenerate output mode (empty or repeated completions)",
                    "read recent completions; roll back to the checkpoint before the drop; lower "
                    "the LR, raise beta / the sampling temperature",
                )
            elif cur >= js.reward_peak - thr / 2:
                self._rearm("reward_collapse", js.name)
        out += self._check_reward_flat(js, step, vals)
        return out

    def _check_reward_flat(self, js: JobState, step: int, vals: list[float]) -> list[dict]:
        c = self.config
        W = c.flat_window
        stats = flat_window(vals, W)
        if stats is None:
            return []
        win, a, b, se = stats
        init = median(js.first.get("reward") or win[:3])
        improvement = b - a
        tol = max(c.reward_flat_abs, c.flat_noise_k * se)
        progressed = (b - init) >= c.reward_progress_abs
        if improvement > 2 * tol:
            self._rearm("reward_flat", js.name)
            return []
        if improvement > tol or progressed:
            return []
        return self._fire(
            "reward_flat",
            js.name,
            step,
            f"{js.name}: reward flat at ~{fmt(b)} over the last {W} logged steps (change "
            f"{fmt(improvement)}; it started at {fmt(init)})",
            "no learning signal (groups all-correct or all-wrong), learning rate ~0 or too low, or "
            "a reward function that does not match the task",
            f"look at {FRAC_ZERO_STD} and {LEARNING_RATE}; read a few completions and their "
            "rewards; adjust task difficulty or the LR",
        )

    # -- completion length
    def _check_length(self, js: JobState, step: int, length: float) -> list[dict]:
        c = self.config
        vals = list(js.push("length", length))
        n = len(vals)
        if n >= c.length_min_history + 3:
            m5 = median(vals[-8:-3])
            js.length_base = m5 if js.length_base is None else min(js.length_base, m5)
        base = js.length_base
        if base is None or base <= 0 or n < 3:
            return []
        cur = median(vals[-3:])
        if cur >= c.length_factor * base and cur - base >= c.length_min_increase:
            return self._fire(
                "length_runaway",
                js.name,
                step,
                f"{js.name}: mean completion length {fmt(cur)} tokens is {cur / base:.1f}x its "
                f"lowest level {fmt(base)} at step {step}",
                "the policy learned that longer outputs earn reward (a length bias in the "
                "reward or judge), or it is looping / repeating",
                "read a few long completions (the run screen's Outputs pane, key o); add a length "
                "penalty or cap max_completion_length; check the reward for length bias",
            )
        if cur < (1 + c.length_factor) / 2 * base:
            self._rearm("length_runaway", js.name)
        return []

    # -- completions cut at the length limit
    def _check_clipped(self, js: JobState, step: int, clipped: float) -> list[dict]:
        c = self.config
        if clipped < c.clipped_ratio_max:
            js.counts["clipped"] = 0
            if clipped < c.clipped_ratio_max / 2:
                self._rearm("completions_clipped", js.name)
            return []
        n = js.counts["clipped"] = js.counts.get("clipped", 0) + 1
        if n < c.clipped_steps:
            return []
        return self._fire(
            "completions_clipped",
            js.name,
            step,
            f"{js.name}: {clipped:.0%} of completions hit the maximum length ({n} logged steps in a "
            f"row) at step {step}: their answers are cut off",
            "completions run to the token limit: looping or rambling, a format the model has not "
            "learned to end (no answer, no stop), or a limit too small for the task",
            "read a few clipped completions (the run screen's Outputs pane, key o: marked ✂); raise "
            "max_completion_length if the answers are legitimately long, else teach the format "
            "first (SFT) or penalise length",
        )

    # -- zero-variance groups
    def _check_zero_std(self, js: JobState, step: int, frac: float, reward: float | None) -> list[dict]:
        c = self.config
        if frac > c.zero_std_frac:
            n = js.counts["zero_std"] = js.counts.get("zero_std", 0) + 1
            if n >= c.zero_std_steps:
                if reward is not None and reward >= 0.9:
                    kind = "mostly all-correct groups (reward ~1): the prompts are too easy"
                    check = "use harder prompts or drop solved ones; stop if the dev score is already good"
                elif reward is not None and reward <= 0.1:
                    kind = "mostly all-wrong groups (reward ~0): the prompts are too hard"
                    check = (
                        "use easier prompts (a curriculum) or an SFT warm-up first; check the "
                        "reward function parses the answers"
                    )
                else:
                    kind = "groups where every completion gets the same reward"
                    check = (
                        "break groups down into all-correct vs all-wrong; raise the sampling "
                        "temperature (1.0) or group size; check the reward is not constant"
                    )
                return self._fire(
                    "zero_variance_groups",
                    js.name,
                    step,
                    f"{js.name}: {frac:.0%} of GRPO groups have zero reward variance ({n} steps in a "
                    f"row) at step {step}: no learning signal",
                    kind,
                    check,
                )
        else:
            js.counts["zero_std"] = 0
            if frac <= c.zero_std_frac - 0.1:
                self._rearm("zero_variance_groups", js.name)
        return []

    # ------------------------------------------------------------------ scores
    def _on_score(self, ev: dict) -> list[dict]:
        if str(ev.get("split", "")).lower() not in DEV_SPLITS:
            return []
        value = num(ev.get("value"))
        if value is None or not math.isfinite(value):
            return []
        down = self._check_dev_down(ev, value)
        return down + self._check_dev_flat(value, quiet=bool(down))

    def _check_dev_down(self, ev: dict, value: float) -> list[dict]:
        c = self.config
        best = self._dev_best
        if best is None or value > best:
            self._dev_best = value
            self._rearm("reward_up_dev_down", None)
            return []
        if value >= best - c.dev_drop_abs / 2:
            self._rearm("reward_up_dev_down", None)
        if value > best - c.dev_drop_abs:
            return []
        rise, slope, se = self._reward_trend()
        if rise is None or rise < c.reward_rise_abs or slope < c.reward_rise_noise_k * se:
            return []
        job = self.last_job
        step = self.jobs[job].step if job in self.jobs else None
        n = len(self._reward_recent)
        out = self._fire(
            "reward_up_dev_down",
            None,
            step,
            f"dev score fell to {fmt(value)} (best {fmt(best)}) while the training reward keeps "
            f"rising (+{fmt(rise)} over the last {n} logged steps)"
            + (f" [{ev.get('checkpoint')}]" if ev.get("checkpoint") else ""),
            "the policy is exploiting the reward (reward hacking: format tricks, length, a "
            "verifier loophole) or overfitting the training prompts",
            "read a few completions that earn high reward; compare the reward function with "
            "the dev scorer; keep the checkpoint with the best dev score",
        )
        for a in out:
            a["job"] = job
        return out

    def _check_dev_flat(self, value: float, quiet: bool = False) -> list[dict]:
        """reward_up_dev_flat: the last `dev_flat_scores` dev scores within `dev_flat_abs` of
        each other while the latest job's reward rose `reward_flat_dev_rise` since the first
        (`quiet`: only record the score; reward_up_dev_down just fired on it)."""
        c = self.config
        recent = self._dev_recent
        recent.append((value, self._reward_n))
        if len(recent) < c.dev_flat_scores:
            return []
        scores = [v for v, _ in recent]
        since = self._reward_n - recent[0][1]
        if max(scores) - min(scores) > c.dev_flat_abs:
            if value > min(scores) + 2 * c.dev_flat_abs:  # the dev score moves again
                self._rearm("reward_up_dev_flat", None)
            return []
        if quiet or since > len(self._reward_series):
            return []
        rise, slope, se = self._reward_trend(list(self._reward_series)[-since:] if since else [])
        if rise is None or rise < c.reward_flat_dev_rise or slope < c.reward_rise_noise_k * se:
            return []
        job = self.last_job
        step = self.jobs[job].step if job in self.jobs else None
        out = self._fire(
            "reward_up_dev_flat",
            None,
            step,
            f"the training reward rose +{fmt(rise)} over the last {since} logged steps while the "
            f"last {len(scores)} dev scores stayed at {fmt(min(scores))}..{fmt(max(scores))}",
            "the reward is being earned without solving the task better (reward hacking: a format "
            "trick, length, a verifier loophole), or the training prompts are overfit",
            "read completions that earn high reward (the run screen's Outputs pane, key o) and "
            "compare the reward function with the dev scorer; keep the best dev checkpoint",
        )
        for a in out:
            a["job"] = job
        return out

    def _reward_trend(self, ys: list[float] | None = None) -> tuple[float | None, float, float]:
        """Least-squares trend of the latest job's recent rewards (or of `ys`): (rise over the
        window, slope per logged step, standard error of the slope); rise None without enough
        points."""
        ys = list(self._reward_recent) if ys is None else ys
        n = len(ys)
        if n < 8:
            return None, 0.0, 0.0
        xm, ym = (n - 1) / 2, sum(ys) / n
        sxx = sum((i - xm) ** 2 for i in range(n))
        slope = sum((i - xm) * (y - ym) for i, y in enumerate(ys)) / sxx
        resid = [y - (ym + slope * (i - xm)) for i, y in enumerate(ys)]
        sigma = math.sqrt(sum(r * r for r in resid) / (n - 2))
        return slope * (n - 1), slope, sigma / math.sqrt(sxx)
