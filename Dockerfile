# photo2cad service image. Build: docker build -t photo2cad .
# The default catalogue, HDRIs and offline weights are fetched at build time (Debian and npm packages);
# the index is built at first start into the /data volume (see docker-compose.yml) and reused after.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PYOPENGL_PLATFORM=osmesa \
    PHOTO2CAD_DATA_DIR=/data \
    OMP_NUM_THREADS=1

# OSMesa for headless rendering; npm to fetch the offline Inception v3 weights (nsfwjs package).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libosmesa6 libgl1 npm ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps "PyOpenGL==3.1.10"
COPY pyproject.toml README.md ./
COPY app ./app
COPY models ./models
COPY render ./render
COPY catalogue ./catalogue
COPY index ./index
COPY evaluation ./evaluation
RUN pip install --no-deps .

RUN useradd --create-home --uid 10001 photo2cad \
    && mkdir -p /data && chown photo2cad:photo2cad /data
# apt-get download needs package lists at setup time; keep them for the first-start setup.
# hadolint ignore=DL3009
RUN apt-get update
USER 10001
# Weights are baked into the image (a separate folder, so that the /data volume does not hide them).
ENV PHOTO2CAD_WEIGHTS_DIR=/home/photo2cad/weights
RUN python -c "from pathlib import Path; from models.weights import prepare_weights; \
[prepare_weights(b, Path('/home/photo2cad/weights')) for b in ('efficientnet_lite0', 'inception_v3')]"

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30m --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8000/api/health"]
CMD ["photo2cad", "serve", "--build-if-missing", "--host", "0.0.0.0", "--port", "8000"]
