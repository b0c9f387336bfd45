"""Captions image files with a trained captioning workdir (its best checkpoint), and draws where
an attention model looked for every word.

    python -m experiments.caption.caption --workdir=/tmp/sat --image=a.png --image=b.jpg \\
        --out_dir=/tmp/sat_captions [--beam_size=3]

Prints one line per image: the caption, then the file. Images of any size and format Pillow
reads are resized (warped) to the model's input size. With ``--out_dir`` an attention model
(``attend_tell``) writes ``<image name>.attention.png`` per image: the image, then the attention
over it with which each word was written (Show, Attend and Tell's Figure 2).

    python -m experiments.caption.caption --save_scene=scene.png --split=test --index=3

writes a generated scene (``seqjax.data.captions``, nothing prepared) as a 64x64 PNG and prints
its reference captions.
"""

from __future__ import annotations

import os

from absl import flags, logging
import numpy as np

from experiments import common
from experiments.caption import task as caption_task
from seqjax import diagnostics
from seqjax.data import captions as data_lib
from seqjax.data.vocab import Vocabulary
from seqjax.train import trainer

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A trained captioning workdir.")
flags.DEFINE_multi_string("image", [], "An image file to caption (repeat the flag for more).")
flags.DEFINE_enum("checkpoint", "best", ["best", "last"], "Which checkpoint to use.")
flags.DEFINE_integer("beam_size", 1, "1: greedy decoding; more: beam search.")
flags.DEFINE_string("out_dir", None, "Attention models: write each image's per-word attention "
                    "strip here.")
flags.DEFINE_string("save_scene", None, "Write generated scene --index of --split as a PNG (and "
                    "print its references) instead of captioning.")
flags.DEFINE_enum("split", "test", list(data_lib.SPLIT_IDS), "--save_scene: the split.")
flags.DEFINE_integer("index", 0, "--save_scene: the image's number in the split.")


class Captioner:
  """A restored workdir; ``caption(images)``."""

  def __init__(self, workdir: str, which: str = "best", beam_size: int = 1):
    if beam_size < 1:
      raise ValueError(f"--beam_size must be >= 1; got {beam_size}")
    run = trainer.restore(caption_task.TASK, workdir, which)
    self.config, self.model, self.params = run.config, run.model, run.params
    self.vocab = Vocabulary.from_json(run.meta["vocab"])
    self.image_size = int(run.meta["image_size"])
    self.decoder = caption_task.make_decoder(
        run.model, beam_size=beam_size, max_len=run.config.data.max_length + 1,
        alpha=run.config.decode.alpha)

  def caption(self, images: np.ndarray) -> list[list[str]]:
    return caption_task.caption_images(self.decoder, self.params, images, len(images),
                                       self.vocab)

  def attention(self, image: np.ndarray, words: list[str]) -> np.ndarray:
    return caption_task.attention_weights(self.model, self.params, image, words, self.vocab)


def save_scene(path: str, split: str, index: int) -> None:
  if index < 0:
    common.fail(f"--index must be >= 0; got {index}")
  from PIL import Image  # pylint: disable=g-import-not-at-top
  e = data_lib.scene_example(data_lib.SCENE_CONFIGS["scene_captions"].seed,
                             data_lib.SPLIT_IDS[split], index)
  Image.fromarray(e["image"]).save(path)
  print(f"wrote {path}; its references:")
  print(e["captions"])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if FLAGS.save_scene:
    save_scene(FLAGS.save_scene, FLAGS.split, FLAGS.index)
    return
  if not FLAGS.workdir:
    common.fail("--workdir is required (or --save_scene)")
  if not FLAGS.image:
    common.fail("no images: give --image=FILE (repeat it for more)")
  try:
    model = Captioner(FLAGS.workdir, FLAGS.checkpoint, FLAGS.beam_size)
    if FLAGS.out_dir and model.config.model.kind != "attend_tell":
      raise ValueError(f"--out_dir: the model in {FLAGS.workdir} is a "
                       f"{model.config.model.kind!r} model, which has no attention maps")
    images = np.stack([data_lib.read_image(p, model.image_size) for p in FLAGS.image])
    captions = model.caption(images)
  except (ValueError, OSError) as e:
    common.fail(f"{common.one_line(e)}")
  for path, words in zip(FLAGS.image, captions):
    print(f"{' '.join(words)}\t{path}")
  if FLAGS.out_dir:
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    for path, image, words in zip(FLAGS.image, images, captions):
      out = os.path.join(FLAGS.out_dir, os.path.basename(path) + ".attention.png")
      diagnostics.plot_caption_attention(image, words + [caption_task.EOS],
                                         model.attention(image, words), out,
                                         title=" ".join(words))
      print(f"wrote {out}")


if __name__ == "__main__":
  common.run(main)
