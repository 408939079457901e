# smtpgate container image (docs/deployment.md, "The container image").
#
#   scripts/container-base.sh          # debian:12 and debian:12-slim from
#                                      # Debian's packages, when no image
#                                      # registry is reachable
#   docker build --network host -t smtpgate .
#   docker run -d --name smtpgate --network container:app \
#       -v $PWD/smtpgate.ini:/etc/smtpgate/smtpgate.ini:ro \
#       -v $PWD/upstream.pass:/run/secrets/smtpgate/upstream.pass:ro \
#       smtpgate
#
# Runs as smtpgate, UID 10025 and GID 10025: give mounted secret files to
# that owner with mode 0600.  Configuration is mounted files only (the
# built-in one is etc/container/smtpgate.ini); no environment variables.
# tests/container/run.sh builds this image and relays a message through it.

# ---- build stage: only what compiling needs (no test or bench tools)
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build \
    && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGW_TESTS=OFF -DGW_WERROR=ON \
    && cmake --build build -j "$(nproc)" --target smtpgate \
    && strip --strip-unneeded build/smtpgate \
    && build/smtpgate --version

# ---- runtime stage: the binary, its shared libraries, the configuration
FROM debian:12-slim
COPY scripts/install-deps.sh /tmp/install-deps.sh
# A fixed UID/GID, so that secret files on the host or in a Kubernetes
# Secret can be given to it.  The spool directory takes the messages that
# must be whole before they go (DKIM, long_lines = encode, stream_data =
# no) once they outgrow memory; the files are unlinked at once.
RUN bash /tmp/install-deps.sh --runtime \
    && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
    && groupadd --gid 10025 smtpgate \
    && useradd --uid 10025 --gid 10025 --home-dir /nonexistent \
       --no-create-home --shell /usr/sbin/nologin smtpgate \
    && install -d -o 10025 -g 10025 -m 0700 /var/spool/smtpgate \
    && install -d -m 0755 /etc/smtpgate /run/secrets/smtpgate
COPY --from=build /src/build/smtpgate /usr/local/sbin/smtpgate
COPY etc/container/smtpgate.ini /etc/smtpgate/smtpgate.ini
COPY etc/smtpgate.ini /usr/local/share/doc/smtpgate/smtpgate.ini.example
COPY deploy/container/healthcheck.sh /usr/local/bin/smtpgate-healthcheck
RUN chmod 0644 /etc/smtpgate/smtpgate.ini \
    && chmod 0755 /usr/local/bin/smtpgate-healthcheck \
    && /usr/local/sbin/smtpgate --version
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    TMPDIR=/var/spool/smtpgate
VOLUME ["/var/spool/smtpgate"]
USER 10025:10025
EXPOSE 2525
# GET /healthz on [gateway] http_listen (the built-in configuration:
# 127.0.0.1:8025), with bash's /dev/tcp: the image has no curl.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/smtpgate-healthcheck", "127.0.0.1:8025"]
STOPSIGNAL SIGTERM
CMD ["smtpgate", "-c", "/etc/smtpgate/smtpgate.ini"]
