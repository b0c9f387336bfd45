"""``python -m seqjax.kernels``: build the oneDNN extension (if needed) and say where it is."""

import sys

from seqjax.recurrence import onednn

if __name__ == "__main__":
  sys.exit(onednn.main(sys.argv[1:]))
