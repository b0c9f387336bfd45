"""``sst2_bilstm``'s model trained on every labelled non-neutral phrase of the Stanford
Sentiment Treebank training trees (98,794, duplicates kept) and evaluated on the binary dev
(872) and test (1,821) sentences, the protocol of Kim (2014) and Tai et al. (2015; BiLSTM
87.5 test with GloVe vectors; this config has random embeddings). The treebank text is cased;
it is lowercased here. 5 epochs (1,543 steps each). Reproduction record:
experiments/sentiment/README.md.
"""

from experiments.sentiment.configs import sst2_bilstm


def get_config():
  c = sst2_bilstm.get_config()
  c.data.name = "sst_phrases"
  c.data.lowercase = True
  c.train.num_epochs = 5
  return c
