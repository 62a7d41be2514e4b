FROM ubuntu:22.04
RUN curl -fsSL https://deb.nodesource.com/setup_20.x | bash -
RUN sh -c "$(curl -fsSL https://raw.githubusercontent.com/example/install/master/install.sh)"
RUN wget -q -O - https://example.com/install.py | python3
RUN curl -fsSLo /tmp/install.sh https://example.com/install.sh && echo "abc123  /tmp/install.sh" | sha256sum -c - && sh /tmp/install.sh
USER 1000
CMD ["bash"]
