FROM registry.example.com/base:1.2
RUN apt-get update && apt-get install -y curl
MAINTAINER someone
USER app
HEALTHCHECK CMD ["/bin/true"]
CMD ["/app"]
