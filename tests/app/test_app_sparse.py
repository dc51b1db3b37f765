"""The BM25 sparse encoder: exact names rank first, and its dot products are BM25 scores."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer

from slabdb.app.sparse import BM25Encoder, SparseValues, token_index

SAMPLE = [
    "libpq-dev: header files for libpq5 (PostgreSQL library)",
    "libpq5: PostgreSQL C client library",
    "postgresql-15: The World's Most Advanced Open Source Relational Database",
    "gimp: GNU Image Manipulation Program. Edit, enhance and retouch photos",
    "libpqxx-dev: C++ library to connect to PostgreSQL (development files)",
    "python3-psycopg2: Python 3 module for PostgreSQL, linked against libpq5 and libpq5 again",
    "vim: Vi IMproved - enhanced vi editor",
]


def dot(query: SparseValues, doc: SparseValues) -> float:
    weights = dict(zip(doc["indices"], doc["values"], strict=True))
    return sum(
        v * weights.get(i, 0.0) for i, v in zip(query["indices"], query["values"], strict=True)
    )


def ranking(encoder: BM25Encoder, docs: list[SparseValues], text: str) -> list[int]:
    query = encoder.encode_query(text)
    scores = [dot(query, d) for d in docs]
    return sorted(range(len(docs)), key=lambda i: -scores[i])


NAMES = [text.split(":")[0] for text in SAMPLE]


def test_exact_package_name_ranks_first() -> None:
    encoder = BM25Encoder.fit(SAMPLE, NAMES)
    docs = encoder.encode_documents(SAMPLE, NAMES)
    assert SAMPLE[ranking(encoder, docs, "libpq5")[0]].startswith("libpq5:")


def test_without_title_weight_a_description_repeating_the_name_wins() -> None:
    """Why titles are weighted: plain BM25 prefers the doc that says libpq5 twice."""
    encoder = BM25Encoder.fit(SAMPLE)
    docs = encoder.encode_documents(SAMPLE)
    assert SAMPLE[ranking(encoder, docs, "libpq5")[0]].startswith("python3-psycopg2:")


def test_titles_must_pair_with_texts() -> None:
    with pytest.raises(ValueError, match="titles"):
        BM25Encoder.fit(SAMPLE).encode_documents(SAMPLE, NAMES[:2])


def test_stemming_matches_word_forms() -> None:
    encoder = BM25Encoder.fit(SAMPLE)
    docs = encoder.encode_documents(SAMPLE)
    assert SAMPLE[ranking(encoder, docs, "editing photo")[0]].startswith("gimp:")


def test_raw_dot_products_equal_bm25s_lucene_scores() -> None:
    encoder = BM25Encoder.fit(SAMPLE)
    docs = encoder.encode_documents(SAMPLE)
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25(method="lucene", k1=encoder.stats.k1, b=encoder.stats.b)
    retriever.index(
        bm25s.tokenize(SAMPLE, stemmer=stemmer, show_progress=False), show_progress=False
    )
    for text in ("libpq5", "postgresql library", "photos editor"):
        ours = [dot(encoder.encode_query(text, normalize=False), d) for d in docs]
        theirs = retriever.get_scores(
            bm25s.tokenize(text, stemmer=stemmer, return_ids=False, show_progress=False)[0]
        )
        np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_normalised_query_scores_stay_below_one() -> None:
    encoder = BM25Encoder.fit(SAMPLE)
    docs = encoder.encode_documents(SAMPLE)
    scores = [dot(encoder.encode_query("libpq5 postgresql"), d) for d in docs]
    assert max(scores) > 0
    assert all(0 <= s < 1 for s in scores)


def test_unknown_words_get_the_highest_idf() -> None:
    encoder = BM25Encoder.fit(SAMPLE)
    assert encoder.stats.idf(token_index("zyzzyva")) > encoder.stats.idf(token_index("librari"))


def test_text_without_tokens_encodes_empty() -> None:
    encoder = BM25Encoder.fit(SAMPLE)
    assert encoder.encode_query("the a of") == {"indices": [], "values": []}
    assert encoder.encode_documents([""]) == [{"indices": [], "values": []}]


def test_statistics_round_trip_through_a_file(tmp_path: Path) -> None:
    encoder = BM25Encoder.fit(SAMPLE)
    path = tmp_path / "stats.json.gz"
    encoder.save(path)
    again = BM25Encoder.load(path)
    assert again.stats == encoder.stats
    assert again.encode_documents(SAMPLE) == encoder.encode_documents(SAMPLE)


def test_unknown_statistics_version_is_refused() -> None:
    raw = BM25Encoder.fit(SAMPLE).to_json()
    raw["version"] = 99
    with pytest.raises(ValueError, match="version"):
        BM25Encoder.from_json(raw)
