"""``benchmarks/relation_speed.py``: the 4-D g it times against the rows is the same function
with the same parameters as ``RelationHead`` (so the comparison is of layouts only), the 4-D
layout is what its training step really compiles, a dry run prints both layouts of every case,
bad flags are one line and exit 2, and a 4-D head that computed another function would be
refused before any timing."""

import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from benchmarks import relation_speed
from seqjax.nn import vqa


def test_the_4d_head_is_relation_head_with_the_same_parameters():
  rng = np.random.default_rng(0)
  objs = rng.normal(size=(3, 6, 5)).astype(np.float32)
  q = rng.normal(size=(3, 4)).astype(np.float32)
  for reduce in vqa.REDUCES:
    rows = vqa.RelationHead((8, 7, 6), reduce)
    four = relation_speed.FourDRelationHead((8, 7, 6), reduce)
    p = rows.init(jax.random.key(0), objs, q)
    jax.tree.map(np.testing.assert_array_equal, four.init(jax.random.key(0), objs, q), p)
    np.testing.assert_allclose(np.asarray(four.apply(p, objs, q)),
                               np.asarray(rows.apply(p, objs, q)), rtol=1e-5, atol=1e-6)


def test_the_4d_layout_is_what_the_model_traces():
  c = relation_speed.config_of("rn_bn", tiny=True)
  model = relation_speed.vqa_task.TASK.model(c, None)
  images = np.zeros((2, 75, 75, 3), np.uint8)
  questions = np.zeros((2, 1, 11), np.float32)
  shapes = {}
  for how in relation_speed.LAYOUTS:
    with relation_speed.layout(how):
      v = model.init(jax.random.key(0), images, questions)
      shapes[how] = str(jax.make_jaxpr(lambda v: model.apply(v, images, questions))(v))
  assert vqa.RelationHead is not relation_speed.FourDRelationHead  # restored
  assert "f32[1250,8]" in shapes["rows"] and "f32[1250,8]" not in shapes["4d"]  # 2 x 625 pairs
  assert "f32[2,25,25,8]" in shapes["4d"]


@pytest.mark.slow
def test_a_dry_run_times_both_layouts_of_every_case():
  out = subprocess.run([sys.executable, "-m", "benchmarks.relation_speed", "--tiny",
                        "--rounds", "1", "--calls", "1"], capture_output=True, text=True,
                       check=True).stdout
  for case in ("rn_bn", "rn_bn_g256", "g_pairs"):
    block = out.split(f"\n{case}:")[1].split("\n\n")[0]
    assert re.search(r"first values agree to \d\.\de[-+]\d\d", block)
    for how in relation_speed.LAYOUTS:
      assert re.search(rf"\n  {how} +\d+\.\d\d ms a step", block), block


@pytest.mark.parametrize("flags,message", [
    (["--only", "rn,rn_bn"], "error: --only=rn,rn_bn: no case 'rn'; the cases are rn_bn, "
                             "rn_bn_g256, g_pairs"),
    (["--rounds", "0"], "error: --rounds=0: must be at least 1"),
    (["--calls", "-1"], "error: --calls=-1: must be at least 1"),
])
def test_bad_flags_are_one_line_and_exit_2(flags, message):
  r = subprocess.run([sys.executable, "-m", "benchmarks.relation_speed"] + flags,
                     capture_output=True, text=True)
  assert r.returncode == 2 and r.stdout == ""
  assert r.stderr.strip() == message


def test_a_layout_that_computes_another_function_is_refused(monkeypatch, capsys):
  class Wrong(relation_speed.FourDRelationHead):  # the fault: g's output doubled

    def __call__(self, objs, question):
      return 2.0 * super().__call__(objs, question)
  monkeypatch.setattr(relation_speed, "FourDRelationHead", Wrong)
  rc = relation_speed.main(["--tiny", "--only", "g_pairs", "--rounds", "1", "--calls", "1"])
  err = capsys.readouterr().err
  assert rc == 1
  assert re.fullmatch(r"error: g_pairs: rows computes \S+ where 4d computes \S+; not the same "
                      r"function\n", err), err
