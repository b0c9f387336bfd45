"""Trains an image captioning model: Show and Tell or Show, Attend and Tell, on generated scenes
or on Flickr8k/30k/COCO.

    python -m experiments.caption.main --config=experiments/caption/configs/scenes_attend_tell.py \\
        --workdir=/tmp/sat

Generated scenes are prepared once (``data.data_dir``, default ~/tensorflow_datasets); real
datasets need ``--config.data.manual_dir``. A workdir that holds a checkpoint is resumed.
``experiments.caption.caption`` captions image files with a trained workdir.
"""

from experiments import common
from experiments.caption.task import TASK

common.define_train_flags("caption")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
