"""Trains a visual question answering model on generated Sort-of-CLEVR: a Relation Network, the
CNN+MLP baseline or a stacked attention network, with 11-bit or English questions.

    python -m experiments.vqa.main --config=experiments/vqa/configs/rn.py --workdir=/tmp/rn

The dataset is generated and prepared once (``data.data_dir``, default ~/tensorflow_datasets).
A workdir that holds a checkpoint is resumed. ``experiments.vqa.predict`` answers a question
about an image file; ``experiments.vqa.view`` draws generated images with their questions.
"""

from experiments import common
from experiments.vqa.task import TASK

common.define_train_flags("VQA")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
