# syntax=docker/dockerfile:1
#
# CAST: one image for nginx with ngx_http_cast_module and the daemons
# (cast-ticketd, cast-relay, cast-persister, cast-admin).  The command picks
# the process: "nginx" (the default) or a daemon name; see
# k8s/image/cast-entrypoint.
#
# The module must be built against the very nginx that runs it: both stages
# use the same Debian release and install the same pinned nginx version.
# When Debian publishes a newer nginx the old one leaves the archive; build
# with --build-arg NGINX_VERSION=<apt-cache policy nginx> to follow it.
# The libraries are not pinned (hadolint DL3008): their ABI is fixed within
# the Debian release, and a pin would only break when a security update
# replaces the pinned version in the archive.

ARG DEBIAN_IMAGE=debian:12.11-slim
ARG NGINX_VERSION=1.22.1-9+deb12u11

FROM ${DEBIAN_IMAGE} AS build
ARG NGINX_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential \
        "nginx=${NGINX_VERSION}" "nginx-common=${NGINX_VERSION}" \
        "nginx-dev=${NGINX_VERSION}" \
        libhiredis-dev librdkafka-dev libpq-dev libcjson-dev libssl-dev \
        libpcre2-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" all \
    && test -f build/ngx_http_cast_module.so \
    && ls build/bin/cast-*

FROM ${DEBIAN_IMAGE}
ARG NGINX_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        "nginx=${NGINX_VERSION}" "nginx-common=${NGINX_VERSION}" \
        libhiredis0.14 librdkafka1 libpq5 libcjson1 libssl3 \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 cast \
    && useradd --system --uid 10001 --gid cast --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin cast \
    && mkdir -p /var/lib/cast/nginx /etc/cast/secret \
    && chown -R cast:cast /var/lib/cast
COPY --from=build /src/build/ngx_http_cast_module.so \
     /usr/lib/nginx/modules/ngx_http_cast_module.so
COPY --from=build /src/build/bin/ /usr/local/bin/
# The Redis function library and conf/migrations belong to the code: the
# daemons' relative paths (lib/redis/cast.lua) resolve from the working
# directory /usr/share/cast.  /etc/cast holds the settings, replaced by the
# ConfigMap in Kubernetes.
COPY lib/redis/ /usr/share/cast/lib/redis/
COPY conf/ /usr/share/cast/conf/
COPY k8s/base/files/ /etc/cast/
COPY k8s/image/cast-entrypoint /usr/local/bin/cast-entrypoint
USER 10001:10001
WORKDIR /usr/share/cast
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cast-entrypoint"]
CMD ["nginx"]
