# Debian's nginx for docker-compose.replicas.yml, built offline like the service image:
# LB=1 scripts/docker_build.sh (the .debs come from the host, build/docker/lb-debs).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
COPY build/docker/lb-debs /tmp/debs
# hadolint ignore=DL3008
RUN apt-get install -y --no-install-recommends /tmp/debs/*.deb \
    && rm -rf /tmp/debs /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
EXPOSE 8080
CMD ["nginx", "-g", "daemon off;"]
