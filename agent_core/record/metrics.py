"""The names of a training job's metrics: the one home for them. Standard library only.

A `metric` event (see `events`) carries `values`: a dict from these names to numbers. The training
worker writes them (`agent_core.ml.callbacks.ProtocolCallback.on_log`, one line every
`logging_steps`), the job manager copies them into the run's log unchanged, and the watchdogs, the
run screen's chart, REPORT.md and the agent's job summaries read them. A non-finite loss or
grad_norm is written as null (the watchdogs read null as NaN); any other value that is missing or
not finite is left out.

Who emits what (SFT passes the trainer's log dict through; GRPO maps TRL's names, `grpo_values`):

    loss                  both   training loss of the logged step(s)
    learning_rate         both   the LR the scheduler set for the step
    grad_norm             both   gradient norm before clipping
    epoch                 both   fractional epoch
    num_tokens            both   tokens seen so far (cumulative)
    tokens_per_s          both   throughput since the previous metric line (from num_tokens)
    mfu                   both   model FLOPs utilisation, a fraction (only on a GPU of known peak)
    entropy               both   mean token entropy of the model's predictions
    mean_token_accuracy   SFT    next-token accuracy on the completion tokens
    reward_mean           GRPO   mean reward of the step's completions (TRL: reward)
    reward                GRPO   the same value under TRL's name (an alias kept for older readers)
    reward/<fn>           GRPO   per reward function mean (TRL: rewards/<fn>/mean)
    reward_std            GRPO   std of the rewards (TRL: reward_std)
    frac_zero_std         GRPO   fraction of groups whose rewards are all equal (TRL:
                                 frac_reward_zero_std; also written under that name)
    kl                    GRPO   KL to the reference model (only with beta > 0)
    completion_length     GRPO   mean completion length in tokens (TRL: completions/mean_length)
    completion_length_max GRPO   longest completion (TRL: completions/max_length)
    clipped_ratio         GRPO   fraction of completions cut at max_completion_length (TRL:
                                 completions/clipped_ratio; also written under that name)
    clip_ratio            GRPO   PPO-style ratio clipping (TRL: clip_ratio/region_mean)
    reward_errors         GRPO   completions scored 0 because the reward raised or returned a
                                 non-number (cumulative)
    reward_timeouts       GRPO   completions scored 0 because the reward hung (cumulative)

Readers that take several names take the first one present (`*_KEYS` below): the worker's name
first, then the aliases it also writes, then the names other tools use (TRL's raw log keys, which
`tinker-tui check metrics` may be given).

`score` events carry `split`: "dev" (the agent's and the jobs' evaluations) or "test" (the hidden
split, scored by the harness only).
"""

from __future__ import annotations

# -- both methods ---------------------------------------------------------------------------------
LOSS = "loss"
LEARNING_RATE = "learning_rate"
GRAD_NORM = "grad_norm"
EPOCH = "epoch"
NUM_TOKENS = "num_tokens"
TOKENS_PER_S = "tokens_per_s"
MFU = "mfu"
ENTROPY = "entropy"
# -- SFT ------------------------------------------------------------------------------------------
MEAN_TOKEN_ACCURACY = "mean_token_accuracy"
# -- GRPO -----------------------------------------------------------------------------------------
REWARD_MEAN = "reward_mean"
REWARD = "reward"  # alias of reward_mean
REWARD_FN_PREFIX = "reward/"  # + the reward function's name
REWARD_STD = "reward_std"
FRAC_ZERO_STD = "frac_zero_std"
FRAC_REWARD_ZERO_STD = "frac_reward_zero_std"  # alias of frac_zero_std (TRL's name)
KL = "kl"
COMPLETION_LENGTH = "completion_length"
COMPLETION_LENGTH_MAX = "completion_length_max"
CLIPPED_RATIO = "clipped_ratio"
COMPLETIONS_CLIPPED_RATIO = "completions/clipped_ratio"  # alias of clipped_ratio (TRL's name)
CLIP_RATIO = "clip_ratio"
REWARD_ERRORS = "reward_errors"
REWARD_TIMEOUTS = "reward_timeouts"

# Written as null when not finite (the watchdogs' nan rule, the worker's NaN stop); every other
# value that is missing or not finite is left out.
NAN_KEYS = (LOSS, GRAD_NORM)

# -- what readers accept, first present wins --------------------------------------------------------
LOSS_KEYS = (LOSS, "train_loss")  # train_loss: TRL's end-of-training average (the chart only)
LR_KEYS = (LEARNING_RATE, "lr")
REWARD_KEYS = (REWARD_MEAN, REWARD, "rewards/mean", "train/reward")
LENGTH_KEYS = (COMPLETION_LENGTH, "completions/mean_length", "mean_completion_length")
CLIPPED_KEYS = (CLIPPED_RATIO, COMPLETIONS_CLIPPED_RATIO)
ZERO_STD_KEYS = (FRAC_ZERO_STD, FRAC_REWARD_ZERO_STD)

# -- score splits ---------------------------------------------------------------------------------
SPLIT_DEV = "dev"
SPLIT_TEST = "test"
DEV_SPLITS = (SPLIT_DEV, "val", "valid", "validation")  # what the watchdogs take as a dev score


def first_present(values: dict, keys: tuple[str, ...]) -> str | None:
    """The first of `keys` in `values`, or None."""
    for key in keys:
        if key in values:
            return key
    return None
