# syntax=docker/dockerfile:1
#
# CAST: one image for nginx with ngx_http_cast_module and the daemons
# (cast-ticketd, cast-relay, cast-persister, cast-admin).  The command picks
# the process: "nginx" (the default) or a daemon name; see
# k8s/image/cast-entrypoint.
#
# The module must be built against the very nginx that runs it.  The build
# stage installs nginx and nginx-dev in one apt transaction (nginx-dev
# depends on exactly its own nginx version), builds the module from that
# package's /usr/share/nginx/src, and keeps the two nginx packages it
# installed; the runtime stage installs those same .deb files, whatever
# revision Debian serves that day, and refuses to finish unless nginx loads
# the module.  Nothing is pinned to a Debian revision, so a security update
# of nginx never breaks the build; it only changes what both stages get.
# The libraries are not pinned either (hadolint DL3008): their ABI is fixed
# within the Debian release.

ARG DEBIAN_IMAGE=debian:12.11-slim

FROM ${DEBIAN_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /debs
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential nginx nginx-dev \
        libhiredis-dev librdkafka-dev libpq-dev libcjson-dev libssl-dev \
        libpcre2-dev zlib1g-dev \
    && apt-get download \
        "nginx=$(dpkg-query -W -f='${Version}' nginx)" \
        "nginx-common=$(dpkg-query -W -f='${Version}' nginx-common)" \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" all NGINX_SRC=/usr/share/nginx/src \
    && test -f build/ngx_http_cast_module.so \
    && ls build/bin/cast-*

FROM ${DEBIAN_IMAGE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --from=build /debs/ /tmp/debs/
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        /tmp/debs/nginx_*.deb /tmp/debs/nginx-common_*.deb \
        libhiredis0.14 librdkafka1 libpq5 libcjson1 libssl3 \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/* /tmp/debs \
    && groupadd --system --gid 10001 cast \
    && useradd --system --uid 10001 --gid cast --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin cast \
    && mkdir -p /var/lib/cast/nginx /etc/cast/secret \
    && chown -R cast:cast /var/lib/cast
COPY --from=build /src/build/ngx_http_cast_module.so \
     /usr/lib/nginx/modules/ngx_http_cast_module.so
COPY --from=build /src/build/bin/ /usr/local/bin/
# the proof that the module fits this nginx: it is loaded once here
RUN printf '%s\n' \
        'load_module /usr/lib/nginx/modules/ngx_http_cast_module.so;' \
        'events {}' >/tmp/load.conf \
    && nginx -t -q -e stderr -p /tmp/ -c /tmp/load.conf -g 'pid /tmp/t.pid;' \
    && rm -f /tmp/load.conf /tmp/t.pid
# The Redis function library and conf/migrations belong to the code: the
# daemons' relative paths (lib/redis/cast.lua) resolve from the working
# directory /usr/share/cast.  /etc/cast holds the settings, replaced by the
# ConfigMap in Kubernetes.  The pages are /usr/share/cast/html.
COPY lib/redis/ /usr/share/cast/lib/redis/
COPY conf/ /usr/share/cast/conf/
# html/static/vendor/ is in the build context already: make deps
# (scripts/web-assets.sh) installed the pinned npm files there on the host,
# so the image build fetches nothing (no registry is needed inside it).
COPY html/ /usr/share/cast/html/
RUN test -s /usr/share/cast/html/static/vendor/graphiql.min.js \
    || { echo 'html/static/vendor is empty: run make deps first' >&2; \
         exit 1; }
COPY k8s/base/files/ /etc/cast/
COPY k8s/image/cast-entrypoint /usr/local/bin/cast-entrypoint
USER 10001:10001
WORKDIR /usr/share/cast
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cast-entrypoint"]
CMD ["nginx"]
