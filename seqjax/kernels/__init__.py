"""C++ sources of seqjax's optional compiled kernels (built on first use; see
``seqjax.recurrence.onednn``). ``python -m seqjax.kernels`` builds them and reports."""
