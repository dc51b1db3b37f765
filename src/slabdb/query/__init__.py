"""Similarity scores as Pinecone defines them, and top-k selection (:mod:`.scoring`).

Every source (memtable, slab) and every brute-force check scores through these
functions, so all of them rank identically.
"""
