"""A tiny, randomly initialised Hugging Face causal LM with its own tokenizer, built offline."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory):
    """Folder of a 1-layer Llama (hidden size 32) and a 400-token byte-level BPE tokenizer with a
    tool-calling chat template; loadable with ``from_pretrained``. Skips without transformers."""
    pytest.importorskip("transformers")
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from rsigym.baselines.llm_agent import PROTOCOL

    folder = tmp_path_factory.mktemp("tiny-causal-lm")
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<think>", "</think>",
               "<tool_response>", "</tool_response>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        [PROTOCOL, '[{"op": "write", "path": "tasks/digits/config.json", "content": "{\\"model\\": \\"svc\\"}"}]'],
        trainers.BpeTrainer(vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    try:  # a template TRL knows how to parse tool calls from, when TRL is installed
        from trl.chat_template_utils import qwen3_chat_template

        fast.chat_template = qwen3_chat_template
    except ImportError:
        pass
    fast.save_pretrained(folder)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8192,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
