# photo2cad service image, built offline: `scripts/docker_build.sh` prepares the artefacts in build/docker
# (Debian .debs, a wheelhouse, the data `photo2cad setup` fetches) and runs `docker build`. No step below
# reaches the network, and the container needs none either: catalogue, weights and HDRIs are baked in,
# and the index is built at first start into the /data volume (see docker-compose.yml) and reused after.
ARG BASE=python:3.11-slim-bookworm

# -- build: installs everything into a copy of the base; the final stage flattens it into one layer, so
# the artefacts (wheels, .debs), removed here, take no room in the image.
FROM ${BASE} AS build
# OSMesa for headless rendering, from .debs downloaded on the host (apt-get install --download-only).
COPY build/docker/debs /tmp/debs
# hadolint ignore=DL3008
RUN apt-get install -y --no-install-recommends /tmp/debs/*.deb \
    && rm -rf /tmp/debs /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
# Pinned Python packages from the host's wheelhouse (pip download -r requirements.txt), into a venv:
# the same command works on the official python image and on a Debian python3 base.
COPY build/docker/wheels /tmp/wheels
COPY requirements.txt /app/requirements.txt
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels -r /app/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels --no-deps "PyOpenGL==3.1.10" \
       "setuptools>=68" \
    && rm -rf /tmp/wheels
# What `photo2cad setup` fetched on the host (catalogue, Debian packages, weights, ...). The index folder
# is a link into the /data volume, so that an image upgrade replaces the baked-in data while the index
# survives. The service user owns the baked data: the index build re-checks the catalogue and rewrites
# its catalogue.json (seen: "Permission denied: .../catalogue/.catalogue.json.tmp" when root owned it).
COPY build/docker/data /opt/photo2cad/data
RUN useradd --create-home --uid 10001 photo2cad \
    && mkdir -p /data && chown photo2cad:photo2cad /data \
    && rm -rf /opt/photo2cad/data/index && ln -s /data /opt/photo2cad/data/index \
    && chown -R photo2cad:photo2cad /opt/photo2cad/data
# The code last (one archive, unpacked by ADD: each layer is a full copy on the vfs storage driver), so
# that a change to it rebuilds only the last layers.
ADD build/docker/src.tar /app/
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-build-isolation --no-deps /app

# -- the image: one layer holding the built file system (copying it whole is the point: no artefacts left).
FROM scratch
# hadolint ignore=DL3067
COPY --from=build / /
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYOPENGL_PLATFORM=osmesa \
    PHOTO2CAD_DATA_DIR=/opt/photo2cad/data \
    OMP_NUM_THREADS=1
WORKDIR /home/photo2cad
USER 10001
VOLUME ["/data"]
EXPOSE 8000
# Healthy once the index is built and loaded (the server starts listening only then).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30m --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"]
CMD ["photo2cad", "serve", "--build-if-missing", "--host", "0.0.0.0", "--port", "8000"]
