"""HTTP serving of a `StaticModel`: OpenAI-compatible embeddings, index search, health.

Needs the `serve` extra (`pip install "model2vec[serve]"`: FastAPI and uvicorn). This package imports
neither on import, so the `model2vec` command can register `serve` cheaply; import
`model2vec.serve.app` for `create_app` and `ServeLimits`.
"""
