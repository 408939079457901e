# smtpgate container image.
#
#   docker build -t smtpgate .
#   docker run --rm -p 2525:2525 \
#       -v $PWD/smtpgate.ini:/etc/smtpgate/smtpgate.ini:ro smtpgate
#
# The built-in /etc/smtpgate/smtpgate.ini (etc/smtpgate.ini) listens on
# loopback only; mount your own with "listen = 0.0.0.0:2525" and an "allow"
# list of your senders' networks to take mail from other containers.

# ---- build stage: compile with the same script a developer uses
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build \
    && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGW_TESTS=OFF -DGW_WERROR=ON \
    && cmake --build build -j "$(nproc)" --target smtpgate \
    && strip --strip-unneeded build/smtpgate \
    && build/smtpgate --version

# ---- runtime stage: the binary, its shared libraries, the example config
FROM debian:12-slim
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN bash /tmp/install-deps.sh --runtime \
    && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
    && groupadd --system smtpgate \
    && useradd --system --gid smtpgate --home-dir /nonexistent \
       --no-create-home --shell /usr/sbin/nologin smtpgate
COPY --from=build /src/build/smtpgate /usr/local/sbin/smtpgate
COPY etc/smtpgate.ini /etc/smtpgate/smtpgate.ini
RUN chmod 0644 /etc/smtpgate/smtpgate.ini \
    && /usr/local/sbin/smtpgate --version
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER smtpgate
EXPOSE 2525
STOPSIGNAL SIGTERM
CMD ["smtpgate", "-c", "/etc/smtpgate/smtpgate.ini"]
