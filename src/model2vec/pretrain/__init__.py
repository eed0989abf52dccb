"""Pre-training (tokenlearn): fit a static model to a teacher's sentence embeddings of a corpus.

Steps, each usable alone: `read_corpus` (a deterministic stream of paragraphs), `featurize`
(teacher vectors in resumable shards), `frequent_new_words` (optional vocabulary extension),
`fit_to_targets` (train the table and per-token weights), `reregularize` (PCA + SIF weights from
corpus counts); `pretrain` runs them all. `align_parallel` / `read_pairs` / `translation_targets`
turn parallel text into targets that align languages; `remove_language_subspace` projects the
directions that separate languages out of a table. Needs the `pretrain` extra (torch, transformers).
"""

from model2vec.pretrain.corpus import read_corpus, read_tagged_corpus, sentences_by_language
from model2vec.pretrain.featurize import featurize, read_features, read_shard
from model2vec.pretrain.language_subspace import remove_language_subspace
from model2vec.pretrain.parallel import align_parallel, read_pairs, translation_targets
from model2vec.pretrain.pipeline import PretrainConfig, pretrain
from model2vec.pretrain.reregularize import reregularize
from model2vec.pretrain.train import Loss, TrainConfig, TrainResult, fit_to_targets
from model2vec.pretrain.vocabulary import count_words, frequent_new_words

__all__ = [
    "Loss",
    "PretrainConfig",
    "TrainConfig",
    "TrainResult",
    "align_parallel",
    "count_words",
    "featurize",
    "fit_to_targets",
    "frequent_new_words",
    "pretrain",
    "read_corpus",
    "read_features",
    "read_pairs",
    "read_shard",
    "read_tagged_corpus",
    "remove_language_subspace",
    "reregularize",
    "sentences_by_language",
    "translation_targets",
]
