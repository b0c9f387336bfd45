"""Visual question answering: an image and a question in, answer logits out.

- ``ConvEncoder`` (``seqjax.nn.vision``): the Relation Networks paper's image encoder (Santoro
  et al. 2017): four 3x3 convolutions of stride 2 with ReLU; a 75x75 image becomes a 5x5 map
  whose 25 cells are the "objects", each tagged with its (x, y) position (``objects``).
- ``RelationHead``: g_theta over every ordered pair of objects, conditioned on the question,
  summed over pairs (or averaged: ``reduce="mean"``, the same function with f's first layer
  scaled by 1/N^2, which keeps f's inputs O(1) at initialisation), then f_phi (``AnswerHead``). The first layer of g on ``[o_i; o_j; q]`` is
  computed as ``W_i o_i + W_j o_j + W_q q`` (the same function, without materialising the
  concatenations), so g's cost is in its later layers.
- ``MLPHead``: the paper's CNN+MLP baseline, the flattened feature map joined with the question.
- ``StackedAttentionHead``: Yang et al. (2016): the question vector queries the image regions;
  each of ``num_layers`` attention layers adds the attended region vector to the query.
- ``QuestionEncoder``: a question as the paper's vector (used as it is), or as tokens through an
  embedding and any seqjax RNN (``RNNSpec``), whose output at each question's last word is the
  question vector (padding past the length changes nothing).

``VQAModel`` joins them: ``kind`` is ``"rn"``, ``"cnn_mlp"`` or ``"san"``; ``question`` is
``"vector"`` or ``"text"``. Every head ends in the same answer MLP (``answer_head``: ReLU
layers, dropout before the output), so the heads differ only in how image and question meet.
"""

from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax import masks
from seqjax.nn.layers import TokenEmbed, last_step
from seqjax.nn.rnn import DeepRNN, RNNSpec
from seqjax.nn import vision
from seqjax.nn.vision import ConvEncoder, objects

KINDS = ("rn", "cnn_mlp", "san")
NORMS = vision.BATCH_NORMS
QUESTION_FORMS = ("vector", "text")
REDUCES = ("sum", "mean")


class AnswerHead(nn.Module):
  """f: ReLU layers of ``sizes``, dropout on the last hidden layer, then the answer logits (the
  paper's f_phi: 256, 256 with 50% dropout, answers)."""
  sizes: Sequence[int]
  num_answers: int
  dropout_rate: float = 0.5

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    for k, size in enumerate(self.sizes):
      x = nn.relu(nn.Dense(size, name=f"layer_{k}")(x))
    x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    return nn.Dense(self.num_answers, name="output")(x)


class RelationHead(nn.Module):
  """``(objects [B, N, D], question [B, Q]) -> summed g over the N^2 ordered pairs [B, G]``:
  ``g(o_i, o_j, q)`` is an MLP of ReLU layers ``g_sizes`` on ``[o_i; o_j; q]``; ``reduce``
  ``"sum"`` (the paper) or ``"mean"`` over the pairs."""
  g_sizes: Sequence[int] = (256, 256, 256, 256)
  reduce: str = "mean"

  @nn.compact
  def __call__(self, objs: jax.Array, question: jax.Array) -> jax.Array:
    first = self.g_sizes[0]
    a = nn.Dense(first, use_bias=False, name="g_0_i")(objs)  # [B, N, G]
    b = nn.Dense(first, use_bias=False, name="g_0_j")(objs)
    c = nn.Dense(first, name="g_0_q")(question)  # [B, G] (the layer's bias)
    if self.reduce not in REDUCES:
      raise ValueError(f"RelationHead: reduce must be one of {list(REDUCES)}; got "
                       f"{self.reduce!r}")
    bsz, n = objs.shape[:2]
    h = nn.relu(a[:, :, None, :] + b[:, None, :, :] + c[:, None, None, :])  # [B, N, N, G]
    # g's later layers as products over the B N^2 rows: with their gradient, 1.4x faster on
    # XLA:CPU than on the 4-D array, a training step 1.15-1.18x (benchmarks/relation_speed.py)
    h = h.reshape(bsz * n * n, first)
    for k, size in enumerate(self.g_sizes[1:], start=1):
      h = nn.relu(nn.Dense(size, name=f"g_{k}")(h))
    h = h.reshape(bsz, n * n, h.shape[-1])
    return jnp.sum(h, axis=1) if self.reduce == "sum" else jnp.mean(h, axis=1)


class StackedAttentionHead(nn.Module):
  """Yang et al. (2016): regions ``v_i = tanh(W objects_i)`` of size ``size``; the question
  ``u_0 = W_q q``; layer ``k``: ``h = tanh(W_I v + (W_Q u_{k-1} + b))``, ``p = softmax(W_P h)``
  over regions, ``u_k = sum_i p_i v_i + u_{k-1}``. Returns ``(u_K [B, size], attention
  [B, K, N])``."""
  size: int = 256
  attention_size: int = 256
  num_layers: int = 2

  @nn.compact
  def __call__(self, objs: jax.Array, question: jax.Array) -> tuple[jax.Array, jax.Array]:
    v = jnp.tanh(nn.Dense(self.size, name="regions")(objs))  # [B, N, d]
    u = nn.Dense(self.size, name="query")(question)  # [B, d]
    maps = []
    for k in range(self.num_layers):
      hv = nn.Dense(self.attention_size, use_bias=False, name=f"att_{k}_image")(v)
      hq = nn.Dense(self.attention_size, name=f"att_{k}_question")(u)
      h = jnp.tanh(hv + hq[:, None, :])
      p = jax.nn.softmax(nn.Dense(1, name=f"att_{k}_score")(h)[..., 0], axis=-1)  # [B, N]
      u = jnp.einsum("bn,bnd->bd", p, v) + u
      maps.append(p)
    return u, jnp.stack(maps, axis=1)


class QuestionEncoder(nn.Module):
  """``"vector"``: the question vector as it is. ``"text"``: ``tokens [B, L]`` with ``lengths``
  -> embedding -> ``DeepRNN(rnn)`` -> the output at each question's last word ``[B, H]``."""
  form: str = "vector"
  vocab_size: int = 0
  embed_size: int = 32
  rnn: RNNSpec = RNNSpec(cell="lstm", hidden_size=128)

  @nn.compact
  def __call__(self, question: jax.Array, lengths: Optional[jax.Array],
               deterministic: bool) -> jax.Array:
    if self.form == "vector":
      return question.astype(jnp.float32)
    if lengths is None:
      raise ValueError("QuestionEncoder: text questions need their lengths")
    if self.rnn.bidirectional:
      raise ValueError("QuestionEncoder: the question RNN must be unidirectional (its last "
                       "output summarises the question)")
    mask = masks.length_mask(lengths, question.shape[1])
    x = TokenEmbed(self.vocab_size, self.embed_size, name="embed")(question, mask, deterministic)
    ys, _ = DeepRNN(self.rnn, name="rnn")(x, lengths=lengths, deterministic=deterministic)
    return last_step(ys, lengths)


class VQAModel(nn.Module):
  """``(images [B, 75, 75, 3], questions [B, q, ...], lengths [B, q]) -> answer logits
  [B, q, num_answers]``: ``q`` questions about each image, the image encoded once for all of
  them (a question is ``[11]`` floats in the vector form, ``[L]`` token ids in the text form,
  where ``lengths`` are needed). With ``return_attention`` also the SAN's attention maps
  ``[B, q, K, N]`` (``None`` for other kinds).

  Attributes:
    kind: ``"rn"`` (Relation Network), ``"cnn_mlp"`` (the paper's baseline) or ``"san"``
      (stacked attention).
    question: ``"vector"`` or ``"text"`` (see ``QuestionEncoder``).
    num_answers: the answer vocabulary.
    channels, norm, invert: the ``ConvEncoder`` (``norm="batch"`` gives the model state: apply
      it with ``{"params": ..., "batch_stats": ...}``, and while training, not
      ``deterministic``, with ``mutable=["batch_stats"]``; ``image_mask [B]`` then leaves filler
      images out of the batch statistics).
    g_sizes, pair_reduce: RN's g and how its pairs are pooled. mlp_size: CNN+MLP's first layer. san_size, san_layers: the SAN.
    f_sizes, dropout_rate: the answer head shared by every kind.
    vocab_size, embed_size, rnn: the text question encoder.
  """
  kind: str = "rn"
  question: str = "vector"
  num_answers: int = 12
  channels: Sequence[int] = (24, 24, 24, 24)
  norm: str = "none"
  invert: bool = False
  g_sizes: Sequence[int] = (256, 256, 256, 256)
  pair_reduce: str = "mean"
  mlp_size: int = 256
  san_size: int = 256
  san_layers: int = 2
  f_sizes: Sequence[int] = (256, 256)
  dropout_rate: float = 0.5
  vocab_size: int = 0
  embed_size: int = 32
  rnn: RNNSpec = RNNSpec(cell="lstm", hidden_size=128)

  @nn.compact
  def __call__(self, images: jax.Array, question: jax.Array,
               lengths: Optional[jax.Array] = None, *, deterministic: bool = True,
               return_attention: bool = False, image_mask: Optional[jax.Array] = None):
    if self.kind not in KINDS:
      raise ValueError(f"VQAModel: kind must be one of {list(KINDS)}; got {self.kind!r}")
    if self.question not in QUESTION_FORMS:
      raise ValueError(f"VQAModel: question must be one of {list(QUESTION_FORMS)}; got "
                       f"{self.question!r}")
    if question.ndim != 3 or question.shape[0] != images.shape[0]:
      raise ValueError(f"VQAModel: {self.question} questions must be [B, q, "
                       f"{'11' if self.question == 'vector' else 'L'}] for images [B, ...]; got "
                       f"{question.shape} for {images.shape}")
    b, nq = question.shape[:2]
    fmap = ConvEncoder(tuple(self.channels), self.norm, self.invert, name="encoder")(
        images, train=not deterministic, mask=image_mask)
    fmap = jnp.repeat(fmap, nq, axis=0)  # [B q, h, w, C]: one image encoding per question
    flat = question.reshape((b * nq,) + question.shape[2:])
    flat_lengths = None if lengths is None else lengths.reshape(b * nq)
    q = QuestionEncoder(self.question, self.vocab_size, self.embed_size, self.rnn,
                        name="question")(flat, flat_lengths, deterministic)
    attention = None
    if self.kind == "rn":
      x = RelationHead(tuple(self.g_sizes), self.pair_reduce, name="relation")(objects(fmap), q)
    elif self.kind == "cnn_mlp":
      flat = fmap.reshape(fmap.shape[0], -1)
      x = nn.relu(nn.Dense(self.mlp_size, name="mlp")(jnp.concatenate([flat, q], axis=-1)))
    else:
      x, attention = StackedAttentionHead(self.san_size, self.san_size, self.san_layers,
                                          name="san")(objects(fmap), q)
    logits = AnswerHead(tuple(self.f_sizes), self.num_answers, self.dropout_rate,
                        name="answer")(x, deterministic).reshape(b, nq, self.num_answers)
    if not return_attention:
      return logits
    return logits, None if attention is None else attention.reshape((b, nq) + attention.shape[1:])
