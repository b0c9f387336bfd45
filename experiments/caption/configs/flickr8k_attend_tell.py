"""Show, Attend and Tell on Flickr8k (needs the real data; nothing is downloaded):

    python -m experiments.caption.main --config=experiments/caption/configs/flickr8k_attend_tell.py \\
        --config.data.manual_dir=/path/to/flickr8k --workdir=/tmp/flickr8k_sat

``data.manual_dir`` holds ``Flickr8k.token.txt``, ``Flickr_8k.trainImages.txt``,
``Flickr_8k.devImages.txt``, ``Flickr_8k.testImages.txt`` and the folder ``Flicker8k_Dataset/``
(the contents of Flickr8k_text.zip and Flickr8k_Dataset.zip). Images are prepared at 128x128.
The encoder is trained from scratch (the paper used a pre-trained VGG: no pre-trained CNN is
available here), so expect scores well below the paper's (BLEU-4 19.5, soft attention). Words
seen fewer than 5 times become <unk>, as in the paper's preprocessing. Not run here (the data is
not on this machine); the tests run it end to end on a generated set in the same format."""

from experiments.caption.configs import base


def get_config():
  c = base.get_config()
  c.data.name = "flickr8k"
  c.data.min_count = 5
  c.data.max_length = 30
  c.model.kind = "attend_tell"
  c.model.channels = (32, 64, 128, 256)  # 128x128 -> an 8x8 map of 256 features
  c.model.norm = "instance"
  c.model.invert = False
  c.model.embed_size = 256
  c.model.rnn.hidden_size = 512
  c.train.num_epochs = 20
  c.train.batch_size = 64
  c.train.patience = 4
  c.train.best_metric = "bleu4"
  c.optimizer.learning_rate = 4e-4
  return c
