"""Draws generated Sort-of-CLEVR images with their questions and answers, so the generator can be
checked by eye; or saves one image as a PNG for ``experiments.vqa.predict``.

    python -m experiments.vqa.view --out=sort_of_clevr.png --split=train --images=8
    python -m experiments.vqa.view --save_image=scene.png --split=test --index=3

Images are drawn straight from the generator (``seqjax.data.clevr.example``, the same pure
function of the seed the TFDS builder stores), so nothing needs preparing.
"""

from __future__ import annotations

from absl import flags
from experiments import common
from seqjax.data import clevr

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "sort_of_clevr", sorted(clevr.CONFIGS), "Which generated set.")
flags.DEFINE_enum("split", "train", sorted(clevr.SPLIT_IDS), "Which split.")
flags.DEFINE_integer("index", 0, "The first image.")
flags.DEFINE_integer("images", 8, "How many images in the grid.")
flags.DEFINE_integer("questions", 4, "Questions shown per image (of 20; half relational).")
flags.DEFINE_string("out", None, "The PNG grid to write.")
flags.DEFINE_string("save_image", None, "Write image --index alone as a 75x75 PNG, and print "
                    "its 20 questions with their answers.")


def main(argv):
  del argv
  if not FLAGS.out and not FLAGS.save_image:
    common.fail("give --out=GRID.png, --save_image=IMAGE.png or both")
  if FLAGS.images < 1 or not 1 <= FLAGS.questions <= 20 or 20 % FLAGS.questions:
    common.fail("--images must be >= 1 and --questions one of 1, 2, 4, 5, 10, 20")
  total = getattr(clevr.CONFIGS[FLAGS.dataset], FLAGS.split)
  last = FLAGS.index + (FLAGS.images if FLAGS.out else 1)
  if FLAGS.index < 0 or last > total:
    common.fail(f"--index={FLAGS.index} with --images={FLAGS.images}: the {FLAGS.dataset} "
                f"{FLAGS.split} split has {total} images")
  try:
    if FLAGS.save_image:
      data = clevr.generated(FLAGS.dataset, FLAGS.split, FLAGS.index, 1)
      import matplotlib.image  # pylint: disable=g-import-not-at-top
      matplotlib.image.imsave(FLAGS.save_image, data.images[0])
      for q, a in zip(data.questions(0), data.answer[0]):
        print(f"{clevr.ANSWERS[a]}\t{clevr.question_text(q)}")
      print(f"wrote {FLAGS.save_image}")
    if FLAGS.out:
      data = clevr.generated(FLAGS.dataset, FLAGS.split, FLAGS.index, FLAGS.images)
      clevr.grid_figure(data, list(range(len(data))), FLAGS.out,
                        questions_per_image=FLAGS.questions, first=FLAGS.index,
                        title=f"{FLAGS.dataset} {FLAGS.split}, images {FLAGS.index}-"
                              f"{FLAGS.index + len(data) - 1}")
      print(f"wrote {FLAGS.out}")
  except (ValueError, OSError) as e:
    common.fail(common.one_line(e))


if __name__ == "__main__":
  common.run(main)
