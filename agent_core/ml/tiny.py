"""A tiny, randomly initialised Llama-architecture causal LM with a character-level tokenizer.

Nothing is downloaded: the tokenizer is built with the `tokenizers` library and the model with
`LlamaConfig`/`LlamaForCausalLM`, then both are saved with `save_pretrained`, so

    AutoTokenizer.from_pretrained(out_dir)
    AutoModelForCausalLM.from_pretrained(out_dir)

work on the folder. Everything is deterministic for a given seed.

The tokenizer maps every character to one token (digits, operators, '=', space, letters and
some punctuation); unknown characters become <unk>. Encoding prepends <s> (BOS) and nothing else,
so "12+7=" is [<s>, 1, 2, +, 7, =] and a prompt's tokens are a prefix of prompt+completion's,
which keeps TRL's completion-only loss mask exact; pad is <pad> (id 0), eos is </s> (id 2).
The BOS token matters: as an attention anchor it made two-digit addition learn reliably (see
agent_core.training.tasks.sft_recipe).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]
CHARS = string.digits + "+-*/=()%^<>.,:;?!'\" _\n" + string.ascii_lowercase + string.ascii_uppercase

# Default size: 864K parameters (4 layers, width 128, 4 heads of 32, MLP 384, tied embeddings).
# Before BOS was added, 3 layers also learned the demo task and 2 layers or width 96 stalled.
DEFAULT_SIZE: dict[str, Any] = dict(
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=4,
    max_position_embeddings=64,
    rope_theta=10000.0,
)


def build_tokenizer(add_bos: bool = True):
    """A `PreTrainedTokenizerFast` with one token per character (and <s> first when add_bos)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + list(CHARS))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # every character (including space and newline) is its own pre-token
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, vocab[BOS])]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,
        model_max_length=DEFAULT_SIZE["max_position_embeddings"],
    )
    fast.padding_side = "right"
    return fast


def build_tiny_model(out_dir: str | Path, seed: int = 0, add_bos: bool = True, **size: Any) -> dict[str, Any]:
    """Build and save the tiny model + tokenizer into `out_dir`. Returns {"path", "params"}.

    `size` overrides keys of DEFAULT_SIZE (hidden_size, intermediate_size, num_hidden_layers,
    num_attention_heads, num_key_value_heads, max_position_embeddings, rope_theta).
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    unknown = set(size) - set(DEFAULT_SIZE)
    if unknown:
        raise ValueError(f"unknown size keys: {sorted(unknown)} (known: {sorted(DEFAULT_SIZE)})")
    dims = {**DEFAULT_SIZE, **size}
    rope_theta = float(dims.pop("rope_theta"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tokenizer(add_bos)
    tokenizer.model_max_length = dims["max_position_embeddings"]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
        initializer_range=0.02,
        rms_norm_eps=1e-5,
        attention_dropout=0.0,
        use_cache=True,
        rope_parameters={"rope_type": "default", "rope_theta": rope_theta},
        **dims,
    )
    # Seed a private generator state so the weights depend on `seed` only.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    return {"path": str(out), "params": params}
