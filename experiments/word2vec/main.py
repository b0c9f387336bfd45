"""Trains word2vec (skip-gram or CBOW with negative sampling).

    python -m experiments.word2vec.main --config=experiments/word2vec/configs/ptb_skipgram.py \
        --workdir=/tmp/w2v [--config.data.manual_dir=../shared/data/ptb]

Writes ``vectors.txt`` (word2vec text format) and ``neighbours.txt`` to the workdir; a workdir
that holds a checkpoint is resumed. Use the vectors in the sentiment experiment with
``--config.data.pretrained_vectors=/tmp/w2v/vectors.txt``.
"""

from experiments import common
from experiments.word2vec.task import TASK

common.define_train_flags("word2vec")
main = common.train_main(TASK)

if __name__ == "__main__":
  common.run(main)
