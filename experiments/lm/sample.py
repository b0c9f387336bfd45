"""Generates text from a trained LM checkpoint.

    python -m experiments.lm.sample --workdir=/tmp/shakespeare --length=500 --prompt="ROMEO:"
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from seqjax import decode
from seqjax.data.vocab import Vocabulary, get_tokenizer
from seqjax.nn import lm as lm_nn


def detokenize(tokens: list[str], tokenizer: str) -> str:
  if tokenizer == "characters":
    return "".join(tokens)
  return " ".join(tokens).replace(" <eos> ", "\n").replace("<eos>", "\n")


def generate(model, params, vocab: Vocabulary, tokenizer: str, *, prompt: str, length: int,
             temperature: float = 1.0, top_k: int = 0, seed: int = 0) -> str:
  """Reads ``prompt`` (or one ``<eos>``/newline) into the carry, then samples ``length`` tokens."""
  tokens = get_tokenizer(tokenizer)(prompt) if prompt else []
  if tokenizer == "whitespace_eos" and prompt:
    tokens = tokens[:-1]  # the prompt continues; do not end its line
  if not tokens:
    tokens = ["\n"] if tokenizer == "characters" else ["<eos>"]
  ids = jnp.asarray(vocab.encode(tokens))[None, :]
  carry = lm_nn.initial_carry(model, params, 1)
  if ids.shape[1] > 1:
    _, carry = model.apply({"params": params}, ids[:, :-1], carry)

  def step_fn(carry, token):
    logits, carry = model.apply({"params": params}, token[:, None], carry)
    return logits[:, 0], carry

  run = jax.jit(lambda carry, first, key: decode.sample(
      step_fn, carry, first, length, key=key, temperature=temperature, top_k=top_k))
  out, _ = run(carry, ids[:, -1], jax.random.PRNGKey(seed))
  text_tokens = (tokens if prompt else []) + vocab.decode(np.asarray(out[0]))
  return detokenize(text_tokens, tokenizer)


FLAGS = flags.FLAGS


def check_flags() -> None:
  """The sampling flags' values (``ValueError`` naming the flag)."""
  if FLAGS.length < 1:
    raise ValueError(f"--length must be >= 1; got {FLAGS.length}")
  if not FLAGS.temperature >= 0 or FLAGS.temperature == float("inf"):
    raise ValueError(f"--temperature must be a finite number >= 0 (0: greedy); got "
                     f"{FLAGS.temperature}")
  if FLAGS.top_k < 0:
    raise ValueError(f"--top_k must be >= 0 (0: every token); got {FLAGS.top_k}")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  from experiments.lm.task import TASK  # pylint: disable=g-import-not-at-top
  from seqjax.train import trainer  # pylint: disable=g-import-not-at-top
  check_flags()
  # A missing workdir, another task's, no checkpoint or one that does not verify: one line.
  run = trainer.restore(TASK, FLAGS.workdir)
  vocab = Vocabulary.from_json(run.meta["vocab"])
  try:
    text = generate(run.model, run.params, vocab, run.config.data.tokenizer, prompt=FLAGS.prompt,
                    length=FLAGS.length, temperature=FLAGS.temperature, top_k=FLAGS.top_k,
                    seed=FLAGS.seed)
  except ValueError as e:  # a prompt token the vocabulary lacks (character models)
    raise ValueError(f"--prompt: {e}") from None
  print(text)


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "Directory of a trained LM (its best checkpoint is used).")
  flags.DEFINE_integer("length", 500, "Tokens to generate.")
  flags.DEFINE_string("prompt", "", "Text the sample continues.")
  flags.DEFINE_float("temperature", 0.8, "Sampling temperature; 0 is greedy.")
  flags.DEFINE_integer("top_k", 0, "Sample among the k most likely tokens; 0: all.")
  flags.DEFINE_integer("seed", 0, "Sampling seed.")
  flags.mark_flag_as_required("workdir")
  from experiments import common  # pylint: disable=g-import-not-at-top
  common.run(main)
